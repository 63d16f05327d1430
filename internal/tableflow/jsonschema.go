package tableflow

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

// jsonSchemaColumns maps a JSON Schema document (a registry subject's
// schema for json tables) onto columns. The root must be an object with
// properties:
//
//	"boolean"                                   → boolean
//	"integer"                                   → long
//	"number"                                    → double
//	"string"                                    → string
//	"string" + format date-time / date          → timestamptz / date
//	"object" with properties                    → struct
//	"object" with only additionalProperties: S  → map<string, S>
//	"array" with items: S                       → list<S>
//	["null", T], oneOf/anyOf [{"type":"null"}, S] → T, optional
//	{"$ref": "#/definitions/X"} ($defs too)     → X
//	{"$ref": "other.json#/definitions/X"}       → X in a referenced schema
//
// References to other registry subjects (Confluent schema references,
// deps) are found as the registry finds them: a reference's name is
// resolved against the referencing document's "$id" (or the registry's
// base when it has none), and a referenced document is also found under
// its own "$id"; its local $refs resolve within it.
//
// A property is required when the schema's "required" lists it and it is
// not nullable. Anything else (a union of several types, an object without
// properties, a $ref to a document the schema does not reference, a
// recursive definition) is refused.
func jsonSchemaColumns(text string, deps []schema.Dep) ([]Column, error) {
	root, err := decodeJSONSchema(text)
	if err != nil {
		return nil, fmt.Errorf("json schema: %v", err)
	}
	base, _ := url.Parse(jsonBaseURL)
	main := &jsonDoc{base: withID(base, root), root: root}
	m := jsonMapper{docs: map[string]*jsonDoc{jsonBaseURL: main, main.base.String(): main}}
	for _, d := range deps {
		dr, err := decodeJSONSchema(d.Text)
		if err != nil {
			return nil, fmt.Errorf("json schema: reference %s: %v", d.Name, err)
		}
		doc := &jsonDoc{root: dr}
		for _, b := range []*url.URL{main.base, base} {
			u, err := b.Parse(d.Name)
			if err != nil {
				continue
			}
			u.Fragment = ""
			if doc.base == nil {
				doc.base = withID(u, dr)
			}
			m.add(u.String(), doc)
		}
		if doc.base != nil {
			m.add(doc.base.String(), doc)
		}
	}
	t, _, err := m.typ(main, root, 0, nil)
	if err != nil {
		return nil, err
	}
	st, ok := t.(*iceberg.StructType)
	if !ok {
		return nil, fmt.Errorf("json schema: the root is a %s, want an object with properties", t)
	}
	cols := make([]Column, len(st.FieldList))
	for i, f := range st.FieldList {
		if strings.HasPrefix(f.Name, "_kafka_") {
			return nil, fmt.Errorf("property %s: the _kafka_ prefix is reserved", f.Name)
		}
		cols[i] = Column{Name: f.Name, Type: f.Type, Required: f.Required}
	}
	return cols, nil
}

// jsonBaseURL is where a document without an absolute "$id" lives, as in
// the registry, so relative references resolve the same way there and here.
const jsonBaseURL = "mem://schema-registry/schema.json"

func decodeJSONSchema(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the root is not an object schema")
	}
	return root, nil
}

// withID is where a document with base as its default location lives:
// its "$id" resolved against base.
func withID(base *url.URL, root map[string]any) *url.URL {
	if id, ok := root["$id"].(string); ok {
		if u, err := base.Parse(id); err == nil {
			u.Fragment = ""
			return u
		}
	}
	return base
}

// jsonDoc is one schema document: the main one or a reference.
type jsonDoc struct {
	base *url.URL
	root map[string]any
}

type jsonMapper struct {
	docs map[string]*jsonDoc // by URL without fragment
}

func (m jsonMapper) add(u string, d *jsonDoc) {
	if _, dup := m.docs[u]; !dup {
		m.docs[u] = d
	}
}

// resolve follows a $ref from doc: local ("#/definitions/X", "#/$defs/X",
// "#") or into a referenced document ("address.json",
// "address.json#/definitions/X").
func (m jsonMapper) resolve(doc *jsonDoc, ref string, refs []string) (map[string]any, *jsonDoc, []string, error) {
	u, err := doc.base.Parse(ref)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("$ref %s: %v", ref, err)
	}
	frag := u.Fragment
	u.Fragment = ""
	key := u.String() + "#" + frag
	if slices.Contains(refs, key) {
		return nil, nil, nil, fmt.Errorf("$ref %s is recursive; Iceberg types cannot be", ref)
	}
	target, ok := m.docs[u.String()]
	if !ok {
		return nil, nil, nil, fmt.Errorf("$ref %s: not this document nor one of its references", ref)
	}
	var cur any = target.root
	for _, p := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if p == "" {
			continue
		}
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, nil, nil, fmt.Errorf("$ref %s: no such definition", ref)
		}
		if cur, ok = obj[p]; !ok {
			return nil, nil, nil, fmt.Errorf("$ref %s: no such definition", ref)
		}
	}
	s, ok := cur.(map[string]any)
	if !ok {
		return nil, nil, nil, fmt.Errorf("$ref %s is not a schema object", ref)
	}
	return s, target, append(slices.Clip(refs), key), nil
}

