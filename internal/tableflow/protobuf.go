package tableflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

// Protobuf tables. A schema (a .proto file, inline or from the registry
// with its references) is compiled by the registry's own schema package
// (bufbuild/protocompile); records are decoded with dynamicpb and turned
// into the same map[string]any shape JSON and Avro records have. Field
// names are the .proto names.
//
//	bool                                  → boolean
//	int32, sint32, sfixed32               → int
//	int64, sint64, sfixed64               → long
//	uint32, fixed32                       → long
//	uint64, fixed64                       → long (values above 2^63-1 go to the DLQ)
//	float, double, string, bytes          → float, double, string, binary
//	enum                                  → string (the value's name)
//	message                               → struct
//	repeated T                            → list<T>
//	map<K, V>                             → map<K, V>
//	google.protobuf.Timestamp             → timestamptz
//	google.protobuf.*Value wrappers       → the wrapped type, optional
//
// Every column is optional, so a later schema version may add or drop
// fields. A field without presence (a proto3 scalar) that is unset reads
// as its default value, as in every Protobuf reader; a message field or
// a field with presence (proto3 optional, proto2, oneof members) that is
// unset is null. Recursive messages have no Iceberg equivalent and are
// refused.

// protoFile compiles a .proto schema with its (transitive) references,
// given as import path → text.
func protoFile(text string, deps []schema.Dep) (protoreflect.FileDescriptor, error) {
	s, err := schema.Parse(schema.Protobuf, text, deps)
	if err != nil {
		return nil, err
	}
	f, ok := s.(interface {
		File() protoreflect.FileDescriptor
	})
	if !ok {
		return nil, errors.New("protobuf schema without a descriptor")
	}
	return f.File(), nil
}

// protoMessageAt finds the message a Confluent message-index path names:
// the file's message idx[0], its nested message idx[1], and so on.
func protoMessageAt(f protoreflect.FileDescriptor, idx []int) (protoreflect.MessageDescriptor, error) {
	msgs := f.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i < 0 || i >= msgs.Len() {
			return nil, fmt.Errorf("%w: message index %v names no message of the schema", errIncompatible, idx)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	if md == nil {
		return nil, fmt.Errorf("%w: the protobuf schema has no message", errIncompatible)
	}
	return md, nil
}

// protoMessageByName finds a message by full name, or the file's first
// message when name is empty.
func protoMessageByName(f protoreflect.FileDescriptor, name string) (protoreflect.MessageDescriptor, error) {
	if name == "" {
		if f.Messages().Len() == 0 {
			return nil, errors.New("the protobuf schema has no message")
		}
		return f.Messages().Get(0), nil
	}
	name = strings.TrimPrefix(name, ".")
	if pkg := string(f.Package()); pkg != "" && !strings.HasPrefix(name, pkg+".") {
		name = pkg + "." + name
	}
	var find func(protoreflect.MessageDescriptors) protoreflect.MessageDescriptor
	find = func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor {
		for i := 0; i < ms.Len(); i++ {
			if string(ms.Get(i).FullName()) == name {
				return ms.Get(i)
			}
			if md := find(ms.Get(i).Messages()); md != nil {
				return md
			}
		}
		return nil
	}
	if md := find(f.Messages()); md != nil {
		return md, nil
	}
	return nil, fmt.Errorf("no message %s in the protobuf schema", name)
}

const (
	wktTimestamp = "google.protobuf.Timestamp"
	wktWrappers  = "google.protobuf."
)

// protoWrapper reports whether md is one of google/protobuf/wrappers.proto's
// messages, whose single field "value" stands for the message.
func protoWrapper(md protoreflect.MessageDescriptor) bool {
	n := string(md.FullName())
	return strings.HasPrefix(n, wktWrappers) && strings.HasSuffix(n, "Value") && md.Fields().Len() == 1 && md.Fields().Get(0).Name() == "value"
}

// protoColumns maps a message's fields onto (optional) columns.
func protoColumns(md protoreflect.MessageDescriptor) ([]Column, error) {
	cols, err := protoFields(md, nil)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if strings.HasPrefix(c.Name, "_kafka_") {
			return nil, fmt.Errorf("field %s: the _kafka_ prefix is reserved", c.Name)
		}
	}
	return cols, nil
}

func protoFields(md protoreflect.MessageDescriptor, stack []protoreflect.FullName) ([]Column, error) {
	for _, s := range stack {
		if s == md.FullName() {
			return nil, fmt.Errorf("message %s is recursive; Iceberg types cannot be", md.FullName())
		}
	}
	if len(stack) >= maxNesting {
		return nil, fmt.Errorf("message %s nests deeper than %d levels", md.FullName(), maxNesting)
	}
	stack = append(stack, md.FullName())
	fs := md.Fields()
	cols := make([]Column, 0, fs.Len())
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		t, err := protoFieldType(fd, stack)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fd.Name(), err)
		}
		cols = append(cols, Column{Name: string(fd.Name()), Type: t})
	}
	return cols, nil
}

