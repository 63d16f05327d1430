package tableflow

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
)

// directSchema has a column of every type the direct path takes, some
// required.
func directSchema() *iceberg.Schema {
	return initialSchema(inlineColumns(&InlineSchema{Fields: []FieldConfig{
		{Name: "id", Type: "long", Required: true},
		{Name: "small", Type: "int"},
		{Name: "user", Type: "string"},
		{Name: "amount", Type: "double"},
		{Name: "ratio", Type: "float"},
		{Name: "ok", Type: "boolean"},
		{Name: "at", Type: "timestamp"},
		{Name: "day", Type: "date"},
		{Name: "blob", Type: "binary"},
		{Name: "name", Type: "string", Required: true},
	}}), nil)
}

// pathPair holds one batch per path over the same schema.
type pathPair struct{ old, direct *batch }

func newPathPair(t testing.TB, sc *iceberg.Schema) *pathPair {
	old, err := newBatch(sc)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := newBatch(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.release(); direct.release() })
	return &pathPair{old: old, direct: direct}
}

// check feeds one record to both paths. The direct path may refuse any
// record, but when it takes one the old path must take it too and
// produce the same row; when it refuses one, the batch must be as
// before. It returns what each path did (oldErr is the reason the old
// path rejects the record, the DLQ reason).
func (p *pathPair) check(t testing.TB, value []byte) (direct bool, oldErr error) {
	t.Helper()
	ts := time.UnixMilli(1733480000123)
	var r row
	m, oldErr := decodeJSON(value)
	if oldErr == nil {
		r, oldErr = p.old.convert(m, 3, 42, ts)
	}
	if oldErr == nil {
		p.old.add(r, len(value))
	}
	direct = p.direct.addJSON(value, 3, 42, ts, len(value))
	oldRec, newRec := p.old.b.NewRecordBatch(), p.direct.b.NewRecordBatch()
	defer oldRec.Release()
	defer newRec.Release()
	switch {
	case direct && oldErr != nil:
		t.Fatalf("%q: the direct path took a record the old path rejects: %v", value, oldErr)
	case !direct && newRec.NumRows() != 0:
		t.Fatalf("%q: the direct path refused the record but left %d rows", value, newRec.NumRows())
	case direct && !array.RecordEqual(oldRec, newRec):
		t.Fatalf("%q: rows differ:\nold    %v\ndirect %v", value, oldRec, newRec)
	}
	return direct, oldErr
}

