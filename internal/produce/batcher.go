// Package produce is the write path: it buffers record batches from every
// connection and partition, writes them into one segment file per flush,
// uploads the file, commits it to the metadata store (which assigns offsets)
// and only then tells the waiting producers their offsets.
//
// Several flushes may upload at once, but they commit strictly in the order
// they were sealed, so batches submitted in order (one connection's pipelined
// requests) get offsets in that order.
//
// Journaled flushes (lightning topics, and every eligible batch while
// ripcord is active: see journal.go) are acknowledged once their file is
// durable in the journal (a lightning file is written there; a ripcord
// flush's file gets an entry there), and committed afterwards in the same
// seal order.
package produce

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// ErrStorage wraps upload and commit failures. Producers may retry: nothing
// of a failed flush is visible to consumers.
var ErrStorage = errors.New("produce: storage unavailable")

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("produce: batcher closed")

// Config tunes the batcher.
type Config struct {
	// BatchTimeout is the longest a batch waits before its file is flushed.
	BatchTimeout time.Duration
	// BatchMaxBytes flushes a file as soon as it holds this many bytes.
	BatchMaxBytes int
	// MaxInFlight bounds how many files upload at once.
	MaxInFlight int
	// MaxBufferedBytes bounds the bytes buffered or in flight; Submit blocks
	// (honouring its context) beyond it, pushing back on producers.
	MaxBufferedBytes int64
	// UploadAttempts is how many times an upload is tried before the flush
	// fails.
	UploadAttempts int
	// EarlySeal seals the open file before BatchTimeout when it cannot grow:
	// every connection that wrote to the previous file has a request waiting
	// on this one and none of them ever pipelined produce requests, so no
	// known producer can send more until this file commits. Seals stay at
	// least BatchTimeout apart, so the PUT rate bound is unchanged.
	EarlySeal bool
	// IdleSeal, if positive, seals the open file before BatchTimeout once
	// nothing has been added to it for this long, unless a file was
	// sealed before it was full (by its timer, EarlySeal or IdleSeal)
	// less than BatchTimeout ago. Files sealed full do not count, so PUTs
	// stay at most one per BatchTimeout plus one per BatchMaxBytes
	// produced: the bound of a batcher that writes a file after
	// BatchTimeout or BatchMaxBytes, whichever comes first. It ends a
	// burst's wait for its last file, which the window of the full file
	// sealed before it (windowEnd) would make wait up to BatchTimeout.
	IdleSeal time.Duration

	// Agent is this agent's journal name (node-<id>), the prefix of its
	// journal. Empty disables journaling: lightning batches are
	// then committed before they are acknowledged, as classic ones are.
	Agent string
	// Generation, if not zero, is this process's journal generation (see
	// NextGeneration); zero takes the start time on this host's clock.
	Generation uint64
	// Ripcord journals eligible classic batches (no producer ID, no
	// marker) instead of failing them while the metadata store is failing
	// or a commit stalls past RipcordCommitTimeout.
	Ripcord bool
	// RipcordCommitTimeout bounds a classic commit when Ripcord is on.
	RipcordCommitTimeout time.Duration
	// JournalMaxBytes and JournalMaxAge bound the journal: the bytes of
	// acknowledged, unsequenced files, and the age of the oldest. Past
	// either, batches bound for the journal fail with ErrJournalFull.
	JournalMaxBytes int64
	JournalMaxAge   time.Duration
	// CommitGate, if set, is asked before every commit of a journaled
	// flush and blocks until this agent may sequence its own journal (it
	// holds its journal lease: see Recoverer). It fails only when ctx
	// ends.
	CommitGate func(ctx context.Context) error
	// LeaseState, if set, reports whether this agent surely holds its
	// journal lease now, and how many times that assurance has lapsed
	// (Recoverer.LeaseState). A journaled file made durable while the
	// lease is not surely held, or first after a lapse, writes the
	// generation's marker again before it is acknowledged: another agent
	// may have recovered the generation and deleted the marker meanwhile.
	LeaseState func() (held bool, lapses uint64)
	// JournalAckBound is the longest a journaled flush may take from its
	// seal to durability and still be acknowledged (default
	// DefaultJournalAckBound); later, its producers get a retriable error.
	// Recovery by another agent waits this long between two listings of
	// a journal, so that no acknowledged file it has not seen can sort
	// before one it sequences.
	JournalAckBound time.Duration
	// JournalCommitMaxFiles and JournalCommitMaxBatches bound one store
	// transaction that sequences the journal's backlog: the flush whose
	// turn it is to commit takes along the acknowledged flushes that
	// follow it in seal order, up to this many files and batches
	// (defaults 64 and 16384), in one Log.CommitFiles. 1 file commits
	// each journaled flush on its own. They bound the groups of classic
	// flushes waiting for their turn as well (see group.go).
	JournalCommitMaxFiles   int
	JournalCommitMaxBatches int
}

