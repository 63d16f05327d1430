// Package adminapi is the agent's JSON admin API under /api/v1/: cluster
// health, topics, messages, consumer groups and a throughput summary. The
// web console (internal/console) renders from the same methods, and
// scripts can call the endpoints directly (docs/api.md).
//
// Every change goes through the Kafka API's own request path (Kafka.Do):
// creating a topic is a CreateTopics request answered by the same handler,
// with the same validation, limits, authorization and audit, as one sent
// by a Kafka client of the request's principal (Config.Authenticate;
// Login checks the cluster's SCRAM users). Reads that Kafka has no request for
// (listing topics a page at a time, partition sizes) come from the
// metadata store.
//
// Errors are JSON {"error": "...", "code": "..."} with a 4xx or 5xx
// status; code is a Kafka error name (INVALID_CONFIG,
// UNKNOWN_TOPIC_OR_PARTITION, …) when the Kafka handler refused the
// request, or one of the API's own codes (BAD_REQUEST, NOT_FOUND,
// READ_ONLY, UNAUTHENTICATED, INTERNAL).
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// Kafka is the Kafka API's request path (kafka.Server.Do): it answers one
// request in-process exactly as it would answer a client of principal p.
type Kafka interface {
	Do(ctx context.Context, p auth.Principal, clientID string, msg kmsg.Request) (kmsg.Response, error)
	// Authorize is the Kafka API's authorization of one action of p,
	// for reads no Kafka request carries (event queries).
	Authorize(p auth.Principal, clientID string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
}

// clientID is the client ID the API's Kafka requests carry.
const clientID = "sluice-console"

// Store is what the API reads from the metadata store directly.
type Store interface {
	ClusterID(ctx context.Context) (string, error)
	// ListTopics returns every topic, sorted by name.
	ListTopics(ctx context.Context) ([]metadata.Topic, error)
	Topic(ctx context.Context, name string) (metadata.Topic, error)
	PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error)
	PartitionBytes(ctx context.Context, topic metadata.TopicID) (map[int32]int64, error)
	LiveAgents(ctx context.Context, ttl time.Duration) ([]metadata.Agent, error)
	// ListGroups returns every group, sorted by name.
	ListGroups(ctx context.Context) ([]metadata.Group, error)
	// ListFiles returns up to limit file records with keys after after.
	ListFiles(ctx context.Context, after string, limit int) ([]metadata.FileInfo, error)
	// ListTransactions returns every transactional ID.
	ListTransactions(ctx context.Context) ([]metadata.Transaction, error)
}

// Component is one dependency's readiness as the agent's prober sees it.
type Component struct {
	State     string    `json:"state"` // unknown, ok or failing
	LastError string    `json:"last_error,omitempty"`
	LastOKAt  time.Time `json:"last_ok_at,omitzero"`
}

// Readiness is the agent's readiness: its bucket and its metadata store.
type Readiness struct {
	Ready    bool      `json:"ready"`
	Bucket   Component `json:"bucket"`
	Metadata Component `json:"metadata"`
}

// Config is what the API needs from the agent.
type Config struct {
	Kafka Kafka
	Store Store
	// Readiness reports the agent's readiness checker's view.
	Readiness func() Readiness
	// NodeID and Zone identify the answering agent; StartedAt is when it
	// started.
	NodeID    int32
	Zone      string
	StartedAt time.Time
	// AgentTTL is how long an agent stays live without a heartbeat.
	AgentTTL time.Duration
	// ReadOnly refuses every change with 403 READ_ONLY
	// (--console-read-only).
	ReadOnly bool
	// Events runs event queries (the events explorer, ACL denials); nil:
	// those answer 501 NOT_AVAILABLE.
	Events Events
	// Schemas is the schema registry (nil: none; its pages answer 501).
	Schemas Schemas
	// SchemaAuth is the registry listener's Authenticator (nil: it lets
	// anyone in); the schema pages allow whom it allows.
	SchemaAuth schemaregistry.Authenticator
	// Tables is the tableflow role's tables (nil without the role; its
	// pages answer 501).
	Tables Tables
	// Summary is the agent's in-memory throughput history (nil: empty).
	Summary *Summary
	// Authenticate is the login hook: it returns the principal a request
	// acts as, or an error for 401 UNAUTHENTICATED. Nil acts as
	// auth.Anonymous, as an unauthenticated Kafka listener does. When
	// nil and Login is set, Login.Authenticate is the hook.
	Authenticate func(r *http.Request) (auth.Principal, error)
	// Login checks the cluster's credentials (--console-auth scram); the
	// console serves its login form with it. Nil: no login.
	Login *Login
	// Peer is how the API calls other agents (peer.go).
	Peer Peer
	// Auditor, if set, is told of every mutating call (audit.go).
	Auditor Auditor
	Logger  *slog.Logger
}

