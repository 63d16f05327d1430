package adminapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/twmb/avro"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// Schemas is the schema registry as the console reads it: in-process
// calls to internal/schemaregistry's Registry, no HTTP. The registry's
// *Error answers (Confluent's codes) become API errors with their status.
type Schemas interface {
	Subjects(ctx context.Context, prefix string, deleted, deletedOnly bool) ([]string, error)
	Versions(ctx context.Context, subject string, deleted, deletedOnly bool) ([]int, error)
	Version(ctx context.Context, subject, version string, deleted bool) (schemaregistry.SubjectVersion, error)
	SchemaByID(ctx context.Context, id int64, subject string) (schemaregistry.SchemaByID, error)
	CheckCompatibility(ctx context.Context, subject, version string, req schemaregistry.RegisterRequest, normalize, verbose bool) (schemaregistry.CompatibilityResult, error)
}

// schemas returns the registry for p: the schema pages follow the
// registry's own authorization (schemaregistry.AllowsUser over the
// registry listener's Authenticator, Config.SchemaAuth), so a user the
// registry would not let in is refused with 403 SCHEMA_AUTHORIZATION_FAILED.
func (a *API) schemas(ctx context.Context, p auth.Principal) (Schemas, error) {
	if a.cfg.Schemas == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "NOT_AVAILABLE", Message: "this agent has no schema registry (its metadata store keeps no schemas)"}
	}
	if err := a.schemaAllowed(ctx, p); err != nil {
		return nil, err
	}
	return a.cfg.Schemas, nil
}

// schemaAllowed is nil when the registry's authorization lets p in.
func (a *API) schemaAllowed(ctx context.Context, p auth.Principal) error {
	ok, err := schemaregistry.AllowsUser(ctx, a.cfg.SchemaAuth, p.Name)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Status: http.StatusForbidden, Code: "SCHEMA_AUTHORIZATION_FAILED",
			Message: fmt.Sprintf("%s is not a user of the schema registry (--schema-registry-basic-auth), which lets only its users read subjects", p)}
	}
	return nil
}

// registryError maps the registry's errors to API errors.
func registryError(err error) error {
	var e *schemaregistry.Error
	if errors.As(err, &e) {
		code := "BAD_REQUEST"
		switch e.Status {
		case http.StatusNotFound:
			code = "NOT_FOUND"
		case http.StatusConflict:
			code = "INCOMPATIBLE_SCHEMA"
		case http.StatusUnprocessableEntity:
			code = "INVALID_SCHEMA"
		}
		if e.Status >= 500 {
			code = "INTERNAL"
		}
		return &Error{Status: e.Status, Code: code, Message: fmt.Sprintf("%s (schema registry error %d)", e.Message, e.Code)}
	}
	return err
}

// SubjectPage is one page of GET /api/v1/schemas/subjects.
type SubjectPage struct {
	Subjects      []SubjectSummary `json:"subjects"`
	Total         int              `json:"total"`
	NextPageToken string           `json:"next_page_token,omitempty"`
}

// SubjectSummary is one subject of a list with its latest version.
type SubjectSummary struct {
	Name       string `json:"name"`
	Versions   int    `json:"versions"`
	Latest     int    `json:"latest"`
	SchemaType string `json:"schema_type"`
	ID         int64  `json:"id"`
}

// Subjects returns one page of live subjects, searched and paged on the
// server.
func (a *API) Subjects(ctx context.Context, p auth.Principal, q ListQuery) (SubjectPage, error) {
	reg, err := a.schemas(ctx, p)
	if err != nil {
		return SubjectPage{}, err
	}
	all, err := reg.Subjects(ctx, "", false, false)
	if err != nil {
		return SubjectPage{}, registryError(err)
	}
	sort.Strings(all)
	idx, total, next, err := page(len(all), func(i int) string { return all[i] }, q)
	if err != nil {
		return SubjectPage{}, err
	}
	pg := SubjectPage{Subjects: []SubjectSummary{}, Total: total, NextPageToken: next}
	for _, i := range idx {
		s := SubjectSummary{Name: all[i]}
		vs, err := reg.Versions(ctx, all[i], false, false)
		if err != nil {
			return SubjectPage{}, registryError(err)
		}
		s.Versions = len(vs)
		if len(vs) > 0 {
			v, err := reg.Version(ctx, all[i], "latest", false)
			if err != nil {
				return SubjectPage{}, registryError(err)
			}
			s.Latest, s.SchemaType, s.ID = v.Version, schemaType(v.SchemaType), v.ID
		}
		pg.Subjects = append(pg.Subjects, s)
	}
	return pg, nil
}

