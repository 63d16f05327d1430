package kafka

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/records"
)

// TestDo answers requests in-process through the handlers: the same
// validation as on a connection, and fetch responses finished as a client
// would read them.
func TestDo(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	do := func(msg kmsg.Request, v int16) kmsg.Response {
		t.Helper()
		msg.SetVersion(v)
		resp, err := ts.srv.Do(ctx, auth.Anonymous, "test", msg)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "in process", 1, -1
	create.Topics = append(create.Topics, rt)
	if r := do(create, 7).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("bad name: code %d", r.Topics[0].ErrorCode)
	}
	create.Topics[0].Topic = "inproc"
	if r := do(create, 7).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: code %d", r.Topics[0].ErrorCode)
	}

	// Produce one batch, then fetch it back.
	rec := kmsg.Record{Value: []byte("hello")}
	body := rec.AppendTo(nil)
	rec.Length = int32(len(body) - 1)
	body = rec.AppendTo(nil)
	batch := kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: body}
	raw := batch.AppendTo(nil)
	batch.Length = int32(len(raw) - 12)
	raw = batch.AppendTo(nil)
	records.SetCRC(raw)
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = -1, 10000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "inproc"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = raw
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	if r := do(produce, 9).(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: code %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxBytes, fetch.SessionEpoch = -1, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "inproc"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LastFetchedEpoch = 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	r, ok := do(fetch, 12).(*kmsg.FetchResponse)
	if !ok {
		t.Fatal("fetch answered a response of another type")
	}
	if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 1 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch: %+v", p)
	}

	// Requests the agent does not serve are refused, not dispatched.
	v := kmsg.NewPtrApiVersionsRequest()
	if _, err := ts.srv.Do(ctx, auth.Anonymous, "test", v); err == nil {
		t.Fatal("ApiVersions answered in-process")
	}
	old := kmsg.NewPtrCreateTopicsRequest()
	old.SetVersion(0)
	if _, err := ts.srv.Do(ctx, auth.Anonymous, "test", old); err == nil || errors.Is(err, ErrHandlerFailed) {
		t.Fatalf("CreateTopics v0: %v", err)
	}
}

// TestDoAudits records a change made in-process as a connection's: one
// audit event per resource, with the caller's principal and client ID.
func TestDoAudits(t *testing.T) {
	rec := &recordingEmitter{}
	ts := startServerDeps(t, Config{}, nil, func(d *Deps) { d.Events = rec })
	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "audited", 1, -1
	create.Topics = append(create.Topics, rt)
	create.SetVersion(7)
	if _, err := ts.srv.Do(context.Background(), auth.User("carol"), "sluice-console", create); err != nil {
		t.Fatal(err)
	}
	got := rec.take(events.TypeTopicCreated)
	if len(got) != 1 {
		t.Fatalf("%d topic.created events, want 1", len(got))
	}
	d, ok := got[0].Data.(events.AdminData)
	if !ok || d.Principal != "User:carol" || d.ClientID != "sluice-console" || d.RemoteAddr != "in-process" || d.Resource != "audited" || d.Status != "SUCCESS" {
		t.Fatalf("audit event %+v", got[0].Data)
	}
}