// API serves /api/v1/.
type API struct {
	cfg Config

	storageMu sync.Mutex // guards storage and storageAt
	storage   Storage
	storageAt time.Time
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AgentTTL <= 0 {
		cfg.AgentTTL = 6 * time.Second
	}
	if cfg.Readiness == nil {
		cfg.Readiness = func() Readiness { return Readiness{} }
	}
	if cfg.StartedAt.IsZero() {
		cfg.StartedAt = time.Now()
	}
	if cfg.Authenticate == nil && cfg.Login != nil {
		cfg.Authenticate = cfg.Login.Authenticate
	}
	return &API{cfg: cfg}
}

// Login is the API's login (nil without one).
func (a *API) Login() *Login { return a.cfg.Login }

// ReadOnly reports whether the API refuses changes.
func (a *API) ReadOnly() bool { return a.cfg.ReadOnly }

// route is one endpoint.
type route struct {
	pattern string // Go 1.22 "METHOD /path" pattern
	write   bool   // refused in read-only mode
	h       func(a *API, w http.ResponseWriter, r *http.Request, p auth.Principal) error
	// group routes are answered by the group's coordinator: another
	// agent's requests are forwarded to it.
	group bool
}

// routes lists every endpoint; docs/api.md lists the same (a test checks).
var routes = []route{
	{"GET /api/v1/cluster", false, (*API).serveCluster, false},
	{"GET /api/v1/agent", false, (*API).serveAgent, false},
	{"GET /api/v1/topics", false, (*API).serveTopics, false},
	{"POST /api/v1/topics", true, (*API).serveCreateTopic, false},
	{"GET /api/v1/topics/{name}", false, (*API).serveTopic, false},
	{"DELETE /api/v1/topics/{name}", true, (*API).serveDeleteTopic, false},
	{"PATCH /api/v1/topics/{name}/configs", true, (*API).serveAlterConfigs, false},
	{"POST /api/v1/topics/{name}/partitions", true, (*API).serveAddPartitions, false},
	{"GET /api/v1/topics/{name}/messages", false, (*API).serveMessages, false},
	{"POST /api/v1/topics/{name}/messages", true, (*API).serveProduce, false},
	{"GET /api/v1/groups", false, (*API).serveGroups, false},
	{"GET /api/v1/groups/{id}", false, (*API).serveGroup, true},
	{"DELETE /api/v1/groups/{id}", true, (*API).serveDeleteGroup, true},
	{"POST /api/v1/groups/{id}/reset-offsets", true, (*API).serveResetOffsets, true},
	{"GET /api/v1/metrics/summary", false, (*API).serveSummary, false},
	{"GET /api/v1/acls", false, (*API).serveACLs, false},
	{"POST /api/v1/acls", true, (*API).serveCreateACL, false},
	{"POST /api/v1/acls/delete", true, (*API).serveDeleteACL, false},
	{"GET /api/v1/users", false, (*API).serveUsers, false},
	{"PUT /api/v1/users/{name}", true, (*API).serveUpsertUser, false},
	{"DELETE /api/v1/users/{name}", true, (*API).serveDeleteUser, false},
	{"GET /api/v1/acl-denials", false, (*API).serveDenials, false},
	{"GET /api/v1/events", false, (*API).serveEvents, false},
	{"GET /api/v1/schemas/subjects", false, (*API).serveSubjects, false},
	{"GET /api/v1/schemas/subjects/{subject}", false, (*API).serveSubject, false},
	{"GET /api/v1/schemas/subjects/{subject}/diff", false, (*API).serveDiff, false},
	{"POST /api/v1/schemas/subjects/{subject}/compatibility", false, (*API).serveCompatibility, false},
	{"GET /api/v1/tables", false, (*API).serveTables, false},
	{"GET /api/v1/tables/{name}", false, (*API).serveTable, false},
}

// Routes returns the patterns of every endpoint, in registration order.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.pattern
	}
	return out
}

// Register adds every endpoint to mux, one pattern per method and path.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.handler(rt))
	}
}

