// Package txn is the transaction coordinator: InitProducerId for
// transactional IDs, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, and the
// aborting of transactions that outlive their timeout.
//
// Each transactional ID is coordinated by the live agent rendezvous hashing
// picks (as consumer groups are); requests for IDs another agent owns get
// NOT_COORDINATOR. The state lives only in the metadata store
// (metadata.Transactions), never in memory: every step loads it, and every
// write is conditional on the version it loaded, so two agents that both
// believe they own an ID (during a membership change) can never both move
// its transaction on: the loser gets metadata.ErrTxnVersion and the client
// a retriable error. This replaces the groups package's claim epochs with
// something simpler that gives the same guarantee, because a transaction
// has no in-memory state (members, timers) worth keeping between requests.
//
// Ending a transaction: EndTxn persists PrepareCommit or PrepareAbort, then
// writes one marker (control batch) per partition of the transaction
// through the normal write path (the commit of the marker's file closes the
// transaction on that partition in the store's index, recording aborted
// ranges), then CompleteTransaction moves the state to CompleteCommit or
// CompleteAbort and applies or drops the staged offsets atomically. Every
// step can be redone: a coordinator that finds a PrepareX state (after a
// failed marker write, or after another agent died mid-way) writes the
// markers again (a second marker on a partition is harmless: it closes
// nothing) and completes.
//
// Errors returned are kerr values, the protocol's own vocabulary.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

// Config holds the coordinator's limits, with Kafka's names in comments.
type Config struct {
	// MaxTimeout is the longest transaction timeout a producer may ask
	// for (transaction.max.timeout.ms).
	MaxTimeout time.Duration
	// CheckInterval is how often timed-out transactions are aborted and
	// stuck PrepareCommit/PrepareAbort ones completed
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	CheckInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = time.Second
	}
}

// Store is what the coordinator needs from the metadata store.
type Store interface {
	metadata.Transactions
	AllocateProducerID(ctx context.Context) (int64, error)
}

// Writer is the write path markers go through (produce.Batcher).
type Writer interface {
	Submit(ctx context.Context, batches []produce.Batch) (*produce.Pending, error)
}

// Owners says which agent owns a key.
type Owners interface {
	Self() cluster.Broker
	Owner(key string) cluster.Broker
}

// Coordinator coordinates the transactional IDs this agent owns.
type Coordinator struct {
	cfg     Config
	store   Store
	writer  Writer
	owners  Owners
	logger  *slog.Logger
	metrics *Metrics

	mu    sync.Mutex // guards locks
	locks map[string]*idLock
}

// idLock serialises this agent's work on one transactional ID; refs counts
// the holders and waiters so the entry can be dropped when unused.
type idLock struct {
	ch   chan struct{} // holds one token when free
	refs int
}

// New returns a Coordinator; call Run to abort timed-out transactions.
func New(cfg Config, store Store, writer Writer, owners Owners, m *Metrics, logger *slog.Logger) *Coordinator {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Coordinator{cfg: cfg, store: store, writer: writer, owners: owners, metrics: m, logger: logger, locks: map[string]*idLock{}}
}

// Owner returns the agent that coordinates a transactional ID.
func (c *Coordinator) Owner(id string) cluster.Broker { return c.owners.Owner(id) }

func (c *Coordinator) owns(id string) bool {
	return c.owners.Owner(id).NodeID == c.owners.Self().NodeID
}