// DefaultJournalCommitMaxFiles and DefaultJournalCommitMaxBatches bound
// one store transaction that sequences journaled files, the batcher's
// (Config.JournalCommitMaxFiles) and recovery's.
const (
	DefaultJournalCommitMaxFiles   = 64
	DefaultJournalCommitMaxBatches = 16384
)

// DefaultJournalAckBound is Config.JournalAckBound's and
// RecovererConfig.AckBound's default.
const DefaultJournalAckBound = 10 * time.Second

func (c *Config) setDefaults() {
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 250 * time.Millisecond
	}
	if c.BatchMaxBytes <= 0 {
		c.BatchMaxBytes = 8 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = int64(c.BatchMaxBytes) * int64(c.MaxInFlight+2)
	}
	if c.UploadAttempts <= 0 {
		c.UploadAttempts = 3
	}
	if c.RipcordCommitTimeout <= 0 {
		c.RipcordCommitTimeout = 2 * time.Second
	}
	if c.JournalMaxBytes <= 0 {
		c.JournalMaxBytes = 1 << 30
	}
	if c.JournalMaxAge <= 0 {
		c.JournalMaxAge = time.Hour
	}
	if c.JournalAckBound <= 0 {
		c.JournalAckBound = DefaultJournalAckBound
	}
	if c.JournalCommitMaxFiles <= 0 {
		c.JournalCommitMaxFiles = DefaultJournalCommitMaxFiles
	}
	if c.JournalCommitMaxBatches <= 0 {
		c.JournalCommitMaxBatches = DefaultJournalCommitMaxBatches
	}
}

// Batch is one validated Kafka record batch bound for a partition.
type Batch struct {
	Topic     metadata.TopicID
	Partition int32
	Data      []byte
	Info      records.BatchInfo
	// LogAppendTime asks for the batch to be stamped with its flush's seal
	// time (the topic has message.timestamp.type=LogAppendTime); see
	// stampLogAppendTime.
	LogAppendTime bool
	// Marker is set for the transaction markers (control batches) the
	// transaction coordinator writes.
	Marker *metadata.TxnMarker
	// Lightning marks a batch of a lightning topic: it is acknowledged
	// once durable in the bucket and journaled, without offsets, and
	// committed afterwards. The caller refuses batches with a producer ID
	// for such topics.
	Lightning bool
}

// Result is the outcome for one submitted batch.
type Result struct {
	// BaseOffset is the offset assigned to the batch's first record, or -1
	// for a journaled batch (acknowledged before it was sequenced).
	BaseOffset int64
	// LogAppendTime is the time (ms) a LogAppendTime batch was stamped
	// with, or -1.
	LogAppendTime int64
	// Err is nil, ErrStorage (wrapped), or a metadata error such as
	// metadata.ErrUnknownTopic when the topic vanished before commit.
	Err error
}

// Source is one producing connection. The batcher uses it to tell when the
// open file cannot grow any more (see Config.EarlySeal). Create one per
// connection with NewSource and pass it to SubmitFrom; Forget it when the
// connection closes.
type Source struct {
	// Guarded by Batcher.mu.
	waiting   int  // Submits whose flush has not finished
	pipelined bool // it once had two Submits waiting: it may send more while waiting
}

// NewSource returns a Source for one connection.
func NewSource() *Source { return &Source{} }

