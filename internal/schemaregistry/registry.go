// Package schemaregistry is Sluice's schema registry: Confluent Schema
// Registry's REST API served by every agent, with the metadata store
// (package srstore's rows) as its only state, and the hook the Kafka
// produce path calls to validate records against registered schemas.
//
// The rules live here and are the same for every backend: schema IDs are
// global, assigned as MAX(id)+1 inside a write transaction the store
// serialises across agents, and never reused (schema rows are never
// deleted); the same schema (type, canonical text and references) gets the
// same ID in every subject and on every agent, because registration looks
// its fingerprint up in the same transaction. Parsing, canonical forms and
// compatibility are package schema's.
package schemaregistry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
)

// Mode is a registry mode (Confluent's /mode).
type Mode string

// The modes.
const (
	ReadWrite        Mode = "READWRITE"
	ReadOnly         Mode = "READONLY"
	ReadOnlyOverride Mode = "READONLY_OVERRIDE"
	Import           Mode = "IMPORT"
)

func parseMode(s string) (Mode, bool) {
	switch m := Mode(strings.ToUpper(strings.TrimSpace(s))); m {
	case ReadWrite, ReadOnly, ReadOnlyOverride, Import:
		return m, true
	}
	return "", false
}

// defaultLevel is the compatibility level when none is configured, as in
// Confluent.
const defaultLevel = schema.Backward

// maxDepChain bounds how deep references may nest.
const maxDepChain = 100

// Registry implements the schema registry's operations over a Store. It is
// safe for concurrent use and holds no state of its own besides its
// configuration: every agent serving the same store serves the same
// registry.
type Registry struct {
	store srstore.Store
	// readOnly refuses every write (--schema-registry-mode readonly).
	readOnly bool
}

// New returns a registry over store; readOnly refuses every write.
func New(store srstore.Store, readOnly bool) *Registry {
	return &Registry{store: store, readOnly: readOnly}
}

// RegisterRequest is the body of POST /subjects/{s}/versions, of POST
// /subjects/{s} and of the compatibility checks. ID and Version are only
// honoured in IMPORT mode.
type RegisterRequest struct {
	Schema     string              `json:"schema"`
	SchemaType string              `json:"schemaType,omitempty"`
	References []srstore.Reference `json:"references,omitempty"`
	ID         int64               `json:"id,omitempty"`
	Version    int                 `json:"version,omitempty"`
}

// SubjectVersion is one subject version as GET
// /subjects/{s}/versions/{v} returns it.
type SubjectVersion struct {
	Subject    string              `json:"subject"`
	Version    int                 `json:"version"`
	ID         int64               `json:"id"`
	SchemaType string              `json:"schemaType,omitempty"`
	References []srstore.Reference `json:"references,omitempty"`
	Schema     string              `json:"schema"`
}

// SchemaByID is what GET /schemas/ids/{id} returns.
type SchemaByID struct {
	SchemaType string              `json:"schemaType,omitempty"`
	References []srstore.Reference `json:"references,omitempty"`
	Schema     string              `json:"schema"`
}

func typeField(t string) string {
	if t == string(schema.Avro) {
		return ""
	}
	return t
}

