package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestTracker(t *testing.T) {
	rec := func(run, prod uint32, ctr uint64) []byte {
		v := make([]byte, HeaderSize)
		binary.BigEndian.PutUint32(v[0:], run)
		binary.BigEndian.PutUint32(v[4:], prod)
		binary.BigEndian.PutUint64(v[8:], ctr)
		return v
	}
	tr := newTracker(7)
	for _, c := range []uint64{0, 1, 3, 3, 200} {
		tr.add(rec(7, 1, c), 0)
	}
	tr.add(rec(8, 1, 0), 0)
	tr.add([]byte("short"), 0)
	if tr.unique != 4 || tr.dups != 1 || tr.other != 1 || tr.foreign != 1 {
		t.Fatalf("unique %d dups %d other %d foreign %d", tr.unique, tr.dups, tr.other, tr.foreign)
	}
	if g := tr.gaps(); g != 201-4 {
		t.Fatalf("gaps = %d, want %d", g, 201-4)
	}
}

func TestSummarize(t *testing.T) {
	var d []int64
	for i := int64(100); i >= 1; i-- {
		d = append(d, i*int64(time.Millisecond))
	}
	l := summarize(d)
	if l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || l.Count != 100 {
		t.Fatalf("%+v", l)
	}
	if summarize(nil) != nil {
		t.Fatal("empty summary")
	}
}

// TestRunsAgainstKfake checks the harness end to end on a tiny workload;
// it asserts correctness checks only, never timings.
func TestRunsAgainstKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{Brokers: c.ListenAddrs(), Topic: "b", Partitions: 3, Producers: 2, RecordSize: 100,
		Records: 500, Acks: "all", Idempotent: true, Linger: time.Millisecond, Drain: 10 * time.Second}
	res, err := Produce(ctx, cfg)
	if err != nil || res.Records != 500 || !res.OK || res.ProduceLatency == nil {
		t.Fatalf("produce: %v %+v", err, res)
	}
	res, err = Consume(ctx, cfg)
	if err != nil || res.Records != 500 || res.Bytes != 500*100 || !res.OK {
		t.Fatalf("consume: %v %+v", err, res)
	}
	// Expecting more records than there are fails the check.
	more := cfg
	more.Records = 501
	if res, err = Consume(ctx, more); !errors.Is(err, ErrCheck) || res.Missing != 1 {
		t.Fatalf("consume of 501: %v %+v", err, res)
	}
	e := cfg
	e.Topic, e.Records, e.Rate = "e", 200, 2000
	res, err = E2E(ctx, e)
	if err != nil || res.Records != 200 || !res.OK || res.E2ELatency == nil || res.E2ELatency.Count != 200 {
		t.Fatalf("e2e: %v %+v", err, res)
	}
}
