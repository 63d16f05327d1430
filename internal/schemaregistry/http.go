package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

// ContentType is what the registry answers with, as Confluent does.
const ContentType = "application/vnd.schemaregistry.v1+json"

// MaxBodyBytes bounds a request body: a schema of schema.MaxSchemaBytes,
// JSON-escaped, with its references.
const MaxBodyBytes = 3*schema.MaxSchemaBytes + 64<<10

// requestTimeout bounds one request's store work.
const requestTimeout = 30 * time.Second

// ServerConfig configures Handler.
type ServerConfig struct {
	// Auth, if set, checks HTTP basic credentials on every request.
	Auth Authenticator
	// AuthFailureDelay is how long a request with missing or wrong
	// credentials waits before its 401 (the agent's --auth-failure-delay,
	// as for SASL): password guessing gets one try per delay per request.
	// 0 answers at once.
	AuthFailureDelay time.Duration
	// Metrics, if set, counts requests.
	Metrics *Metrics
	// Auditor, if set, is told of every write request (audit.go).
	Auditor Auditor
	Logger  *slog.Logger
}

// Handler serves Confluent Schema Registry's REST API for reg. Paths may
// be prefixed with /contexts/{context} (as franz-go's sr client does for a
// context), which qualifies the subjects and the global config and mode
// with that context.
func Handler(reg *Registry, cfg ServerConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{reg: reg, cfg: cfg}
	mux := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "", h) })
	}
	// write is route for a request that changes the registry: the
	// Auditor is told of it.
	write := func(pattern, action string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, action, h) })
	}
	route("GET /{$}", func(http.ResponseWriter, *http.Request) (any, error) { return struct{}{}, nil })
	route("GET /subjects", s.subjects)
	write("POST /subjects/{subject}/versions", ActionRegister, s.register)
	route("POST /subjects/{subject}", s.lookup)
	route("GET /subjects/{subject}/versions", s.versions)
	route("GET /subjects/{subject}/versions/{version}", s.version)
	route("GET /subjects/{subject}/versions/{version}/schema", s.versionSchema)
	route("GET /subjects/{subject}/versions/{version}/referencedby", s.referencedBy)
	write("DELETE /subjects/{subject}", ActionDelete, s.deleteSubject)
	write("DELETE /subjects/{subject}/versions/{version}", ActionDelete, s.deleteVersion)
	route("GET /schemas", s.schemas)
	route("GET /schemas/types", func(http.ResponseWriter, *http.Request) (any, error) { return schema.Types, nil })
	route("GET /schemas/ids/{id}", s.schemaByID)
	route("GET /schemas/ids/{id}/schema", s.schemaTextByID)
	route("GET /schemas/ids/{id}/subjects", s.subjectsByID)
	route("GET /schemas/ids/{id}/versions", s.versionsByID)
	route("POST /compatibility/subjects/{subject}/versions", s.compatibility)
	route("POST /compatibility/subjects/{subject}/versions/{version}", s.compatibility)
	route("GET /config", s.getConfig)
	write("PUT /config", ActionConfig, s.putConfig)
	write("DELETE /config", ActionConfig, s.deleteConfig)
	route("GET /config/{subject}", s.getConfig)
	write("PUT /config/{subject}", ActionConfig, s.putConfig)
	write("DELETE /config/{subject}", ActionConfig, s.deleteConfig)
	route("GET /mode", s.getMode)
	write("PUT /mode", ActionMode, s.putMode)
	write("DELETE /mode", ActionMode, s.deleteMode)
	route("GET /mode/{subject}", s.getMode)
	write("PUT /mode/{subject}", ActionMode, s.putMode)
	write("DELETE /mode/{subject}", ActionMode, s.deleteMode)
	route("GET /contexts", func(w http.ResponseWriter, r *http.Request) (any, error) { return reg.Contexts(r.Context()) })
	write("DELETE /contexts/{context}", ActionDeleteContext, s.deleteContext)
	route("/", func(w http.ResponseWriter, r *http.Request) (any, error) {
		// A path served for another method is 405, as in Confluent.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" {
				return nil, &Error{Status: http.StatusMethodNotAllowed, Code: http.StatusMethodNotAllowed, Message: "HTTP 405 Method Not Allowed"}
			}
		}
		return nil, &Error{Status: http.StatusNotFound, Code: http.StatusNotFound, Message: "HTTP 404 Not Found"}
	})
	return s.withContext(mux)
}

type server struct {
	reg *Registry
	cfg ServerConfig
}

type ctxKey struct{}

