package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

const testMaxRequestBytes = 1 << 20

func startBadInputServer(t *testing.T) *testServer {
	t.Helper()
	ts := startServer(t, Config{MaxRequestBytes: testMaxRequestBytes})
	ts.createTopic("t", 2, nil)
	ts.createTopic("small", 1, map[string]string{"max.message.bytes": "1000"})
	return ts
}

// frame prefixes body with its big-endian size.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header encodes a request header v1 (key, version, correlation ID, client ID).
func header(key, version int16, corr int32, clientID string) []byte {
	b := kbin.AppendInt16(nil, key)
	b = kbin.AppendInt16(b, version)
	b = kbin.AppendInt32(b, corr)
	return kbin.AppendString(b, clientID)
}

func TestBadFramesCloseConnection(t *testing.T) {
	ts := startBadInputServer(t)

	produceV := func(v int16) []byte {
		req := produceReq(v, -1, producePart{"t", 0, newBatch(1, 10, nil)})
		return encodeRequest(req, 1)
	}
	fetchV3 := kmsg.NewPtrFetchRequest()
	fetchV3.Version = 3
	truncatedBody := func() []byte {
		full := produceV(9)
		body := full[4 : len(full)-20] // header intact, body cut short
		return frame(body)
	}()
	updateFeatures := kmsg.NewPtrUpdateFeaturesRequest() // a controller API agents never serve
	updateFeatures.Version = 1
	apiVersionsTruncated := kmsg.NewPtrApiVersionsRequest()
	apiVersionsTruncated.Version = 3 // flexible: the body is compact strings, cut off below
	avFull := encodeRequest(apiVersionsTruncated, 1)

	cases := []struct {
		name string
		raw  []byte
	}{
		{"negative size", []byte{0xff, 0xff, 0xff, 0xff}},
		{"min int32 size", []byte{0x80, 0, 0, 0}},
		{"zero size", []byte{0, 0, 0, 0}},
		{"size below a header", frame([]byte{0, 18, 0, 3, 0, 0, 0})},
		{"size above MaxRequestBytes", binary.BigEndian.AppendUint32(nil, testMaxRequestBytes+1)},
		{"truncated header: no client ID", frame([]byte{0, 18, 0, 3, 0, 0, 0, 1})},
		{"truncated header: short client ID", frame(append([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 20}, "abc"...))},
		{"truncated header tags", frame(header(18, 3, 1, "c"))},
		{"truncated ApiVersions v3 body", frame(avFull[4 : len(avFull)-3])},
		{"unknown API key 1000", frame(header(1000, 0, 1, "c"))},
		{"unsupported API key UpdateFeatures", encodeRequest(updateFeatures, 1)},
		{"Produce v99", produceV(99)},
		{"Produce v2", produceV(2)},
		{"Produce v13", produceV(13)},
		{"Produce v-1", frame(header(0, -1, 1, "c"))},
		{"Fetch v3", encodeRequest(fetchV3, 1)},
		{"truncated Produce v9 body", truncatedBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := ts.dialT(t)
			rc.write(tc.raw)
			rc.expectClosed()
			// The server is unharmed: a fresh connection is served.
			ts.dialT(t).apiVersions()
		})
	}
}

// The bad frames are refused before anything is stored, and a request
// pipelined after a bad frame on the same connection is not executed.
func TestBadFrameDropsPipelinedRequests(t *testing.T) {
	ts := startBadInputServer(t)
	rc := ts.dial()
	good := encodeRequest(produceReq(9, -1, producePart{"t", 0, newBatch(1, 10, nil)}), 2)
	rc.write(append(frame(header(1000, 0, 1, "c")), good...))
	rc.expectDropped()
	time.Sleep(50 * time.Millisecond) // a wrongly accepted batch would flush within 5ms
	if hw := ts.hw("t", 0); hw != 0 {
		t.Fatalf("high watermark %d after a produce pipelined behind a bad frame; want 0", hw)
	}
	if n := ts.files(); n != 0 {
		t.Fatalf("%d files in bucket; want 0", n)
	}
}

