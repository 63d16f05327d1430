package schema

import (
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

const protoOrder = `syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

option java_package = "com.example.shop";

// An order.
message Order {
  string id = 1;
  repeated Line lines = 2;
  map<string, int64> tags = 3;
  google.protobuf.Timestamp at = 4;
  optional string note = 5;
  oneof payment {
    string card = 6;
    string iban = 7;
  }
  Status status = 8 [deprecated = true];
  reserved 9, 20 to 30;
  reserved "old";
  message Line {
    string sku = 1;
    int32 qty = 2;
  }
}

enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_PAID = 1;
}
`

func TestProtobufParseCanonical(t *testing.T) {
	s := mustParse(t, Protobuf, protoOrder)
	if got := s.RecordNames(); len(got) != 2 || got[0] != "shop.v1.Order" || got[1] != "shop.v1.Order.Line" {
		t.Fatalf("RecordNames = %v", got)
	}
	// The canonical form compiles to the same canonical form.
	again := mustParse(t, Protobuf, s.Canonical())
	if again.Canonical() != s.Canonical() {
		t.Fatalf("canonical is not a fixed point:\n%s\n---\n%s", s.Canonical(), again.Canonical())
	}
	// Whitespace and comments do not change it.
	spaced := mustParse(t, Protobuf, strings.ReplaceAll(strings.ReplaceAll(protoOrder, "\n", "\n\n  "), "// An order.", "/* other */"))
	if spaced.Canonical() != s.Canonical() {
		t.Fatalf("canonical differs:\n%s\n---\n%s", s.Canonical(), spaced.Canonical())
	}
	// Nor does registering the descriptor as Confluent's Python client does.
	fdp := fileProto(s.(*protoSchema).file)
	fdp.Name = proto.String("order.proto")
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	b64 := mustParse(t, Protobuf, base64.StdEncoding.EncodeToString(raw))
	if b64.Canonical() != s.Canonical() {
		t.Fatalf("base64 descriptor canonical differs:\n%s\n---\n%s", s.Canonical(), b64.Canonical())
	}
	t.Log(s.Canonical())
}