func fingerprint(t schema.Type, text string, refs []srstore.Reference) string {
	h := sha256.New()
	h.Write([]byte(t))
	h.Write([]byte{0})
	h.Write([]byte(text))
	h.Write([]byte{0})
	b, _ := json.Marshal(refs)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (r *Registry) checkWritable() error {
	if r.readOnly {
		return errNotPermitted("This agent serves the schema registry read-only (--schema-registry-mode readonly)")
	}
	return nil
}

// parseVersion parses a version path element: "latest" or -1 (returned as
// -1), or 1..2^31-1.
func parseVersion(s string) (int, error) {
	if s == "latest" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v == 0 || v < -1 || v > math.MaxInt32 {
		return 0, errInvalidVersion(s)
	}
	return int(v), nil
}

func checkSubject(subject string) (string, error) {
	subject = qualify(subject)
	if !validSubject(subject) {
		return "", errInvalidSubject(subject)
	}
	return subject, nil
}

// settingChain returns the value of kind for subject, falling back to its
// context's and then the global value when fallback is set.
func settingChain(ctx context.Context, tx srstore.Tx, kind, subject string, fallback bool) (string, bool, error) {
	keys := []string{subject}
	if fallback {
		if c := contextOf(subject); c != "" && c != subject {
			keys = append(keys, c)
		}
		if subject != "" {
			keys = append(keys, "")
		}
	}
	for _, k := range keys {
		v, ok, err := tx.Setting(ctx, kind, k)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return "", false, nil
}

func effectiveLevel(ctx context.Context, tx srstore.Tx, subject string) (schema.Level, error) {
	v, ok, err := settingChain(ctx, tx, srstore.KindConfig, subject, true)
	if err != nil || !ok {
		return defaultLevel, err
	}
	l, err := schema.ParseLevel(v)
	if err != nil {
		return defaultLevel, nil
	}
	return l, nil
}

func effectiveMode(ctx context.Context, tx srstore.Tx, subject string) (Mode, error) {
	v, ok, err := settingChain(ctx, tx, srstore.KindMode, subject, true)
	if err != nil || !ok {
		return ReadWrite, err
	}
	m, _ := parseMode(v)
	if m == "" {
		m = ReadWrite
	}
	return m, nil
}

// resolveDeps returns every schema refs import, transitively, dependencies
// before the schemas that import them.
func resolveDeps(ctx context.Context, tx srstore.Tx, refs []srstore.Reference) ([]schema.Dep, error) {
	var deps []schema.Dep
	seen := map[string]bool{}
	var walk func(refs []srstore.Reference, depth int) error
	walk = func(refs []srstore.Reference, depth int) error {
		if depth > maxDepChain {
			return errInvalidSchema("Invalid schema: references nest more than %d deep", maxDepChain)
		}
		for _, ref := range refs {
			if ref.Name == "" || ref.Subject == "" {
				return errInvalidSchema("Invalid schema: a reference needs a name and a subject")
			}
			key := ref.Subject + "\x00" + strconv.Itoa(ref.Version) + "\x00" + ref.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			v, err := findVersion(ctx, tx, qualify(ref.Subject), ref.Version, true)
			if err != nil {
				var e *Error
				if errors.As(err, &e) && e.Status == 404 {
					return errInvalidSchema("Invalid schema: reference %q: subject '%s' version %d not found", ref.Name, ref.Subject, ref.Version)
				}
				return err
			}
			s, ok, err := tx.SchemaByID(ctx, v.SchemaID)
			if err != nil {
				return err
			}
			if !ok {
				return errInvalidSchema("Invalid schema: reference %q: schema %d not found", ref.Name, v.SchemaID)
			}
			if err := walk(s.Refs, depth+1); err != nil {
				return err
			}
			deps = append(deps, schema.Dep{Name: ref.Name, Type: schema.Type(s.Type), Text: s.Text})
		}
		return nil
	}
	err := walk(refs, 0)
	return deps, err
}

// findVersion finds version v (-1: the latest) of subject. Soft-deleted
// versions are found only with deleted set. Errors: 40401, 40402.
func findVersion(ctx context.Context, tx srstore.Tx, subject string, v int, deleted bool) (srstore.Version, error) {
	versions, err := tx.Versions(ctx, subject)
	if err != nil {
		return srstore.Version{}, err
	}
	var live []srstore.Version
	for _, sv := range versions {
		if deleted || !sv.Deleted {
			live = append(live, sv)
		}
	}
	if len(live) == 0 {
		return srstore.Version{}, errSubjectNotFound(subject)
	}
	if v == -1 {
		return live[len(live)-1], nil
	}
	for _, sv := range live {
		if sv.Version == v {
			return sv, nil
		}
	}
	return srstore.Version{}, errVersionNotFound(v)
}

// parseStored parses a stored schema with its references.
func parseStored(ctx context.Context, tx srstore.Tx, s srstore.Schema) (schema.Schema, error) {
	deps, err := resolveDeps(ctx, tx, s.Refs)
	if err != nil {
		return nil, err
	}
	p, err := schema.Parse(schema.Type(s.Type), s.Text, deps)
	if err != nil {
		return nil, fmt.Errorf("stored schema %d no longer parses: %w", s.ID, err)
	}
	return p, nil
}

// candidate is a schema a request carries, parsed.
type candidate struct {
	typ    schema.Type
	parsed schema.Schema
	text   string // canonical (or normalized) text: what is stored
	refs   []srstore.Reference
	fp     string
}

func parseCandidate(ctx context.Context, tx srstore.Tx, req RegisterRequest, normalize bool) (candidate, error) {
	var c candidate
	if strings.TrimSpace(req.Schema) == "" {
		return c, errInvalidSchema("Empty schema")
	}
	if len(req.Schema) > schema.MaxSchemaBytes {
		return c, errSchemaTooLarge(schema.MaxSchemaBytes)
	}
	t, err := schema.ParseType(req.SchemaType)
	if err != nil {
		return c, errInvalidSchema("Invalid schema type %s", req.SchemaType)
	}
	deps, err := resolveDeps(ctx, tx, req.References)
	if err != nil {
		return c, err
	}
	p, err := schema.Parse(t, req.Schema, deps)
	if err != nil {
		if errors.Is(err, schema.ErrInvalid) {
			return c, errInvalidSchema("Invalid schema %s", err)
		}
		return c, err
	}
	c = candidate{typ: t, parsed: p, text: p.Canonical(), refs: make([]srstore.Reference, 0, len(req.References))}
	if normalize {
		c.text = p.Normalized()
	}
	for _, ref := range req.References {
		ref.Subject = qualify(ref.Subject)
		c.refs = append(c.refs, ref)
	}
	c.fp = fingerprint(t, c.text, c.refs)
	return c, nil
}

// matches reports whether the stored schema is the candidate, comparing
// both the canonical and the normalized forms, so a schema registered with
// normalize=true is found by a lookup without it and vice versa.
func (c candidate) matches(s srstore.Schema) bool {
	if s.Fingerprint == c.fp {
		return true
	}
	return s.Fingerprint == fingerprint(c.typ, c.parsed.Canonical(), c.refs) ||
		s.Fingerprint == fingerprint(c.typ, c.parsed.Normalized(), c.refs)
}

// Register registers a schema under subject (POST
// /subjects/{s}/versions) and returns its ID. Registering a schema the
// subject already has returns the existing ID and makes no new version.
func (r *Registry) Register(ctx context.Context, subject string, req RegisterRequest, normalize bool) (int64, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return 0, err
	}
	if err := r.checkWritable(); err != nil {
		return 0, err
	}
	if req.ID < 0 || req.Version < 0 || req.ID > math.MaxInt32 {
		return 0, errInvalidSchema("Invalid schema: id and version must be positive")
	}
	var id int64
	err = r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		id = 0
		mode, err := effectiveMode(ctx, tx, subject)
		if err != nil {
			return err
		}
		switch {
		case mode == ReadOnly || mode == ReadOnlyOverride:
			return errNotPermitted("Subject %s is in read-only mode", subject)
		case (req.ID > 0 || req.Version > 0) && mode != Import:
			return errNotPermitted("Subject %s is not in import mode", subject)
		}
		c, err := parseCandidate(ctx, tx, req, normalize)
		if err != nil {
			return err
		}
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		var live []srstore.Version
		var liveSchemas []srstore.Schema
		next := 1
		for _, v := range versions {
			next = max(next, v.Version+1)
			if v.Deleted {
				continue
			}
			s, ok, err := tx.SchemaByID(ctx, v.SchemaID)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("subject %s version %d: schema %d missing", subject, v.Version, v.SchemaID)
			}
			live = append(live, v)
			liveSchemas = append(liveSchemas, s)
		}
		for i, s := range liveSchemas {
			if c.matches(s) && (req.ID == 0 || req.ID == s.ID) {
				if req.Version > 0 && req.Version != live[i].Version {
					break
				}
				id = s.ID
				return nil
			}
		}
		if mode != Import && len(live) > 0 {
			level, err := effectiveLevel(ctx, tx, subject)
			if err != nil {
				return err
			}
			if level != schema.None {
				// Non-transitive levels compare with the latest only: parse
				// no more than that inside the write transaction.
				if !level.Transitive() {
					live, liveSchemas = live[len(live)-1:], liveSchemas[len(liveSchemas)-1:]
				}
				existing := make([]schema.Schema, 0, len(liveSchemas))
				for _, s := range liveSchemas {
					p, err := parseStored(ctx, tx, s)
					if err != nil {
						return err
					}
					existing = append(existing, p)
				}
				if reasons := checkCompat(level, c.parsed, existing, live); len(reasons) > 0 {
					return errIncompatible(subject, reasons)
				}
			}
		}
		if req.ID > 0 {
			s, ok, err := tx.SchemaByID(ctx, req.ID)
			if err != nil {
				return err
			}
			if ok && !c.matches(s) {
				return errNotPermitted("Overwrite new schema with id %d is not permitted.", req.ID)
			}
			if !ok {
				if err := tx.InsertSchema(ctx, srstore.Schema{ID: req.ID, Type: string(c.typ), Text: c.text, Refs: c.refs, Fingerprint: c.fp}); err != nil {
					return err
				}
			}
			id = req.ID
		} else {
			same, err := tx.SchemasByFingerprint(ctx, c.fp)
			if err != nil {
				return err
			}
			if len(same) > 0 {
				id = same[0].ID
			} else {
				maxID, err := tx.MaxSchemaID(ctx)
				if err != nil {
					return err
				}
				id = maxID + 1
				if err := tx.InsertSchema(ctx, srstore.Schema{ID: id, Type: string(c.typ), Text: c.text, Refs: c.refs, Fingerprint: c.fp}); err != nil {
					return err
				}
			}
		}
		version := next
		if req.Version > 0 {
			for _, v := range versions {
				if v.Version == req.Version && !v.Deleted {
					return errNotPermitted("Overwrite new schema for subject %s version %d is not permitted.", subject, req.Version)
				}
			}
			version = req.Version
		}
		return tx.PutVersion(ctx, srstore.Version{Subject: subject, Version: version, SchemaID: id})
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Lookup finds the version of subject that holds the schema (POST
// /subjects/{s}).
func (r *Registry) Lookup(ctx context.Context, subject string, req RegisterRequest, normalize, deleted bool) (SubjectVersion, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return SubjectVersion{}, err
	}
	var out SubjectVersion
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		found := false
		for _, v := range versions {
			found = found || deleted || !v.Deleted
		}
		if !found {
			return errSubjectNotFound(subject)
		}
		c, err := parseCandidate(ctx, tx, req, normalize)
		if err != nil {
			return err
		}
		for i := len(versions) - 1; i >= 0; i-- {
			v := versions[i]
			if v.Deleted && !deleted {
				continue
			}
			s, ok, err := tx.SchemaByID(ctx, v.SchemaID)
			if err != nil {
				return err
			}
			if ok && c.matches(s) {
				out = subjectVersion(v, s)
				return nil
			}
		}
		return errSchemaNotFound()
	})
	return out, err
}