// Batcher is the agent's write path. It is safe for concurrent use.
type Batcher struct {
	cfg    Config
	log    metadata.Log
	bucket objstore.Bucket
	// splitPuts: bucket stores files given in pieces without joining
	// them (objstore.CanPutSplit), so unkept files are never copied.
	splitPuts bool
	onCommit  func(committed ...metadata.TopicPartition)
	// written, if set, is handed every committed file (set before the
	// first Submit; see OnWritten).
	written func(key string, pieces [][]byte, held int64) bool
	metrics *Metrics
	logger  *slog.Logger
	// gen is this process's journal generation (see internal/journal).
	gen uint64

	uploads *semaphore.Weighted // MaxInFlight upload slots
	space   *semaphore.Weighted // MaxBufferedBytes of buffer

	ctx    context.Context // cancelled by Close after draining
	cancel context.CancelFunc
	wg     sync.WaitGroup // running flushes

	mu sync.Mutex // guards the fields below
	// cur holds the open flushes that new batches join, one per lane
	// (laneClassic, laneJournal), or nil.
	cur [2]*flush
	// lastCommitted is closed when the most recently sealed flush has
	// finished committing; the next sealed flush waits for it.
	lastCommitted chan struct{}
	closed        bool
	// lastSeal is when the previous flush was sealed; seals stay at least
	// BatchTimeout apart unless a file fills up (or IdleSeal seals it).
	lastSeal time.Time
	// lastPartial is when the last flush sealed before it was full was
	// sealed: IdleSeal seals at least BatchTimeout after it.
	lastPartial time.Time
	// prevSources are the connections that wrote to the last sealed flush.
	prevSources map[*Source]struct{}
	// seq numbers sealed flushes, in seal (= commit) order.
	seq uint64
	// ripcord is closed while ripcord is active (Config.Ripcord and the
	// store failing); a fresh, open channel replaces it when a commit
	// succeeds again.
	ripcord       chan struct{}
	ripcordActive bool
	// journal holds the acknowledged, unsequenced flushes with the time
	// they were acknowledged and their size.
	journal      map[*flush]time.Time
	journalBytes int64
	// ready holds, by seq, the acknowledged flushes whose commit has not
	// started: the flush whose turn it is takes the ones that follow it
	// into its store transaction (see commitJournaled).
	ready map[uint64]*flush
	// waitingClassic holds, by seq, the uploaded classic flushes (without
	// ripcord) waiting for their turn to commit: the flush whose turn it
	// is takes the ones that follow it into its store transaction (see
	// commitClassicGroup).
	waitingClassic map[uint64]*flush
	// markerPut is set once this process's journal generation marker is
	// in the bucket (see internal/journal) while the journal lease was
	// surely held, markerLapses the lease's lapse count then.
	markerPut    bool
	markerLapses uint64
	// markerWritten is set once any marker PUT succeeded.
	markerWritten bool
	// leftForRecovery is set once an acknowledged flush failed to
	// commit: Close then keeps the generation marker for recovery.
	leftForRecovery bool
}

// Lanes: classic flushes commit before they are acknowledged; journaled
// ones are acknowledged first. Both share one commit order.
const (
	laneClassic = 0
	laneJournal = 1
)

// flush is one future file. Its fields are written by Submit under
// Batcher.mu until it is sealed, then only by its run goroutine; done
// publishes results.
type flush struct {
	batches []Batch
	bytes   int
	timer   *time.Timer
	opened  time.Time
	// deadline is when its timer seals it (windowEnd), unless it fills up
	// or EarlySeal seals it sooner.
	deadline time.Time
	sealed   time.Time // set under Batcher.mu when sealed
	seq      uint64    // set under Batcher.mu when sealed
	results  []Result
	done     chan struct{}
	// journaled is set when the flush is (or becomes) a journaled one;
	// durable is closed when its results (acknowledgements without
	// offsets) are published, before it commits.
	journaled bool
	durable   chan struct{}
	// acked is set, by the run goroutine only, once durable is closed.
	acked bool
	// commit is the flush's file commit (its journal mark included),
	// set by the run goroutine before the flush is acknowledged and read,
	// after that, by the flush that commits it.
	commit *metadata.FileCommit
	// grouped is set once an earlier flush committed this one along
	// with its own, groupRes to its results (nil: recovery had committed
	// the file). Guarded by Batcher.mu.
	grouped  bool
	groupRes []metadata.BatchResult
	// groupErr is a classic flush's commit error when an earlier flush
	// committed it in its group; file is what it commits (classic
	// flushes waiting for their turn only). Guarded by Batcher.mu.
	groupErr error
	file     metadata.FileCommit
	// committed is closed (endTurn) once the flush has finished
	// committing, by its run goroutine or, for a flush an earlier one
	// committed in its group, by that one: the next flush's turn then
	// comes without waiting for each flush of the group to wake up.
	committed chan struct{}
	endOnce   sync.Once
	// sources counts the Submits of each connection in this flush;
	// anonymous counts Submits without a Source. Guarded by Batcher.mu.
	sources   map[*Source]int
	anonymous int
	early     bool // its timer was moved forward by EarlySeal
	// lastAdd is when a Submit last added to it and idle its IdleSeal
	// timer (nil without IdleSeal). Guarded by Batcher.mu.
	lastAdd time.Time
	idle    *time.Timer
}

