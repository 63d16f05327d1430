package schema

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// protoSchema is a compiled Protobuf schema: one .proto file (given as
// source, or as Confluent's Python serializer sends it, a base64
// FileDescriptorProto) linked against its references and the well-known
// types.
type protoSchema struct {
	text       string
	canonical  string
	normalized string
	names      []string
	file       linker.File
}

func (s *protoSchema) Type() Type            { return Protobuf }
func (s *protoSchema) Text() string          { return s.text }
func (s *protoSchema) Canonical() string     { return s.canonical }
func (s *protoSchema) Normalized() string    { return s.normalized }
func (s *protoSchema) RecordNames() []string { return slices.Clone(s.names) }

// File is the compiled descriptor, for callers that need more than the
// Schema interface (e.g. to find a message by its index path).
func (s *protoSchema) File() protoreflect.FileDescriptor { return s.file }

const protoMainFile = "__sluice_schema__.proto"

// protoSource tells source text from a base64 FileDescriptorProto, which is
// how Confluent's Python serializer registers schemas.
func protoSource(text string) (*descriptorpb.FileDescriptorProto, bool) {
	t := strings.TrimSpace(text)
	if t == "" || strings.ContainsAny(t, " \n\t;{") {
		return nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil, false
	}
	fdp := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(raw, fdp); err != nil {
		return nil, false
	}
	return fdp, true
}

func parseProtobuf(text string, deps []Dep) (Schema, error) {
	if err := checkProtoDepth(text); err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	for _, d := range deps {
		if err := checkProtoDepth(d.Text); err != nil {
			return nil, invalidf("Invalid schema: reference %q: %v", d.Name, err)
		}
	}
	byPath := make(map[string]protocompile.SearchResult, len(deps)+1)
	for _, d := range deps {
		if d.Type != "" && d.Type != Protobuf {
			return nil, invalidf("Invalid schema: reference %q is %s, a Protobuf schema can only import Protobuf schemas", d.Name, d.Type)
		}
		if fdp, ok := protoSource(d.Text); ok {
			fdp.Name = proto.String(d.Name)
			byPath[d.Name] = protocompile.SearchResult{Proto: fdp}
		} else {
			byPath[d.Name] = protocompile.SearchResult{Source: strings.NewReader(d.Text)}
		}
	}
	mainPath := protoMainFile
	if fdp, ok := protoSource(text); ok {
		if n := fdp.GetName(); n != "" {
			if _, clash := byPath[n]; !clash {
				mainPath = n
			}
		}
		fdp.Name = proto.String(mainPath)
		byPath[mainPath] = protocompile.SearchResult{Proto: fdp}
	} else {
		byPath[mainPath] = protocompile.SearchResult{Source: strings.NewReader(text)}
	}
	// A SearchResult's reader is consumed once; the compiler asks for each
	// path at most once per Compile.
	resolver := protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		if r, ok := byPath[path]; ok {
			return r, nil
		}
		return protocompile.SearchResult{}, fmt.Errorf("unknown reference %q: %w", path, errNotFound)
	}))
	var errs []string
	comp := protocompile.Compiler{
		Resolver:       resolver,
		MaxParallelism: 1,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			if len(errs) < 10 {
				errs = append(errs, strings.TrimPrefix(err.Error(), protoMainFile+":"))
			}
			return nil // keep going, to report every error at once
		}, nil),
	}
	files, err := comp.Compile(context.Background(), mainPath)
	if err != nil {
		if len(errs) == 0 {
			errs = append(errs, strings.ReplaceAll(err.Error(), protoMainFile+":", ""))
		}
		return nil, invalidf("Invalid schema: %s", strings.Join(errs, "; "))
	}
	f := files[0]
	s := &protoSchema{text: text, file: f}
	s.canonical = printProto(f, false)
	s.normalized = printProto(f, true)
	for i := 0; i < f.Messages().Len(); i++ {
		collectMessageNames(f.Messages().Get(i), &s.names)
	}
	return s, nil
}

var errNotFound = errors.New("not found")

func collectMessageNames(md protoreflect.MessageDescriptor, out *[]string) {
	if md.IsMapEntry() {
		return
	}
	*out = append(*out, string(md.FullName()))
	for i := 0; i < md.Messages().Len(); i++ {
		collectMessageNames(md.Messages().Get(i), out)
	}
}

// MessageIndexes reads Confluent's message-index list from the front of a
// Protobuf payload (after the 5-byte header): a zigzag varint count, then
// that many zigzag varint indexes; a count of 0 means [0], the first
// message. It returns the indexes and the rest of the payload.
func MessageIndexes(payload []byte) ([]int, []byte, error) {
	n, l := protowire.ConsumeVarint(payload)
	if l < 0 {
		return nil, nil, errors.New("protobuf payload has no message index list")
	}
	payload = payload[l:]
	count := protowire.DecodeZigZag(n)
	if count == 0 {
		return []int{0}, payload, nil
	}
	if count < 0 || count > 100 {
		return nil, nil, fmt.Errorf("protobuf payload has a message index list of %d entries", count)
	}
	idx := make([]int, count)
	for i := range idx {
		v, l := protowire.ConsumeVarint(payload)
		if l < 0 {
			return nil, nil, errors.New("protobuf payload's message index list is truncated")
		}
		payload = payload[l:]
		x := protowire.DecodeZigZag(v)
		if x < 0 || x > 1<<20 {
			return nil, nil, fmt.Errorf("protobuf payload has message index %d", x)
		}
		idx[i] = int(x)
	}
	return idx, payload, nil
}

// messageAt finds the message a message-index path names: the top-level
// message idx[0], its nested message idx[1], and so on.
func (s *protoSchema) messageAt(idx []int) (protoreflect.MessageDescriptor, error) {
	msgs := s.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= msgs.Len() {
			return nil, fmt.Errorf("protobuf payload's message index %v names no message of the schema", idx)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	if md == nil {
		return nil, errors.New("protobuf schema has no message")
	}
	return md, nil
}

// validate decodes the payload as the message its index list names,
// refusing malformed wire data and missing proto2 required fields.
func (s *protoSchema) validate(payload []byte) error {
	idx, rest, err := MessageIndexes(payload)
	if err != nil {
		return err
	}
	md, err := s.messageAt(idx)
	if err != nil {
		return err
	}
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{RecursionLimit: MaxDepth}).Unmarshal(rest, m); err != nil {
		return fmt.Errorf("protobuf payload does not decode as %s: %v", md.FullName(), err)
	}
	return nil
}

// fileProto is the descriptor proto of f.
func fileProto(f protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	return protodesc.ToFileDescriptorProto(f)
}

// checkProtoDepth refuses source whose braces, brackets or parentheses nest
// deeper than MaxDepth (protoc itself allows 32 levels of messages), before
// the parser sees it: deeply nested option values make it slow.
func checkProtoDepth(text string) error {
	depth := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '"', '\'':
			for i++; i < len(text) && text[i] != c && text[i] != '\n'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case '/':
			if i+1 < len(text) && text[i+1] == '/' {
				for i < len(text) && text[i] != '\n' {
					i++
				}
			} else if i+1 < len(text) && text[i+1] == '*' {
				end := strings.Index(text[i+2:], "*/")
				if end < 0 {
					return nil // the parser reports the unterminated comment
				}
				i += end + 3
			}
		case '{', '[', '(', '<':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("nested more than %d levels deep", MaxDepth)
			}
		case '}', ']', ')', '>':
			depth--
		}
	}
	return nil
}