// typ maps one schema of doc; nullable is true when it also admits null.
func (m jsonMapper) typ(doc *jsonDoc, s map[string]any, depth int, refs []string) (t iceberg.Type, nullable bool, err error) {
	if depth > maxNesting {
		return nil, false, fmt.Errorf("json schema nests deeper than %d levels", maxNesting)
	}
	if ref, ok := s["$ref"].(string); ok {
		rs, rdoc, refs, err := m.resolve(doc, ref, refs)
		if err != nil {
			return nil, false, err
		}
		return m.typ(rdoc, rs, depth+1, refs)
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		alts, ok := s[key].([]any)
		if !ok {
			continue
		}
		var other []map[string]any
		null := false
		for _, a := range alts {
			as, ok := a.(map[string]any)
			if !ok {
				return nil, false, fmt.Errorf("%s holds a non-schema", key)
			}
			if as["type"] == "null" {
				null = true
			} else {
				other = append(other, as)
			}
		}
		if len(other) != 1 {
			return nil, false, fmt.Errorf("%s of %d non-null schemas has no Iceberg type", key, len(other))
		}
		t, n, err := m.typ(doc, other[0], depth+1, refs)
		return t, n || null, err
	}
	var typ string
	switch x := s["type"].(type) {
	case string:
		typ = x
	case []any:
		for _, e := range x {
			switch e {
			case "null":
				nullable = true
			default:
				es, ok := e.(string)
				if !ok || typ != "" {
					return nil, false, fmt.Errorf("type %v: only one type besides null is supported", x)
				}
				typ = es
			}
		}
	case nil:
		if _, ok := s["properties"]; ok {
			typ = "object"
		}
	}
	switch typ {
	case "boolean":
		return iceberg.PrimitiveTypes.Bool, nullable, nil
	case "integer":
		return iceberg.PrimitiveTypes.Int64, nullable, nil
	case "number":
		return iceberg.PrimitiveTypes.Float64, nullable, nil
	case "string":
		switch s["format"] {
		case "date-time":
			return iceberg.PrimitiveTypes.TimestampTz, nullable, nil
		case "date":
			return iceberg.PrimitiveTypes.Date, nullable, nil
		}
		return iceberg.PrimitiveTypes.String, nullable, nil
	case "array":
		items, ok := s["items"].(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("an array needs an items schema")
		}
		et, _, err := m.typ(doc, items, depth+1, refs)
		if err != nil {
			return nil, false, fmt.Errorf("items: %w", err)
		}
		return listOf(et), nullable, nil
	case "object":
		props, _ := s["properties"].(map[string]any)
		if len(props) == 0 {
			ap, ok := s["additionalProperties"].(map[string]any)
			if !ok {
				return nil, false, fmt.Errorf("an object needs properties or an additionalProperties schema")
			}
			vt, _, err := m.typ(doc, ap, depth+1, refs)
			if err != nil {
				return nil, false, fmt.Errorf("additionalProperties: %w", err)
			}
			return mapOf(iceberg.PrimitiveTypes.String, vt), nullable, nil
		}
		required := map[string]bool{}
		if rl, ok := s["required"].([]any); ok {
			for _, r := range rl {
				if rs, ok := r.(string); ok {
					required[rs] = true
				}
			}
		}
		// A decoded object has no key order; columns follow the names'.
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		slices.Sort(names)
		fs := make([]iceberg.NestedField, 0, len(props))
		for _, name := range names {
			ps, ok := props[name].(map[string]any)
			if !ok {
				return nil, false, fmt.Errorf("property %s: not a schema object", name)
			}
			pt, pn, err := m.typ(doc, ps, depth+1, refs)
			if err != nil {
				return nil, false, fmt.Errorf("property %s: %w", name, err)
			}
			fs = append(fs, iceberg.NestedField{Name: name, Type: pt, Required: required[name] && !pn})
		}
		return &iceberg.StructType{FieldList: fs}, nullable, nil
	case "":
		return nil, false, fmt.Errorf("a schema without a type has no Iceberg type")
	}
	return nil, false, fmt.Errorf("type %q is not supported", typ)
}
