package jobs

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// FuzzRewriteBatch feeds arbitrary bytes to the decoder key compaction
// uses: it must not panic, and whatever it decodes must survive the
// rewrite (encode, decode) unchanged.
func FuzzRewriteBatch(f *testing.F) {
	f.Add(batch("k", "v", "", "x"))
	f.Add(gzipBatch("a", "1", "b", "<nil>"))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			return
		}
		if _, err := records.InfoOf(raw); err != nil {
			t.Fatalf("header decoded by ReadFrom but not by BatchInfoOf: %v", err)
		}
		if b.NumRecords < 0 || b.NumRecords > 1<<16 {
			return
		}
		recs, err := decodeRecords(&b)
		if err != nil {
			return
		}
		nb := b
		setRecords(&nb, recs)
		out, err := encodeBatch(&nb)
		if err != nil {
			return
		}
		var back kmsg.RecordBatch
		if err := back.ReadFrom(out); err != nil {
			t.Fatalf("rewritten batch does not decode: %v", err)
		}
		again, err := decodeRecords(&back)
		if err != nil {
			t.Fatalf("rewritten records do not decode: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("%d records rewritten as %d", len(recs), len(again))
		}
		for i := range recs {
			a, z := recs[i], again[i]
			if fmt.Sprint(a.OffsetDelta, a.TimestampDelta64, a.Key, a.Value, a.Headers) != fmt.Sprint(z.OffsetDelta, z.TimestampDelta64, z.Key, z.Value, z.Headers) {
				t.Fatalf("record %d changed: %+v -> %+v", i, a, z)
			}
		}
	})
}

func FuzzKeyTime(f *testing.F) {
	f.Add("files/2026/11/27/10/18ebe2df1df85831-6d0635735eac.slc")
	f.Add("x/-")
	f.Fuzz(func(t *testing.T, key string) { keyTime(key) })
}