// endTurn closes f.committed, once.
func (f *flush) endTurn() { f.endOnce.Do(func() { close(f.committed) }) }

// New returns a Batcher. onCommit, if non-nil, is called after every
// successful commit with the partitions that got data (fetch.Notifier's
// Notify: long polls of those partitions wake up). It must not block.
func New(cfg Config, log metadata.Log, bucket objstore.Bucket, onCommit func(committed ...metadata.TopicPartition), m *Metrics, logger *slog.Logger) *Batcher {
	cfg.setDefaults()
	if onCommit == nil {
		onCommit = func(...metadata.TopicPartition) {}
	}
	if logger == nil {
		logger = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	close(done)
	b := &Batcher{
		cfg: cfg, log: log, bucket: bucket, onCommit: onCommit, metrics: m, logger: logger,
		splitPuts: objstore.CanPutSplit(bucket),
		gen:       cmp.Or(cfg.Generation, uint64(time.Now().UnixNano())),
		uploads:   semaphore.NewWeighted(int64(cfg.MaxInFlight)),
		space:     semaphore.NewWeighted(cfg.MaxBufferedBytes),
		ctx:       ctx, cancel: cancel,
		lastCommitted:  done,
		ripcord:        make(chan struct{}),
		journal:        make(map[*flush]time.Time),
		ready:          make(map[uint64]*flush),
		waitingClassic: make(map[uint64]*flush),
	}
	m.watchJournal(b)
	return b
}

// Generation is this batcher's journal generation: entries of the same
// agent with a lower one were written by an earlier process (see
// Recoverer).
func (b *Batcher) Generation() uint64 { return b.gen }

// OnWritten registers fn to be handed the key and bytes of each file once
// it is committed, before producers and long-polling fetches are told (the
// agent keeps them in its read cache). The bytes come as pieces whose
// concatenation is the file: the batches where the producers' requests
// left them (the request buffers, each the connection's own and never
// reused), or the buffer the file was encoded into. held is the memory
// the pieces' buffers span (for an encoding buffer its capacity; for
// request buffers the file's size, their headers aside). fn reports
// whether it kept them: if so it owns them, and the batcher neither
// recycles the encoding buffer nor touches the pieces again; nobody may
// modify them. Call it before the first Submit.
func (b *Batcher) OnWritten(fn func(key string, pieces [][]byte, held int64) bool) {
	b.written = fn
}

// Pending is the future of one Submit call.
type Pending struct {
	parts []pendingPart
	n     int
}

// pendingPart is the share of a Submit that went into one flush: batches
// first..first+len(pos) of f, which were the caller's batches at pos.
type pendingPart struct {
	f     *flush
	first int
	pos   []int
}

func (pp *pendingPart) ready() <-chan struct{} {
	if pp.f.journaled {
		return pp.f.durable
	}
	return pp.f.done
}

// Wait blocks until the batches are acknowledged (committed, journaled, or
// failed) and returns one Result per submitted batch, in order. If ctx
// ends first it returns ctx's error; the batches may still commit.
func (p *Pending) Wait(ctx context.Context) ([]Result, error) {
	out := make([]Result, p.n)
	for i := range p.parts {
		pp := &p.parts[i]
		// A classic flush may turn journaled while it waits (ripcord):
		// whichever happens first answers.
		select {
		case <-pp.f.done:
		case <-pp.f.durable:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for j, at := range pp.pos {
			out[at] = pp.f.results[pp.first+j]
		}
	}
	return out, nil
}

// Done is closed when the results of the Submit's first flush are ready.
func (p *Pending) Done() <-chan struct{} {
	if len(p.parts) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.parts[0].ready()
}

// Submit adds batches to the current file. All batches of one call go into
// the same file and get offsets in the order given. It blocks only while
// the buffer is full. The batcher owns each batch's Data from then on: a
// LogAppendTime batch is rewritten in place when its flush seals.
func (b *Batcher) Submit(ctx context.Context, batches []Batch) (*Pending, error) {
	return b.SubmitFrom(ctx, nil, batches)
}

// SubmitFrom is Submit for batches that came from the connection src (nil:
// unknown, which keeps the file open until its timeout). Batches bound for
// the journal (lightning batches, and eligible ones while ripcord is
// active) go into the journaled lane's file, the others into the classic
// one; batches of one partition are never split between the lanes within
// one call unless ripcord flips in between, as they share one topic.
func (b *Batcher) SubmitFrom(ctx context.Context, src *Source, batches []Batch) (*Pending, error) {
	size := 0
	for i := range batches {
		size += len(batches[i].Data)
	}
	weight := min(int64(size), b.cfg.MaxBufferedBytes)
	if err := b.space.Acquire(ctx, weight); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.space.Release(weight)
		return nil, ErrClosed
	}
	var lanes [2][]int
	journalBytes := int64(0)
	for i := range batches {
		l := b.laneLocked(&batches[i])
		lanes[l] = append(lanes[l], i)
		if l == laneJournal {
			journalBytes += int64(len(batches[i].Data))
		}
	}
	if len(lanes[laneJournal]) > 0 {
		if err := b.journalRoomLocked(journalBytes); err != nil {
			b.mu.Unlock()
			b.space.Release(weight)
			b.metrics.journalRefused.Inc()
			return nil, err
		}
	}
	p := &Pending{n: len(batches)}
	for lane, idx := range lanes {
		if len(idx) == 0 {
			continue
		}
		f := b.cur[lane]
		if f == nil {
			now := time.Now()
			f = &flush{opened: now, deadline: windowEnd(now, b.lastSeal, b.cfg.BatchTimeout), done: make(chan struct{}), durable: make(chan struct{}), journaled: lane == laneJournal}
			f.timer = time.AfterFunc(f.deadline.Sub(now), func() { b.sealIf(f) })
			b.cur[lane] = f
		}
		pp := pendingPart{f: f, first: len(f.batches), pos: idx}
		laneBytes := 0
		for _, i := range idx {
			f.batches = append(f.batches, batches[i])
			laneBytes += len(batches[i].Data)
		}
		f.bytes += laneBytes
		p.parts = append(p.parts, pp)
		if src == nil {
			f.anonymous++
		} else {
			if f.sources == nil {
				f.sources = make(map[*Source]int)
			}
			f.sources[src]++
			src.waiting++
			if src.waiting > 1 {
				src.pipelined = true
			}
		}
		switch {
		case f.bytes >= b.cfg.BatchMaxBytes:
			b.sealLocked(lane)
		case b.cfg.EarlySeal && b.cannotGrowLocked(f):
			if wait := time.Until(b.lastSeal.Add(b.cfg.BatchTimeout)); wait <= 0 {
				b.metrics.earlySeals.Inc()
				b.sealLocked(lane)
			} else if wait < time.Until(f.deadline) {
				f.early = true
				f.timer.Reset(wait)
			}
		}
		if b.cfg.IdleSeal > 0 && b.cur[lane] == f {
			f.lastAdd = time.Now()
			if f.idle == nil {
				f.idle = time.AfterFunc(b.cfg.IdleSeal, func() { b.idleSeal(f) })
			}
		}
	}
	b.mu.Unlock()
	b.metrics.bufferedBytes.Add(float64(size))
	return p, nil
}

// windowEnd is when a file opened at now is sealed by the clock. While
// the agent is busy, windows follow each other at a fixed cadence: the
// file opened after a seal closes timeout after that seal, not timeout
// after its first batch arrived. The first batch of a window comes from a
// producer answered by the previous file's commit, so waiting a whole
// timeout from its arrival would add the upload and commit time to every
// window, and a record that misses one window (a producer with all its
// requests in flight) would pay it twice. An agent idle for longer than
// timeout opens a full window. Either way no batch waits longer than
// timeout and seals stay at least timeout apart (at most one PUT per
// window, as before).
func windowEnd(now, lastSeal time.Time, timeout time.Duration) time.Time {
	if next := lastSeal.Add(timeout); next.After(now) {
		return next
	}
	return now.Add(timeout)
}

// laneLocked says which lane bt goes to.
func (b *Batcher) laneLocked(bt *Batch) int {
	if b.cfg.Agent == "" {
		return laneClassic
	}
	if bt.Lightning || (b.ripcordActive && journalable(bt)) {
		return laneJournal
	}
	return laneClassic
}

// cannotGrowLocked reports whether no known producer can add to f before it
// commits: every Submit in f came from a connection that has never had two
// Submits waiting (it sends its next request only after this one's
// response), and every connection that wrote to the previous flush is
// among them.
func (b *Batcher) cannotGrowLocked(f *flush) bool {
	if f.anonymous > 0 || len(f.sources) < len(b.prevSources) {
		return false
	}
	for src := range f.sources {
		if src.pipelined {
			return false
		}
	}
	for src := range b.prevSources {
		if _, ok := f.sources[src]; !ok {
			return false
		}
	}
	return true
}

// Forget drops a closed connection from the set the next file waits for.
func (b *Batcher) Forget(src *Source) {
	b.mu.Lock()
	delete(b.prevSources, src)
	b.mu.Unlock()
}

// idleSeal seals f, an open flush whose IdleSeal timer fired, if nothing
// was added to it for IdleSeal and no flush was sealed before it was
// full within the last BatchTimeout; otherwise it sets the timer for the
// next time that could hold, if that comes before f's deadline.
func (b *Batcher) idleSeal(f *flush) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for lane := range b.cur {
		if b.cur[lane] != f {
			continue
		}
		now := time.Now()
		at := f.lastAdd.Add(b.cfg.IdleSeal)
		if budget := b.lastPartial.Add(b.cfg.BatchTimeout); budget.After(at) {
			at = budget
		}
		if at.After(now) {
			if at.Before(f.deadline) {
				f.idle.Reset(at.Sub(now))
			}
			return
		}
		b.metrics.idleSeals.Inc()
		b.sealLocked(lane)
	}
}

