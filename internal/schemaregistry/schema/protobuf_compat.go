package schema

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protobuf compatibility follows Confluent's rules. Confluent diffs the old
// schema (original) against the new one (update) and refuses these
// differences; every other change (fields or messages added, fields
// removed, renames, enum constants added or removed, package changed,
// options) is compatible, because Protobuf readers skip unknown fields and
// default missing ones:
//
//   - MESSAGE_REMOVED: a message of the original is not in the update
//     (messages are matched by name within the package);
//   - FIELD_KIND_CHANGED: a field number changes between scalar, message,
//     enum and map;
//   - FIELD_SCALAR_KIND_CHANGED: a scalar field's type changes outside one
//     wire-compatible group (int32 int64 uint32 uint64 bool; sint32 sint64;
//     fixed32 sfixed32; fixed64 sfixed64; string bytes);
//   - FIELD_NAMED_TYPE_CHANGED: a message or enum field refers to a type of
//     another name;
//   - REQUIRED_FIELD_ADDED / REQUIRED_FIELD_REMOVED (proto2 required);
//   - ONEOF_FIELD_REMOVED: a field of a oneof leaves it;
//   - MULTIPLE_FIELDS_MOVED_TO_ONEOF: two or more fields that were outside
//     any oneof move into one (moving a single field in is compatible).
//
// The check is the same for both directions; BACKWARD diffs (old → new),
// FORWARD diffs (new → old).

type protoChecker struct {
	msgs []string
	seen map[string]bool
}

func protoCompatible(reader, writer *protoSchema, _ bool) []string {
	// reader is the schema that must read data written by writer: in
	// Confluent's terms the writer is the original and the reader the
	// update.
	c := &protoChecker{seen: map[string]bool{}}
	orig, upd := writer.file, reader.file
	updMsgs := map[string]protoreflect.MessageDescriptor{}
	var collect func(prefix string, mds protoreflect.MessageDescriptors, into map[string]protoreflect.MessageDescriptor)
	collect = func(prefix string, mds protoreflect.MessageDescriptors, into map[string]protoreflect.MessageDescriptor) {
		for i := 0; i < mds.Len(); i++ {
			md := mds.Get(i)
			if md.IsMapEntry() {
				continue
			}
			name := prefix + string(md.Name())
			into[name] = md
			collect(name+".", md.Messages(), into)
		}
	}
	collect("", upd.Messages(), updMsgs)
	origMsgs := map[string]protoreflect.MessageDescriptor{}
	collect("", orig.Messages(), origMsgs)
	// Walk in declaration order for stable messages.
	var walk func(prefix string, mds protoreflect.MessageDescriptors)
	walk = func(prefix string, mds protoreflect.MessageDescriptors) {
		for i := 0; i < mds.Len(); i++ {
			md := mds.Get(i)
			if md.IsMapEntry() {
				continue
			}
			name := prefix + string(md.Name())
			um, ok := updMsgs[name]
			if !ok {
				c.report("MESSAGE_REMOVED", fmt.Sprintf("The new schema is missing a message at path '#/%s' in the old schema", name))
				continue
			}
			c.message(name, md, um, orig.Package(), upd.Package())
			walk(name+".", md.Messages())
		}
	}
	walk("", orig.Messages())
	return c.msgs
}

func (c *protoChecker) report(errType, desc string) {
	// Confluent quotes Protobuf and JSON messages with double quotes,
	// Avro's with single ones.
	m := fmt.Sprintf("{errorType:%q, description:%q}", errType, desc)
	if !c.seen[m] {
		c.seen[m] = true
		c.msgs = append(c.msgs, m)
	}
}

