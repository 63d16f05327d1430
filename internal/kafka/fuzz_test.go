package kafka

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
			appendResponse(nil, req, early, nil)
			return
		}
		if !inRange || req.msg == nil || req.msg.Key() != req.key || req.msg.GetVersion() != req.version {
			t.Fatalf("decoded key %d v%d (supported %v) into %T", req.key, req.version, api, req.msg)
		}
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
