package schema

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// printProto writes a compiled file back as .proto source: comments and
// whitespace gone, every type name fully qualified (with a leading dot, so
// it resolves the same from any scope), declarations in source order.
// normalize (Confluent's normalize=true) also sorts imports and options.
// The result compiles to the same descriptor, so a schema registered as a
// base64 descriptor and the same schema as source share one canonical form.
type protoPrinter struct {
	b         strings.Builder
	file      linker.File
	normalize bool
	editions  bool
	proto3    bool
}

func printProto(f linker.File, normalize bool) string {
	fdp := fileProto(f)
	p := &protoPrinter{file: f, normalize: normalize}
	switch fdp.GetSyntax() {
	case "proto3":
		p.proto3 = true
		p.line(0, `syntax = "proto3";`)
	case "editions":
		p.editions = true
		p.line(0, fmt.Sprintf("edition = %q;", editionName(fdp.GetEdition())))
	default:
		p.line(0, `syntax = "proto2";`)
	}
	if fdp.Package != nil {
		p.line(0, "package "+fdp.GetPackage()+";")
	}
	imports := make([]string, 0, len(fdp.Dependency))
	for i, dep := range fdp.Dependency {
		kind := ""
		if slices.Contains(fdp.PublicDependency, int32(i)) {
			kind = "public "
		} else if slices.Contains(fdp.WeakDependency, int32(i)) {
			kind = "weak "
		}
		imports = append(imports, "import "+kind+strconv.Quote(dep)+";")
	}
	if normalize {
		slices.Sort(imports)
	}
	for _, imp := range imports {
		p.line(0, imp)
	}
	p.options(0, fdp.Options)
	for _, m := range fdp.MessageType {
		p.message(0, m, "")
	}
	for _, e := range fdp.EnumType {
		p.enum(0, e)
	}
	p.extensions(0, fdp.Extension, nil)
	for _, s := range fdp.Service {
		p.line(0, "service "+s.GetName()+" {")
		p.options(1, s.Options)
		for _, m := range s.Method {
			in, out := m.GetInputType(), m.GetOutputType()
			if m.GetClientStreaming() {
				in = "stream " + in
			}
			if m.GetServerStreaming() {
				out = "stream " + out
			}
			head := fmt.Sprintf("rpc %s (%s) returns (%s)", m.GetName(), in, out)
			if opts := p.optionList(m.Options); len(opts) > 0 {
				p.line(1, head+" {")
				for _, o := range opts {
					p.line(2, "option "+o+";")
				}
				p.line(1, "}")
			} else {
				p.line(1, head+";")
			}
		}
		p.line(0, "}")
	}
	return p.b.String()
}

func editionName(e descriptorpb.Edition) string {
	s := strings.TrimPrefix(e.String(), "EDITION_")
	return s
}

func (p *protoPrinter) line(indent int, s string) {
	for range indent {
		p.b.WriteString("  ")
	}
	p.b.WriteString(s)
	p.b.WriteByte('\n')
}

func (p *protoPrinter) message(indent int, m *descriptorpb.DescriptorProto, groupHead string) {
	if groupHead != "" {
		p.line(indent, groupHead+" {")
	} else {
		p.line(indent, "message "+m.GetName()+" {")
	}
	in := indent + 1
	p.options(in, m.Options)
	// Nested types that are printed as part of a field: map entries and
	// groups.
	inline := map[string]bool{}
	for _, n := range m.NestedType {
		if n.GetOptions().GetMapEntry() {
			inline[n.GetName()] = true
		}
	}
	for _, f := range m.Field {
		if f.GetType() == descriptorpb.FieldDescriptorProto_TYPE_GROUP {
			inline[lastComponent(f.GetTypeName())] = true
		}
	}
	nested := map[string]*descriptorpb.DescriptorProto{}
	for _, n := range m.NestedType {
		nested[n.GetName()] = n
	}
	printed := map[int32]bool{}
	for _, f := range m.Field {
		if f.OneofIndex != nil && !f.GetProto3Optional() {
			oi := f.GetOneofIndex()
			if printed[oi] {
				continue
			}
			printed[oi] = true
			od := m.OneofDecl[oi]
			p.line(in, "oneof "+od.GetName()+" {")
			p.options(in+1, od.Options)
			for _, of := range m.Field {
				if of.OneofIndex != nil && of.GetOneofIndex() == oi && !of.GetProto3Optional() {
					p.field(in+1, of, nested, true)
				}
			}
			p.line(in, "}")
			continue
		}
		p.field(in, f, nested, false)
	}
	for _, n := range m.NestedType {
		if !inline[n.GetName()] {
			p.message(in, n, "")
		}
	}
	for _, e := range m.EnumType {
		p.enum(in, e)
	}
	p.extensions(in, m.Extension, nested)
	for _, r := range m.ExtensionRange {
		s := "extensions " + rangeText(r.GetStart(), r.GetEnd()-1, 536870911)
		if opts := p.optionList(r.Options); len(opts) > 0 {
			s += " [" + strings.Join(opts, ", ") + "]"
		}
		p.line(in, s+";")
	}
	var ranges []string
	for _, r := range m.ReservedRange {
		ranges = append(ranges, rangeText(r.GetStart(), r.GetEnd()-1, 536870911))
	}
	if len(ranges) > 0 {
		p.line(in, "reserved "+strings.Join(ranges, ", ")+";")
	}
	if len(m.ReservedName) > 0 {
		p.line(in, "reserved "+p.reservedNames(m.ReservedName)+";")
	}
	p.line(indent, "}")
}