// sealIf seals f if it is still an open flush (its timer fired).
func (b *Batcher) sealIf(f *flush) {
	b.mu.Lock()
	for lane := range b.cur {
		if b.cur[lane] == f {
			if f.early {
				b.metrics.earlySeals.Inc()
			}
			b.sealLocked(lane)
		}
	}
	b.mu.Unlock()
}

func (b *Batcher) sealLocked(lane int) {
	f := b.cur[lane]
	b.cur[lane] = nil
	f.timer.Stop()
	if f.idle != nil {
		f.idle.Stop()
	}
	f.sealed = time.Now() // under b.mu: seal times follow seal (and commit) order
	b.seq++
	f.seq = b.seq
	b.lastSeal = f.sealed
	if f.bytes < b.cfg.BatchMaxBytes {
		b.lastPartial = f.sealed
	}
	// The next file waits for the connections that wrote to this one. A
	// file that also held anonymous batches (transaction markers) says
	// little about who produces, so the previous set is kept as well.
	if f.anonymous == 0 || b.prevSources == nil {
		b.prevSources = make(map[*Source]struct{}, len(f.sources))
	}
	for src := range f.sources {
		b.prevSources[src] = struct{}{}
	}
	prev := b.lastCommitted
	f.committed = make(chan struct{})
	b.lastCommitted = f.committed
	b.wg.Add(1)
	go b.run(f, prev)
}

