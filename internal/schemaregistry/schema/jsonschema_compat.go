package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
)

// JSON Schema compatibility follows Confluent's rules: the new schema must
// accept every document the old one accepts (backward; forward swaps the
// two). A change that widens what is accepted is compatible, one that
// narrows it is not:
//
//   - type: adding a type (or integer → number) is TYPE_EXTENDED;
//     dropping one is TYPE_NARROWED, or TYPE_CHANGED when none is left;
//   - bounds (maxLength, minLength, maximum, minimum, exclusiveMaximum,
//     exclusiveMinimum, maxItems, minItems, maxProperties, minProperties):
//     added or tightened is incompatible, removed or loosened compatible;
//     likewise pattern, multipleOf, uniqueItems, const and enum (an enum
//     may only gain values);
//   - required: a property newly required is incompatible, unless it is a
//     new property with a default;
//   - content models: an object is open when additionalProperties is absent
//     or true, closed when false, partially open when a schema. A property
//     added to an open model must have an empty schema
//     (PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL otherwise), to a closed model is
//     compatible, to a partially open one must be covered by the old
//     additionalProperties; a property removed from a closed model is
//     incompatible (PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL), from an open
//     one compatible, from a partially open one compatible only if the new
//     additionalProperties covers it; closing or narrowing
//     additionalProperties is incompatible;
//   - combined schemas: anyOf/oneOf may gain alternatives (SUM_TYPE_EXTENDED)
//     but not lose them (SUM_TYPE_NARROWED); allOf may lose parts but not
//     gain them (PRODUCT_TYPE_EXTENDED); a schema may become one
//     alternative of an anyOf/oneOf; any other change of combinator is
//     COMBINED_TYPE_CHANGED;
//   - $ref is followed, within the document and into references; recursive
//     definitions are compared once.
//
// title, description, $id, default, examples and other annotations are
// ignored.

type jsonChecker struct {
	orig, upd  *jsonSchema
	msgs       []string
	seen       map[string]bool
	inProgress map[string]bool
	compatible map[string]bool // $ref pairs compared: whether compatible
	budget     *compareBudget
	depth      int
}

// jsonCompatible reports why documents valid under writer are not all valid
// under reader: writer is Confluent's "original", reader the "update".
func jsonCompatible(reader, writer *jsonSchema, _ bool) []string {
	c := &jsonChecker{orig: writer, upd: reader, seen: map[string]bool{}, inProgress: map[string]bool{}, compatible: map[string]bool{}, budget: &compareBudget{}}
	c.cmp("#", jsonNode{writer.doc, writer.base, writer}, jsonNode{reader.doc, reader.base, reader})
	if c.budget.exhausted {
		c.report("SCHEMA_TOO_COMPLEX", "#", fmt.Sprintf("The schemas are too complex to compare (more than %d steps)", maxCompareSteps))
	}
	return c.msgs
}

// jsonNode is a subschema with the document and base URL its references
// resolve against.
type jsonNode struct {
	v     any
	base  *url.URL
	owner *jsonSchema
}

func (c *jsonChecker) report(errType, path, desc string) {
	m := fmt.Sprintf("{errorType:%q, description:%q}", errType, desc+" at path '"+path+"' in the new schema")
	if !c.seen[m] {
		c.seen[m] = true
		c.msgs = append(c.msgs, m)
	}
}

// sub runs a comparison whose messages are not reported, to ask whether one
// schema covers another.
func (c *jsonChecker) covers(o, u jsonNode) bool {
	sub := &jsonChecker{orig: c.orig, upd: c.upd, seen: map[string]bool{}, inProgress: c.inProgress, compatible: c.compatible, budget: c.budget, depth: c.depth}
	sub.cmp("#", o, u)
	return len(sub.msgs) == 0
}