func TestJSONDirectMatchesDecode(t *testing.T) {
	p := newPathPair(t, directSchema())
	base := `"id": 7, "name": "n"`
	cases := []struct {
		value  string
		direct bool // the direct path takes it
		oldOK  bool // the old path takes it (else: a DLQ record)
	}{
		{`{"id": 1, "user": "user-1", "event": "page_view", "amount": 12.25, "ok": true, "at": "2026-12-06T10:01:02Z", "name": "some free text"}`, true, true},
		{`{` + base + `}`, true, true},
		{" \t\r\n{" + base + "} \n", true, true},
		// Nulls and missing columns.
		{`{` + base + `, "user": null, "amount": null, "ok": null, "at": null, "day": null, "blob": null, "small": null}`, true, true},
		{`{"id": null, "name": "n"}`, false, false},
		{`{"name": "n"}`, false, false},
		{`{"id": 1}`, false, false},
		// Nested values under keys that are not columns are skipped.
		{`{` + base + `, "x": {"a": [1, 2.5e-3, {"b": null, "c": [[], {}]}], "d": "\u00e9"}, "y": [], "z": {}}`, true, true},
		{`{` + base + `, "x": {"a": [1, 2}}`, false, false},
		{`{` + base + `, "x": [tru]}`, false, false},
		{`{` + base + `, "x": {"a" 1}}`, false, false},
		{`{` + base + `, "x": [1,]}`, false, false},
		{`{` + base + `, "x": ` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, false, true},
		// Escapes in keys and values.
		{`{` + base + `, "us\u0065r": "a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, true, true},
		{`{` + base + `, "user": "caf` + "\u00e9" + `"}`, true, true},
		{`{` + base + `, "user": "\ud83d"}`, false, true},
		{`{` + base + `, "user": "\ude00x"}`, false, true},
		{`{` + base + `, "user": "a` + "\x01" + `"}`, false, true}, // goccy/go-json takes control characters,
		{`{` + base + `, "user": "\x"}`, false, false},
		{`{` + base + `, "user": "` + "\xff" + `"}`, false, true},
		// A later duplicate key wins.
		{`{` + base + `, "id": 2}`, true, true},
		{`{"id": "x", "id": 3, "name": "n"}`, true, true},
		{`{"id": 3, "id": "x", "name": "n"}`, false, false},
		// Wrong types.
		{`{"id": "1", "name": "n"}`, false, false},
		{`{"id": 1.5, "name": "n"}`, false, false},
		{`{"id": 1e2, "name": "n"}`, false, false},
		{`{"id": 9223372036854775807, "name": "n"}`, true, true},
		{`{"id": -9223372036854775808, "name": "n"}`, true, true},
		{`{"id": 9223372036854775808, "name": "n"}`, false, false},
		{`{"id": -0, "name": "n"}`, true, true},
		{`{` + base + `, "small": 2147483647}`, true, true},
		{`{` + base + `, "small": -2147483649}`, false, false},
		{`{` + base + `, "ok": "true"}`, false, false},
		{`{` + base + `, "ok": 1}`, false, false},
		{`{` + base + `, "amount": "1"}`, false, false},
		{`{` + base + `, "amount": true}`, false, false},
		{`{` + base + `, "user": 5}`, false, false},
		{`{` + base + `, "user": {}}`, false, false},
		{`{` + base + `, "user": ["a"]}`, false, false},
		{`{"id": 1, "name": null}`, false, false},
		// Numbers.
		{`{` + base + `, "amount": 0.1, "ratio": 0.1}`, true, true},
		{`{` + base + `, "amount": -123456.789012345, "ratio": 3.4028235e38}`, true, true},
		{`{` + base + `, "amount": 3.14159265358979323846264338327950288}`, true, true},
		{`{` + base + `, "amount": 123456789012345678901234567890}`, true, true},
		{`{` + base + `, "amount": 1E-7, "ratio": 5e+3}`, true, true},
		{`{` + base + `, "amount": 0.0000000000000000000000001}`, true, true},
		{`{` + base + `, "amount": 1e400}`, false, false},
		{`{` + base + `, "amount": 01}`, false, true}, // and these numbers,
		{`{` + base + `, "amount": 1.}`, false, true},
		{`{` + base + `, "amount": .5}`, false, false},
		{`{` + base + `, "amount": -}`, false, false},
		{`{` + base + `, "amount": +1}`, false, false},
		// Timestamps: RFC 3339 text or epoch milliseconds.
		{`{` + base + `, "at": "2026-12-06T10:00:00.123456789+02:00"}`, true, true},
		{`{` + base + `, "at": 1733480000000}`, true, true},
		{`{` + base + `, "at": -1}`, true, true},
		{`{` + base + `, "at": 1.5}`, false, false},
		{`{` + base + `, "at": "2026-12-06 10:00:00"}`, false, false},
		{`{` + base + `, "at": "2026-12-06T10:00:00\u005a"}`, true, true},
		// Dates: text or days since the epoch.
		{`{` + base + `, "day": "2026-12-06"}`, true, true},
		{`{` + base + `, "day": "1969-12-31"}`, true, true},
		{`{` + base + `, "day": 20000}`, true, true},
		{`{` + base + `, "day": 2147483648}`, false, false},
		{`{` + base + `, "day": "2026-13-01"}`, false, false},
		// Binary as base64; the decoder skips line breaks.
		{`{` + base + `, "blob": "aGVsbG8="}`, true, true},
		{`{` + base + `, "blob": "aGVs\nbG8="}`, true, true},
		{`{` + base + `, "blob": ""}`, true, true},
		{`{` + base + `, "blob": "!!!"}`, false, false},
		// Not one JSON object.
		{`{"id": 1`, false, false},
		{`{"id": 1,}`, false, false},
		{`{` + base + `,}`, false, false},
		{`{` + base + `} x`, false, false},
		{`{` + base + `}{}`, false, false},
		{`{` + base + `}]`, false, true},
		{`[1]`, false, false},
		{`null`, false, false},
		{`"x"`, false, false},
		{``, false, false},
		{`{}`, false, false},
		{`{ }`, false, false},
	}
	for _, c := range cases {
		direct, oldErr := p.check(t, []byte(c.value))
		if direct != c.direct || (oldErr == nil) != c.oldOK {
			t.Errorf("%q: direct %v (want %v), old path error %v (want ok %v)", c.value, direct, c.direct, oldErr, c.oldOK)
		}
	}
}

// TestJSONDirectFallback: a schema with a column the direct path does
// not handle (a struct) leaves every record to the old path.
func TestJSONDirectFallback(t *testing.T) {
	sc := initialSchema([]Column{
		{Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		{Name: "addr", Type: &iceberg.StructType{FieldList: []iceberg.NestedField{{Name: "city", Type: iceberg.PrimitiveTypes.String}}}},
	}, nil)
	p := newPathPair(t, sc)
	if direct, err := p.check(t, []byte(`{"id": 1, "addr": {"city": "x"}}`)); direct || err != nil {
		t.Fatalf("direct %v, old path error %v; want the old path to take it", direct, err)
	}
}

// FuzzJSONDirect holds the direct path to the old one on arbitrary
// records: whatever it takes, the old path takes and turns into the same
// row; whatever it refuses leaves the batch untouched.
func FuzzJSONDirect(f *testing.F) {
	for _, s := range []string{
		`{"id": 1, "user": "user-1", "amount": 12.25, "ok": true, "at": "2026-12-06T10:01:02Z", "name": "x"}`,
		`{"id": 7, "name": "n", "x": {"a": [1, 2.5e-3, {"b": null}]}, "small": -3, "ratio": 1e-3}`,
		`{"id": 7, "name": "\u00e9\ud83d\ude00", "day": "2026-12-06", "blob": "aGVsbG8="}`,
		`{"id": 7, "name": "n", "at": 1733480000000, "day": 20000, "user": null}`,
		`{"id": "x", "id": 3, "name": "n"}`,
	} {
		f.Add([]byte(s))
	}
	p := newPathPair(f, directSchema()) // check leaves both batches empty
	f.Fuzz(func(t *testing.T, value []byte) {
		p.check(t, value)
	})
}

// BenchmarkJSONDecode compares the two paths on the ingest benchmark's
// records, without Parquet: decode + convert + add against addJSON.
func BenchmarkJSONDecode(b *testing.B) {
	values, size := benchRecords(10000)
	sc := initialSchema(inlineColumns(benchSchema()), nil)
	ts := time.Now()
	for _, path := range []string{"map", "direct"} {
		b.Run("path="+path, func(b *testing.B) {
			bt, err := newBatch(sc)
			if err != nil {
				b.Fatal(err)
			}
			defer bt.release()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for i, v := range values {
					if path == "direct" {
						if !bt.addJSON(v, 0, int64(i), ts, len(v)) {
							b.Fatalf("refused %s", v)
						}
						continue
					}
					m, err := decodeJSON(v)
					if err != nil {
						b.Fatal(err)
					}
					r, err := bt.convert(m, 0, int64(i), ts)
					if err != nil {
						b.Fatal(err)
					}
					bt.add(r, len(v))
				}
				bt.b.NewRecordBatch().Release()
			}
		})
	}
}