func (p *protoPrinter) reservedNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		if p.editions {
			out[i] = n
		} else {
			out[i] = strconv.Quote(n)
		}
	}
	return strings.Join(out, ", ")
}

func rangeText(start, end, max int32) string {
	switch {
	case start == end:
		return strconv.Itoa(int(start))
	case end >= max:
		return strconv.Itoa(int(start)) + " to max"
	}
	return strconv.Itoa(int(start)) + " to " + strconv.Itoa(int(end))
}

func lastComponent(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func (p *protoPrinter) extensions(indent int, exts []*descriptorpb.FieldDescriptorProto, nested map[string]*descriptorpb.DescriptorProto) {
	var order []string
	byExtendee := map[string][]*descriptorpb.FieldDescriptorProto{}
	for _, e := range exts {
		if _, ok := byExtendee[e.GetExtendee()]; !ok {
			order = append(order, e.GetExtendee())
		}
		byExtendee[e.GetExtendee()] = append(byExtendee[e.GetExtendee()], e)
	}
	for _, ext := range order {
		p.line(indent, "extend "+ext+" {")
		for _, f := range byExtendee[ext] {
			p.field(indent+1, f, nested, false)
		}
		p.line(indent, "}")
	}
}

var protoScalarNames = map[descriptorpb.FieldDescriptorProto_Type]string{
	descriptorpb.FieldDescriptorProto_TYPE_DOUBLE:   "double",
	descriptorpb.FieldDescriptorProto_TYPE_FLOAT:    "float",
	descriptorpb.FieldDescriptorProto_TYPE_INT64:    "int64",
	descriptorpb.FieldDescriptorProto_TYPE_UINT64:   "uint64",
	descriptorpb.FieldDescriptorProto_TYPE_INT32:    "int32",
	descriptorpb.FieldDescriptorProto_TYPE_FIXED64:  "fixed64",
	descriptorpb.FieldDescriptorProto_TYPE_FIXED32:  "fixed32",
	descriptorpb.FieldDescriptorProto_TYPE_BOOL:     "bool",
	descriptorpb.FieldDescriptorProto_TYPE_STRING:   "string",
	descriptorpb.FieldDescriptorProto_TYPE_BYTES:    "bytes",
	descriptorpb.FieldDescriptorProto_TYPE_UINT32:   "uint32",
	descriptorpb.FieldDescriptorProto_TYPE_SFIXED32: "sfixed32",
	descriptorpb.FieldDescriptorProto_TYPE_SFIXED64: "sfixed64",
	descriptorpb.FieldDescriptorProto_TYPE_SINT32:   "sint32",
	descriptorpb.FieldDescriptorProto_TYPE_SINT64:   "sint64",
}

func fieldTypeText(f *descriptorpb.FieldDescriptorProto) string {
	if n, ok := protoScalarNames[f.GetType()]; ok {
		return n
	}
	return f.GetTypeName()
}

func (p *protoPrinter) field(indent int, f *descriptorpb.FieldDescriptorProto, nested map[string]*descriptorpb.DescriptorProto, inOneof bool) {
	label := ""
	switch f.GetLabel() {
	case descriptorpb.FieldDescriptorProto_LABEL_REPEATED:
		label = "repeated "
	case descriptorpb.FieldDescriptorProto_LABEL_REQUIRED:
		label = "required "
	case descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL:
		if !inOneof && !p.editions && (!p.proto3 || f.GetProto3Optional()) {
			label = "optional "
		}
	}
	var opts []string
	if f.DefaultValue != nil {
		opts = append(opts, "default = "+defaultText(f))
	}
	if f.JsonName != nil && f.GetJsonName() != jsonCamelCase(f.GetName()) {
		opts = append(opts, "json_name = "+strconv.Quote(f.GetJsonName()))
	}
	opts = append(opts, p.optionList(f.Options)...)
	optText := ""
	if len(opts) > 0 {
		optText = " [" + strings.Join(opts, ", ") + "]"
	}
	typeName := f.GetTypeName()
	if entry, ok := nested[lastComponent(typeName)]; ok && entry.GetOptions().GetMapEntry() && f.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED {
		k, v := entry.Field[0], entry.Field[1]
		p.line(indent, fmt.Sprintf("map<%s, %s> %s = %d%s;", fieldTypeText(k), fieldTypeText(v), f.GetName(), f.GetNumber(), optText))
		return
	}
	if f.GetType() == descriptorpb.FieldDescriptorProto_TYPE_GROUP && !p.editions {
		if g, ok := nested[lastComponent(typeName)]; ok {
			p.message(indent, g, fmt.Sprintf("%sgroup %s = %d%s", label, g.GetName(), f.GetNumber(), optText))
			return
		}
	}
	p.line(indent, fmt.Sprintf("%s%s %s = %d%s;", label, fieldTypeText(f), f.GetName(), f.GetNumber(), optText))
}

func defaultText(f *descriptorpb.FieldDescriptorProto) string {
	v := f.GetDefaultValue()
	switch f.GetType() {
	case descriptorpb.FieldDescriptorProto_TYPE_STRING:
		return strconv.Quote(v)
	case descriptorpb.FieldDescriptorProto_TYPE_BYTES:
		return `"` + v + `"` // already C-escaped in the descriptor
	}
	return v
}

// jsonCamelCase is protoc's default json_name for a field name.
func jsonCamelCase(s string) string {
	var b strings.Builder
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			upper = true
			continue
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		b.WriteByte(c)
	}
	return b.String()
}