// resolve follows $ref chains (draft-07: a $ref replaces its siblings).
func (c *jsonChecker) resolve(n jsonNode) (jsonNode, string, bool) {
	key := ""
	for range 32 {
		m, ok := n.v.(map[string]any)
		if !ok {
			return n, key, true
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return n, key, true
		}
		u, err := n.base.Parse(ref)
		if err != nil {
			return n, key, false
		}
		frag := u.Fragment
		u.Fragment = ""
		var doc any
		if u.String() == n.owner.base.String() || u.String() == jsonBase+"schema.json" {
			doc = n.owner.doc
		} else if d, ok := n.owner.deps[u.String()]; ok {
			doc = d
		} else {
			return n, key, false
		}
		target, ok := jsonPointer(doc, frag)
		if !ok {
			return n, key, false
		}
		key = u.String() + "#" + frag
		n = jsonNode{target, u, n.owner}
	}
	return n, key, false
}

func jsonPointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false // anchors are not followed
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func asObject(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case bool:
		if t {
			return map[string]any{}, true
		}
		return nil, false // false: accepts nothing
	}
	return map[string]any{}, true
}

var combinators = []string{"allOf", "anyOf", "oneOf"}

func (c *jsonChecker) cmp(path string, o, u jsonNode) {
	if !c.budget.spend() {
		return
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > MaxDepth {
		c.report("SCHEMA_TOO_DEEP", path, "The schemas are nested too deeply to compare")
		return
	}
	o, okey, ok1 := c.resolve(o)
	u, ukey, ok2 := c.resolve(u)
	if !ok1 || !ok2 {
		c.report("REFERENCE_UNRESOLVED", path, "A reference could not be followed")
		return
	}
	if okey != "" || ukey != "" {
		key := okey + "|" + ukey + "|" + path
		if okey != "" && ukey != "" {
			key = okey + "|" + ukey
		}
		if c.inProgress[key] {
			return
		}
		if ok, known := c.compatible[key]; known {
			if !ok {
				// Compared before, with its reasons reported there.
				c.report("REFERENCE_INCOMPATIBLE", path, "The referenced schemas were found incompatible")
			}
			return
		}
		c.inProgress[key] = true
		before := len(c.msgs)
		defer func() {
			delete(c.inProgress, key)
			if !c.budget.exhausted {
				c.compatible[key] = len(c.msgs) == before
			}
		}()
	}
	om, oAccepts := asObject(o.v)
	if !oAccepts {
		return // the old schema accepted nothing
	}
	um, uAccepts := asObject(u.v)
	if !uAccepts {
		c.report("TYPE_NARROWED", path, "The new schema accepts nothing")
		return
	}
	if c.combined(path, o, om, u, um) {
		return
	}
	c.types(path, om, um)
	c.enumConst(path, om, um)
	c.bounds(path, om, um)
	c.objects(path, o, om, u, um)
	c.arrays(path, o, om, u, um)
	if un, ok := um["not"]; ok {
		if on, ok := om["not"]; !ok || !jsonEqual(on, un) {
			c.report("NOT_TYPE_CHANGED", path, "The not subschema in the new schema is not the old schema's")
		}
	}
}

// combined compares allOf/anyOf/oneOf; it returns true when it compared the
// whole of the two schemas.
func (c *jsonChecker) combined(path string, o jsonNode, om map[string]any, u jsonNode, um map[string]any) bool {
	ocomb, osubs := combinator(om)
	ucomb, usubs := combinator(um)
	if ocomb == "" && ucomb == "" {
		return false
	}
	oRest, uRest := without(om, ocomb), without(um, ucomb)
	child := func(n jsonNode, v any) jsonNode { return jsonNode{v, n.base, n.owner} }
	switch {
	case ocomb == ucomb || (ocomb == "oneOf" && ucomb == "anyOf"):
		// Match every old alternative (sum) or every new part (product).
		if ucomb == "allOf" {
			for i, us := range usubs {
				if !slices.ContainsFunc(osubs, func(os any) bool { return c.covers(child(o, os), child(u, us)) }) {
					c.report("PRODUCT_TYPE_EXTENDED", fmt.Sprintf("%s/allOf/%d", path, i), "The new schema has a part in allOf that the old schema does not")
				}
			}
		} else {
			for i, os := range osubs {
				if !slices.ContainsFunc(usubs, func(us any) bool { return c.covers(child(o, os), child(u, us)) }) {
					c.report("SUM_TYPE_NARROWED", fmt.Sprintf("%s/%s/%d", path, ocomb, i), "The new schema is missing an alternative of the old schema's "+ocomb)
				}
			}
		}
	case ocomb == "" && (ucomb == "anyOf" || ucomb == "oneOf"):
		// The old schema became one alternative.
		if !slices.ContainsFunc(usubs, func(us any) bool { return c.covers(child(o, oRest), child(u, us)) }) {
			c.report("COMBINED_TYPE_CHANGED", path, "No alternative of the new schema's "+ucomb+" accepts what the old schema accepts")
		}
	case ucomb == "":
		if ocomb == "allOf" {
			// Documents satisfy every old part: one covered part suffices.
			if !slices.ContainsFunc(osubs, func(os any) bool { return c.covers(child(o, os), child(u, uRest)) }) {
				c.report("COMBINED_TYPE_CHANGED", path, "The new schema does not accept what the old schema's allOf accepts")
			}
		} else {
			for i, os := range osubs {
				if !c.covers(child(o, os), child(u, uRest)) {
					c.report("SUM_TYPE_NARROWED", fmt.Sprintf("%s/%s/%d", path, ocomb, i), "The new schema does not accept an alternative of the old schema's "+ocomb)
				}
			}
		}
		// uRest is the whole new schema, compared with each alternative.
		return true
	case ucomb == "allOf" && ocomb == "":
		for i, us := range usubs {
			c.cmp(fmt.Sprintf("%s/allOf/%d", path, i), child(o, oRest), child(u, us))
		}
	default:
		c.report("COMBINED_TYPE_CHANGED", path, fmt.Sprintf("The combined type changed from %s to %s", ocomb, ucomb))
	}
	// Keywords beside the combinator constrain too.
	if ocomb != "" || ucomb != "" {
		c.types(path, oRest, uRest)
		c.enumConst(path, oRest, uRest)
		c.bounds(path, oRest, uRest)
		c.objects(path, o, oRest, u, uRest)
		c.arrays(path, o, oRest, u, uRest)
	}
	return true
}

func combinator(m map[string]any) (string, []any) {
	for _, k := range combinators {
		if subs, ok := m[k].([]any); ok {
			return k, subs
		}
	}
	return "", nil
}

func without(m map[string]any, key string) map[string]any {
	if key == "" {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func jsonTypes(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil // any type
}

func (c *jsonChecker) types(path string, om, um map[string]any) {
	ut := jsonTypes(um)
	if ut == nil {
		return
	}
	ot := jsonTypes(om)
	if ot == nil {
		c.report("TYPE_NARROWED", path, "The new schema restricts the type, which the old schema left open")
		return
	}
	covered := 0
	for _, t := range ot {
		if slices.Contains(ut, t) || (t == "integer" && slices.Contains(ut, "number")) {
			covered++
		}
	}
	switch {
	case covered == 0:
		c.report("TYPE_CHANGED", path, fmt.Sprintf("The type changed from %v to %v", ot, ut))
	case covered < len(ot):
		c.report("TYPE_NARROWED", path, fmt.Sprintf("The type narrowed from %v to %v", ot, ut))
	}
}

func jsonEqual(a, b any) bool {
	var x, y strings.Builder
	writeJSONValue(&x, normalizeNumbers(a))
	writeJSONValue(&y, normalizeNumbers(b))
	return x.String() == y.String()
}

// normalizeNumbers makes 1 and 1.0 compare equal.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(t.String()); ok {
			return r.RatString()
		}
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeNumbers(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalizeNumbers(e)
		}
		return out
	}
	return v
}