// sameKeys reports whether keys lists exactly the supported table, in key
// order, and includes the APIs every client needs at their fixed ranges.
func sameKeys(keys []kmsg.ApiVersionsResponseApiKey) bool {
	if len(keys) != len(supported) || len(keys) == 0 {
		return false
	}
	for i, k := range keys {
		r, ok := supported[k.ApiKey]
		if !ok || r.min != k.MinVersion || r.max != k.MaxVersion || (i > 0 && keys[i-1].ApiKey >= k.ApiKey) {
			return false
		}
	}
	fixed := map[int16]apiRange{0: {3, 12}, 1: {4, 18}, 3: {0, 13}, 18: {0, 5}}
	for _, k := range keys {
		if r, ok := fixed[k.ApiKey]; ok {
			if r.min != k.MinVersion || r.max != k.MaxVersion {
				return false
			}
			delete(fixed, k.ApiKey)
		}
	}
	return len(fixed) == 0
}

func TestApiVersionsUnsupportedVersion(t *testing.T) {
	ts := startBadInputServer(t)
	for _, v := range []int16{6, 99, -1} {
		rc := ts.dial()
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName = "future-client"
		req.ClientSoftwareVersion = "9.9"
		corr := rc.send(req)
		// KIP-511: the answer is always a v0 response (no throttle field,
		// no tags), whatever version was asked for.
		v0 := kmsg.NewPtrApiVersionsRequest()
		v0.Version = 0
		resp := rc.recv(v0, corr).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: error code %d, want UNSUPPORTED_VERSION (35)", v, resp.ErrorCode)
		}
		// Only ApiVersions' own range, as Kafka answers, so that the
		// client retries at the newest version both know.
		if r := supported[apiVersionsKey]; len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != apiVersionsKey ||
			resp.ApiKeys[0].MinVersion != r.min || resp.ApiKeys[0].MaxVersion != r.max {
			t.Fatalf("v%d: fallback keys %+v, want only ApiVersions %v", v, resp.ApiKeys, r)
		}
		// The v0 body is exactly error code + key array: recv's decode
		// would accept trailing bytes, so check the frame size too.
		rc2 := ts.dial()
		corr = rc2.send(req)
		gotCorr, body, err := rc2.readFrame()
		if err != nil || gotCorr != corr {
			t.Fatalf("v%d: correlation ID %d (want %d), %v", v, gotCorr, corr, err)
		}
		if want := 2 + 4 + 6; len(body) != want {
			t.Fatalf("v%d: fallback body is %d bytes, want %d (v0 encoding)", v, len(body), want)
		}
		// The connection stays usable for the retry at a known version.
		got := rc.apiVersions()
		if !sameKeys(got.ApiKeys) {
			t.Fatalf("ApiVersions v3 keys %+v", got.ApiKeys)
		}
	}
}

type producePart struct {
	topic     string
	partition int32
	records   []byte
}