func (p *protoPrinter) enum(indent int, e *descriptorpb.EnumDescriptorProto) {
	p.line(indent, "enum "+e.GetName()+" {")
	in := indent + 1
	p.options(in, e.Options)
	for _, v := range e.Value {
		s := fmt.Sprintf("%s = %d", v.GetName(), v.GetNumber())
		if opts := p.optionList(v.Options); len(opts) > 0 {
			s += " [" + strings.Join(opts, ", ") + "]"
		}
		p.line(in, s+";")
	}
	var ranges []string
	for _, r := range e.ReservedRange {
		ranges = append(ranges, rangeText(r.GetStart(), r.GetEnd(), 2147483647))
	}
	if len(ranges) > 0 {
		p.line(in, "reserved "+strings.Join(ranges, ", ")+";")
	}
	if len(e.ReservedName) > 0 {
		p.line(in, "reserved "+p.reservedNames(e.ReservedName)+";")
	}
	p.line(indent, "}")
}

func (p *protoPrinter) options(indent int, opts proto.Message) {
	for _, o := range p.optionList(opts) {
		p.line(indent, "option "+o+";")
	}
}

// optionList renders the set fields of an options message as "name =
// value", custom options (extensions, which the compiler leaves as unknown
// fields) resolved against the file and its imports.
func (p *protoPrinter) optionList(opts proto.Message) []string {
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return nil
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(opts)
	if err != nil || len(raw) == 0 {
		return nil
	}
	dyn := dynamicpb.NewMessage(opts.ProtoReflect().Descriptor())
	if err := (proto.UnmarshalOptions{Resolver: linker.ResolverFromFile(p.file)}).Unmarshal(raw, dyn); err != nil {
		return nil
	}
	// Range's order is undefined: options go in field-number order
	// (standard options first, then custom ones).
	var fds []protoreflect.FieldDescriptor
	dyn.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fds = append(fds, fd)
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int {
		if a.IsExtension() != b.IsExtension() {
			if a.IsExtension() {
				return 1
			}
			return -1
		}
		return int(a.Number()) - int(b.Number())
	})
	var out []string
	for _, fd := range fds {
		v := dyn.Get(fd)
		name := string(fd.Name())
		if fd.IsExtension() {
			name = "(" + string(fd.FullName()) + ")"
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				out = append(out, name+" = "+optionValue(fd, l.Get(i)))
			}
			continue
		}
		if fd.IsMap() {
			continue // options are never maps
		}
		out = append(out, name+" = "+optionValue(fd, v))
	}
	// With normalize, by name.
	if p.normalize {
		slices.Sort(out)
	}
	return out
}

func optionValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		return strconv.Quote(string(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsInf(f, 1):
			return "inf"
		case math.IsInf(f, -1):
			return "-inf"
		case math.IsNaN(f):
			return "nan"
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		return strconv.FormatFloat(f, 'g', -1, bits)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return aggregateText(v.Message())
	}
	return v.String()
}

// aggregateText writes a message option value in the text format, fields
// in number order with one space between them (prototext's output varies
// its whitespace on purpose, and a canonical form must not).
func aggregateText(m protoreflect.Message) string {
	type entry struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fields []entry
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fields = append(fields, entry{fd, v})
		return true
	})
	slices.SortFunc(fields, func(a, b entry) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	parts := []string{}
	for _, f := range fields {
		name := string(f.fd.Name())
		if f.fd.IsExtension() {
			name = "[" + string(f.fd.FullName()) + "]"
		} else if f.fd.Kind() == protoreflect.GroupKind {
			name = string(f.fd.Message().Name())
		}
		switch {
		case f.fd.IsList():
			l := f.v.List()
			vals := make([]string, l.Len())
			for i := range vals {
				vals[i] = optionValue(f.fd, l.Get(i))
			}
			parts = append(parts, name+": ["+strings.Join(vals, ", ")+"]")
		case f.fd.IsMap():
			var entries []string
			f.v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				entries = append(entries, name+": { key: "+optionValue(f.fd.MapKey(), k.Value())+" value: "+optionValue(f.fd.MapValue(), v)+" }")
				return true
			})
			slices.Sort(entries) // map order is random
			parts = append(parts, entries...)
		default:
			parts = append(parts, name+": "+optionValue(f.fd, f.v))
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{ " + strings.Join(parts, " ") + " }"
}
