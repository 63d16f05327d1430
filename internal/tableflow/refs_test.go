package tableflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

func registerWithRefs(t *testing.T, reg *srfake.Registry, subject string, typ sr.SchemaType, text string, refs ...sr.SchemaReference) int {
	t.Helper()
	id, _, err := reg.RegisterSchema(subject, sr.Schema{Schema: text, Type: typ, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A JSON Schema whose $refs point at other registry subjects (Confluent
// schema references) takes its columns from the referenced schemas.
func TestIngestJSONSchemaReferences(t *testing.T) {
	e := newEnv(t, "customers")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	register(t, reg, "address", sr.TypeJSON, `{"type":"object","properties":{"city":{"type":"string"},"geo":{"$ref":"#/definitions/Geo"}},
		"definitions":{"Geo":{"type":"object","properties":{"lat":{"type":"number"}}}}}`)
	id := registerWithRefs(t, reg, "customers-value", sr.TypeJSON,
		`{"type":"object","properties":{"id":{"type":"integer"},"home":{"$ref":"address.json"},"spot":{"$ref":"address.json#/definitions/Geo"}},"required":["id"]}`,
		sr.SchemaReference{Name: "address.json", Subject: "address", Version: 1})
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: crm.customers, source_topic: customers, format: json, subject: customers-value}
`, reg.URL())))
	e.produce("customers", 0,
		frame(id, nil, []byte(`{"id": 1, "home": {"city": "Oslo", "geo": {"lat": 59.9}}, "spot": {"lat": 1.5}}`)),
		frame(id, nil, []byte(`{"id": 2, "home": {"city": 7}}`))) // city is not a string: DLQ
	tbl, rows := waitRows(t, svc, "crm.customers", 1)
	if got := shape(field(t, tbl, "home").Type); got != "struct<city:string,geo:struct<lat:double>>" {
		t.Fatalf("home is %s", got)
	}
	if r := rows[0]; r["home"] != `{"city":"Oslo","geo":{"lat":59.9}}` || r["spot"] != `{"lat":1.5}` {
		t.Fatalf("row %v", r)
	}
	if d := consumeAll(t, e, "customers.dlq", 1); !strings.Contains(header(d[0], HeaderError), "city") {
		t.Fatalf("DLQ reason %q", header(d[0], HeaderError))
	}
}

const (
	moneyProto   = `syntax = "proto3"; package common; message Money { int64 cents = 1; string currency = 2; }`
	taxProto     = `syntax = "proto3"; package common; message Tax { int64 cents = 1; }`
	fxProto      = `syntax = "proto3"; package common; message Rate { double value = 1; }`
	paymentProto = `syntax = "proto3"; package pay; import "money.proto";
message Payment { int64 id = 1; common.Money amount = 2; }`
	paymentTaxProto = `syntax = "proto3"; package pay; import "money.proto"; import "tax.proto";
message Payment { int64 id = 1; common.Money amount = 2; common.Tax tax = 3; }`
	paymentFxProto = `syntax = "proto3"; package pay; import "money.proto"; import "fx.proto";
message Payment { int64 id = 1; common.Money amount = 2; common.Rate rate = 4; }`
)

// protoEncodeDeps encodes a message (given as protojson) of a schema that
// imports deps.
func protoEncodeDeps(t *testing.T, text string, deps []schema.Dep, message, js string) []byte {
	t.Helper()
	f, err := protoFile(text, deps)
	if err != nil {
		t.Fatal(err)
	}
	md, err := protoMessageByName(f, message)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(js), m); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Protobuf schema whose reference the registry does not have (404)
// sends its records to the DLQ and the table goes on; a registry that
// fails to answer for a reference stops the table until it answers, and
// no record goes to the DLQ for it.
func TestIngestProtobufMissingReference(t *testing.T) {
	e := newEnv(t, "payments")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	register(t, reg, "money", sr.TypeProtobuf, moneyProto)
	register(t, reg, "tax", sr.TypeProtobuf, taxProto)
	register(t, reg, "fx", sr.TypeProtobuf, fxProto)
	moneyRef := sr.SchemaReference{Name: "money.proto", Subject: "money", Version: 1}
	id1 := registerWithRefs(t, reg, "payments-value", sr.TypeProtobuf, paymentProto, moneyRef)
	idTax := registerWithRefs(t, reg, "payments-tax", sr.TypeProtobuf, paymentTaxProto, moneyRef, sr.SchemaReference{Name: "tax.proto", Subject: "tax", Version: 1})
	idFx := registerWithRefs(t, reg, "payments-fx", sr.TypeProtobuf, paymentFxProto, moneyRef, sr.SchemaReference{Name: "fx.proto", Subject: "fx", Version: 1})
	// The tax subject is gone (404, as Confluent answers for a deleted
	// version); the fx lookups fail with 500 until fxDown is cleared.
	var fxDown atomic.Bool
	var fxFailures atomic.Int32
	fxDown.Store(true)
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasPrefix(r.URL.Path, "/subjects/tax/versions/"):
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code":40402,"message":"Version 1 not found."}`)
			return true
		case strings.HasPrefix(r.URL.Path, "/subjects/fx/versions/") && fxDown.Load():
			fxFailures.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error_code":50001,"message":"store unavailable"}`)
			return true
		}
		return false
	})
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: pay.payments, source_topic: payments, format: protobuf, subject: payments-value, message: pay.Payment}
`, reg.URL())))
	money := []schema.Dep{{Name: "money.proto", Type: schema.Protobuf, Text: moneyProto}}
	e.produce("payments", 0,
		frame(id1, []int{0}, protoEncodeDeps(t, paymentProto, money, "pay.Payment", `{"id": 1, "amount": {"cents": 100, "currency": "EUR"}}`)),
		frame(idTax, []int{0}, protoEncodeDeps(t, paymentTaxProto, append(money, schema.Dep{Name: "tax.proto", Type: schema.Protobuf, Text: taxProto}), "pay.Payment", `{"id": 2, "tax": {"cents": 7}}`)),
		frame(id1, []int{0}, protoEncodeDeps(t, paymentProto, money, "pay.Payment", `{"id": 3}`)))
	_, rows := waitRows(t, svc, "pay.payments", 2)
	if len(rows) != 2 || rows[0]["id"] != int64(1) || rows[1]["id"] != int64(3) || rows[0]["amount"] != `{"cents":100,"currency":"EUR"}` {
		t.Fatalf("rows %v", rows)
	}
	dlq := consumeAll(t, e, "payments.dlq", 1)
	if reason := header(dlq[0], HeaderError); !strings.Contains(reason, "tax.proto") || !strings.Contains(reason, "not in the registry") || header(dlq[0], HeaderOffset) != "1" {
		t.Fatalf("DLQ record: reason %q, offset %s", reason, header(dlq[0], HeaderOffset))
	}

	// A registry failure: the table waits for the registry rather than
	// sending the record to the DLQ.
	e.produce("payments", 1, frame(idFx, []int{0}, protoEncodeDeps(t, paymentFxProto,
		append(money, schema.Dep{Name: "fx.proto", Type: schema.Protobuf, Text: fxProto}), "pay.Payment", `{"id": 4, "rate": {"value": 1.5}}`)))
	waitFor(t, func() bool { return fxFailures.Load() >= 2 }) // looked up, failed, and looked up again
	fxDown.Store(false)
	tbl, rows := waitRows(t, svc, "pay.payments", 3)
	if r := rows[2]; r["id"] != int64(4) || r["rate"] != `{"value":1.5}` {
		t.Fatalf("row after the registry recovered: %v", r)
	}
	if f := field(t, tbl, "rate.value"); f.Required {
		t.Fatalf("rate.value: %+v", f)
	}
	// DLQ records are produced before the commit that passes them.
	ends, err := kadm.NewClient(e.cl).ListEndOffsets(context.Background(), "payments.dlq")
	if err != nil {
		t.Fatal(err)
	}
	if n := ends["payments.dlq"][0].Offset; n != 1 {
		t.Fatalf("%d DLQ records, want 1", n)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The registry decoder alone, for a JSON Schema with a reference: 404 for
// the reference is the record's (errIncompatible, remembered until
// missingRefRetry passes), any other failure is not.
func TestRegistryDecoderMissingJSONReference(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	register(t, reg, "address", sr.TypeJSON, `{"type":"object","properties":{"city":{"type":"string"}}}`)
	id := registerWithRefs(t, reg, "people-value", sr.TypeJSON, `{"type":"object","properties":{"home":{"$ref":"address.json"}}}`,
		sr.SchemaReference{Name: "address.json", Subject: "address", Version: 1})
	var status atomic.Int32
	var lookups atomic.Int32
	status.Store(http.StatusNotFound)
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/subjects/address/versions/") {
			return false
		}
		lookups.Add(1)
		if s := status.Load(); s != 0 {
			w.WriteHeader(int(s))
			fmt.Fprint(w, `{"error_code":40402,"message":"Version 1 not found."}`)
			return true
		}
		return false
	})
	rc, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newDecoder(TableConfig{Name: "a.b", Format: "json", Subject: "people-value"}, rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	value := []byte(frame(id, nil, []byte(`{"home": {"city": "Oslo"}}`)))
	for range 2 {
		if _, err := dec.decode(ctx, value); !errors.Is(err, errIncompatible) || !strings.Contains(err.Error(), "address.json") {
			t.Fatalf("404: %v, want errIncompatible naming the reference", err)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Fatalf("%d reference lookups, want 1 (the refusal is remembered)", n)
	}
	// After missingRefRetry the reference is looked up again: a failing
	// registry is not the record's fault, and once it answers the record
	// decodes.
	rd := dec.(*registryDecoder)
	rd.mu.Lock()
	rd.byID[id].retryAt = time.Now().Add(-time.Second)
	rd.mu.Unlock()
	status.Store(http.StatusServiceUnavailable)
	if _, err := dec.decode(ctx, value); err == nil || errors.Is(err, errIncompatible) {
		t.Fatalf("503: %v, want a registry error", err)
	}
	status.Store(0)
	d, err := dec.decode(ctx, value)
	if err != nil || colsShape(d.columns) != "home:struct<city:string>" {
		t.Fatalf("after recovery: %s %v", colsShape(d.columns), err)
	}
}