// lock takes id's lock, honouring ctx, and returns its release.
func (c *Coordinator) lock(ctx context.Context, id string) (func(), error) {
	c.mu.Lock()
	l := c.locks[id]
	if l == nil {
		l = &idLock{ch: make(chan struct{}, 1)}
		l.ch <- struct{}{}
		c.locks[id] = l
	}
	l.refs++
	c.mu.Unlock()
	release := func() {
		c.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.locks, id)
		}
		c.mu.Unlock()
	}
	select {
	case <-l.ch:
		return func() { l.ch <- struct{}{}; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// begin checks ownership and takes id's lock.
func (c *Coordinator) begin(ctx context.Context, id string) (func(), error) {
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	if !c.owns(id) {
		return nil, kerr.NotCoordinator
	}
	unlock, err := c.lock(ctx, id)
	if err != nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	return unlock, nil
}

// storeErr maps a store failure to a retriable protocol error.
func (c *Coordinator) storeErr(id string, err error) error {
	if errors.Is(err, metadata.ErrTxnVersion) {
		// Another agent (or a request that raced us) moved the
		// transaction: the client retries and sees the new state.
		return kerr.ConcurrentTransactions
	}
	c.logger.Warn("transaction store", "transactional_id", id, "err", err)
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
}

// load reads id's transaction, completing it first if a previous
// coordinator left it in PrepareCommit or PrepareAbort. found is false for
// IDs the store has never seen.
func (c *Coordinator) load(ctx context.Context, id string) (t metadata.Transaction, found bool, err error) {
	t, err = c.store.Transaction(ctx, id)
	if errors.Is(err, metadata.ErrNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, c.storeErr(id, err)
	}
	if t.State == metadata.TxnPrepareCommit || t.State == metadata.TxnPrepareAbort {
		c.logger.Info("completing interrupted transaction", "transactional_id", id, "state", t.State)
		c.metrics.recovered.Inc()
		if t, err = c.finish(ctx, t); err != nil {
			return t, true, err
		}
	}
	// A coordinator that died between completing an exhausted-epoch
	// transaction and moving it to a new producer ID left it here.
	if t, err = c.rotate(ctx, t); err != nil {
		return t, true, err
	}
	return t, true, nil
}

// finish writes the markers of a PrepareCommit/PrepareAbort transaction
// and completes it.
func (c *Coordinator) finish(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	commit := t.State == metadata.TxnPrepareCommit
	if err := c.writeMarkers(ctx, t, commit); err != nil {
		c.logger.Warn("transaction markers", "transactional_id", t.ID, "commit", commit, "err", err)
		c.metrics.markerErrors.Inc()
		return t, kerr.ConcurrentTransactions
	}
	done, err := c.store.CompleteTransaction(ctx, t, commit)
	if err != nil {
		return t, c.storeErr(t.ID, err)
	}
	c.logger.Debug("transaction completed", "transactional_id", t.ID, "state", done.State, "partitions", len(t.Partitions))
	result := "abort"
	if commit {
		result = "commit"
	}
	c.metrics.ended.WithLabelValues(result).Inc()
	return c.rotate(ctx, done)
}

// writeMarkers writes a marker to every partition of t, in one file, and
// waits for its commit. Partitions of deleted topics are skipped.
func (c *Coordinator) writeMarkers(ctx context.Context, t metadata.Transaction, commit bool) error {
	if len(t.Partitions) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	data := records.MarkerBatch(t.ProducerID, t.ProducerEpoch, commit, 0, now)
	info, err := records.InfoOf(data)
	if err != nil {
		return err
	}
	batches := make([]produce.Batch, len(t.Partitions))
	for i, p := range t.Partitions {
		batches[i] = produce.Batch{Topic: p.TopicID, Partition: p.Partition, Data: data, Info: info,
			Marker: &metadata.TxnMarker{ProducerID: t.ProducerID, Epoch: t.ProducerEpoch, Commit: commit}}
	}
	pending, err := c.writer.Submit(ctx, batches)
	if err != nil {
		return err
	}
	results, err := pending.Wait(ctx)
	if err != nil {
		return err
	}
	for i, r := range results {
		if r.Err != nil && !errors.Is(r.Err, metadata.ErrUnknownTopic) && !errors.Is(r.Err, metadata.ErrUnknownPartition) {
			return fmt.Errorf("marker for %s/%d: %w", t.Partitions[i].Topic, t.Partitions[i].Partition, r.Err)
		}
	}
	return nil
}

// checkProducer applies Kafka's producer checks of AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn.
func checkProducer(t metadata.Transaction, found bool, producerID int64, epoch int16) error {
	switch {
	case !found || t.ProducerID != producerID:
		return kerr.InvalidProducerIDMapping
	case epoch != t.ProducerEpoch:
		return kerr.ProducerFenced
	}
	return nil
}

// InitProducerID handles InitProducerId for a transactional ID: a new ID
// gets a fresh producer ID at epoch 0; a known one has its open
// transaction aborted (or a prepared one completed) and its epoch bumped,
// which fences the previous producer. expectedID and expectedEpoch (-1 for
// none) are KIP-360's: a producer recovering after an error names what it
// had, and only the current (or, for a retry, the previous) ID and epoch
// are accepted.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeout time.Duration, expectedID int64, expectedEpoch int16) (int64, int16, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	unlock, err := c.begin(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	defer unlock()
	t, found, err := c.load(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	if !found {
		pid, err := c.store.AllocateProducerID(ctx)
		if err != nil {
			return -1, -1, c.storeErr(id, err)
		}
		t = metadata.Transaction{ID: id, ProducerID: pid, LastProducerID: -1, LastProducerEpoch: -1,
			TimeoutMs: int32(timeout / time.Millisecond), State: metadata.TxnEmpty}
		if _, err := c.store.SaveTransaction(ctx, t); err != nil {
			return -1, -1, c.storeErr(id, err)
		}
		return pid, 0, nil
	}
	if expectedID >= 0 {
		switch {
		case expectedID == t.ProducerID && expectedEpoch == t.ProducerEpoch:
		case (expectedID == t.ProducerID || expectedID == t.LastProducerID) && expectedEpoch == t.LastProducerEpoch && t.State != metadata.TxnOngoing:
			// A retry of a bump whose answer was lost, or a producer
			// recovering after its transaction timed out (the abort
			// bumped the epoch): the current ID and epoch are its own.
			return t.ProducerID, t.ProducerEpoch, nil
		default:
			return -1, -1, kerr.ProducerFenced
		}
	}
	if t.State == metadata.TxnOngoing {
		if t, err = c.abortBumped(ctx, t); err != nil {
			return -1, -1, err
		}
	}
	t.LastProducerID, t.LastProducerEpoch = t.ProducerID, t.ProducerEpoch
	if t.ProducerEpoch >= math.MaxInt16-1 {
		pid, err := c.store.AllocateProducerID(ctx)
		if err != nil {
			return -1, -1, c.storeErr(id, err)
		}
		t.ProducerID, t.ProducerEpoch = pid, 0
	} else {
		t.ProducerEpoch++
	}
	t.State = metadata.TxnEmpty
	t.TimeoutMs = int32(timeout / time.Millisecond)
	t.Partitions, t.Groups, t.StartedAt = nil, nil, time.Time{}
	if t, err = c.store.SaveTransaction(ctx, t); err != nil {
		return -1, -1, c.storeErr(id, err)
	}
	return t.ProducerID, t.ProducerEpoch, nil
}

// abortBumped aborts an ongoing transaction with the epoch bumped, as
// Kafka fences a producer whose transaction is aborted behind its back
// (timeout, or a new InitProducerId): the markers carry the new epoch, so
// the old producer's further writes are refused on every partition it
// touched. The previous epoch is remembered for KIP-360 recovery.
func (c *Coordinator) abortBumped(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	if t.ProducerEpoch < math.MaxInt16-1 {
		t.LastProducerID, t.LastProducerEpoch = t.ProducerID, t.ProducerEpoch
		t.ProducerEpoch++
	}
	t.State = metadata.TxnPrepareAbort
	t, err := c.store.SaveTransaction(ctx, t)
	if err != nil {
		return t, c.storeErr(t.ID, err)
	}
	return c.finish(ctx, t)
}

// TxnPartition names a partition to add to a transaction.
type TxnPartition = metadata.TxnPartition

// AddPartitions handles AddPartitionsToTxn (v0-v3): the partitions join the
// producer's transaction, starting it if none is ongoing.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, producerID int64, epoch int16, parts []TxnPartition) error {
	return c.add(ctx, id, producerID, epoch, func(t *metadata.Transaction) bool {
		changed := false
		for _, p := range parts {
			if !t.HasPartition(p.TopicID, p.Partition) {
				t.Partitions = append(t.Partitions, p)
				changed = true
			}
		}
		return changed
	})
}

// AddOffsets handles AddOffsetsToTxn: the group's offsets may then be
// committed in the transaction (TxnOffsetCommit).
func (c *Coordinator) AddOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string) error {
	if group == "" {
		return kerr.InvalidGroupID
	}
	return c.add(ctx, id, producerID, epoch, func(t *metadata.Transaction) bool {
		for _, g := range t.Groups {
			if g == group {
				return false
			}
		}
		t.Groups = append(t.Groups, group)
		return true
	})
}