func protoFieldType(fd protoreflect.FieldDescriptor, stack []protoreflect.FullName) (iceberg.Type, error) {
	if fd.IsMap() {
		kt, err := protoKindType(fd.MapKey(), stack)
		if err != nil {
			return nil, err
		}
		vt, err := protoKindType(fd.MapValue(), stack)
		if err != nil {
			return nil, err
		}
		return mapOf(kt, vt), nil
	}
	t, err := protoKindType(fd, stack)
	if err != nil {
		return nil, err
	}
	if fd.IsList() {
		return listOf(t), nil
	}
	return t, nil
}

// protoKindType maps a field's kind, ignoring its cardinality.
func protoKindType(fd protoreflect.FieldDescriptor, stack []protoreflect.FullName) (iceberg.Type, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return iceberg.PrimitiveTypes.Bool, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return iceberg.PrimitiveTypes.Int32, nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return iceberg.PrimitiveTypes.Int64, nil
	case protoreflect.FloatKind:
		return iceberg.PrimitiveTypes.Float32, nil
	case protoreflect.DoubleKind:
		return iceberg.PrimitiveTypes.Float64, nil
	case protoreflect.StringKind, protoreflect.EnumKind:
		return iceberg.PrimitiveTypes.String, nil
	case protoreflect.BytesKind:
		return iceberg.PrimitiveTypes.Binary, nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		if md.FullName() == wktTimestamp {
			return iceberg.PrimitiveTypes.TimestampTz, nil
		}
		if protoWrapper(md) {
			return protoKindType(md.Fields().Get(0), stack)
		}
		cols, err := protoFields(md, stack)
		if err != nil {
			return nil, err
		}
		return columnsStruct(cols), nil
	}
	return nil, fmt.Errorf("protobuf kind %s is not supported", fd.Kind())
}

// protoValues turns a decoded message into named values for normalize.
func protoValues(m protoreflect.Message) map[string]any {
	fs := m.Descriptor().Fields()
	out := make(map[string]any, fs.Len())
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		switch {
		case fd.IsMap():
			mm := m.Get(fd).Map()
			vals := make(map[any]any, mm.Len())
			mm.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				vals[k.Interface()] = protoValue(fd.MapValue(), v)
				return true
			})
			out[string(fd.Name())] = vals
		case fd.IsList():
			l := m.Get(fd).List()
			vals := make([]any, l.Len())
			for j := range vals {
				vals[j] = protoValue(fd, l.Get(j))
			}
			out[string(fd.Name())] = vals
		case fd.HasPresence() && !m.Has(fd):
			// null
		default:
			out[string(fd.Name())] = protoValue(fd, m.Get(fd))
		}
	}
	return out
}

// protoValue converts one (non-repeated) value of field fd.
func protoValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		n := v.Enum()
		if ev := fd.Enum().Values().ByNumber(n); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(n)) // an open enum's unknown value
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		md := m.Descriptor()
		if md.FullName() == wktTimestamp {
			secs := m.Get(md.Fields().ByName("seconds")).Int()
			nanos := m.Get(md.Fields().ByName("nanos")).Int()
			return time.Unix(secs, nanos).UTC()
		}
		if protoWrapper(md) {
			return protoValue(md.Fields().Get(0), m.Get(md.Fields().Get(0)))
		}
		return protoValues(m)
	}
	return v.Interface()
}

// protoUnmarshal decodes one message's wire bytes.
func protoUnmarshal(md protoreflect.MessageDescriptor, b []byte) (map[string]any, error) {
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{RecursionLimit: 2 * maxNesting}).Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: protobuf %s: %v", errIncompatible, md.FullName(), err)
	}
	return protoValues(m), nil
}

// protoSchema is a compiled file and the columns of the messages records
// have named so far.
type protoSchema struct {
	file protoreflect.FileDescriptor
	mu   sync.Mutex
	cols map[protoreflect.FullName]protoCols // guarded by mu
}

type protoCols struct {
	cols []Column
	err  error
}

func (s *protoSchema) columns(md protoreflect.MessageDescriptor) ([]Column, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cols[md.FullName()]; ok {
		return c.cols, c.err
	}
	cols, err := protoColumns(md)
	if err != nil {
		err = fmt.Errorf("%w: %v", errIncompatible, err)
	}
	if s.cols == nil {
		s.cols = map[protoreflect.FullName]protoCols{}
	}
	s.cols[md.FullName()] = protoCols{cols, err}
	return cols, err
}

// decodeFramed decodes a Confluent-framed payload after the 5-byte header:
// the message-index list, then the message.
func (s *protoSchema) decodeFramed(payload []byte) (map[string]any, []Column, error) {
	idx, rest, err := schema.MessageIndexes(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errIncompatible, err)
	}
	md, err := protoMessageAt(s.file, idx)
	if err != nil {
		return nil, nil, err
	}
	cols, err := s.columns(md)
	if err != nil {
		return nil, nil, err
	}
	vals, err := protoUnmarshal(md, rest)
	return vals, cols, err
}