func subjectVersion(v srstore.Version, s srstore.Schema) SubjectVersion {
	return SubjectVersion{Subject: v.Subject, Version: v.Version, ID: s.ID, SchemaType: typeField(s.Type), References: s.Refs, Schema: s.Text}
}

// Version returns one version of subject (version: "latest", "-1" or a
// number).
func (r *Registry) Version(ctx context.Context, subject, version string, deleted bool) (SubjectVersion, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return SubjectVersion{}, err
	}
	n, err := parseVersion(version)
	if err != nil {
		return SubjectVersion{}, err
	}
	var out SubjectVersion
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		v, err := findVersion(ctx, tx, subject, n, deleted)
		if err != nil {
			return err
		}
		s, ok, err := tx.SchemaByID(ctx, v.SchemaID)
		if err != nil {
			return err
		}
		if !ok {
			return errSchemaIDNotFound(v.SchemaID)
		}
		out = subjectVersion(v, s)
		return nil
	})
	return out, err
}

// Versions lists the version numbers of subject.
func (r *Registry) Versions(ctx context.Context, subject string, deleted, deletedOnly bool) ([]int, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return nil, err
	}
	out := []int{}
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if keep(v.Deleted, deleted, deletedOnly) {
				out = append(out, v.Version)
			}
		}
		if len(out) == 0 {
			return errSubjectNotFound(subject)
		}
		return nil
	})
	return out, err
}

