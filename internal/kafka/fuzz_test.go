package kafka

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/segment"
)

// sampleRequest returns a request of the given key and version with its
// interesting fields filled, for seeding the decoder fuzzer.
func sampleRequest(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	switch m := req.(type) {
	case *kmsg.ProduceRequest:
		m.Acks = -1
		m.TimeoutMillis = 1000
		if version%2 == 0 {
			m.TransactionID = kmsg.StringPtr("txn")
		}
		t := kmsg.NewProduceRequestTopic()
		t.Topic = "topic"
		t.TopicID = [16]byte{1}
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = newBatch(int(p)+1, 8, nil)
			t.Partitions = append(t.Partitions, rp)
		}
		m.Topics = append(m.Topics, t)
	case *kmsg.FetchRequest:
		*m = *fetchReq(version, "topic", 1, 42)
		m.SessionID, m.SessionEpoch = 3, 4
		m.Rack = "rack"
		m.Topics[0].TopicID = [16]byte{2}
		m.ClusterID = kmsg.StringPtr("cluster")
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic = "old"
		ft.Partitions = []int32{0, 1}
		m.ForgottenTopics = append(m.ForgottenTopics, ft)
	case *kmsg.ListOffsetsRequest:
		m.ReplicaID = -1
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = "topic"
		for _, ts := range []int64{-2, -1, 1234} {
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = ts
			t.Partitions = append(t.Partitions, p)
		}
		m.Topics = append(m.Topics, t)
	case *kmsg.MetadataRequest:
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr("topic")
		t.TopicID = [16]byte{3}
		m.Topics = append(m.Topics, t)
		m.AllowAutoTopicCreation = true
		m.IncludeTopicAuthorizedOperations = true
	case *kmsg.ApiVersionsRequest:
		m.ClientSoftwareName = "fuzz"
		m.ClientSoftwareVersion = "1.0"
	case *kmsg.CreateTopicsRequest:
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = "new"
		t.NumPartitions = 3
		t.ReplicationFactor = -1
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = "retention.ms"
		c.Value = kmsg.StringPtr("1000")
		t.Configs = append(t.Configs, c)
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Replicas = []int32{1}
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
		m.Topics = append(m.Topics, t)
		m.ValidateOnly = true
	case *kmsg.DeleteTopicsRequest:
		m.TopicNames = []string{"a", "b"}
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = kmsg.StringPtr("a")
		t.TopicID = [16]byte{4}
		m.Topics = append(m.Topics, t)
	}
	return req
}

// requestBody encodes req as a frame without its size prefix, which is what
// decode sees.
func requestBody(req kmsg.Request, corr int32) []byte {
	return encodeRequest(req, corr)[4:]
}

func FuzzDecode(f *testing.F) {
	keys := make([]int16, 0, len(supported))
	for k := range supported {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r := supported[k]
		for v := r.min - 1; v <= r.max+1; v++ {
			if v < 0 {
				continue
			}
			body := requestBody(sampleRequest(k, v), int32(v))
			f.Add(body)
			f.Add(body[:len(body)*2/3]) // truncated
		}
	}
	// Unsupported keys, a header tag section, bare and broken headers.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 6
	f.Add(requestBody(join, 1))
	f.Add(append(header(18, 3, 7, "c"), 1, 0, 2, 'a', 'b', 1, 1, 0)) // one header tag, then an empty v3 body
	f.Add(append(header(18, 3, 7, "c"), 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Add(header(18, 99, 1, ""))
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 1, 0, 1, 'x'})
	f.Add([]byte{})
	f.Add(hugeTagCount())

	s := NewServer(Config{}, Deps{Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, early, err := s.decode(body)
		if err != nil {
			if req != nil || early != nil {
				t.Fatalf("decode returned an error and a request (%+v, %v)", req, early)
			}
			return
		}
		if req == nil {
			t.Fatal("decode returned neither a request nor an error")
		}
		api, ok := supported[req.key]
		if !ok {
			t.Fatalf("decode accepted unsupported key %d", req.key)
		}
		inRange := req.version >= api.min && req.version <= api.max
		if early != nil {
			// Only ApiVersions of an unknown version gets the fallback.
			av, isAV := early.(*kmsg.ApiVersionsResponse)
			if req.key != apiVersionsKey || inRange || !isAV || av.Version != 0 || av.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Fatalf("early response %T for key %d v%d", early, req.key, req.version)
			}
			appendResponse(nil, req, early)
			return
		}
		if !inRange || req.msg == nil || req.msg.Key() != req.key || req.msg.GetVersion() != req.version {
			t.Fatalf("decoded key %d v%d (supported %v) into %T", req.key, req.version, api, req.msg)
		}
	})
}

// fixBatch sets raw's length field to its size and recomputes its CRC, so
// mutations reach the checks behind them.
func fixBatch(raw []byte) []byte {
	if len(raw) < segment.BatchHeaderSize {
		return raw
	}
	raw = slices.Clone(raw)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	return fixCRC(raw)
}