func produceReq(version, acks int16, parts ...producePart) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	for _, p := range parts {
		i := slices.IndexFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return t.Topic == p.topic })
		if i < 0 {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p.partition
		rp.Records = p.records
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

func producePartResult(t *testing.T, resp *kmsg.ProduceResponse, topic string, partition int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	for _, rt := range resp.Topics {
		if rt.Topic != topic {
			continue
		}
		for _, rp := range rt.Partitions {
			if rp.Partition == partition {
				return rp
			}
		}
	}
	t.Fatalf("no produce result for %s/%d in %+v", topic, partition, resp.Topics)
	return kmsg.ProduceResponseTopicPartition{}
}

// storeSnapshot is what must not change when a produce is refused.
type storeSnapshot struct {
	hws   map[string]int64
	files int
}

func (ts *testServer) snapshot() storeSnapshot {
	s := storeSnapshot{hws: map[string]int64{}, files: ts.files()}
	for _, p := range []struct {
		topic string
		part  int32
	}{{"t", 0}, {"t", 1}, {"small", 0}} {
		s.hws[p.topic+"/"+string(rune('0'+p.part))] = ts.hw(p.topic, p.part)
	}
	return s
}

func (s storeSnapshot) equal(o storeSnapshot) bool {
	if s.files != o.files || len(s.hws) != len(o.hws) {
		return false
	}
	for k, v := range s.hws {
		if o.hws[k] != v {
			return false
		}
	}
	return true
}

func TestProduceBadBatches(t *testing.T) {
	// The bomb below expands one byte past the limit; a 4 MiB limit keeps
	// the case the same and its decompression cheap under the race
	// detector on a loaded machine (at 128 MiB it outran the read deadline).
	defer func(n int) { maxDecompressed = n }(maxDecompressed)
	maxDecompressed = 4 << 20
	ts := startBadInputServer(t)

	good := newBatch(3, 10, nil)
	badCRC := newBatch(3, 10, nil)
	badCRC[len(badCRC)-1] ^= 0xff // payload changed after the CRC was computed
	flippedCRC := newBatch(3, 10, nil)
	flippedCRC[17] ^= 0x01
	twoRecords := encodeRecords(2, func(int) []byte { return []byte("x") })
	badDeltas := func() []byte {
		// Two records that both claim offset delta 0.
		var out []byte
		for i := 0; i < 2; i++ {
			r := kmsg.Record{OffsetDelta: 0, Value: []byte("x")}
			body := r.AppendTo(nil)[1:]
			out = kbin.AppendVarint(out, int32(len(body)))
			out = append(out, body...)
		}
		return out
	}()

	cases := []struct {
		name      string
		acks      int16
		txnID     bool
		topic     string
		partition int32
		records   []byte
		want      int16
		orphan    bool // refused at commit: an unreferenced file may appear
	}{
		{name: "bad CRC (payload changed)", topic: "t", records: badCRC, want: kerr.CorruptMessage.Code},
		{name: "bad CRC (CRC changed)", topic: "t", records: flippedCRC, want: kerr.CorruptMessage.Code},
		{name: "truncated batch", topic: "t", records: good[:len(good)-5], want: kerr.CorruptMessage.Code},
		{name: "truncated to a partial header", topic: "t", records: good[:40], want: kerr.CorruptMessage.Code},
		{name: "batch length below header size", topic: "t", records: func() []byte {
			b := slices.Clone(good)
			binary.BigEndian.PutUint32(b[8:], 10)
			return b
		}(), want: kerr.CorruptMessage.Code},
		{name: "two batches for one partition", topic: "t", records: append(slices.Clone(good), good...), want: kerr.InvalidRecord.Code},
		{name: "trailing garbage after the batch", topic: "t", records: append(slices.Clone(good), 1, 2, 3), want: kerr.InvalidRecord.Code},
		{name: "empty records", topic: "t", records: []byte{}, want: kerr.InvalidRecord.Code},
		{name: "null records", topic: "t", records: nil, want: kerr.InvalidRecord.Code},
		{name: "larger than max.message.bytes", topic: "small", records: newBatch(1, 1500, nil), want: kerr.MessageTooLarge.Code},
		{name: "unknown topic", topic: "nope", records: good, want: kerr.UnknownTopicOrPartition.Code},
		{name: "partition past the end", topic: "t", partition: 2, records: good, want: kerr.UnknownTopicOrPartition.Code},
		{name: "negative partition", topic: "t", partition: -1, records: good, want: kerr.UnknownTopicOrPartition.Code},
		{name: "control batch", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) { b.Attributes |= records.AttrControl }), want: kerr.InvalidRecord.Code},
		{name: "producer ID without epoch and sequence", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) { b.ProducerID = 7 }), want: kerr.InvalidRecord.Code},
		{name: "producer ID without sequence", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) { b.ProducerID, b.ProducerEpoch = 7, 0 }), want: kerr.InvalidRecord.Code},
		// Refused at commit, not by validation: the file is uploaded (and
		// left for the orphan sweeper) but no offsets are assigned.
		{name: "unknown producer not starting at sequence 0", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = 123456, 0, 5
		}), want: kerr.UnknownProducerID.Code, orphan: true},
		{name: "transactional batch without producer ID", txnID: true, topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) { b.Attributes |= records.AttrTransactional }), want: kerr.InvalidRecord.Code},
		{name: "transactional batch without transactional ID", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Attributes |= records.AttrTransactional
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = 7, 0, 0
		}), want: kerr.InvalidTxnState.Code},
		// Refused at commit: no transaction of this producer covers the partition.
		{name: "transactional batch outside a transaction", txnID: true, topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Attributes |= records.AttrTransactional
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = 7, 0, 0
		}), want: kerr.InvalidTxnState.Code, orphan: true},
		{name: "non-transactional batch in a transactional request", txnID: true, topic: "t", records: good, want: kerr.InvalidTxnState.Code},
		{name: "acks=2", acks: 2, topic: "t", records: good, want: kerr.InvalidRequiredAcks.Code},
		{name: "acks=-2", acks: -2, topic: "t", records: good, want: kerr.InvalidRequiredAcks.Code},
		{name: "garbage record framing", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Records = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03}
		}), want: kerr.InvalidRecord.Code},
		{name: "record length past the batch", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Records = append(kbin.AppendVarint(nil, 100), 0, 0, 0, 2, 'x')
		}), want: kerr.InvalidRecord.Code},
		{name: "record body garbage", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Records = append(kbin.AppendVarint(nil, 4), 0, 0xff, 0xff, 0xff)
		}), want: kerr.InvalidRecord.Code},
		{name: "record with bytes past its fields", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			r := kmsg.Record{Value: []byte("x")}
			body := append(r.AppendTo(nil)[1:], 0xAA, 0xBB)
			b.Records = append(kbin.AppendVarint(nil, int32(len(body))), body...)
		}), want: kerr.InvalidRecord.Code},
		{name: "negative header count", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			r := kmsg.Record{Value: []byte("x")}
			body := r.AppendTo(nil)[1:]
			body = append(body[:len(body)-1], 1) // header count varint 0 -> -1
			b.Records = append(kbin.AppendVarint(nil, int32(len(body))), body...)
		}), want: kerr.InvalidRecord.Code},
		{name: "negative header key length", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			r := kmsg.Record{Value: []byte("x")}
			body := r.AppendTo(nil)[1:]
			body = append(body[:len(body)-1], 2, 1) // one header whose key length is -1
			body = append(body, 0)                  // empty value
			b.Records = append(kbin.AppendVarint(nil, int32(len(body))), body...)
		}), want: kerr.InvalidRecord.Code},
		{name: "bytes after the last record", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Records = append(b.Records, 0, 0, 0)
		}), want: kerr.InvalidRecord.Code},
		{name: "fewer records than claimed", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.NumRecords, b.LastOffsetDelta = 2, 1
		}), want: kerr.InvalidRecord.Code},
		{name: "record count disagrees with last offset delta", topic: "t", records: newBatch(2, 10, func(b *kmsg.RecordBatch) {
			b.LastOffsetDelta = 0
		}), want: kerr.InvalidRecord.Code},
		{name: "zero records", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.NumRecords, b.LastOffsetDelta, b.Records = 0, -1, nil
		}), want: kerr.InvalidRecord.Code},
		{name: "wrong record offset deltas", topic: "t", records: newBatch(2, 10, func(b *kmsg.RecordBatch) { b.Records = badDeltas }), want: kerr.InvalidRecord.Code},
		{name: "magic 1", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) { b.Magic = 1 }), want: kerr.InvalidRecord.Code},
		{name: "unknown compression codec", topic: "t", records: newBatch(2, 10, func(b *kmsg.RecordBatch) {
			b.Attributes = 5
			b.Records = twoRecords
		}), want: kerr.InvalidRecord.Code},
		{name: "gzip attribute over uncompressed records", topic: "t", records: newBatch(2, 10, func(b *kmsg.RecordBatch) {
			b.Attributes = 1
		}), want: kerr.InvalidRecord.Code},
		{name: "zstd bomb: one record expanding past the decompression limit", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Attributes = 4
			b.Records = zstdBomb(maxDecompressed + 1)
		}), want: kerr.MessageTooLarge.Code},
		{name: "zstd attribute over garbage", topic: "t", records: newBatch(1, 10, func(b *kmsg.RecordBatch) {
			b.Attributes = 4
			b.Records = []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4}
		}), want: kerr.InvalidRecord.Code},
	}
	for _, version := range []int16{3, 8, 9, 11} {
		rc := ts.dial()
		for _, tc := range cases {
			acks := tc.acks
			if acks == 0 {
				acks = -1
			}
			req := produceReq(version, acks, producePart{tc.topic, tc.partition, tc.records})
			if tc.txnID {
				req.TransactionID = kmsg.StringPtr("txn")
			}
			before := ts.snapshot()
			resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
			got := producePartResult(t, resp, tc.topic, tc.partition)
			if got.ErrorCode != tc.want || got.BaseOffset != -1 {
				msg := ""
				if got.ErrorMessage != nil {
					msg = *got.ErrorMessage
				}
				t.Errorf("v%d %s: error %d (%q) base offset %d; want error %d (%s), base offset -1",
					version, tc.name, got.ErrorCode, msg, got.BaseOffset, tc.want, kerr.ErrorForCode(tc.want))
			}
			if version >= 8 && (got.ErrorMessage == nil || *got.ErrorMessage == "") && tc.want != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("v%d %s: no error message", version, tc.name)
			}
			after := ts.snapshot()
			if tc.orphan {
				after.files = before.files
			}
			if !after.equal(before) {
				t.Errorf("v%d %s: store changed: before %+v, after %+v", version, tc.name, before, after)
			}
		}
	}

	// Control: valid batches, including compressed ones and one just under
	// the topic's max.message.bytes, are accepted and stored, so the
	// refusals above are the validation's doing.
	rc := ts.dial()
	for _, tc := range []struct {
		name    string
		topic   string
		records []byte
		n       int64
	}{
		{"plain", "t", good, 3},
		{"gzip", "t", compressedBatch(4, kgo.GzipCompression()), 4},
		{"snappy", "t", compressedBatch(4, kgo.SnappyCompression()), 4},
		{"lz4", "t", compressedBatch(4, kgo.Lz4Compression()), 4},
		{"zstd", "t", compressedBatch(4, kgo.ZstdCompression()), 4},
		{"under max.message.bytes", "small", newBatch(1, 800, nil), 1},
	} {
		if tc.topic == "small" && len(tc.records) > 1000 {
			t.Fatalf("%s: batch is %d bytes", tc.name, len(tc.records))
		}
		before := ts.hw(tc.topic, 0)
		files := ts.files()
		resp := rc.roundTrip(produceReq(9, -1, producePart{tc.topic, 0, tc.records})).(*kmsg.ProduceResponse)
		got := producePartResult(t, resp, tc.topic, 0)
		if got.ErrorCode != 0 || got.BaseOffset != before {
			t.Fatalf("%s: error %d base offset %d; want 0, %d", tc.name, got.ErrorCode, got.BaseOffset, before)
		}
		if hw := ts.hw(tc.topic, 0); hw != before+tc.n {
			t.Fatalf("%s: high watermark %d, want %d", tc.name, hw, before+tc.n)
		}
		if n := ts.files(); n != files+1 {
			t.Fatalf("%s: %d files, want %d", tc.name, n, files+1)
		}
	}
}