func schemaType(t string) string {
	if t == "" {
		return "AVRO"
	}
	return t
}

// SubjectDetail is one subject: its versions and one version's schema.
type SubjectDetail struct {
	Subject  string                        `json:"subject"`
	Versions []int                         `json:"versions"`
	Version  schemaregistry.SubjectVersion `json:"version"`
	// Pretty is the schema laid out for reading (indented JSON for Avro
	// and JSON Schema, the text as registered for Protobuf).
	Pretty string `json:"pretty"`
}

// Subject returns subject's versions and version ("latest" when "").
func (a *API) Subject(ctx context.Context, p auth.Principal, subject, version string) (SubjectDetail, error) {
	reg, err := a.schemas(ctx, p)
	if err != nil {
		return SubjectDetail{}, err
	}
	if version == "" {
		version = "latest"
	}
	vs, err := reg.Versions(ctx, subject, false, false)
	if err != nil {
		return SubjectDetail{}, registryError(err)
	}
	v, err := reg.Version(ctx, subject, version, false)
	if err != nil {
		return SubjectDetail{}, registryError(err)
	}
	v.SchemaType = schemaType(v.SchemaType)
	return SubjectDetail{Subject: subject, Versions: vs, Version: v, Pretty: prettySchema(v.Schema)}, nil
}

// prettySchema indents a JSON schema text; other text is kept.
func prettySchema(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") == nil {
		return buf.String()
	}
	return s
}

// DiffLine is one line of a diff: Op is " " (in both), "-" (only in the
// old version) or "+" (only in the new one).
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// SchemaDiff is the answer of GET /api/v1/schemas/subjects/{s}/diff.
type SchemaDiff struct {
	Subject string     `json:"subject"`
	From    int        `json:"from"`
	To      int        `json:"to"`
	Lines   []DiffLine `json:"lines"`
	Added   int        `json:"added"`
	Removed int        `json:"removed"`
}

// maxDiffLines bounds each side of a diff (the LCS table is quadratic).
const maxDiffLines = 3000

// DiffVersions compares two versions of subject line by line, on the
// schemas laid out as Subject shows them.
func (a *API) DiffVersions(ctx context.Context, p auth.Principal, subject, from, to string) (SchemaDiff, error) {
	reg, err := a.schemas(ctx, p)
	if err != nil {
		return SchemaDiff{}, err
	}
	if from == "" || to == "" {
		return SchemaDiff{}, badRequest("from and to versions are required")
	}
	old, err := reg.Version(ctx, subject, from, false)
	if err != nil {
		return SchemaDiff{}, registryError(err)
	}
	cur, err := reg.Version(ctx, subject, to, false)
	if err != nil {
		return SchemaDiff{}, registryError(err)
	}
	d := SchemaDiff{Subject: subject, From: old.Version, To: cur.Version}
	a1 := strings.Split(prettySchema(old.Schema), "\n")
	b1 := strings.Split(prettySchema(cur.Schema), "\n")
	if len(a1) > maxDiffLines || len(b1) > maxDiffLines {
		return SchemaDiff{}, badRequest("the schemas are too long to compare here (more than %d lines)", maxDiffLines)
	}
	d.Lines = diffLines(a1, b1)
	for _, l := range d.Lines {
		switch l.Op {
		case "+":
			d.Added++
		case "-":
			d.Removed++
		}
	}
	return d, nil
}