// run uploads and commits one sealed flush; a journaled flush is
// acknowledged in between (see journal.go).
func (b *Batcher) run(f *flush, prev <-chan struct{}) {
	defer b.wg.Done()
	f.results = make([]Result, len(f.batches))
	stampLogAppendTime(f.batches, f.sealed)

	var w segment.Writer
	for _, bt := range f.batches {
		w.Add(bt.Topic, bt.Partition, bt.Data, bt.Info)
	}
	// A bucket that writes pieces (a local directory) gets the file as
	// its pieces, the batches where the requests left them: no copy into
	// a file buffer. Otherwise files are encoded into recycled buffers;
	// journaled files are not: their commit may come much later. A file
	// handed to OnWritten and kept is the keeper's: its buffer is not
	// recycled.
	split := b.splitPuts
	pooled := !split && !f.journaled
	var (
		data      []byte
		pieces    [][]byte
		positions []uint64
	)
	if split {
		pieces, _, positions = w.FinishSplit()
	} else {
		var buf []byte
		if pooled {
			buf = fileBuffers.Get(w.Size())
		}
		data, _, positions = w.FinishInto(buf)
		pieces = [][]byte{data}
	}
	size := int64(w.Size())
	key := newKey(time.Now())
	if f.journaled {
		// The file is written into the journal: it is its own entry.
		key = journal.FileKey(b.cfg.Agent, b.gen, f.seq, key[strings.LastIndexByte(key, '/')+1:])
	}
	commits := commitsOf(f.batches, positions)
	if b.cfg.Agent != "" {
		f.commit = &metadata.FileCommit{Key: key, Size: size, Batches: commits,
			Journal: &metadata.JournalMark{Agent: b.cfg.Agent, Generation: b.gen, Sequence: f.seq}}
	}

	var uploadErr error
	if f.journaled {
		uploadErr = b.uploadJournaled(f, key, pieces)
	} else {
		uploadErr = b.upload(key, pieces)
	}

	// Commit strictly in seal order.
	var (
		results   []metadata.BatchResult
		commitErr = uploadErr
	)
	switch {
	case uploadErr != nil:
		<-prev
	case f.journaled:
		<-prev
		results, commitErr = b.commitJournaled(f)
	default:
		results, commitErr = b.commitClassic(f, key, size, commits, prev)
	}
	f.endTurn()

	if commitErr != nil {
		b.logger.Warn("flush failed", "file", key, "batches", len(f.batches), "bytes", f.bytes, "journaled", f.journaled, "err", commitErr)
		b.metrics.flushErrors.Inc()
		if !f.acked {
			for i := range f.results {
				// Both wrapped: the answer tells a store that does not
				// answer (retry later) from other storage failures.
				f.results[i].Err = fmt.Errorf("%w: %w", ErrStorage, commitErr)
			}
		}
	} else {
		// kept: the cache keeps the file's pooled encoding buffer.
		kept := false
		if b.written != nil && results != nil {
			switch {
			case split:
				b.written(key, pieces, size)
			case int64(cap(data)) > 2*size:
				// A file much smaller than its pooled buffer (the
				// smallest is 1 MiB) goes to the cache as a copy:
				// kept whole, the buffer would pin and charge up to
				// hundreds of times the file's bytes.
				b.written(key, [][]byte{bytes.Clone(data)}, size)
			default:
				kept = b.written(key, pieces, int64(cap(data)))
			}
		}
		b.countCommitted(f, results)
		if !f.acked {
			b.assignOffsets(f, results)
			b.duplicateAppendTimes(f, results)
			b.metrics.ackLatency.WithLabelValues("classic").Observe(time.Since(f.sealed).Seconds())
		}
		b.metrics.flushes.Inc()
		b.metrics.flushBytes.Observe(float64(size))
		b.metrics.flushLatency.Observe(time.Since(f.opened).Seconds())
		if parts := committedPartitions(f.batches, results); len(parts) > 0 {
			b.onCommit(parts...)
		}
		if pooled && !kept {
			// Nothing holds the file any more. (After a failure it is
			// left alone: an abandoned upload attempt might still be
			// reading it.)
			fileBuffers.Put(data)
		}
	}
	if !f.acked {
		b.release(f)
	} else if commitErr != nil {
		b.forget(f) // left in the bucket for recovery
		b.mu.Lock()
		b.leftForRecovery = true
		b.mu.Unlock()
	}
	close(f.done)
}

