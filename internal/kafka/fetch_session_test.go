package kafka

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/topics"
)

type sessionFetch struct {
	version   int16
	id, epoch int32
	parts     []fetchAt
	forget    []fetchAt
	byID      map[string][16]byte // topic IDs, for v13+
}

type fetchAt struct {
	topic     string
	partition int32
	offset    int64
}

func (f sessionFetch) request() *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = f.version
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = f.id, f.epoch
	for _, p := range f.parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.topic, f.byID[p.topic]
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.partition, p.offset, 1<<20
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	for _, p := range f.forget {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = p.topic, f.byID[p.topic], []int32{p.partition}
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// answered lists the response's partitions as "topic/partition:records
// bytes>0" (by ID from v13, named through byID).
func answered(resp *kmsg.FetchResponse, byID map[string][16]byte) []string {
	var out []string
	for _, t := range resp.Topics {
		name := t.Topic
		for n, id := range byID {
			if id == t.TopicID && name == "" {
				name = n
			}
		}
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d:%v", name, p.Partition, len(p.RecordBatches) > 0))
		}
	}
	sort.Strings(out)
	return out
}

func TestFetchSessions(t *testing.T) {
	for _, version := range []int16{12, 13} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			ts := startServer(t, Config{FetchSessionSlots: 2})
			tp := ts.createTopic("s", 2, nil)
			byID := map[string][16]byte{"s": tp.ID}
			rc := ts.dial()
			produce := func(partition int32) {
				t.Helper()
				resp := rc.roundTrip(produceReq(9, -1, producePart{"s", partition, newBatch(3, 10, nil)})).(*kmsg.ProduceResponse)
				if got := producePartResult(t, resp, "s", partition); got.ErrorCode != 0 {
					t.Fatalf("produce: %+v", got)
				}
			}
			fetch := func(f sessionFetch) *kmsg.FetchResponse {
				t.Helper()
				f.version, f.byID = version, byID
				return rc.roundTrip(f.request()).(*kmsg.FetchResponse)
			}
			expect := func(what string, resp *kmsg.FetchResponse, code int16, parts ...string) {
				t.Helper()
				if resp.ErrorCode != code || fmt.Sprint(answered(resp, byID)) != fmt.Sprint(parts) {
					t.Fatalf("%s: error %d, partitions %v; want error %d, partitions %v", what, resp.ErrorCode, answered(resp, byID), code, parts)
				}
			}
			produce(0)

			// A full fetch opens a session and answers every partition.
			resp := fetch(sessionFetch{epoch: 0, parts: []fetchAt{{"s", 0, 0}, {"s", 1, 0}}})
			expect("opening fetch", resp, 0, "s/0:true", "s/1:false")
			id := resp.SessionID
			if id == 0 {
				t.Fatal("no session opened")
			}
			// Nothing new: an incremental fetch answers no partition.
			resp = fetch(sessionFetch{id: id, epoch: 1, parts: []fetchAt{{"s", 0, 3}}})
			expect("incremental, no news", resp, 0)
			if resp.SessionID != id {
				t.Fatalf("session ID %d, want %d", resp.SessionID, id)
			}
			// New data on the partition the client did not mention.
			produce(1)
			expect("incremental, news on s/1", fetch(sessionFetch{id: id, epoch: 2}), 0, "s/1:true")
			// The remembered offset of s/0 (3) is used: new data there.
			produce(0)
			expect("incremental, news on s/0", fetch(sessionFetch{id: id, epoch: 3, parts: []fetchAt{{"s", 1, 3}}}), 0, "s/0:true")

			// Wrong epoch, unknown session.
			expect("repeated epoch", fetch(sessionFetch{id: id, epoch: 3}), kerr.InvalidFetchSessionEpoch.Code)
			expect("unknown session", fetch(sessionFetch{id: id + 1000, epoch: 1}), kerr.FetchSessionIDNotFound.Code)

			// Forgetting s/1: its news is no longer answered.
			expect("forget s/1", fetch(sessionFetch{id: id, epoch: 4, parts: []fetchAt{{"s", 0, 6}}, forget: []fetchAt{{"s", 1, 0}}}), 0)
			produce(1)
			expect("news on a forgotten partition", fetch(sessionFetch{id: id, epoch: 5}), 0)

			// Closing (epoch -1) is a sessionless full fetch; the session is gone.
			resp = fetch(sessionFetch{id: id, epoch: -1, parts: []fetchAt{{"s", 1, 3}}})
			expect("closing fetch", resp, 0, "s/1:true")
			if resp.SessionID != 0 {
				t.Fatalf("closing fetch answered session %d", resp.SessionID)
			}
			expect("closed session", fetch(sessionFetch{id: id, epoch: 6}), kerr.FetchSessionIDNotFound.Code)

			// Two slots: a third session is refused (answered without one)
			// while the other two are in use.
			a := fetch(sessionFetch{epoch: 0, parts: []fetchAt{{"s", 0, 0}}}).SessionID
			b := fetch(sessionFetch{epoch: 0, parts: []fetchAt{{"s", 0, 0}}}).SessionID
			c := fetch(sessionFetch{epoch: 0, parts: []fetchAt{{"s", 0, 0}}}).SessionID
			if a == 0 || b == 0 || a == b || c != 0 {
				t.Fatalf("sessions %d, %d, %d; want two distinct and then none", a, b, c)
			}
		})
	}
}