func (c *jsonChecker) enumConst(path string, om, um map[string]any) {
	if ue, ok := um["enum"].([]any); ok {
		oe, had := om["enum"].([]any)
		switch {
		case !had:
			c.report("ENUM_ARRAY_NARROWED", path, "The new schema adds an enum the old schema did not have")
		default:
			for _, v := range oe {
				if !slices.ContainsFunc(ue, func(w any) bool { return jsonEqual(v, w) }) {
					c.report("ENUM_ARRAY_NARROWED", path, "The new schema's enum is missing values of the old schema's")
					break
				}
			}
		}
	}
	if uc, ok := um["const"]; ok {
		if oc, had := om["const"]; !had {
			c.report("CONST_ADDED", path, "The new schema adds a const")
		} else if !jsonEqual(oc, uc) {
			c.report("CONST_CHANGED", path, "The new schema changes the const")
		}
	}
}

func jsonRat(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	return new(big.Rat).SetString(n.String())
}

var upperBounds = []struct{ key, name string }{
	{"maxLength", "MAX_LENGTH"}, {"maxItems", "MAX_ITEMS"}, {"maxProperties", "MAX_PROPERTIES"},
	{"maximum", "MAXIMUM"}, {"exclusiveMaximum", "EXCLUSIVE_MAXIMUM"},
}

