package schemaregistry_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// testBatch encodes an uncompressed v2 batch of records with the given
// values (nil: a null value) and null keys.
func testBatch(values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		var f []byte
		f = append(f, 0) // attributes
		f = kbin.AppendVarlong(f, 0)
		f = kbin.AppendVarint(f, int32(i))
		f = kbin.AppendVarint(f, -1) // null key
		if v == nil {
			f = kbin.AppendVarint(f, -1)
		} else {
			f = kbin.AppendVarint(f, int32(len(v)))
			f = append(f, v...)
		}
		f = kbin.AppendVarint(f, 0) // headers
		recs = kbin.AppendVarint(recs, int32(len(f)))
		recs = append(recs, f...)
	}
	ts := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(values)), Records: recs}
	b.Length = int32(49 + len(b.Records))
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw
}

// wire prefixes an encoded payload with Confluent's wire format header.
func wire(id int64, payload []byte) []byte {
	out := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, payload...)
}

// avroString is the Avro binary encoding of a record with one string
// field.
func avroString(s string) []byte {
	return append(kbin.AppendVarlong(nil, int64(len(s))), s...)
}

type validatorEnv struct {
	reg *schemaregistry.Registry
	v   *schemaregistry.Validator
}

func newValidatorEnv(t testing.TB) validatorEnv {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return validatorEnv{schemaregistry.New(store, false), schemaregistry.NewValidator(store, nil)}
}

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`

func (e validatorEnv) register(t testing.TB, subject, text string) int64 {
	t.Helper()
	id, err := e.reg.Register(context.Background(), subject, schemaregistry.RegisterRequest{Schema: text}, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidatorIDMode(t *testing.T) {
	e := newValidatorEnv(t)
	ctx := context.Background()
	id := e.register(t, "orders-value", orderSchema)
	other := e.register(t, "other-value", `{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}`)
	configs := map[string]string{schemaregistry.ConfigValueValidation: "true"}
	if !e.v.Enabled(configs) || e.v.Enabled(map[string]string{schemaregistry.ConfigValueValidation: "false"}) {
		t.Fatal("Enabled does not follow confluent.value.schema.validation")
	}
	good := wire(id, avroString("o-1"))
	if bad, err := e.v.ValidateBatch(ctx, "orders", configs, testBatch(good, nil, good)); err != nil || bad != nil {
		t.Fatalf("valid batch: %v %v", bad, err)
	}
	for _, tc := range []struct {
		name, want string
		value      []byte
	}{
		{"no magic byte", "wire format", []byte("plain json")},
		{"too short", "wire format", []byte{0, 0, 1}},
		{"unknown id", "not registered under subject orders-value", wire(9999, avroString("x"))},
		{"another subject's id", "not registered under subject orders-value", wire(other, []byte{2})},
	} {
		bad, err := e.v.ValidateBatch(ctx, "orders", configs, testBatch(good, tc.value))
		if err == nil || len(bad) != 1 || bad[0].RelativeOffset != 1 || !strings.Contains(*bad[0].ErrorMessage, tc.want) {
			t.Errorf("%s: got %v, %v; want record 1 refused with %q", tc.name, bad, err, tc.want)
		}
	}
	// A schema registered after the validator cached the subject is
	// accepted on its first record.
	newer := e.register(t, "orders-value", `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"n","type":"int","default":0}]}`)
	if bad, err := e.v.ValidateBatch(ctx, "orders", configs, testBatch(wire(newer, nil))); err != nil || bad != nil {
		t.Fatalf("newly registered id: %v %v", bad, err)
	}
	// Keys are checked under <topic>-key.
	keyConfigs := map[string]string{schemaregistry.ConfigKeyValidation: "true"}
	if _, err := e.v.ValidateBatch(ctx, "orders", keyConfigs, testBatch(good)); err != nil {
		t.Fatalf("null keys must pass: %v", err)
	}
}

func TestValidatorStrategiesAndFullMode(t *testing.T) {
	e := newValidatorEnv(t)
	ctx := context.Background()
	id := e.register(t, "shop.Order", orderSchema)
	rn := map[string]string{schemaregistry.ConfigValueValidation: "true",
		schemaregistry.ConfigValueStrategy: "io.confluent.kafka.serializers.subject.RecordNameStrategy"}
	if _, err := e.v.ValidateBatch(ctx, "any-topic", rn, testBatch(wire(id, avroString("a")))); err != nil {
		t.Fatalf("RecordNameStrategy: %v", err)
	}
	trn := map[string]string{schemaregistry.ConfigValueValidation: "true", schemaregistry.ConfigValueStrategy: "TopicRecordNameStrategy"}
	if _, err := e.v.ValidateBatch(ctx, "t", trn, testBatch(wire(id, avroString("a")))); err == nil || !strings.Contains(err.Error(), "t-shop.Order") {
		t.Fatalf("TopicRecordNameStrategy without t-shop.Order: %v", err)
	}
	e.register(t, "t-shop.Order", orderSchema)
	if _, err := e.v.ValidateBatch(ctx, "t", trn, testBatch(wire(id, avroString("a")))); err != nil {
		t.Fatalf("TopicRecordNameStrategy: %v", err)
	}

	e.register(t, "orders-value", orderSchema)
	full := map[string]string{schemaregistry.ConfigValueValidation: "true", schemaregistry.ConfigValueValidateMode: "full"}
	if bad, err := e.v.ValidateBatch(ctx, "orders", full, testBatch(wire(id, avroString("o-1")))); err != nil {
		t.Fatalf("full mode, valid record: %v %v", bad, err)
	}
	// A string length past the end of the payload cannot be decoded.
	bad, err := e.v.ValidateBatch(ctx, "orders", full, testBatch(wire(id, []byte{0x40, 'x'})))
	if err == nil || len(bad) != 1 || !strings.Contains(*bad[0].ErrorMessage, "does not match schema") {
		t.Fatalf("full mode, undecodable record: %v %v", bad, err)
	}
}

// BenchmarkValidateBatch measures broker-side validation per record: id
// mode (wire format and registered ID, cached) and full mode (also decodes
// each value with its Avro schema). Reported as ns/record.
func BenchmarkValidateBatch(b *testing.B) {
	e := newValidatorEnv(b)
	ctx := context.Background()
	id := e.register(b, "orders-value", orderSchema)
	const n = 500
	values := make([][]byte, n)
	for i := range values {
		values[i] = wire(id, avroString("order-0000000001"))
	}
	batch := testBatch(values...)
	for _, mode := range []string{"id", "full"} {
		configs := map[string]string{schemaregistry.ConfigValueValidation: "true", schemaregistry.ConfigValueValidateMode: mode}
		b.Run(mode, func(b *testing.B) {
			if _, err := e.v.ValidateBatch(ctx, "orders", configs, batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.v.ValidateBatch(ctx, "orders", configs, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// TestValidatorProtobufRecordName: with RecordNameStrategy, a Protobuf
// record's subject is the message its message-index list names.
func TestValidatorProtobufRecordName(t *testing.T) {
	e := newValidatorEnv(t)
	ctx := context.Background()
	text := "syntax = \"proto3\";\npackage shop;\nmessage A { string a = 1; }\nmessage B { int32 b = 1; }\n"
	id, err := e.reg.Register(ctx, "shop.B", schemaregistry.RegisterRequest{Schema: text, SchemaType: "PROTOBUF"}, false)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]string{schemaregistry.ConfigValueValidation: "true", schemaregistry.ConfigValueStrategy: "RecordNameStrategy",
		schemaregistry.ConfigValueValidateMode: "full"}
	// Message indexes [1] (zigzag varints: count 1, index 1), then B{b: 5}.
	msgB := wire(id, []byte{0x02, 0x02, 0x08, 0x05})
	if bad, err := e.v.ValidateBatch(ctx, "t", configs, testBatch(msgB)); err != nil {
		t.Fatalf("message B under shop.B: %v %v", bad, err)
	}
	// Index [0] is message A, whose subject shop.A has nothing registered.
	msgA := wire(id, []byte{0x00, 0x0a, 0x01, 'x'})
	bad, err := e.v.ValidateBatch(ctx, "t", configs, testBatch(msgA))
	if err == nil || len(bad) != 1 || !strings.Contains(*bad[0].ErrorMessage, "shop.A") {
		t.Fatalf("message A: %v %v, want refused under shop.A", bad, err)
	}
}