func keep(isDeleted, deleted, deletedOnly bool) bool {
	if deletedOnly {
		return isDeleted
	}
	return deleted || !isDeleted
}

// Subjects lists subjects with a version (a live one unless deleted or
// deletedOnly) whose name starts with prefix.
func (r *Registry) Subjects(ctx context.Context, prefix string, deleted, deletedOnly bool) ([]string, error) {
	out := []string{}
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, "")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, v := range versions {
			if !strings.HasPrefix(v.Subject, prefix) || seen[v.Subject] {
				continue
			}
			if keep(v.Deleted, deleted, deletedOnly) {
				seen[v.Subject] = true
				out = append(out, v.Subject)
			}
		}
		if deletedOnly {
			// A subject with any live version is not deleted.
			live := map[string]bool{}
			for _, v := range versions {
				if !v.Deleted {
					live[v.Subject] = true
				}
			}
			out = slicesFilter(out, func(s string) bool { return !live[s] })
		}
		return nil
	})
	return out, err
}

func slicesFilter(in []string, keep func(string) bool) []string {
	out := in[:0]
	for _, s := range in {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// referencedBy returns the IDs of schemas that reference subject version
// and are used by a version (a live one unless all is set).
func referencedBy(ctx context.Context, tx srstore.Tx, subject string, version int, all bool) ([]int64, error) {
	ids, err := tx.ReferencingSchemas(ctx, subject, version)
	if err != nil {
		return nil, err
	}
	out := []int64{}
	for _, id := range ids {
		vs, err := tx.VersionsOfSchema(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if all || !v.Deleted {
				out = append(out, id)
				break
			}
		}
	}
	return out, nil
}

// ReferencedBy returns the IDs of schemas that reference subject version.
func (r *Registry) ReferencedBy(ctx context.Context, subject, version string) ([]int64, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return nil, err
	}
	n, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	var out []int64
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		v, err := findVersion(ctx, tx, subject, n, false)
		if err != nil {
			return err
		}
		out, err = referencedBy(ctx, tx, subject, v.Version, false)
		return err
	})
	return out, err
}