func (c *Coordinator) add(ctx context.Context, id string, producerID int64, epoch int16, fn func(*metadata.Transaction) bool) error {
	unlock, err := c.begin(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	t, found, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	if err := checkProducer(t, found, producerID, epoch); err != nil {
		return err
	}
	changed := fn(&t)
	if t.State != metadata.TxnOngoing {
		t.State, t.StartedAt, changed = metadata.TxnOngoing, time.Now(), true
	}
	if !changed {
		return nil
	}
	if _, err := c.store.SaveTransaction(ctx, t); err != nil {
		return c.storeErr(id, err)
	}
	return nil
}

// EndTxn handles EndTxn v0-v4: it commits or aborts the ongoing
// transaction and returns once the markers are written and the state is
// complete. The producer keeps its ID and epoch. A retry of a completed
// end gets success, as in Kafka.
func (c *Coordinator) EndTxn(ctx context.Context, id string, producerID int64, epoch int16, commit bool) error {
	unlock, err := c.begin(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	t, found, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	if err := checkProducer(t, found, producerID, epoch); err != nil {
		return err
	}
	switch {
	case t.State == metadata.TxnOngoing:
	case t.State == metadata.TxnCompleteCommit && commit, t.State == metadata.TxnCompleteAbort && !commit:
		return nil
	default:
		return kerr.InvalidTxnState
	}
	t.State = metadata.TxnPrepareAbort
	if commit {
		t.State = metadata.TxnPrepareCommit
	}
	if t, err = c.store.SaveTransaction(ctx, t); err != nil {
		return c.storeErr(id, err)
	}
	_, err = c.finish(ctx, t)
	return err
}

// EndTxnBump handles EndTxn v5 (KIP-890 part 2, transaction version 2):
// every end bumps the producer epoch, and it returns the producer ID and
// epoch the producer uses from then on.
//
// Ending an ongoing transaction saves PrepareCommit/PrepareAbort with the
// epoch already bumped, so its markers carry the new epoch and fence any
// write of the old one still in flight on every partition (a late
// produce of the ended transaction gets INVALID_PRODUCER_EPOCH instead of
// joining the next transaction). When the epoch is exhausted the markers
// carry math.MaxInt16 and, once they are written, the transactional ID
// moves to a newly allocated producer ID at epoch 0 (rotate), as KIP-890
// prescribes. Aborting when nothing is ongoing is allowed and bumps the
// epoch too (a client whose produces all failed clears what they may have
// registered); committing then is INVALID_TXN_STATE.
//
// A retry, naming the ID and epoch the producer had (the store remembers
// them as LastProducerID/LastProducerEpoch), of an end that completed the
// same way gets success with the current ID and epoch.
func (c *Coordinator) EndTxnBump(ctx context.Context, id string, producerID int64, epoch int16, commit bool) (int64, int16, error) {
	unlock, err := c.begin(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	defer unlock()
	t, found, err := c.load(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	done := metadata.TxnCompleteAbort
	if commit {
		done = metadata.TxnCompleteCommit
	}
	if found && producerID == t.LastProducerID && epoch == t.LastProducerEpoch && t.State == done {
		c.metrics.bumps.WithLabelValues("retry").Inc()
		return t.ProducerID, t.ProducerEpoch, nil
	}
	if err := checkProducer(t, found, producerID, epoch); err != nil {
		return -1, -1, err
	}
	t.LastProducerID, t.LastProducerEpoch = t.ProducerID, t.ProducerEpoch
	if t.State != metadata.TxnOngoing {
		if commit {
			return -1, -1, kerr.InvalidTxnState
		}
		// Nothing to mark: the bump alone ends the (empty) transaction.
		if t, err = c.bump(ctx, t); err != nil {
			return -1, -1, err
		}
		t.State = metadata.TxnCompleteAbort
		t.Partitions, t.Groups, t.StartedAt = nil, nil, time.Time{}
		if t, err = c.store.SaveTransaction(ctx, t); err != nil {
			return -1, -1, c.storeErr(id, err)
		}
		c.metrics.bumps.WithLabelValues("empty_abort").Inc()
		return t.ProducerID, t.ProducerEpoch, nil
	}
	// The markers' epoch: one more than the producer's, math.MaxInt16
	// when that exhausts it (finish then rotates the producer ID).
	if t.ProducerEpoch == math.MaxInt16 {
		return -1, -1, kerr.ProducerFenced // never handed to a producer
	}
	t.ProducerEpoch++
	t.State = metadata.TxnPrepareAbort
	if commit {
		t.State = metadata.TxnPrepareCommit
	}
	if t, err = c.store.SaveTransaction(ctx, t); err != nil {
		return -1, -1, c.storeErr(id, err)
	}
	if t, err = c.finish(ctx, t); err != nil {
		return -1, -1, err
	}
	c.metrics.bumps.WithLabelValues("end").Inc()
	return t.ProducerID, t.ProducerEpoch, nil
}

// bump gives t its next epoch, or a new producer ID at epoch 0 when the
// epoch is exhausted (math.MaxInt16-1 or more), without saving it.
func (c *Coordinator) bump(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	if t.ProducerEpoch < math.MaxInt16-1 {
		t.ProducerEpoch++
		return t, nil
	}
	pid, err := c.store.AllocateProducerID(ctx)
	if err != nil {
		return t, c.storeErr(t.ID, err)
	}
	c.logger.Info("producer epoch exhausted: new producer id", "transactional_id", t.ID, "old_producer_id", t.ProducerID, "producer_id", pid)
	c.metrics.bumps.WithLabelValues("overflow").Inc()
	t.ProducerID, t.ProducerEpoch = pid, 0
	return t, nil
}

// rotate moves a completed transaction whose markers exhausted the epoch
// (math.MaxInt16, only EndTxnBump gets there) to a new producer ID at
// epoch 0 and saves it; otherwise it returns t unchanged.
func (c *Coordinator) rotate(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	if t.ProducerEpoch != math.MaxInt16 || (t.State != metadata.TxnCompleteCommit && t.State != metadata.TxnCompleteAbort) {
		return t, nil
	}
	t, err := c.bump(ctx, t)
	if err != nil {
		return t, err
	}
	if t, err = c.store.SaveTransaction(ctx, t); err != nil {
		return t, c.storeErr(t.ID, err)
	}
	return t, nil
}

// Verify handles AddPartitionsToTxn v4+ with VerifyOnly: it reports, per
// partition, whether the producer's ongoing transaction covers it (nil)
// or not (kerr.InvalidTxnState), changing nothing. The producer checks
// fail every partition (the second result), as does a transaction being
// prepared (CONCURRENT_TRANSACTIONS).
func (c *Coordinator) Verify(ctx context.Context, id string, producerID int64, epoch int16, parts []TxnPartition) ([]error, error) {
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	if !c.owns(id) {
		return nil, kerr.NotCoordinator
	}
	t, err := c.store.Transaction(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return nil, c.storeErr(id, err)
	}
	if err := checkProducer(t, found, producerID, epoch); err != nil {
		return nil, err
	}
	if t.State == metadata.TxnPrepareCommit || t.State == metadata.TxnPrepareAbort {
		return nil, kerr.ConcurrentTransactions
	}
	out := make([]error, len(parts))
	for i, p := range parts {
		if t.State != metadata.TxnOngoing || !t.HasPartition(p.TopicID, p.Partition) {
			out[i] = kerr.InvalidTxnState
		}
	}
	return out, nil
}

// AddImplicitly adds partitions and a group (either may be empty) to the
// producer's transaction, starting it if none is ongoing: the
// registration a Produce v12+ or TxnOffsetCommit v5+ request makes on its
// own under transaction version 2, instead of AddPartitionsToTxn and
// AddOffsetsToTxn. It runs on whichever agent the request reached, not
// only on the coordinator, straight against the store: the versioned save
// keeps it safe against the coordinator (a conflict is retried, and one
// with an end makes the producer's epoch stale). A transaction being
// prepared is CONCURRENT_TRANSACTIONS; producer checks as in
// AddPartitionsToTxn.
func (c *Coordinator) AddImplicitly(ctx context.Context, id string, producerID int64, epoch int16, parts []TxnPartition, group string) error {
	if id == "" {
		return kerr.InvalidRequest
	}
	for attempt := 0; ; attempt++ {
		t, err := c.store.Transaction(ctx, id)
		found := err == nil
		if err != nil && !errors.Is(err, metadata.ErrNotFound) {
			return c.storeErr(id, err)
		}
		if err := checkProducer(t, found, producerID, epoch); err != nil {
			return err
		}
		changed := false
		switch t.State {
		case metadata.TxnPrepareCommit, metadata.TxnPrepareAbort:
			return kerr.ConcurrentTransactions
		case metadata.TxnOngoing:
		default:
			t.State, t.StartedAt, t.Partitions, t.Groups, changed = metadata.TxnOngoing, time.Now(), nil, nil, true
		}
		for _, p := range parts {
			if !t.HasPartition(p.TopicID, p.Partition) {
				t.Partitions = append(t.Partitions, p)
				changed = true
			}
		}
		if group != "" && !slices.Contains(t.Groups, group) {
			t.Groups = append(t.Groups, group)
			changed = true
		}
		if !changed {
			return nil
		}
		_, err = c.store.SaveTransaction(ctx, t)
		if err == nil {
			c.metrics.implicitAdds.Inc()
			return nil
		}
		if !errors.Is(err, metadata.ErrTxnVersion) || attempt == 4 {
			return c.storeErr(id, err)
		}
	}
}

// Describe returns a transactional ID's state (kerr.TransactionalIDNotFound
// for unknown IDs).
func (c *Coordinator) Describe(ctx context.Context, id string) (metadata.Transaction, error) {
	if !c.owns(id) {
		return metadata.Transaction{}, kerr.NotCoordinator
	}
	t, err := c.store.Transaction(ctx, id)
	if errors.Is(err, metadata.ErrNotFound) {
		return t, kerr.TransactionalIDNotFound
	}
	if err != nil {
		return t, c.storeErr(id, err)
	}
	return t, nil
}

// List returns the transactional IDs this agent coordinates.
func (c *Coordinator) List(ctx context.Context) ([]metadata.Transaction, error) {
	all, err := c.store.ListTransactions(ctx)
	if err != nil {
		return nil, c.storeErr("", err)
	}
	var out []metadata.Transaction
	for _, t := range all {
		if c.owns(t.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Run aborts, every CheckInterval, the transactions this agent owns that
// outlived their timeout, and completes prepared ones a failed or dead
// coordinator left behind. It returns when ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.Sweep(ctx)
	}
}

// Sweep is one pass of Run.
func (c *Coordinator) Sweep(ctx context.Context) {
	all, err := c.store.OpenTransactions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.logger.Warn("list transactions", "err", err)
		}
		return
	}
	now := time.Now()
	for _, t := range all {
		if ctx.Err() != nil {
			return
		}
		expired := t.State == metadata.TxnOngoing && now.After(t.StartedAt.Add(time.Duration(t.TimeoutMs)*time.Millisecond))
		prepared := t.State == metadata.TxnPrepareCommit || t.State == metadata.TxnPrepareAbort
		if (!expired && !prepared) || !c.owns(t.ID) {
			continue
		}
		c.sweepOne(ctx, t.ID, now)
	}
}

func (c *Coordinator) sweepOne(ctx context.Context, id string, now time.Time) {
	unlock, err := c.lock(ctx, id)
	if err != nil {
		return
	}
	defer unlock()
	t, found, err := c.load(ctx, id) // completes a prepared transaction
	if err != nil || !found {
		if err != nil {
			c.logger.Warn("complete transaction", "transactional_id", id, "err", err)
		}
		return
	}
	if t.State == metadata.TxnOngoing && now.After(t.StartedAt.Add(time.Duration(t.TimeoutMs)*time.Millisecond)) {
		c.logger.Info("aborting timed-out transaction", "transactional_id", id, "producer_id", t.ProducerID, "timeout_ms", t.TimeoutMs)
		c.metrics.timeouts.Inc()
		if _, err := c.abortBumped(ctx, t); err != nil {
			c.logger.Warn("abort timed-out transaction", "transactional_id", id, "err", err)
		}
	}
}