var lowerBounds = []struct{ key, name string }{
	{"minLength", "MIN_LENGTH"}, {"minItems", "MIN_ITEMS"}, {"minProperties", "MIN_PROPERTIES"},
	{"minimum", "MINIMUM"}, {"exclusiveMinimum", "EXCLUSIVE_MINIMUM"},
}

func (c *jsonChecker) bounds(path string, om, um map[string]any) {
	for _, b := range upperBounds {
		uv, ok := jsonRat(um[b.key])
		if !ok {
			continue
		}
		ov, had := jsonRat(om[b.key])
		if !had {
			c.report(b.name+"_ADDED", path, "The new schema adds "+b.key)
		} else if uv.Cmp(ov) < 0 {
			c.report(b.name+"_DECREASED", path, "The new schema decreases "+b.key)
		}
	}
	for _, b := range lowerBounds {
		uv, ok := jsonRat(um[b.key])
		if !ok {
			continue
		}
		ov, had := jsonRat(om[b.key])
		if !had {
			c.report(b.name+"_ADDED", path, "The new schema adds "+b.key)
		} else if uv.Cmp(ov) > 0 {
			c.report(b.name+"_INCREASED", path, "The new schema increases "+b.key)
		}
	}
	if uv, ok := jsonRat(um["multipleOf"]); ok && uv.Sign() > 0 {
		ov, had := jsonRat(om["multipleOf"])
		if !had {
			c.report("MULTIPLE_OF_ADDED", path, "The new schema adds multipleOf")
		} else if q := new(big.Rat).Quo(ov, uv); !q.IsInt() {
			// Every old multiple must be a new multiple: old/new integral.
			c.report("MULTIPLE_OF_CHANGED", path, "The new schema's multipleOf does not divide the old schema's")
		}
	}
	if up, ok := um["pattern"].(string); ok {
		if op, had := om["pattern"].(string); !had {
			c.report("PATTERN_ADDED", path, "The new schema adds a pattern")
		} else if op != up {
			c.report("PATTERN_CHANGED", path, "The new schema changes the pattern")
		}
	}
	if um["uniqueItems"] == true && om["uniqueItems"] != true {
		c.report("UNIQUE_ITEMS_ADDED", path, "The new schema requires unique items")
	}
}

// contentModel classifies additionalProperties (or additionalItems):
// open (absent or true), closed (false), or partial (a schema).
func contentModel(v any, present bool) (open, closed bool) {
	if !present {
		return true, false
	}
	switch t := v.(type) {
	case bool:
		return t, !t
	case map[string]any:
		if len(t) == 0 {
			return true, false
		}
	}
	return false, false
}