func (r *Registry) checkDeletable(ctx context.Context, tx srstore.Tx, subject string) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	mode, err := effectiveMode(ctx, tx, subject)
	if err != nil {
		return err
	}
	if mode == ReadOnly || mode == ReadOnlyOverride {
		return errNotPermitted("Subject %s is in read-only mode", subject)
	}
	return nil
}

// DeleteVersion deletes one version: soft first, then permanently.
func (r *Registry) DeleteVersion(ctx context.Context, subject, version string, permanent bool) (int, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return 0, err
	}
	n, err := parseVersion(version)
	if err != nil {
		return 0, err
	}
	var out int
	err = r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		if err := r.checkDeletable(ctx, tx, subject); err != nil {
			return err
		}
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		if len(versions) == 0 {
			return errSubjectNotFound(subject)
		}
		var v *srstore.Version
		for i := range versions {
			if n == -1 && !versions[i].Deleted || versions[i].Version == n {
				v = &versions[i]
			}
		}
		if v == nil && n == -1 && permanent {
			v = &versions[len(versions)-1]
		}
		if v == nil {
			if n == -1 {
				return errSubjectNotFound(subject)
			}
			return errVersionNotFound(n)
		}
		refs, err := referencedBy(ctx, tx, subject, v.Version, permanent)
		if err != nil {
			return err
		}
		out = v.Version
		if !permanent {
			if v.Deleted {
				return errVersionSoftDeleted(subject, v.Version)
			}
			if len(refs) > 0 {
				return errReferenceExists(subject, v.Version)
			}
			v.Deleted = true
			return tx.PutVersion(ctx, *v)
		}
		if !v.Deleted {
			return errVersionNotSoftDeleted(subject, v.Version)
		}
		if len(refs) > 0 {
			return errReferenceExists(subject, v.Version)
		}
		return tx.DeleteVersion(ctx, subject, v.Version)
	})
	return out, err
}

