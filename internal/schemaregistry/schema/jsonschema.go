package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonSchema is a compiled JSON Schema (draft-07 unless "$schema" names
// another draft, as Confluent's default) with its references.
type jsonSchema struct {
	text       string
	canonical  string
	normalized string
	names      []string
	doc        any            // the decoded document, for compatibility
	deps       map[string]any // decoded references by resolved URL
	base       *url.URL       // where the document lives, for $ref resolution
	compiled   *jsonschema.Schema
}

func (s *jsonSchema) Type() Type            { return JSON }
func (s *jsonSchema) Text() string          { return s.text }
func (s *jsonSchema) Canonical() string     { return s.canonical }
func (s *jsonSchema) Normalized() string    { return s.normalized }
func (s *jsonSchema) RecordNames() []string { return slices.Clone(s.names) }

// jsonBase is where a document without an absolute "$id" is placed, so that
// relative references ("customer.json") resolve to where the caller's
// references are registered.
const jsonBase = "mem://schema-registry/"

// noLoader refuses every URL the document references that the caller did
// not pass: the registry never fetches schemas from the network or disk.
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("unknown reference %q", u)
}

func parseJSON(text string, deps []Dep) (Schema, error) {
	doc, err := decodeJSONBounded(text)
	if err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, invalidf("Invalid schema: a JSON schema must be an object or a boolean, not %s", jsonKind(doc))
	}
	objects := countJSONObjects(doc)
	s := &jsonSchema{text: text, doc: doc, deps: map[string]any{}}
	s.base, _ = url.Parse(jsonBase + "schema.json")
	if id := jsonID(doc); id != "" {
		if u, err := s.base.Parse(id); err == nil {
			s.base = u
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	mainURL := jsonBase + "schema.json"
	if err := c.AddResource(mainURL, doc); err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	for _, d := range deps {
		if d.Type != "" && d.Type != JSON {
			return nil, invalidf("Invalid schema: reference %q is %s, a JSON schema can only reference JSON schemas", d.Name, d.Type)
		}
		dd, err := decodeJSONBounded(d.Text)
		if err != nil {
			return nil, invalidf("Invalid schema: reference %q: %v", d.Name, err)
		}
		objects += countJSONObjects(dd)
		// A reference is found under its name, resolved against where the
		// referencing document lives, and under its own "$id".
		urls := []string{}
		for _, base := range []*url.URL{s.base, mustURL(mainURL)} {
			if u, err := base.Parse(d.Name); err == nil {
				u.Fragment = ""
				urls = append(urls, u.String())
			}
		}
		for _, u := range dedup(urls) {
			if _, dup := s.deps[u]; dup {
				continue
			}
			s.deps[u] = dd
			if err := c.AddResource(u, dd); err != nil {
				return nil, invalidf("Invalid schema: reference %q: %v", d.Name, err)
			}
		}
	}
	if objects > MaxJSONObjects {
		return nil, invalidf("Invalid schema: the schema and its references have %d JSON objects, more than the %d allowed", objects, MaxJSONObjects)
	}
	compiled, err := c.Compile(mainURL)
	if err != nil {
		return nil, invalidf("Invalid schema: %s", strings.ReplaceAll(err.Error(), jsonBase, ""))
	}
	s.compiled = compiled
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	s.canonical = buf.String()
	var nb strings.Builder
	writeJSONValue(&nb, doc) // sorted keys
	s.normalized = nb.String()
	// Confluent names a JSON schema by its title, else "record".
	name := "record"
	if m, ok := doc.(map[string]any); ok {
		if t, ok := m["title"].(string); ok && t != "" {
			name = t
		}
	}
	s.names = []string{name}
	return s, nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func jsonID(doc any) string {
	m, ok := doc.(map[string]any)
	if !ok {
		return ""
	}
	if id, ok := m["$id"].(string); ok {
		return id
	}
	if id, ok := m["id"].(string); ok {
		return id
	}
	return ""
}

// validate checks that payload is one JSON document valid under the schema.
func (s *jsonSchema) validate(payload []byte) error {
	inst, err := decodeJSONBounded(string(payload))
	if err != nil {
		return fmt.Errorf("json payload is not valid JSON: %v", err)
	}
	if err := s.compiled.Validate(inst); err != nil {
		return fmt.Errorf("json payload does not match the schema: %s", strings.ReplaceAll(err.Error(), jsonBase, ""))
	}
	return nil
}

// MaxJSONObjects bounds the JSON objects in a JSON schema and its
// references: compiling grows faster than linearly with them (5,000 take
// about half a second).
const MaxJSONObjects = 5000

func countJSONObjects(v any) int {
	switch t := v.(type) {
	case map[string]any:
		n := 1
		for _, e := range t {
			n += countJSONObjects(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range t {
			n += countJSONObjects(e)
		}
		return n
	}
	return 0
}