func stringSet(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func isEmptySchema(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case map[string]any:
		for k := range t {
			switch k {
			case "title", "description", "default", "examples", "$comment":
			default:
				return false
			}
		}
		return true
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *jsonChecker) objects(path string, o jsonNode, om map[string]any, u jsonNode, um map[string]any) {
	op, _ := om["properties"].(map[string]any)
	up, _ := um["properties"].(map[string]any)
	oAdd, oHas := om["additionalProperties"]
	uAdd, uHas := um["additionalProperties"]
	oOpen, oClosed := contentModel(oAdd, oHas)
	uOpen, uClosed := contentModel(uAdd, uHas)
	child := func(n jsonNode, v any) jsonNode { return jsonNode{v, n.base, n.owner} }

	for _, name := range sortedKeys(up) {
		ppath := path + "/properties/" + name
		if ov, ok := op[name]; ok {
			c.cmp(ppath, child(o, ov), child(u, up[name]))
			continue
		}
		switch {
		case oClosed:
			// Old documents cannot have it.
		case oOpen:
			if !isEmptySchema(up[name]) {
				c.report("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ppath, fmt.Sprintf("The new schema adds property '%s' to an open content model", name))
			}
		default:
			if !c.covers(child(o, oAdd), child(u, up[name])) {
				c.report("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", ppath, fmt.Sprintf("The new schema adds property '%s' not covered by the old schema's additionalProperties", name))
			}
		}
	}
	for _, name := range sortedKeys(op) {
		if _, ok := up[name]; ok {
			continue
		}
		ppath := path + "/properties/" + name
		switch {
		case uOpen:
		case uClosed:
			c.report("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", ppath, fmt.Sprintf("The new schema removes property '%s' from a closed content model", name))
		default:
			if !c.covers(child(o, op[name]), child(u, uAdd)) {
				c.report("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", ppath, fmt.Sprintf("The new schema removes property '%s' not covered by its additionalProperties", name))
			}
		}
	}
	switch {
	case oClosed:
	case uClosed:
		c.report("ADDITIONAL_PROPERTIES_REMOVED", path+"/additionalProperties", "The new schema does not allow additional properties the old schema allowed")
	case uOpen:
	case oOpen:
		c.report("ADDITIONAL_PROPERTIES_NARROWED", path+"/additionalProperties", "The new schema restricts additional properties the old schema allowed")
	default:
		c.cmp(path+"/additionalProperties", child(o, oAdd), child(u, uAdd))
	}

	oreq, ureq := stringSet(om["required"]), stringSet(um["required"])
	for _, name := range ureq {
		if slices.Contains(oreq, name) {
			continue
		}
		_, wasProp := op[name]
		newProp, _ := up[name].(map[string]any)
		_, hasDefault := newProp["default"]
		switch {
		case !wasProp && hasDefault && !oOpen:
			// REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL:
			// compatible in Confluent's rules.
		case !wasProp && !oOpen:
			c.report("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", path+"/properties/"+name, fmt.Sprintf("The new schema adds required property '%s'", name))
		default:
			c.report("REQUIRED_ATTRIBUTE_ADDED", path+"/required", fmt.Sprintf("The new schema makes property '%s' required", name))
		}
	}
}

func (c *jsonChecker) arrays(path string, o jsonNode, om map[string]any, u jsonNode, um map[string]any) {
	child := func(n jsonNode, v any) jsonNode { return jsonNode{v, n.base, n.owner} }
	ui, uHas := um["items"]
	oi, oHas := om["items"]
	if !uHas {
		return
	}
	uTuple, uIsTuple := ui.([]any)
	oTuple, oIsTuple := oi.([]any)
	switch {
	case !uIsTuple && (!oHas || !oIsTuple):
		if !oHas {
			oi = map[string]any{}
		}
		c.cmp(path+"/items", child(o, oi), child(u, ui))
	case uIsTuple && oIsTuple:
		for i := range uTuple {
			ipath := fmt.Sprintf("%s/items/%d", path, i)
			if i < len(oTuple) {
				c.cmp(ipath, child(o, oTuple[i]), child(u, uTuple[i]))
				continue
			}
			oAdd, has := om["additionalItems"]
			if open, closed := contentModel(oAdd, has); closed {
				continue
			} else if open {
				if !isEmptySchema(uTuple[i]) {
					c.report("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", ipath, "The new schema adds an item to an open content model")
				}
			} else {
				c.cmp(ipath, child(o, oAdd), child(u, uTuple[i]))
			}
		}
		if len(oTuple) > len(uTuple) {
			uAdd, has := um["additionalItems"]
			if _, closed := contentModel(uAdd, has); closed {
				c.report("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", path+"/items", "The new schema removes an item from a closed content model")
			}
		}
	default:
		c.report("TYPE_CHANGED", path+"/items", "The items of the array changed between a list and a tuple")
	}
}