// release gives back f's buffer space and tells its connections they have
// one request fewer waiting. It runs once per flush, before its results
// are published: a producer answered now may send its next request at
// once, and must not look pipelined.
func (b *Batcher) release(f *flush) {
	b.space.Release(min(int64(f.bytes), b.cfg.MaxBufferedBytes))
	b.metrics.bufferedBytes.Sub(float64(f.bytes))
	b.mu.Lock()
	for src, n := range f.sources {
		src.waiting -= n
	}
	b.mu.Unlock()
}

// upload stores the file whose bytes are pieces, joined.
func (b *Batcher) upload(key string, pieces [][]byte) error {
	if err := b.uploads.Acquire(b.ctx, 1); err != nil {
		return err
	}
	defer b.uploads.Release(1)
	start := time.Now()
	var err error
	for attempt := 0; attempt < b.cfg.UploadAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-b.ctx.Done():
				return b.ctx.Err()
			}
		}
		if len(pieces) == 1 {
			err = b.bucket.Put(b.ctx, key, pieces[0])
		} else {
			err = objstore.PutSplit(b.ctx, b.bucket, key, pieces)
		}
		if err == nil {
			b.metrics.uploadLatency.Observe(time.Since(start).Seconds())
			return nil
		}
	}
	return err
}

// commitsOf describes f's batches for CommitFile, given their positions
// in the file.
func commitsOf(batches []Batch, positions []uint64) []metadata.BatchCommit {
	commits := make([]metadata.BatchCommit, len(batches))
	for i, bt := range batches {
		commits[i] = metadata.BatchCommit{
			TopicID: bt.Topic, Partition: bt.Partition,
			ByteOffset: int64(positions[i]), ByteLength: int64(len(bt.Data)),
			Records: bt.Info.Records, MaxTimestamp: bt.Info.MaxTimestamp,
		}
		switch {
		case bt.Marker != nil:
			commits[i].Marker = bt.Marker
		case bt.Info.ProducerID >= 0:
			commits[i].Producer = &metadata.ProducerBatch{ID: bt.Info.ProducerID, Epoch: bt.Info.ProducerEpoch, FirstSequence: bt.Info.FirstSequence}
			commits[i].Transactional = bt.Info.Transactional
		}
	}
	return commits
}