func FuzzValidateBatch(f *testing.F) {
	f.Add(newBatch(1, 10, nil))
	f.Add(newBatch(3, 0, nil))
	f.Add(newBatch(2, 100, func(b *kmsg.RecordBatch) {
		var recs []byte
		for i := 0; i < 2; i++ { // null key, null value, no headers
			body := kbin.AppendInt8(nil, 0)
			body = kbin.AppendVarlong(body, int64(i))
			body = kbin.AppendVarint(body, int32(i))
			body = kbin.AppendVarint(body, -1)
			body = kbin.AppendVarint(body, -1)
			body = kbin.AppendVarint(body, 0)
			recs = append(kbin.AppendVarint(recs, int32(len(body))), body...)
		}
		b.Records = recs
	}))
	for _, c := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		f.Add(compressedBatch(3, c))
	}
	good := newBatch(2, 5, nil)
	f.Add(good[:len(good)-1])
	f.Add(append(slices.Clone(good), good...))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = 0x20 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.ProducerID = 1 }))
	f.Add(newBatch(2, 1, func(b *kmsg.RecordBatch) { b.ProducerID, b.ProducerEpoch, b.FirstSequence = 1, 0, 0 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Magic = 1 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Records = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 1} }))
	f.Add(make([]byte, segment.BatchHeaderSize))
	f.Add([]byte{})

	// Inputs that decompress to the production bound (128 MiB) take a
	// second each and stall the fuzzer; the bound itself is tested in
	// TestProduceBadBatches.
	defer func(n int) { maxDecompressedBatch = n }(maxDecompressedBatch)
	maxDecompressedBatch = 1 << 20
	known := map[int16]bool{
		kerr.CorruptMessage.Code: true, kerr.InvalidRecord.Code: true, kerr.MessageTooLarge.Code: true,
		kerr.UnknownProducerID.Code: true, kerr.InvalidTxnState.Code: true,
	}
	check := func(t *testing.T, raw []byte) {
		orig := slices.Clone(raw)
		info, code, err := validateBatch(raw)
		if !bytes.Equal(raw, orig) {
			t.Fatal("validateBatch modified its input")
		}
		if code != 0 {
			if err == nil || !known[code] {
				t.Fatalf("refused with code %d, err %v", code, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("accepted with error %v", err)
		}
		// An accepted batch is exactly one batch the segment and read
		// paths can split, index, patch and return.
		batch, rest, err := segment.NextBatch(raw)
		if err != nil || len(rest) != 0 || len(batch) != len(raw) {
			t.Fatalf("accepted batch does not split cleanly: %v, %d rest, %d of %d bytes", err, len(rest), len(batch), len(raw))
		}
		if info.Records < 1 || info.Records != segment.BatchOffsets(raw) {
			t.Fatalf("info.Records %d, batch spans %d offsets", info.Records, segment.BatchOffsets(raw))
		}
		var hdr kmsg.RecordBatch
		if err := hdr.ReadFrom(raw); err != nil {
			t.Fatalf("accepted batch does not decode: %v", err)
		}
		if info.MaxTimestamp != segment.BatchMaxTimestamp(raw) || info.MinTimestamp != hdr.FirstTimestamp ||
			info.ProducerID != hdr.ProducerID || info.ProducerEpoch != hdr.ProducerEpoch || info.FirstSequence != hdr.FirstSequence ||
			info.Transactional != (hdr.Attributes&0x10 != 0) || hdr.Magic != 2 || hdr.Attributes&0x20 != 0 {
			t.Fatalf("info %+v disagrees with the batch header %+v", info, hdr)
		}
		if info.ProducerID >= 0 && (info.ProducerEpoch < 0 || info.FirstSequence < 0) {
			t.Fatalf("accepted producer %d with epoch %d, sequence %d", info.ProducerID, info.ProducerEpoch, info.FirstSequence)
		}
		var w segment.Writer
		w.Add([16]byte{9}, 3, raw, info)
		file, entries := w.Finish()
		parsed, err := segment.Parse(file)
		if err != nil || len(entries) != 1 || entries[0].Records != info.Records {
			t.Fatalf("segment round trip: %v, entries %+v", err, entries)
		}
		chunk := slices.Clone(parsed.Chunk(0))
		if !bytes.Equal(chunk, raw) {
			t.Fatal("segment chunk differs from the batch")
		}
		end, err := segment.PatchBaseOffsets(chunk, 1000)
		if err != nil || end != 1000+info.Records {
			t.Fatalf("PatchBaseOffsets = %d, %v; want %d", end, err, 1000+info.Records)
		}
		if binary.BigEndian.Uint64(chunk) != 1000 || crc32.Checksum(chunk[21:], testCRCTable) != binary.BigEndian.Uint32(chunk[17:]) {
			t.Fatal("patched batch has a wrong base offset or CRC")
		}
		// Patching the base offset and epoch does not change the verdict.
		info2, code2, err2 := validateBatch(chunk)
		if code2 != 0 || info2 != info {
			t.Fatalf("patched batch: code %d, %v, info %+v (was %+v)", code2, err2, info2, info)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		check(t, raw)
		check(t, fixBatch(raw))
	})
}

// hugeTagCount is an ApiVersions v3 request whose body ends in a tag section
// claiming 2^32-1 tagged fields and holding none.
func hugeTagCount() []byte {
	b := append(header(18, 3, 1, "c"), 0) // request header v2: no header tags
	b = append(b, 1, 1)                   // client software name and version: ""
	return append(b, 0xff, 0xff, 0xff, 0xff, 0x0f)
}

// A truncated tag section must be refused at once, not after counting down
// the tag count it claims (kmsg's tag loops did not stop when the reader ran
// out, so this frame cost seconds of CPU per request).
func TestDecodeHugeTagCountIsCheap(t *testing.T) {
	s := NewServer(Config{}, Deps{Logger: discardLogger()})
	start := time.Now()
	_, _, err := s.decode(hugeTagCount())
	if took := time.Since(start); took > time.Second {
		t.Fatalf("decode took %v", took)
	}
	if err == nil {
		t.Fatal("decode accepted a truncated tag section")
	}
}
