package txn

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// owners is a fixed ownership: this agent owns every key but "elsewhere".
type owners struct{}

func (owners) Self() cluster.Broker { return cluster.Broker{NodeID: 1} }
func (owners) Owner(key string) cluster.Broker {
	if key == "elsewhere" {
		return cluster.Broker{NodeID: 2}
	}
	return cluster.Broker{NodeID: 1}
}

type env struct {
	store  *sqlite.Store
	writer *produce.Batcher
	topic  metadata.Topic
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	w := produce.New(produce.Config{BatchTimeout: 2 * time.Millisecond}, store, bucket, nil, nil, nil)
	t.Cleanup(func() { w.Close(context.Background()) })
	tp, err := store.CreateTopic(ctx, "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: store, writer: w, topic: tp}
}

func (e *env) coordinator() *Coordinator {
	return New(Config{MaxTimeout: time.Minute}, e.store, e.writer, owners{}, nil, nil)
}

func (e *env) parts(ps ...int32) []TxnPartition {
	var out []TxnPartition
	for _, p := range ps {
		out = append(out, TxnPartition{Topic: e.topic.Name, TopicID: e.topic.ID, Partition: p})
	}
	return out
}

// write commits one transactional data batch of the producer on partition.
func (e *env) write(t *testing.T, pid int64, epoch int16, partition int32, seq int32) metadata.BatchResult {
	t.Helper()
	res, err := e.store.CommitFile(context.Background(), metadata.FileCommit{Key: t.Name() + time.Now().String(), Size: 10,
		Batches: []metadata.BatchCommit{{TopicID: e.topic.ID, Partition: partition, ByteLength: 10, Records: 2,
			Producer: &metadata.ProducerBatch{ID: pid, Epoch: epoch, FirstSequence: seq}, Transactional: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func TestInitProducerIDEpochs(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "a", time.Second, -1, -1)
	if err != nil || epoch != 0 {
		t.Fatalf("new id = %d/%d, %v", pid, epoch, err)
	}
	if p, ep, err := c.InitProducerID(ctx, "a", time.Second, -1, -1); err != nil || p != pid || ep != 1 {
		t.Fatalf("second init = %d/%d, %v; want %d/1", p, ep, err, pid)
	}
	// KIP-360: the current epoch bumps; the previous one (a retry) gets
	// the current; anything older is fenced.
	if p, ep, err := c.InitProducerID(ctx, "a", time.Second, pid, 1); err != nil || p != pid || ep != 2 {
		t.Fatalf("init with current epoch = %d/%d, %v; want %d/2", p, ep, err, pid)
	}
	if p, ep, err := c.InitProducerID(ctx, "a", time.Second, pid, 1); err != nil || p != pid || ep != 2 {
		t.Fatalf("retried init = %d/%d, %v; want %d/2", p, ep, err, pid)
	}
	if _, _, err := c.InitProducerID(ctx, "a", time.Second, pid, 0); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("stale epoch = %v, want PRODUCER_FENCED", err)
	}
	if _, _, err := c.InitProducerID(ctx, "a", 2*time.Minute, -1, -1); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Fatalf("long timeout = %v", err)
	}
	if _, _, err := c.InitProducerID(ctx, "elsewhere", time.Second, -1, -1); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("not owned = %v", err)
	}
}

func TestEndTxnRules(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, epoch, _ := c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err := c.EndTxn(ctx, "a", pid, epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("end with nothing ongoing = %v", err)
	}
	if err := c.AddPartitions(ctx, "a", pid+1, epoch, e.parts(0)); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("wrong producer id = %v", err)
	}
	if err := c.AddPartitions(ctx, "a", pid, epoch+1, e.parts(0)); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("wrong epoch = %v", err)
	}
	if err := c.AddPartitions(ctx, "a", pid, epoch, e.parts(0, 1)); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, pid, epoch, 0, 0); r.Err != nil {
		t.Fatal(r.Err)
	}
	st, _ := e.store.StableState(ctx, e.topic.ID, 0, 0)
	if st.LastStableOffset != 0 || st.HighWatermark != 2 {
		t.Fatalf("open: %+v", st)
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		st, _ := e.store.StableState(ctx, e.topic.ID, p, 0)
		if want := int64(3 - 2*p); st.HighWatermark != want || st.LastStableOffset != want || len(st.Aborted) != 0 {
			t.Fatalf("partition %d after commit: %+v, want hwm = lso = %d (data and marker)", p, st, want)
		}
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatalf("retried commit = %v", err)
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("abort after commit = %v", err)
	}
	// A write after the commit, without adding the partition again, is refused.
	if r := e.write(t, pid, epoch, 0, 2); !errors.Is(r.Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("write outside a transaction = %+v", r)
	}
}

