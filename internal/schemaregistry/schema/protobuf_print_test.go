package schema

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// TestProtobufPrintRoundTrip: for each feature of the language, the
// canonical form compiles to the same descriptor as the source did.
func TestProtobufPrintRoundTrip(t *testing.T) {
	opts := Dep{Name: "opts.proto", Type: Protobuf, Text: `syntax = "proto3";
package opts;
import "google/protobuf/descriptor.proto";
message Rule { int32 min = 1; string label = 2; }
extend google.protobuf.FieldOptions { Rule rule = 50001; string tag = 50002; }
extend google.protobuf.MessageOptions { bool audited = 50003; double weight = 50004; float ratio = 50005; }`}
	for name, src := range map[string]string{
		"proto2 groups, defaults, extensions": `syntax = "proto2";
package p2;
message A {
  required int32 x = 1 [default = -5];
  optional string s = 2 [default = "a\"b\n"];
  optional bytes b = 3 [default = "\001\377"];
  optional double d = 4 [default = inf];
  optional group G = 5 { optional string s = 6; }
  optional E e = 7 [default = E_TWO];
  repeated int32 packed = 8 [packed = true];
  extensions 100 to 199, 1000 to max;
  enum E { E_ONE = 1; E_TWO = 2; }
}
extend A { optional int32 ext = 100; repeated string exts = 101; }`,
		"proto3 maps, oneofs, optional, services, json names": `syntax = "proto3";
package p3.v1;
option go_package = "example.com/p3";
message M {
  map<string, M> children = 1;
  map<int64, E> states = 2;
  oneof choice { string a = 3; M b = 4; }
  optional int32 maybe = 5;
  string snake_case = 6 [json_name = "custom"];
  reserved 10 to 20, 30;
  reserved "gone";
}
enum E { option allow_alias = true; E_ZERO = 0; E_ALIAS = 0; E_ONE = 1 [deprecated = true]; reserved 5 to 9, 100; reserved "OLD"; }
service S {
  rpc Unary (M) returns (M);
  rpc Stream (stream M) returns (stream M) { option deprecated = true; }
}`,
		"custom options": `syntax = "proto3";
package c;
import "opts.proto";
message M {
  option (opts.audited) = true;
  option (opts.weight) = inf;
  option (opts.ratio) = 0.1;
  int32 n = 1 [(opts.rule) = { min: 1 label: "x" }, (opts.tag) = "t"];
}`,
		"editions": `edition = "2023";
package ed;
message M {
  int32 implicit = 1 [features.field_presence = IMPLICIT];
  repeated int32 nums = 2;
  M child = 3 [features.message_encoding = DELIMITED];
}`,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(Protobuf, src, []Dep{opts})
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(Protobuf, s.Canonical(), []Dep{opts})
			if err != nil {
				t.Fatalf("canonical does not compile: %v\n%s", err, s.Canonical())
			}
			a, b := fileProto(s.(*protoSchema).file), fileProto(again.(*protoSchema).file)
			a.Name, b.Name = nil, nil
			a.SourceCodeInfo, b.SourceCodeInfo = nil, nil
			// Custom options are unknown fields whose byte order may differ:
			// compare the text forms, which resolve them.
			if !proto.Equal(a, b) && prototext.Format(a) != prototext.Format(b) {
				t.Fatalf("canonical compiles to another descriptor:\n%s\n--- from\n%v\n--- vs\n%v", s.Canonical(), a, b)
			}
			if again.Canonical() != s.Canonical() {
				t.Fatalf("canonical is not a fixed point:\n%s\n---\n%s", s.Canonical(), again.Canonical())
			}
			if strings.Contains(s.Canonical(), "//") {
				t.Fatalf("comments left in canonical: %s", s.Canonical())
			}
		})
	}
}