// A full cache evicts a session idle for two minutes for a new one.
func TestFetchSessionEviction(t *testing.T) {
	c := newFetchSessions(1, nil)
	now := c.now()
	c.now = func() time.Time { return now }
	open := func() int32 {
		p, code := c.plan(12, &kmsg.FetchRequest{SessionEpoch: 0})
		if code != 0 {
			t.Fatal(code)
		}
		if p.session == nil {
			return 0
		}
		return p.session.id
	}
	first := open()
	if first == 0 || open() != 0 {
		t.Fatal("a second session fit in one slot")
	}
	now = now.Add(sessionEvictIdle)
	second := open()
	if second == 0 || second == first || c.len() != 1 {
		t.Fatalf("after two idle minutes: session %d (first %d), %d sessions", second, first, c.len())
	}
	if _, code := c.plan(12, &kmsg.FetchRequest{SessionID: first, SessionEpoch: 1}); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session answered code %d", code)
	}
}

// BenchmarkFetchSession1000 fetches 1,000 partitions with nothing new, as a
// caught-up consumer does between records: with full fetches (no session)
// and with incremental fetches of an open session. It reports the request
// and response bytes each fetch puts on the wire; ns/op is the agent's
// time to decode nothing and answer (read every partition, encode).
func BenchmarkFetchSession1000(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateTopic(ctx, "many", 1000, nil); err != nil {
		b.Fatal(err)
	}
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	reader := fetch.NewReader(store, bucket, nil)
	defer reader.Close()
	s := NewServer(Config{FetchSessionSlots: 10}, Deps{Topics: topics.NewCache(store, time.Minute), Log: store, Reader: reader,
		Transactions: store, Notifier: fetch.NewNotifier(), Logger: discardLogger()})
	var parts []fetchAt
	for p := int32(0); p < 1000; p++ {
		parts = append(parts, fetchAt{"many", p, 0})
	}
	for _, mode := range []string{"full", "incremental"} {
		b.Run(mode, func(b *testing.B) {
			f := sessionFetch{version: 12, epoch: -1, parts: parts}
			if mode == "incremental" {
				f.epoch = 0
				m := f.request()
				resp := s.fetch(ctx, &request{key: m.Key(), version: m.Version, msg: m}, m).(*fetchResponse)
				f = sessionFetch{version: 12, id: resp.SessionID, epoch: 1}
			}
			var reqBytes, respBytes int
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				m := f.request()
				reqBytes += len(encodeRequest(m, 1))
				req := &request{key: m.Key(), version: m.Version, msg: m}
				resp := s.fetch(ctx, req, m)
				if code := resp.(*fetchResponse).ErrorCode; code != 0 {
					b.Fatalf("fetch: error %d", code)
				}
				buf, err = appendResponse(buf[:0], req, resp, nil)
				if err != nil {
					b.Fatal(err)
				}
				respBytes += len(buf)
				if mode == "incremental" {
					f.epoch++
				}
			}
			b.ReportMetric(float64(reqBytes)/float64(b.N), "req-bytes/op")
			b.ReportMetric(float64(respBytes)/float64(b.N), "resp-bytes/op")
		})
	}
}