// TestSweepCompletesPrepared plays a coordinator that died after persisting
// PrepareCommit / PrepareAbort and before writing markers: another
// coordinator's sweep must write them and complete both.
func TestSweepCompletesPrepared(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dead := e.coordinator()
	for i, id := range []string{"commits", "aborts"} {
		pid, epoch, err := dead.InitProducerID(ctx, id, time.Minute, -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := dead.AddPartitions(ctx, id, pid, epoch, e.parts(int32(i))); err != nil {
			t.Fatal(err)
		}
		if r := e.write(t, pid, epoch, int32(i), 0); r.Err != nil {
			t.Fatal(r.Err)
		}
		tx, _ := e.store.Transaction(ctx, id)
		tx.State = metadata.TxnPrepareCommit
		if i == 1 {
			tx.State = metadata.TxnPrepareAbort
		}
		if _, err := e.store.SaveTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	c := e.coordinator()
	c.Sweep(ctx)
	if n := promtest.ToFloat64(c.metrics.recovered); n != 2 {
		t.Errorf("sluice_txn_recovered_total = %v, want 2", n)
	}
	for i, id := range []string{"commits", "aborts"} {
		tx, _ := e.store.Transaction(ctx, id)
		st, _ := e.store.StableState(ctx, e.topic.ID, int32(i), 0)
		if st.HighWatermark != 3 || st.LastStableOffset != 3 {
			t.Fatalf("%s: %+v, want the marker at 2 and lso 3", id, st)
		}
		switch {
		case i == 0 && (tx.State != metadata.TxnCompleteCommit || len(st.Aborted) != 0):
			t.Fatalf("commits: %+v, aborted %+v", tx, st.Aborted)
		case i == 1 && (tx.State != metadata.TxnCompleteAbort || len(st.Aborted) != 1 || st.Aborted[0].FirstOffset != 0 || st.Aborted[0].LastOffset != 2):
			t.Fatalf("aborts: %+v, aborted %+v", tx, st.Aborted)
		}
	}
}

func TestSweepAbortsTimedOut(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.coordinator()
	pid, epoch, _ := c.InitProducerID(ctx, "slow", 2*time.Second, -1, -1)
	if err := c.AddPartitions(ctx, "slow", pid, epoch, e.parts(1)); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, pid, epoch, 1, 0); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.Sweep(ctx)
	if tx, _ := e.store.Transaction(ctx, "slow"); tx.State != metadata.TxnOngoing {
		t.Fatalf("aborted before its timeout: %+v", tx)
	}
	time.Sleep(2100 * time.Millisecond)
	c.Sweep(ctx)
	tx, _ := e.store.Transaction(ctx, "slow")
	if tx.State != metadata.TxnCompleteAbort || tx.ProducerEpoch != epoch+1 || tx.LastProducerEpoch != epoch {
		t.Fatalf("after timeout: %+v", tx)
	}
	if n := promtest.ToFloat64(c.metrics.timeouts); n != 1 {
		t.Errorf("sluice_txn_timeouts_total = %v, want 1", n)
	}
	// The old epoch is fenced everywhere: coordinator and partition.
	if err := c.EndTxn(ctx, "slow", pid, epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("commit with the old epoch = %v", err)
	}
	if r := e.write(t, pid, epoch, 1, 1); !errors.Is(r.Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("write with the old epoch = %+v", r)
	}
	// KIP-360 recovery with the old epoch gets the bumped one.
	if p, ep, err := c.InitProducerID(ctx, "slow", time.Second, pid, epoch); err != nil || p != pid || ep != epoch+1 {
		t.Fatalf("recovery = %d/%d, %v", p, ep, err)
	}
}