// DeleteSubject deletes every version of subject: soft first, then
// permanently (which also removes its config and mode). It returns the
// versions deleted.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return nil, err
	}
	var out []int
	err = r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		out = []int{}
		if err := r.checkDeletable(ctx, tx, subject); err != nil {
			return err
		}
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		if len(versions) == 0 {
			return errSubjectNotFound(subject)
		}
		live := 0
		for _, v := range versions {
			if !v.Deleted {
				live++
			}
		}
		switch {
		case !permanent && live == 0:
			return errSubjectSoftDeleted(subject)
		case permanent && live > 0:
			return errSubjectNotSoftDeleted(subject)
		}
		for _, v := range versions {
			refs, err := referencedBy(ctx, tx, subject, v.Version, permanent)
			if err != nil {
				return err
			}
			if len(refs) > 0 {
				return errReferenceExists(subject, v.Version)
			}
			out = append(out, v.Version)
			if permanent {
				err = tx.DeleteVersion(ctx, subject, v.Version)
			} else {
				v.Deleted = true
				err = tx.PutVersion(ctx, v)
			}
			if err != nil {
				return err
			}
		}
		if permanent {
			for _, kind := range []string{srstore.KindConfig, srstore.KindMode} {
				if _, err := tx.DeleteSetting(ctx, kind, subject); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// SchemaByID returns the schema with the ID, if a version (deleted or
// not) still uses it; with subject set, only if that subject does.
func (r *Registry) SchemaByID(ctx context.Context, id int64, subject string) (SchemaByID, error) {
	var out SchemaByID
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		s, err := usedSchema(ctx, tx, id, qualify(subject))
		if err != nil {
			return err
		}
		out = SchemaByID{SchemaType: typeField(s.Type), References: s.Refs, Schema: s.Text}
		return nil
	})
	return out, err
}

func usedSchema(ctx context.Context, tx srstore.Tx, id int64, subject string) (srstore.Schema, error) {
	s, ok, err := tx.SchemaByID(ctx, id)
	if err != nil {
		return s, err
	}
	if !ok {
		return s, errSchemaIDNotFound(id)
	}
	vs, err := tx.VersionsOfSchema(ctx, id)
	if err != nil {
		return s, err
	}
	for _, v := range vs {
		if subject == "" || v.Subject == subject {
			return s, nil
		}
	}
	return s, errSchemaIDNotFound(id)
}

// IDVersion is one element of GET /schemas/ids/{id}/versions.
type IDVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// VersionsByID lists the subject versions that use schema id.
func (r *Registry) VersionsByID(ctx context.Context, id int64, deleted bool) ([]IDVersion, error) {
	out := []IDVersion{}
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		if _, err := usedSchema(ctx, tx, id, ""); err != nil {
			return err
		}
		vs, err := tx.VersionsOfSchema(ctx, id)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if deleted || !v.Deleted {
				out = append(out, IDVersion{v.Subject, v.Version})
			}
		}
		return nil
	})
	return out, err
}

// SubjectsByID lists the subjects that use schema id.
func (r *Registry) SubjectsByID(ctx context.Context, id int64, deleted bool) ([]string, error) {
	vs, err := r.VersionsByID(ctx, id, deleted)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	return out, nil
}

// Schemas lists subject versions (GET /schemas).
func (r *Registry) Schemas(ctx context.Context, prefix string, deleted, latestOnly bool) ([]SubjectVersion, error) {
	out := []SubjectVersion{}
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, "")
		if err != nil {
			return err
		}
		cache := map[int64]srstore.Schema{}
		for i, v := range versions {
			if !strings.HasPrefix(v.Subject, prefix) || (v.Deleted && !deleted) {
				continue
			}
			if latestOnly && i+1 < len(versions) && versions[i+1].Subject == v.Subject && (deleted || !versions[i+1].Deleted) {
				continue
			}
			s, ok := cache[v.SchemaID]
			if !ok {
				if s, ok, err = tx.SchemaByID(ctx, v.SchemaID); err != nil {
					return err
				} else if !ok {
					continue
				}
				cache[v.SchemaID] = s
			}
			out = append(out, subjectVersion(v, s))
		}
		return nil
	})
	return out, err
}

