package kafka

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicMetrics: produce and fetch are counted per topic, by name for
// Fetch v12 and by topic ID for v13; a fetch's read time is observed; a
// deleted topic's series go.
func TestTopicMetrics(t *testing.T) {
	ts := startServer(t, Config{})
	tp := ts.createTopic("m", 1, nil)
	ts.createTopic("other", 1, nil)
	rc := ts.dial()
	batch := newBatch(3, 10, nil)
	for i := 0; i < 2; i++ {
		resp := rc.roundTrip(produceReq(9, -1, producePart{"m", 0, batch})).(*kmsg.ProduceResponse)
		if got := producePartResult(t, resp, "m", 0); got.ErrorCode != 0 {
			t.Fatalf("produce: %+v", got)
		}
	}
	m := ts.srv.metrics
	if got := testutil.ToFloat64(m.topicBytesIn.WithLabelValues("m")); got != float64(2*len(batch)) {
		t.Errorf("produce bytes of m = %v, want %d", got, 2*len(batch))
	}
	if got := testutil.ToFloat64(m.topicRecordsIn.WithLabelValues("m")); got != 6 {
		t.Errorf("produce records of m = %v, want 6", got)
	}

	for _, version := range []int16{12, 13} {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		req.ReplicaID = -1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "m", tp.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rc.roundTrip(req).(*kmsg.FetchResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 2*len(batch) {
			t.Fatalf("fetch v%d: error %d, %d bytes", version, p.ErrorCode, len(p.RecordBatches))
		}
	}
	if got := testutil.ToFloat64(m.topicBytesOut.WithLabelValues("m")); got != float64(4*len(batch)) {
		t.Errorf("fetch bytes of m = %v, want %d (two fetches of two batches)", got, 4*len(batch))
	}
	if got := testutil.ToFloat64(m.topicRecordsOut.WithLabelValues("m")); got != 12 {
		t.Errorf("fetch records of m = %v, want 12", got)
	}
	if got := testutil.CollectAndCount(m.topicBytesOut); got != 1 {
		t.Errorf("fetch series for %d topics, want 1 (nothing was read from other)", got)
	}
	var h dto.Metric
	if err := m.fetchReading.Write(&h); err != nil || h.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("fetch read time observed %d times (%v), want once per fetch", h.GetHistogram().GetSampleCount(), err)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 4
	del.TopicNames = []string{"m"}
	if resp := rc.roundTrip(del).(*kmsg.DeleteTopicsResponse); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", resp.Topics[0])
	}
	if got := testutil.CollectAndCount(m.topicBytesIn) + testutil.CollectAndCount(m.topicRecordsOut); got != 0 {
		t.Errorf("%d series left for the deleted topic", got)
	}
}