func TestProduceMixedRequest(t *testing.T) {
	ts := startBadInputServer(t)
	rc := ts.dial()
	// Give t/0 some history so the base offset is not trivially 0.
	resp := rc.roundTrip(produceReq(9, -1, producePart{"t", 0, newBatch(2, 10, nil)})).(*kmsg.ProduceResponse)
	if got := producePartResult(t, resp, "t", 0); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("first produce: %+v", got)
	}
	bad := newBatch(3, 10, nil)
	bad[len(bad)-1] ^= 1
	before := ts.snapshot()
	req := produceReq(9, -1,
		producePart{"t", 0, newBatch(3, 10, nil)},
		producePart{"t", 1, bad},
		producePart{"nope", 0, newBatch(1, 10, nil)},
		producePart{"small", 0, newBatch(1, 2000, nil)},
	)
	resp = rc.roundTrip(req).(*kmsg.ProduceResponse)
	if got := producePartResult(t, resp, "t", 0); got.ErrorCode != 0 || got.BaseOffset != 2 {
		t.Fatalf("good partition: error %d base offset %d; want 0, 2", got.ErrorCode, got.BaseOffset)
	}
	if got := producePartResult(t, resp, "t", 1); got.ErrorCode != kerr.CorruptMessage.Code || got.BaseOffset != -1 {
		t.Fatalf("corrupt partition: error %d base offset %d; want 2, -1", got.ErrorCode, got.BaseOffset)
	}
	if got := producePartResult(t, resp, "nope", 0); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d; want 3", got.ErrorCode)
	}
	if got := producePartResult(t, resp, "small", 0); got.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("too large: error %d; want 10", got.ErrorCode)
	}
	after := ts.snapshot()
	if after.hws["t/0"] != 5 || after.hws["t/1"] != before.hws["t/1"] || after.hws["small/0"] != before.hws["small/0"] {
		t.Fatalf("high watermarks after mixed produce: %v (before %v); want t/0=5, others unchanged", after.hws, before.hws)
	}
	if after.files != before.files+1 {
		t.Fatalf("files %d, want %d", after.files, before.files+1)
	}
	// The good batch is readable at the offset the response gave.
	fr := fetchReq(11, "t", 0, 2)
	fresp := rc.roundTrip(fr).(*kmsg.FetchResponse)
	p := fresp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) < 61 || int64(binary.BigEndian.Uint64(p.RecordBatches)) != 2 || p.HighWatermark != 5 {
		t.Fatalf("fetch at 2: error %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

func TestProduceAcksZero(t *testing.T) {
	ts := startBadInputServer(t)

	// A good acks=0 produce gets no response; the next request's response
	// is the next frame on the connection.
	rc := ts.dial()
	rc.send(produceReq(9, 0, producePart{"t", 0, newBatch(2, 10, nil)}))
	rc.apiVersions() // fails on a correlation ID mismatch if a produce response was sent
	waitFor(t, func() bool { return ts.hw("t", 0) == 2 })

	// A corrupt batch with acks=0 closes the connection, as in Kafka, and
	// stores nothing.
	for _, tc := range []struct {
		name  string
		parts []producePart
	}{
		{"corrupt", []producePart{{"t", 1, func() []byte { b := newBatch(2, 10, nil); b[70] ^= 1; return b }()}}},
		{"unknown topic", []producePart{{"nope", 0, newBatch(1, 10, nil)}}},
	} {
		before := ts.snapshot()
		rc = ts.dial()
		rc.send(produceReq(9, 0, tc.parts...))
		rc.expectClosed()
		if after := ts.snapshot(); !after.equal(before) {
			t.Fatalf("%s: store changed: %+v -> %+v", tc.name, before, after)
		}
	}
	ts.dial().apiVersions()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 5s")
}

func fetchReq(version int16, topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestFetchBadRequests(t *testing.T) {
	ts := startBadInputServer(t)
	rc := ts.dial()
	resp := rc.roundTrip(produceReq(9, -1, producePart{"t", 0, newBatch(3, 10, nil)})).(*kmsg.ProduceResponse)
	if got := producePartResult(t, resp, "t", 0); got.ErrorCode != 0 {
		t.Fatalf("produce: %+v", got)
	}

	for _, version := range []int16{4, 7, 11, 12} {
		cases := []struct {
			name      string
			topic     string
			partition int32
			offset    int64
			session   int32
			wantTop   int16
			want      int16
			wantHW    int64
		}{
			{name: "offset past high watermark", topic: "t", offset: 4, want: kerr.OffsetOutOfRange.Code, wantHW: 3},
			{name: "offset far past high watermark", topic: "t", offset: 1 << 40, want: kerr.OffsetOutOfRange.Code, wantHW: 3},
			{name: "negative offset", topic: "t", offset: -1, want: kerr.OffsetOutOfRange.Code, wantHW: 3},
			{name: "unknown topic", topic: "nope", want: kerr.UnknownTopicOrPartition.Code, wantHW: -1},
			{name: "partition past the end", topic: "t", partition: 2, want: kerr.UnknownTopicOrPartition.Code, wantHW: -1},
			{name: "negative partition", topic: "t", partition: -1, want: kerr.UnknownTopicOrPartition.Code, wantHW: -1},
			{name: "offset at high watermark", topic: "t", offset: 3, want: 0, wantHW: 3},
			{name: "offset 0", topic: "t", offset: 0, want: 0, wantHW: 3},
		}
		if version >= 7 {
			cases = append(cases, struct {
				name      string
				topic     string
				partition int32
				offset    int64
				session   int32
				wantTop   int16
				want      int16
				wantHW    int64
			}{name: "session ID", topic: "t", session: 12345, wantTop: kerr.FetchSessionIDNotFound.Code})
		}
		for _, tc := range cases {
			req := fetchReq(version, tc.topic, tc.partition, tc.offset)
			req.SessionID = tc.session
			if tc.session != 0 {
				req.SessionEpoch = 1
			}
			fr := rc.roundTrip(req).(*kmsg.FetchResponse)
			if fr.ErrorCode != tc.wantTop {
				t.Errorf("v%d %s: top-level error %d, want %d", version, tc.name, fr.ErrorCode, tc.wantTop)
				continue
			}
			if tc.wantTop != 0 {
				if len(fr.Topics) != 0 || fr.SessionID != 0 {
					t.Errorf("v%d %s: topics %d session %d with a top-level error", version, tc.name, len(fr.Topics), fr.SessionID)
				}
				continue
			}
			if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
				t.Errorf("v%d %s: response shape %+v", version, tc.name, fr.Topics)
				continue
			}
			p := fr.Topics[0].Partitions[0]
			if p.ErrorCode != tc.want || p.HighWatermark != tc.wantHW || p.Partition != tc.partition {
				t.Errorf("v%d %s: partition %d error %d hw %d; want %d, %d", version, tc.name, p.Partition, p.ErrorCode, p.HighWatermark, tc.want, tc.wantHW)
			}
			wantData := tc.want == 0 && tc.offset < tc.wantHW
			if gotData := len(p.RecordBatches) > 0; gotData != wantData {
				t.Errorf("v%d %s: %d record bytes; want data: %v", version, tc.name, len(p.RecordBatches), wantData)
			}
		}
	}

	// v13+ names topics by ID; an unknown ID is UNKNOWN_TOPIC_ID.
	req := fetchReq(13, "", 0, 0)
	req.Topics[0].TopicID = [16]byte{1, 2, 3}
	fr := rc.roundTrip(req).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("v13 unknown topic ID: error %d, want %d", p.ErrorCode, kerr.UnknownTopicID.Code)
	}
}

func TestCreateTopicsBadRequests(t *testing.T) {
	ts := startBadInputServer(t)
	rc := ts.dial()

	topic := func(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = name
		rt.NumPartitions = partitions
		rt.ReplicationFactor = rf
		for i := 0; i+1 < len(configs); i += 2 {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name = configs[i]
			c.Value = kmsg.StringPtr(configs[i+1])
			rt.Configs = append(rt.Configs, c)
		}
		return rt
	}
	nullConfig := topic("nullcfg", 1, 1)
	nullConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	withAssignment := topic("assigned", 2, -1)
	withAssignment.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}

	cases := []struct {
		name   string
		topics []kmsg.CreateTopicsRequestTopic
		want   []int16
	}{
		{"slash in name", []kmsg.CreateTopicsRequestTopic{topic("bad/name", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"empty name", []kmsg.CreateTopicsRequestTopic{topic("", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"dot", []kmsg.CreateTopicsRequestTopic{topic(".", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"dot dot", []kmsg.CreateTopicsRequestTopic{topic("..", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"250 chars", []kmsg.CreateTopicsRequestTopic{topic(strings.Repeat("a", 250), 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"space", []kmsg.CreateTopicsRequestTopic{topic("a b", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"non-ASCII", []kmsg.CreateTopicsRequestTopic{topic("tópico", 1, 1)}, []int16{kerr.InvalidTopicException.Code}},
		{"zero partitions", []kmsg.CreateTopicsRequestTopic{topic("p0", 0, 1)}, []int16{kerr.InvalidPartitions.Code}},
		{"partitions -2", []kmsg.CreateTopicsRequestTopic{topic("pm2", -2, 1)}, []int16{kerr.InvalidPartitions.Code}},
		{"replication factor 0", []kmsg.CreateTopicsRequestTopic{topic("rf0", 1, 0)}, []int16{kerr.InvalidReplicationFactor.Code}},
		{"replication factor -2", []kmsg.CreateTopicsRequestTopic{topic("rfm2", 1, -2)}, []int16{kerr.InvalidReplicationFactor.Code}},
		{"unknown config", []kmsg.CreateTopicsRequestTopic{topic("cfg", 1, 1, "no.such.config", "1")}, []int16{kerr.InvalidConfig.Code}},
		{"bad config value", []kmsg.CreateTopicsRequestTopic{topic("cfgval", 1, 1, "max.message.bytes", "lots")}, []int16{kerr.InvalidConfig.Code}},
		{"config below minimum", []kmsg.CreateTopicsRequestTopic{topic("cfgmin", 1, 1, "retention.ms", "-5")}, []int16{kerr.InvalidConfig.Code}},
		{"null config value", []kmsg.CreateTopicsRequestTopic{nullConfig}, []int16{kerr.InvalidConfig.Code}},
		{"assignment with partition count", []kmsg.CreateTopicsRequestTopic{withAssignment}, []int16{kerr.InvalidRequest.Code}},
		{"duplicate name", []kmsg.CreateTopicsRequestTopic{topic("dup", 1, 1), topic("dup", 2, 1)}, []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}},
		{"existing topic", []kmsg.CreateTopicsRequestTopic{topic("t", 1, 1)}, []int16{kerr.TopicAlreadyExists.Code}},
		{"one bad, one good", []kmsg.CreateTopicsRequestTopic{topic("bad/two", 1, 1), topic("fine", 3, -1)}, []int16{kerr.InvalidTopicException.Code, 0}},
	}
	for _, version := range []int16{2, 4, 5, 7} {
		for _, tc := range cases {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Version = version
			req.TimeoutMillis = 5000
			req.Topics = tc.topics
			resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) != len(tc.want) {
				t.Errorf("v%d %s: %d results, want %d", version, tc.name, len(resp.Topics), len(tc.want))
				continue
			}
			for i, rt := range resp.Topics {
				want := tc.want[i]
				if rt.Topic == "fine" && version > 2 {
					want = kerr.TopicAlreadyExists.Code // created by the first version's run
				}
				if rt.Topic != tc.topics[i].Topic || rt.ErrorCode != want {
					t.Errorf("v%d %s: result %d = %q error %d, want %q error %d", version, tc.name, i, rt.Topic, rt.ErrorCode, tc.topics[i].Topic, want)
				}
				if want != 0 && (rt.ErrorMessage == nil || *rt.ErrorMessage == "") {
					t.Errorf("v%d %s: no error message", version, tc.name)
				}
				if want == 0 {
					continue
				}
				if version >= 7 && rt.TopicID != [16]byte{} {
					t.Errorf("v%d %s: failed topic has ID %x", version, tc.name, rt.TopicID)
				}
				// Nothing was created (the existing topic keeps its 2 partitions).
				got, err := ts.store.Topic(context.Background(), rt.Topic)
				switch {
				case rt.Topic == "t":
					if err != nil || got.Partitions != 2 {
						t.Errorf("v%d %s: existing topic now %+v, %v", version, tc.name, got, err)
					}
				case rt.Topic == "fine":
				case !errors.Is(err, metadata.ErrUnknownTopic):
					t.Errorf("v%d %s: topic %q exists after a failed create: %+v, %v", version, tc.name, rt.Topic, got, err)
				}
			}
		}
	}
	if tp, err := ts.store.Topic(context.Background(), "fine"); err != nil || tp.Partitions != 3 {
		t.Fatalf("topic created beside a bad one: %+v, %v", tp, err)
	}

	// validate_only runs every check and creates nothing.
	for _, tc := range []struct {
		name string
		rt   kmsg.CreateTopicsRequestTopic
		want int16
	}{
		{"valid", topic("vo", 4, 1, "retention.ms", "1000"), 0},
		{"bad name", topic("v/o", 4, 1), kerr.InvalidTopicException.Code},
		{"bad config", topic("vo2", 4, 1, "retention.ms", "x"), kerr.InvalidConfig.Code},
		{"existing", topic("t", 4, 1), kerr.TopicAlreadyExists.Code},
	} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		req.ValidateOnly = true
		req.Topics = []kmsg.CreateTopicsRequestTopic{tc.rt}
		resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
		rt := resp.Topics[0]
		if rt.ErrorCode != tc.want {
			t.Errorf("validate_only %s: error %d, want %d", tc.name, rt.ErrorCode, tc.want)
		}
		if tc.want == 0 && rt.NumPartitions != 4 {
			t.Errorf("validate_only %s: partitions %d, want 4", tc.name, rt.NumPartitions)
		}
		if tc.rt.Topic != "t" {
			if _, err := ts.store.Topic(context.Background(), tc.rt.Topic); !errors.Is(err, metadata.ErrUnknownTopic) {
				t.Errorf("validate_only %s: topic exists afterwards (%v)", tc.name, err)
			}
		}
	}
	// And the same request without validate_only does create it.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.Topics = []kmsg.CreateTopicsRequestTopic{topic("vo", 4, 1, "retention.ms", "1000")}
	if rt := rc.roundTrip(req).(*kmsg.CreateTopicsResponse).Topics[0]; rt.ErrorCode != 0 || rt.TopicID == [16]byte{} {
		t.Fatalf("create vo: %+v", rt)
	}
	if tp, err := ts.store.Topic(context.Background(), "vo"); err != nil || tp.Partitions != 4 || tp.Configs["retention.ms"] != "1000" {
		t.Fatalf("vo after create: %+v, %v", tp, err)
	}
}

// zstdBomb returns one record whose value is valueSize zero bytes, zstd
// compressed (a few KiB), without holding the record in memory.
func zstdBomb(valueSize int) []byte {
	var head []byte
	head = append(head, 0)             // attributes
	head = kbin.AppendVarlong(head, 0) // timestamp delta
	head = kbin.AppendVarint(head, 0)  // offset delta
	head = kbin.AppendVarint(head, -1) // null key
	head = kbin.AppendVarint(head, int32(valueSize))
	tail := kbin.AppendVarint(nil, 0) // no headers
	length := kbin.AppendVarint(nil, int32(len(head)+valueSize+len(tail)))
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic(err)
	}
	zw.Write(length)
	zw.Write(head)
	zeros := make([]byte, 1<<20)
	for left := valueSize; left > 0; left -= len(zeros) {
		zw.Write(zeros[:min(left, len(zeros))])
	}
	zw.Write(tail)
	zw.Close()
	return out.Bytes()
}