// CompatibilityResult is the answer of POST /compatibility/….
type CompatibilityResult struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// CheckCompatibility tests req against version (or, with version "", the
// versions the subject's level compares with).
func (r *Registry) CheckCompatibility(ctx context.Context, subject, version string, req RegisterRequest, normalize, verbose bool) (CompatibilityResult, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return CompatibilityResult{}, err
	}
	n := 0
	if version != "" {
		if n, err = parseVersion(version); err != nil {
			return CompatibilityResult{}, err
		}
	}
	var out CompatibilityResult
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		c, err := parseCandidate(ctx, tx, req, normalize)
		if err != nil {
			return err
		}
		level, err := effectiveLevel(ctx, tx, subject)
		if err != nil {
			return err
		}
		var against []srstore.Version
		if n != 0 {
			v, err := findVersion(ctx, tx, subject, n, false)
			if err != nil {
				return err
			}
			against = []srstore.Version{v}
		} else {
			vs, err := tx.Versions(ctx, subject)
			if err != nil {
				return err
			}
			for _, v := range vs {
				if !v.Deleted {
					against = append(against, v)
				}
			}
			if len(against) > 0 && !level.Transitive() {
				against = against[len(against)-1:]
			}
		}
		existing := make([]schema.Schema, 0, len(against))
		for _, v := range against {
			s, ok, err := tx.SchemaByID(ctx, v.SchemaID)
			if err != nil || !ok {
				return err
			}
			p, err := parseStored(ctx, tx, s)
			if err != nil {
				return err
			}
			existing = append(existing, p)
		}
		reasons := checkCompat(level, c.parsed, existing, against)
		out.IsCompatible = len(reasons) == 0
		if verbose {
			out.Messages = append([]string{}, reasons...)
		}
		return nil
	})
	return out, err
}

// Config returns the compatibility level set for key (a subject, a context
// prefix, or "" for global). With fallback, unset keys fall back to their
// context's, the global and the default level; without, an unset subject
// is 40408.
func (r *Registry) Config(ctx context.Context, key string, fallback bool) (schema.Level, error) {
	key = qualify(key)
	var out schema.Level
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		v, ok, err := settingChain(ctx, tx, srstore.KindConfig, key, fallback || key == "")
		if err != nil {
			return err
		}
		if !ok {
			if !fallback && key != "" && contextOf(key) != key {
				return errCompatNotConfigured(key)
			}
			out = defaultLevel
			return nil
		}
		out, _ = schema.ParseLevel(v)
		return nil
	})
	return out, err
}

// SetConfig sets the compatibility level of key.
func (r *Registry) SetConfig(ctx context.Context, key, level string) (schema.Level, error) {
	key = qualify(key)
	if key != "" && !validSubject(key) {
		return "", errInvalidSubject(key)
	}
	l, err := schema.ParseLevel(level)
	if err != nil {
		return "", errInvalidCompatibility()
	}
	if err := r.checkWritable(); err != nil {
		return "", err
	}
	err = r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		return tx.PutSetting(ctx, srstore.KindConfig, key, string(l))
	})
	return l, err
}

// DeleteConfig removes key's level and returns the one it had.
func (r *Registry) DeleteConfig(ctx context.Context, key string) (schema.Level, error) {
	key = qualify(key)
	if err := r.checkWritable(); err != nil {
		return "", err
	}
	var out schema.Level
	err := r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		v, ok, err := tx.Setting(ctx, srstore.KindConfig, key)
		if err != nil {
			return err
		}
		if !ok {
			if key != "" {
				return errCompatNotConfigured(key)
			}
			out = defaultLevel
			return nil
		}
		out, _ = schema.ParseLevel(v)
		_, err = tx.DeleteSetting(ctx, srstore.KindConfig, key)
		return err
	})
	return out, err
}