// withContext strips a /contexts/{context} prefix from paths that continue
// past it, remembering the context for the handlers.
func (s *server) withContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if rest, ok := strings.CutPrefix(p, "/contexts/"); ok {
			if name, tail, ok := strings.Cut(rest, "/"); ok && tail != "" {
				name, err := url.PathUnescape(name)
				if err == nil {
					r2 := r.Clone(context.WithValue(r.Context(), ctxKey{}, name))
					r2.URL.RawPath = "/" + tail
					r2.URL.Path, _ = url.PathUnescape(r2.URL.RawPath)
					next.ServeHTTP(w, r2)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func reqContext(r *http.Request) string {
	name, _ := r.Context().Value(ctxKey{}).(string)
	return name
}

// subject is the {subject} path value, qualified with the request's
// context.
func subject(r *http.Request) string {
	return inContext(reqContext(r), r.PathValue("subject"))
}

// settingKey is the config/mode key: the subject, or the request context's
// prefix ("" for global).
func settingKey(r *http.Request) string {
	if r.PathValue("subject") != "" {
		return subject(r)
	}
	c := reqContext(r)
	if c == "" || c == defaultContext {
		return ""
	}
	return contextOf(inContext(c, "x"))
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// serve answers one request with h; a write (action set) is reported to
// the Auditor whatever its outcome, authentication failures included.
func (s *server) serve(w http.ResponseWriter, r *http.Request, action string, h func(http.ResponseWriter, *http.Request) (any, error)) {
	status := http.StatusOK
	defer func() {
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.request(r.Pattern, status)
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	if s.cfg.Auth != nil {
		if e := s.authenticate(r); e != nil {
			status = e.Status
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="sluice-schema-registry"`)
			}
			writeJSON(w, status, e)
			s.audit(r, action, status, nil, e)
			return
		}
	}
	var out any
	err := checkContentType(r)
	if err == nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		out, err = h(w, r)
	}
	if err != nil {
		e := errStore(err)
		if e.Code == CodeStoreError || e.Code == CodeOperationTimeout {
			s.cfg.Logger.Warn("schema registry: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		status = e.Status
		writeJSON(w, status, e)
		s.audit(r, action, status, nil, e)
		return
	}
	writeJSON(w, status, out)
	s.audit(r, action, status, out, nil)
}

// authenticate checks the request's basic credentials: nil when they are
// good; a 401 (after AuthFailureDelay) when missing or wrong; a store
// error when the Authenticator cannot answer.
func (s *server) authenticate(r *http.Request) *Error {
	user, pass, ok := r.BasicAuth()
	err := ErrUnauthorized
	if ok {
		err = s.cfg.Auth.CheckBasic(r.Context(), user, pass)
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrUnauthorized) {
		s.cfg.Logger.Warn("schema registry: credentials could not be checked", "user", user, "err", err)
		return errStore(err)
	}
	if ok {
		s.cfg.Logger.Warn("schema registry: authentication failed", "remote", r.RemoteAddr, "err", err)
	}
	if s.cfg.AuthFailureDelay > 0 {
		t := time.NewTimer(s.cfg.AuthFailureDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	return &Error{Status: http.StatusUnauthorized, Code: http.StatusUnauthorized, Message: "Unauthorized"}
}

// checkContentType accepts Confluent's content types for request bodies
// (and none, or octet-stream, as Confluent's Jersey resources do); others
// get 415.
func checkContentType(r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
	case mt == "application/vnd.schemaregistry.v1+json", mt == "application/vnd.schemaregistry+json",
		mt == "application/json", mt == "application/octet-stream":
		return nil
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType, Message: "HTTP 415 Unsupported Media Type"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	if e, ok := v.(*Error); ok {
		v = struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}{e.Code, e.Message}
	}
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v: a malformed body is 422 with Confluent's
// generic codes, a body over MaxBodyBytes is 42209.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return errSchemaTooLarge(MaxBodyBytes)
		}
		return &Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "Reading the request body: " + err.Error()}
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &Error{Status: http.StatusUnprocessableEntity, Code: http.StatusUnprocessableEntity, Message: "Unrecognized field or wrong type: " + err.Error()}
		}
		return &Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "Unexpected character in JSON: " + err.Error()}
	}
	return nil
}

func (s *server) subjects(w http.ResponseWriter, r *http.Request) (any, error) {
	prefix := r.URL.Query().Get("subjectPrefix")
	if prefix == ":*:" {
		prefix = ""
	}
	if c := reqContext(r); c != "" && c != defaultContext {
		prefix = inContext(c, prefix)
	}
	return s.reg.Subjects(r.Context(), prefix, boolParam(r, "deleted"), boolParam(r, "deletedOnly"))
}

func (s *server) register(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	id, err := s.reg.Register(r.Context(), subject(r), req, boolParam(r, "normalize"))
	if err != nil {
		return nil, err
	}
	return map[string]int64{"id": id}, nil
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.reg.Lookup(r.Context(), subject(r), req, boolParam(r, "normalize"), boolParam(r, "deleted"))
}

func (s *server) versions(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.reg.Versions(r.Context(), subject(r), boolParam(r, "deleted"), boolParam(r, "deletedOnly"))
}

func (s *server) version(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.reg.Version(r.Context(), subject(r), r.PathValue("version"), boolParam(r, "deleted"))
}

func (s *server) versionSchema(w http.ResponseWriter, r *http.Request) (any, error) {
	v, err := s.reg.Version(r.Context(), subject(r), r.PathValue("version"), boolParam(r, "deleted"))
	if err != nil {
		return nil, err
	}
	return schemaText(v.SchemaType, v.Schema), nil
}

// schemaText is the body of the …/schema endpoints: the schema itself for
// JSON documents (Avro, JSON Schema), a JSON string for Protobuf.
func schemaText(t, text string) any {
	if t == string(schema.Protobuf) || !json.Valid([]byte(text)) {
		return text
	}
	return json.RawMessage(text)
}

func (s *server) referencedBy(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.reg.ReferencedBy(r.Context(), subject(r), r.PathValue("version"))
}

func (s *server) deleteSubject(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.reg.DeleteSubject(r.Context(), subject(r), boolParam(r, "permanent"))
}

func (s *server) deleteVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.reg.DeleteVersion(r.Context(), subject(r), r.PathValue("version"), boolParam(r, "permanent"))
}

func (s *server) schemas(w http.ResponseWriter, r *http.Request) (any, error) {
	prefix := r.URL.Query().Get("subjectPrefix")
	if c := reqContext(r); c != "" && c != defaultContext {
		prefix = inContext(c, prefix)
	}
	return s.reg.Schemas(r.Context(), prefix, boolParam(r, "deleted"), boolParam(r, "latestOnly"))
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, &Error{Status: http.StatusNotFound, Code: CodeSchemaNotFound, Message: "Schema " + r.PathValue("id") + " not found"}
	}
	return id, nil
}

func (s *server) schemaByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.reg.SchemaByID(r.Context(), id, r.URL.Query().Get("subject"))
}

func (s *server) schemaTextByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	sc, err := s.reg.SchemaByID(r.Context(), id, r.URL.Query().Get("subject"))
	if err != nil {
		return nil, err
	}
	return schemaText(sc.SchemaType, sc.Schema), nil
}

func (s *server) subjectsByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.reg.SubjectsByID(r.Context(), id, boolParam(r, "deleted"))
}

func (s *server) versionsByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.reg.VersionsByID(r.Context(), id, boolParam(r, "deleted"))
}

func (s *server) compatibility(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	res, err := s.reg.CheckCompatibility(r.Context(), subject(r), r.PathValue("version"), req,
		boolParam(r, "normalize"), boolParam(r, "verbose"))
	var e *Error
	if errors.As(err, &e) && e.Code == CodeSubjectNotFound && r.PathValue("version") == "" {
		// Nothing to be incompatible with.
		return CompatibilityResult{IsCompatible: true}, nil
	}
	return res, err
}

func (s *server) getConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	l, err := s.reg.Config(r.Context(), settingKey(r), boolParam(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"compatibilityLevel": string(l)}, nil
}

func (s *server) putConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	l, err := s.reg.SetConfig(r.Context(), settingKey(r), req.Compatibility)
	if err != nil {
		return nil, err
	}
	return map[string]string{"compatibility": string(l)}, nil
}

func (s *server) deleteConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	l, err := s.reg.DeleteConfig(r.Context(), settingKey(r))
	if err != nil {
		return nil, err
	}
	return map[string]string{"compatibilityLevel": string(l)}, nil
}

func (s *server) getMode(w http.ResponseWriter, r *http.Request) (any, error) {
	m, err := s.reg.GetMode(r.Context(), settingKey(r), boolParam(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return map[string]Mode{"mode": m}, nil
}

func (s *server) putMode(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Mode string `json:"mode"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m, err := s.reg.SetMode(r.Context(), settingKey(r), req.Mode, boolParam(r, "force"))
	if err != nil {
		return nil, err
	}
	return map[string]Mode{"mode": m}, nil
}

func (s *server) deleteMode(w http.ResponseWriter, r *http.Request) (any, error) {
	m, err := s.reg.DeleteMode(r.Context(), settingKey(r))
	if err != nil {
		return nil, err
	}
	return map[string]Mode{"mode": m}, nil
}

func (s *server) deleteContext(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("context")
	prefix := contextOf(inContext(name, "x"))
	subjects, err := s.reg.Subjects(r.Context(), prefix, true, false)
	if err != nil {
		return nil, err
	}
	if prefix == "" || len(subjects) > 0 {
		return nil, newErr(http.StatusUnprocessableEntity, 42211, "Context %s not empty", name)
	}
	return struct{}{}, nil
}