// commit makes one commit attempt, bounded by ctx. mark is set for a
// journaled flush: the commit advances its generation's journal mark.
func (b *Batcher) commit(ctx context.Context, key string, size int64, commits []metadata.BatchCommit, mark *metadata.JournalMark) ([]metadata.BatchResult, error) {
	start := time.Now()
	res, err := b.log.CommitFile(ctx, metadata.FileCommit{Key: key, Size: size, Batches: commits, Journal: mark})
	took := time.Since(start).Seconds()
	b.metrics.commitLatency.Observe(took)
	b.metrics.commitBySize.WithLabelValues(commitSizeClass(distinctPartitions(commits))).Observe(took)
	return res, err
}

// distinctPartitions counts the partitions commits touch.
func distinctPartitions(commits []metadata.BatchCommit) int {
	if len(commits) < 2 {
		return len(commits)
	}
	seen := make(map[metadata.TopicPartition]struct{}, len(commits))
	for _, c := range commits {
		seen[metadata.TopicPartition{Topic: c.TopicID, Partition: c.Partition}] = struct{}{}
	}
	return len(seen)
}

// committedPartitions returns the partitions, each once, that a commit
// gave new offsets: those of batches that were neither refused nor
// duplicates.
func committedPartitions(batches []Batch, res []metadata.BatchResult) []metadata.TopicPartition {
	var parts []metadata.TopicPartition
	seen := make(map[metadata.TopicPartition]struct{})
	for i, bt := range batches {
		if i >= len(res) || res[i].Err != nil || res[i].Duplicate {
			continue
		}
		p := metadata.TopicPartition{Topic: bt.Topic, Partition: bt.Partition}
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
			parts = append(parts, p)
		}
	}
	return parts
}

// assignOffsets copies the commit's per-batch outcome into the flush's
// results. A duplicate (a producer's retry of a committed batch) succeeds
// with its original offset.
func (b *Batcher) assignOffsets(f *flush, res []metadata.BatchResult) {
	for i, bt := range f.batches {
		r := res[i]
		f.results[i] = Result{BaseOffset: r.BaseOffset, LogAppendTime: logAppendTime(&bt), Err: r.Err}
	}
}

// countCommitted counts a commit's batches in the metrics. res is nil when
// the file had been committed already (recovery got there first).
func (b *Batcher) countCommitted(f *flush, res []metadata.BatchResult) {
	for i, bt := range f.batches {
		if i >= len(res) {
			return
		}
		r := res[i]
		if r.Err != nil {
			continue
		}
		if r.Duplicate {
			b.metrics.duplicates.Inc()
			continue
		}
		b.metrics.batchesIn.Inc()
		b.metrics.recordsIn.Add(float64(bt.Info.Records))
		b.metrics.bytesIn.Add(float64(len(bt.Data)))
	}
}

// Close flushes what is buffered, waits for every flush to finish, and makes
// later Submits fail. ctx bounds the wait.
func (b *Batcher) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	for lane := range b.cur {
		if b.cur[lane] != nil {
			b.sealLocked(lane)
		}
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		b.closeGeneration(ctx)
		b.cancel()
		return nil
	case <-ctx.Done():
		b.cancel()
		<-done
		return ctx.Err()
	}
}

// newKey names a file: time-ordered, so listings and the orphan sweeper see
// files in creation order, and unique without coordination.
func newKey(now time.Time) string {
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("files/%s/%016x-%s.slc", now.UTC().Format("2006/01/02/15"), now.UnixNano(), hex.EncodeToString(r[:]))
}