// GetMode returns the mode of key; like Config for fallback (40409).
func (r *Registry) GetMode(ctx context.Context, key string, fallback bool) (Mode, error) {
	key = qualify(key)
	var out Mode
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		v, ok, err := settingChain(ctx, tx, srstore.KindMode, key, fallback || key == "")
		if err != nil {
			return err
		}
		if !ok {
			if !fallback && key != "" && contextOf(key) != key {
				return errModeNotConfigured(key)
			}
			out = ReadWrite
			return nil
		}
		out, _ = parseMode(v)
		return nil
	})
	if err == nil && r.readOnly && out == ReadWrite {
		out = ReadOnly
	}
	return out, err
}

// SetMode sets the mode of key. IMPORT may only be set where no schema is
// registered yet (the subject, or the whole registry/context) unless force.
func (r *Registry) SetMode(ctx context.Context, key, mode string, force bool) (Mode, error) {
	key = qualify(key)
	if key != "" && !validSubject(key) {
		return "", errInvalidSubject(key)
	}
	m, ok := parseMode(mode)
	if !ok {
		return "", errInvalidMode()
	}
	if err := r.checkWritable(); err != nil {
		return "", err
	}
	err := r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		if m == Import && !force {
			versions, err := tx.Versions(ctx, "")
			if err != nil {
				return err
			}
			for _, v := range versions {
				if key == "" || v.Subject == key || (contextOf(key) == key && strings.HasPrefix(v.Subject, key)) {
					return errNotPermitted("Cannot import since found existing subjects")
				}
			}
		}
		return tx.PutSetting(ctx, srstore.KindMode, key, string(m))
	})
	return m, err
}

// DeleteMode removes key's mode and returns the one it had.
func (r *Registry) DeleteMode(ctx context.Context, key string) (Mode, error) {
	key = qualify(key)
	if err := r.checkWritable(); err != nil {
		return "", err
	}
	var out Mode
	err := r.store.SchemaRegistryUpdate(ctx, func(tx srstore.Tx) error {
		v, ok, err := tx.Setting(ctx, srstore.KindMode, key)
		if err != nil {
			return err
		}
		if !ok {
			if key != "" {
				return errModeNotConfigured(key)
			}
			out = ReadWrite
			return nil
		}
		out, _ = parseMode(v)
		_, err = tx.DeleteSetting(ctx, srstore.KindMode, key)
		return err
	})
	return out, err
}

// Contexts lists the contexts: the default one and every context a
// subject names.
func (r *Registry) Contexts(ctx context.Context) ([]string, error) {
	out := []string{defaultContext}
	err := r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, "")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, v := range versions {
			if c := contextOf(v.Subject); c != "" && !seen[c] {
				seen[c] = true
				out = append(out, contextName(c))
			}
		}
		return nil
	})
	sort.Strings(out[1:])
	return out, err
}

// Counts returns the number of schemas and of live subjects (for the
// gauges).
func (r *Registry) Counts(ctx context.Context) (schemas, subjects int, err error) {
	err = r.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, "")
		if err != nil {
			return err
		}
		ids := map[int64]bool{}
		subs := map[string]bool{}
		for _, v := range versions {
			if !v.Deleted {
				ids[v.SchemaID] = true
				subs[v.Subject] = true
			}
		}
		schemas, subjects = len(ids), len(subs)
		return nil
	})
	return schemas, subjects, err
}

// checkCompat checks candidate against existing (the schemas of versions,
// oldest first) and words the reasons as Confluent's verbose messages,
// with the real version numbers.
func checkCompat(level schema.Level, candidate schema.Schema, existing []schema.Schema, versions []srstore.Version) []string {
	var out []string
	for _, inc := range schema.CheckEach(level, candidate, existing) {
		out = append(out, inc.Messages...)
		out = append(out,
			fmt.Sprintf("{oldSchemaVersion: %d}", versions[inc.Index].Version),
			fmt.Sprintf("{oldSchema: '%s'}", existing[inc.Index].Canonical()),
			fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return out
}