func (a *API) handler(rt route) http.Handler {
	return http.HandlerFunc(func(hw http.ResponseWriter, r *http.Request) {
		w := &statusRecorder{ResponseWriter: hw}
		p, err := a.Principal(r)
		if err != nil {
			if a.cfg.Login != nil {
				w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
			}
			e := &Error{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED", Message: err.Error()}
			writeError(w, e)
			a.audit(r, rt, auth.Principal{}, w.status, e)
			return
		}
		if rt.write && a.cfg.ReadOnly {
			e := &Error{Status: http.StatusForbidden, Code: "READ_ONLY", Message: "the console and admin API are read-only on this agent (--console-read-only)"}
			writeError(w, e)
			a.audit(r, rt, p, w.status, e)
			return
		}
		var body []byte
		if rt.group && r.Header.Get(forwardedHeader) == "" {
			// Kept to forward the request to the group's coordinator.
			if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
				writeError(w, badRequest("reading the body: %v", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		err = rt.h(a, w, r, p)
		if rt.group && isNotCoordinator(err) && r.Header.Get(forwardedHeader) == "" {
			err = a.forward(w, r, p, r.PathValue("id"), body)
		}
		var e *Error
		if err != nil {
			if !errors.As(err, &e) {
				a.cfg.Logger.Warn("admin API request failed", "path", r.URL.Path, "err", err)
				e = &Error{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: err.Error()}
			}
			writeError(w, e)
		}
		a.audit(r, rt, p, w.status, e)
	})
}

// Principal is who a request acts as (the login hook's answer).
func (a *API) Principal(r *http.Request) (auth.Principal, error) {
	if p, named, err := a.peerPrincipal(r); named {
		return p, err // another agent passing on its user's request
	}
	if a.cfg.Authenticate == nil {
		return auth.Anonymous, nil
	}
	return a.cfg.Authenticate(r)
}

// Error is an API error: an HTTP status, a stable code and a message.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: fmt.Sprintf(format, args...)}
}

// kafkaError turns a Kafka error code from a handler's answer into an API
// error (nil for code 0), keeping the handler's message when it gave one.
func kafkaError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	ke := kerr.ErrorForCode(code)
	e := &Error{Status: http.StatusBadRequest, Code: fmt.Sprint(ke), Message: ""}
	if k, ok := ke.(*kerr.Error); ok {
		e.Code, e.Message = k.Message, k.Description
		if k.Retriable {
			e.Status = http.StatusServiceUnavailable
		}
	}
	if msg != nil && *msg != "" {
		e.Message = *msg
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound, kerr.ResourceNotFound:
		e.Status = http.StatusNotFound
	case kerr.TopicAlreadyExists, kerr.NonEmptyGroup:
		e.Status = http.StatusConflict
	case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.DelegationTokenAuthorizationFailed:
		e.Status = http.StatusForbidden
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.KafkaStorageError:
		e.Status = http.StatusServiceUnavailable
	case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed:
		e.Status = http.StatusForbidden
	}
	return e
}

// storeError maps metadata store lookups to API errors.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, metadata.ErrUnknownTopic):
		return &Error{Status: http.StatusNotFound, Code: "UNKNOWN_TOPIC_OR_PARTITION", Message: fmt.Sprintf("topic %q does not exist", what)}
	case errors.Is(err, metadata.ErrGroupNotFound):
		return &Error{Status: http.StatusNotFound, Code: "GROUP_ID_NOT_FOUND", Message: fmt.Sprintf("group %q does not exist", what)}
	}
	return err
}

// do sends msg at version v through the Kafka request path.
func (a *API) do(ctx context.Context, p auth.Principal, v int16, msg kmsg.Request) (kmsg.Response, error) {
	msg.SetVersion(v)
	resp, err := a.cfg.Kafka.Do(ctx, p, clientID, msg)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("no response")
	}
	return resp, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, e)
}

// maxBody bounds request bodies.
const maxBody = 4 << 20

// decodeBody decodes a JSON body into v, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "BAD_REQUEST", Message: "the body must be JSON (Content-Type: application/json)"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	return decodeStrict(dec, v)
}

// decodeJSON decodes one JSON value from an agent's answer.
func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, maxBody)).Decode(v)
}

func pathEscape(s string) string { return url.PathEscape(s) }

func decodeStrict(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: more than one value")
	}
	return nil
}