// diffLines is a longest-common-subsequence line diff of a and b.
func diffLines(a, b []string) []DiffLine {
	n, m := len(a), len(b)
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	out := make([]DiffLine, 0, max(n, m))
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{" ", a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{"-", a[i]})
			i++
		default:
			out = append(out, DiffLine{"+", b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{"-", a[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{"+", b[j]})
	}
	return out
}

// CompatibilityRequest is the body of POST
// /api/v1/schemas/subjects/{s}/compatibility.
type CompatibilityRequest struct {
	Schema string `json:"schema"`
	// SchemaType is AVRO (default), JSON or PROTOBUF.
	SchemaType string `json:"schema_type,omitempty"`
	// Version compares with one version; empty compares with the versions
	// the subject's compatibility level names (as the registry's
	// /compatibility/subjects/{s}/versions does).
	Version string `json:"version,omitempty"`
}

// CheckCompatibility checks a schema against subject without registering
// it: a read, allowed in read-only mode.
func (a *API) CheckCompatibility(ctx context.Context, p auth.Principal, subject string, in CompatibilityRequest) (schemaregistry.CompatibilityResult, error) {
	reg, err := a.schemas(ctx, p)
	if err != nil {
		return schemaregistry.CompatibilityResult{}, err
	}
	if strings.TrimSpace(in.Schema) == "" {
		return schemaregistry.CompatibilityResult{}, badRequest("schema is required")
	}
	t := strings.ToUpper(in.SchemaType)
	if t == "AVRO" {
		t = ""
	}
	res, err := reg.CheckCompatibility(ctx, subject, in.Version, schemaregistry.RegisterRequest{Schema: in.Schema, SchemaType: t}, false, true)
	if err != nil {
		return res, registryError(err)
	}
	if res.Messages == nil {
		res.Messages = []string{}
	}
	return res, nil
}

// wireDecoder decodes values in the Confluent wire format (magic byte 0,
// a 4-byte big-endian schema ID, the payload) for one browse, caching
// each schema it looks up.
type wireDecoder struct {
	reg   Schemas
	cache map[int64]*wireSchema
}

type wireSchema struct {
	typ  string
	avro *avro.Schema // nil unless AVRO and parsed
	err  error        // why it cannot decode
}

// decode renders b as its schema decodes it, or reports ok false when b
// is not in the wire format or its schema is unknown (the value is then
// rendered as any other).
func (d *wireDecoder) decode(ctx context.Context, b []byte) (Data, bool) {
	if d == nil || len(b) < 5 || b[0] != 0 {
		return Data{}, false
	}
	id := int64(binary.BigEndian.Uint32(b[1:5]))
	ws, ok := d.cache[id]
	if !ok {
		ws = &wireSchema{}
		s, err := d.reg.SchemaByID(ctx, id, "")
		if err != nil {
			ws = nil
		} else {
			ws.typ = schemaType(s.SchemaType)
			if ws.typ == "AVRO" {
				ws.avro, ws.err = avro.Parse(s.Schema)
			}
		}
		d.cache[id] = ws
	}
	if ws == nil {
		return Data{}, false
	}
	out := Data{Size: len(b), SchemaID: id, SchemaType: ws.typ}
	payload := b[5:]
	switch ws.typ {
	case "JSON":
		var buf bytes.Buffer
		if json.Indent(&buf, payload, "", "  ") == nil {
			out.Format, out.Text = FormatJSON, buf.String()
			return out, true
		}
	case "AVRO":
		if ws.err == nil {
			var v any
			if rest, err := ws.avro.Decode(payload, &v); err == nil && len(rest) == 0 {
				if j, err := ws.avro.EncodeJSON(v); err == nil {
					var buf bytes.Buffer
					if json.Indent(&buf, j, "", "  ") == nil {
						out.Format, out.Text = FormatJSON, buf.String()
						return out, true
					}
				}
			}
		}
	}
	// Protobuf, or a payload its schema does not read: the payload as hex,
	// with the schema named.
	out.Format, out.Text = FormatHex, fmt.Sprintf("%x", payload)
	return out, true
}

func (a *API) serveSubjects(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := parseListQuery(r)
	if err != nil {
		return err
	}
	pg, err := a.Subjects(r.Context(), p, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pg)
	return nil
}

func (a *API) serveSubject(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := a.Subject(r.Context(), p, r.PathValue("subject"), r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) serveDiff(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := a.DiffVersions(r.Context(), p, r.PathValue("subject"), r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) serveCompatibility(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in CompatibilityRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	res, err := a.CheckCompatibility(r.Context(), p, r.PathValue("subject"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