func (c *protoChecker) message(path string, orig, upd protoreflect.MessageDescriptor, origPkg, updPkg protoreflect.FullName) {
	of, uf := orig.Fields(), upd.Fields()
	// Fields that moved from outside any oneof into one oneof.
	movedInto := map[string]int{}
	for i := 0; i < of.Len(); i++ {
		o := of.Get(i)
		fpath := fmt.Sprintf("#/%s/%d", path, o.Number())
		u := uf.ByNumber(o.Number())
		if u == nil {
			if o.Cardinality() == protoreflect.Required {
				c.report("REQUIRED_FIELD_REMOVED", fmt.Sprintf("The new schema is missing a required field at path '%s' in the old schema", fpath))
			}
			if oo := realOneof(o); oo != nil && hasOneof(upd, oo.Name()) {
				c.report("ONEOF_FIELD_REMOVED", fmt.Sprintf("The new schema is missing a field inside a oneof at path '%s' in the old schema", fpath))
			}
			continue
		}
		if oo, uo := realOneof(o), realOneof(u); oo != nil && (uo == nil || uo.Name() != oo.Name()) {
			// Leaving a oneof the update still has is ONEOF_FIELD_REMOVED; a
			// oneof removed as a whole (ONEOF_REMOVED) is compatible.
			if hasOneof(upd, oo.Name()) {
				c.report("ONEOF_FIELD_REMOVED", fmt.Sprintf("The new schema is missing a field inside a oneof at path '%s' in the old schema", fpath))
			}
		} else if oo == nil && uo != nil {
			movedInto[string(uo.Name())]++
		}
		if o.Cardinality() != protoreflect.Required && u.Cardinality() == protoreflect.Required {
			c.report("REQUIRED_FIELD_ADDED", fmt.Sprintf("A required field at path '%s' in the new schema is missing in the old schema", fpath))
		}
		if o.Cardinality() == protoreflect.Required && u.Cardinality() != protoreflect.Required {
			c.report("REQUIRED_FIELD_REMOVED", fmt.Sprintf("The new schema is missing a required field at path '%s' in the old schema", fpath))
		}
		c.fieldType(fpath, o, u, origPkg, updPkg)
	}
	for oneof, n := range movedInto {
		if n > 1 {
			c.report("MULTIPLE_FIELDS_MOVED_TO_ONEOF", fmt.Sprintf("Multiple fields in the old schema are moved to the oneof '%s' at path '#/%s' in the new schema", oneof, path))
		}
	}
	for i := 0; i < uf.Len(); i++ {
		u := uf.Get(i)
		if of.ByNumber(u.Number()) == nil && u.Cardinality() == protoreflect.Required {
			c.report("REQUIRED_FIELD_ADDED", fmt.Sprintf("A required field at path '#/%s/%d' in the new schema is missing in the old schema", path, u.Number()))
		}
	}
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	o := f.ContainingOneof()
	if o == nil || o.IsSynthetic() {
		return nil
	}
	return o
}

type protoKind int

const (
	kindScalar protoKind = iota
	kindMessage
	kindEnum
	kindMap
)

func fieldKind(f protoreflect.FieldDescriptor) protoKind {
	switch {
	case f.IsMap():
		return kindMap
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return kindMessage
	case f.Kind() == protoreflect.EnumKind:
		return kindEnum
	}
	return kindScalar
}

// scalarGroup numbers the sets of scalar types that share a wire encoding
// closely enough that Confluent lets a field move within one.
func scalarGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	case protoreflect.FloatKind:
		return 6
	case protoreflect.DoubleKind:
		return 7
	}
	return 0
}

// relName is a type's full name with its file's package removed, so a
// package rename (compatible in Confluent's rules) does not make every
// named field differ.
func relName(name, pkg protoreflect.FullName) string {
	if pkg != "" && strings.HasPrefix(string(name), string(pkg)+".") {
		return string(name[len(pkg)+1:])
	}
	return string(name)
}

func (c *protoChecker) fieldType(fpath string, o, u protoreflect.FieldDescriptor, origPkg, updPkg protoreflect.FullName) {
	ok, uk := fieldKind(o), fieldKind(u)
	if ok != uk {
		c.report("FIELD_KIND_CHANGED", fmt.Sprintf("The kind of a field at path '%s' in the new schema does not match its kind in the old schema", fpath))
		return
	}
	switch ok {
	case kindScalar:
		if o.Kind() != u.Kind() && scalarGroup(o.Kind()) != scalarGroup(u.Kind()) {
			c.report("FIELD_SCALAR_KIND_CHANGED", fmt.Sprintf("The kind of a SCALAR field at path '%s' in the new schema does not match its kind in the old schema", fpath))
		}
	case kindMessage:
		if relName(o.Message().FullName(), origPkg) != relName(u.Message().FullName(), updPkg) {
			c.report("FIELD_NAMED_TYPE_CHANGED", fmt.Sprintf("The type of a MESSAGE field at path '%s' in the new schema does not match its type in the old schema", fpath))
		}
	case kindEnum:
		if relName(o.Enum().FullName(), origPkg) != relName(u.Enum().FullName(), updPkg) {
			c.report("FIELD_NAMED_TYPE_CHANGED", fmt.Sprintf("The type of an ENUM field at path '%s' in the new schema does not match its type in the old schema", fpath))
		}
	case kindMap:
		c.fieldType(fpath, o.MapKey(), u.MapKey(), origPkg, updPkg)
		c.fieldType(fpath, o.MapValue(), u.MapValue(), origPkg, updPkg)
	}
}

func hasOneof(md protoreflect.MessageDescriptor, name protoreflect.Name) bool {
	o := md.Oneofs().ByName(name)
	return o != nil && !o.IsSynthetic()
}
