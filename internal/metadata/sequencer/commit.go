package sequencer

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
)

// CommitRows is a backend's side of one CommitFile, inside the database
// transaction it opened for it. Commit calls Read once, ProducerTxn at
// most once per transactional producer, then Write once if the file
// appends anything.
type CommitRows interface {
	// Read loads, under the locks that keep them stable until the
	// transaction ends, the stored rows the plan names: every partition
	// (Partition.Found, or NotFound), the state of the producers that have
	// any (Producer.Load), and the open-transaction rows that exist
	// (OpenTxn.Load). Rows of producers and open transactions on a
	// partition that does not exist need not be read.
	Read(ctx context.Context, p *Plan) error
	// ProducerTxn reads the transaction of a producer ID (the most recently
	// updated one holding it), or fails with metadata.ErrNotFound. A
	// backend with concurrent writers locks it so the transaction cannot
	// move to PrepareCommit/PrepareAbort before this commit ends.
	ProducerTxn(ctx context.Context, producerID int64) (metadata.Transaction, error)
	// Write applies the plan, all of it or (by failing) nothing: it records
	// the file, moves each partition that Advanced from Start to Next
	// (failing if its next offset is no longer Start), inserts Extents,
	// saves the Dirty producers' state, upserts the open transactions that
	// must be (OpenTxn.Upsert), deletes those that must go (OpenTxn.Delete)
	// and inserts the Aborted ranges.
	Write(ctx context.Context, p *Plan) error
}

// Commit sequences the batches of c against what rows reads, as
// metadata.Log.CommitFile specifies, and has rows write the outcome. It
// returns the batches' results; an error means nothing may be committed.
func Commit(ctx context.Context, rows CommitRows, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	p := NewPlan(c.Batches)
	if err := rows.Read(ctx, p); err != nil {
		return nil, err
	}
	if err := p.sequence(ctx, rows, c.Batches); err != nil {
		return nil, err
	}
	if p.Appended == 0 {
		// Nothing references the file: nothing is written, leaving the
		// file to the orphan sweeper. Duplicates still report their
		// original offsets.
		return p.Results, nil
	}
	if err := rows.Write(ctx, p); err != nil {
		return nil, err
	}
	return p.Results, nil
}

// PartitionKey names a partition.
type PartitionKey struct {
	Topic     metadata.TopicID
	Partition int32
}

// Partition is one partition's share of a commit.
type Partition struct {
	PartitionKey
	// Exists and Start (the stored next offset) are what Read found;
	// Missing is the error the partition's batches get when it does not
	// exist.
	Exists  bool
	Missing error
	Start   int64
	// Next is the next offset once the plan is applied.
	Next int64
	// lastExt indexes the partition's last extent in Plan.Extents, -1
	// before its first; lastEnd is the file position after its last
	// accepted batch, so an adjacent accepted batch extends that extent.
	lastExt int
	lastEnd int64
}

// Found records the partition's stored next offset.
func (p *Partition) Found(next int64) { p.Exists, p.Start, p.Next = true, next, next }

// NotFound records that the partition has no row; topicExists says
// whether its topic has one.
func (p *Partition) NotFound(topicExists bool) {
	p.Exists = false
	if topicExists {
		p.Missing = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, p.Topic, p.Partition)
	} else {
		p.Missing = fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, p.Topic)
	}
}

// Advanced reports whether the plan moves the partition's next offset.
func (p *Partition) Advanced() bool { return p.Exists && p.Next != p.Start }

// Producer is the state of a producer on a partition that a batch or
// marker of the commit carries.
type Producer struct {
	Key
	Part int // index in Plan.Partitions
	State
	// Dirty reports that the plan changed State: Write saves it.
	Dirty bool
	// Stored reports that the store has a row for the producer on the
	// partition (Load was called): Write may update it rather than
	// insert one.
	Stored bool
}

// Load records the producer's stored state: its epoch and its recent
// batches as stored (AppendRecent's JSON).
func (p *Producer) Load(epoch int16, recent []byte) error {
	batches, err := ParseRecent(recent)
	if err != nil {
		return fmt.Errorf("producer state: %w", err)
	}
	p.Known, p.Stored, p.Epoch, p.Recent = true, true, epoch, batches
	return nil
}

// OpenTxn is what one commit knows of a producer's open transaction on a
// partition (its row in the transaction index): the pairs a marker or a
// transactional batch of the commit touches.
type OpenTxn struct {
	Key
	Part    int   // index in Plan.Partitions
	First   int64 // the transaction's first offset, while open
	Stored  bool  // a row exists in the store
	Closed  bool
	Touched bool // a batch or marker of this commit changed it
}

// Load records the stored row: a transaction open since first.
func (o *OpenTxn) Load(first int64) { o.First, o.Stored, o.Closed = first, true, false }

// Upsert reports whether Write must store the row (open since First).
func (o *OpenTxn) Upsert() bool { return o.Touched && !o.Closed }

// Delete reports whether Write must delete the stored row.
func (o *OpenTxn) Delete() bool { return o.Touched && o.Closed && o.Stored }

// AbortedRange is an aborted transaction's offsets on a partition, to be
// written to the transaction index.
type AbortedRange struct {
	Key
	Part        int // index in Plan.Partitions
	First, Last int64
}

// Extent is a chunk of the file the plan indexes: offsets
// [BaseOffset, EndOffset) of partition Part at ByteOffset..+ByteLength.
type Extent struct {
	Part                                          int // index in Plan.Partitions
	BaseOffset, EndOffset, ByteOffset, ByteLength int64
	Batches                                       int32
	MaxTimestamp                                  int64
}

// Plan is one file commit: the rows it reads (NewPlan names them, in order
// of first appearance, so a backend's statements are deterministic) and,
// once sequenced, what it writes and the batches' results.
type Plan struct {
	Partitions []Partition
	Producers  []Producer
	OpenTxns   []OpenTxn
	Extents    []Extent // only of partitions that Advanced
	Aborted    []AbortedRange
	Results    []metadata.BatchResult // in batch order
	Appended   int                    // batches that take offsets

	refs      []batchRef
	partIndex map[PartitionKey]int
	prodIndex map[Key]int
	txnIndex  map[Key]int
	txns      map[int64]*metadata.Transaction // by producer ID; nil: none
}

// batchRef is where a batch's partition, producer and open transaction
// are in the plan (-1: none).
type batchRef struct{ part, prod, txn int32 }

// NewPlan names the rows a commit of batches reads.
func NewPlan(batches []metadata.BatchCommit) *Plan {
	// The maps are sized for a row per batch, the common shape of a large
	// flush (one batch per partition), rather than grown through every
	// doubling (capped: a flush of many batches of few partitions would
	// not use the room).
	hint := min(len(batches), 1<<14)
	p := &Plan{
		refs:      make([]batchRef, len(batches)),
		partIndex: make(map[PartitionKey]int, hint),
		Results:   make([]metadata.BatchResult, len(batches)),
	}
	// The first pass numbers the rows, the second fills them in, so every
	// slice is allocated once, at its size.
	for i := range batches {
		b := &batches[i]
		ref := batchRef{part: int32(index(p.partIndex, PartitionKey{b.TopicID, b.Partition})), prod: -1, txn: -1}
		if k, ok := producerKey(b); ok {
			if p.prodIndex == nil {
				p.prodIndex = make(map[Key]int, hint)
			}
			ref.prod = int32(index(p.prodIndex, k))
			if b.Marker != nil || b.Transactional {
				if p.txnIndex == nil {
					p.txnIndex = make(map[Key]int)
				}
				ref.txn = int32(index(p.txnIndex, k))
			}
		}
		p.refs[i] = ref
	}
	p.Partitions = make([]Partition, len(p.partIndex))
	p.Producers = make([]Producer, len(p.prodIndex))
	p.OpenTxns = make([]OpenTxn, len(p.txnIndex))
	p.Extents = make([]Extent, 0, len(p.partIndex))
	for i := range batches {
		b, ref := &batches[i], p.refs[i]
		p.Partitions[ref.part] = Partition{PartitionKey: PartitionKey{b.TopicID, b.Partition}, lastExt: -1, lastEnd: -1}
		if ref.prod >= 0 {
			k, _ := producerKey(b)
			p.Producers[ref.prod] = Producer{Key: k, Part: int(ref.part)}
			if ref.txn >= 0 {
				p.OpenTxns[ref.txn] = OpenTxn{Key: k, Part: int(ref.part), Closed: true}
			}
		}
	}
	return p
}

// index returns k's index in m, adding k with the next one if new.
func index[K comparable](m map[K]int, k K) int {
	i, ok := m[k]
	if !ok {
		i = len(m)
		m[k] = i
	}
	return i
}

// producerKey returns the producer state a batch carries: a marker's
// producer, or an idempotent or transactional batch's.
func producerKey(b *metadata.BatchCommit) (Key, bool) {
	switch {
	case b.Marker != nil:
		return Key{b.TopicID, b.Partition, b.Marker.ProducerID}, true
	case b.Producer != nil:
		return Key{b.TopicID, b.Partition, b.Producer.ID}, true
	}
	return Key{}, false
}

// PartitionIndex returns the index of a partition in Partitions.
func (p *Plan) PartitionIndex(k PartitionKey) (int, bool) {
	i, ok := p.partIndex[k]
	return i, ok
}

// ProducerIndex returns the index of a producer's state in Producers.
func (p *Plan) ProducerIndex(k Key) (int, bool) {
	i, ok := p.prodIndex[k]
	return i, ok
}

// OpenTxnIndex returns the index of an open-transaction row in OpenTxns.
func (p *Plan) OpenTxnIndex(k Key) (int, bool) {
	i, ok := p.txnIndex[k]
	return i, ok
}

// sequence judges every batch in order and assigns the accepted ones
// their offsets.
func (p *Plan) sequence(ctx context.Context, rows CommitRows, batches []metadata.BatchCommit) error {
	for i := range batches {
		b := &batches[i]
		ref := p.refs[i]
		pc := &p.Partitions[ref.part]
		if !pc.Exists {
			p.Results[i].Err = pc.Missing
			continue
		}
		if m := b.Marker; m != nil {
			if err := p.checkMarker(ctx, rows, m); err != nil {
				if !errors.Is(err, metadata.ErrInvalidTxnState) && !errors.Is(err, metadata.ErrInvalidProducerEpoch) {
					return err
				}
				p.Results[i].Err = err
				continue
			}
			st := &p.Producers[ref.prod]
			changed, err := st.Mark(m.Epoch)
			if err != nil {
				p.Results[i].Err = err
				continue
			}
			st.Dirty = st.Dirty || changed
			p.marked(ref.txn, pc.Next, m.Commit)
		} else if pb := b.Producer; pb != nil {
			st := &p.Producers[ref.prod]
			res := st.Check(pb.Epoch, pb.FirstSequence, b.Records)
			if res.Err != nil || res.Duplicate {
				p.Results[i] = res
				continue
			}
			if b.Transactional {
				if err := p.checkTxnWrite(ctx, rows, b); err != nil {
					if !errors.Is(err, metadata.ErrInvalidTxnState) && !errors.Is(err, metadata.ErrInvalidProducerEpoch) {
						return err
					}
					p.Results[i].Err = err
					continue
				}
				if o := &p.OpenTxns[ref.txn]; o.Closed {
					o.First, o.Closed, o.Touched = pc.Next, false, true
				}
			}
			st.Record(pb.Epoch, pb.FirstSequence, b.Records, pc.Next)
			st.Dirty = true
		}
		p.Results[i].BaseOffset = pc.Next
		if pc.lastExt >= 0 && pc.lastEnd == b.ByteOffset {
			e := &p.Extents[pc.lastExt]
			e.EndOffset += b.Records
			e.ByteLength += b.ByteLength
			e.Batches++
			e.MaxTimestamp = max(e.MaxTimestamp, b.MaxTimestamp)
		} else {
			pc.lastExt = len(p.Extents)
			p.Extents = append(p.Extents, Extent{Part: int(ref.part), BaseOffset: pc.Next, EndOffset: pc.Next + b.Records,
				ByteOffset: b.ByteOffset, ByteLength: b.ByteLength, Batches: 1, MaxTimestamp: b.MaxTimestamp})
		}
		pc.lastEnd = b.ByteOffset + b.ByteLength
		pc.Next += b.Records
		p.Appended++
	}
	// Extents of a partition whose batches hold no records are not
	// indexed: they cover no offsets.
	kept := p.Extents[:0]
	for _, e := range p.Extents {
		if p.Partitions[e.Part].Advanced() {
			kept = append(kept, e)
		}
	}
	p.Extents = kept
	return nil
}

// marked notes a marker appended at offset: it closes the open
// transaction, if any, recording its range when it aborted.
func (p *Plan) marked(ti int32, offset int64, commit bool) {
	o := &p.OpenTxns[ti]
	if o.Closed {
		return
	}
	o.Closed, o.Touched = true, true
	if !commit {
		p.Aborted = append(p.Aborted, AbortedRange{Key: o.Key, Part: o.Part, First: o.First, Last: offset})
	}
}

// checkMarker refuses a marker of a transaction that is no longer being
// ended: when the store holds a transaction for the marker's producer, it
// must be in PrepareCommit or PrepareAbort at the marker's epoch. A late
// marker, written by a coordinator that completed a transaction another
// one had already completed (after a coordinator move or a stalled
// write), would otherwise close the producer's next transaction on the
// partition, at the same epoch, while it is still open: its records would
// fall below the last stable offset and, if it later aborted, its range
// would be missing from the aborted list read_committed consumers get.
// The transaction row is read after the partition locks, so the
// coordinator cannot complete the transaction (and the producer cannot
// start the next one on the partition) between this check and the commit.
// A producer the store has no transaction for is not checked.
func (p *Plan) checkMarker(ctx context.Context, rows CommitRows, m *metadata.TxnMarker) error {
	t, err := p.producerTxn(ctx, rows, m.ProducerID)
	if err != nil || t == nil {
		return err
	}
	if m.Epoch < t.ProducerEpoch {
		return fmt.Errorf("%w: marker epoch %d, transaction epoch %d", metadata.ErrInvalidProducerEpoch, m.Epoch, t.ProducerEpoch)
	}
	if (t.State != metadata.TxnPrepareCommit && t.State != metadata.TxnPrepareAbort) || t.ProducerEpoch != m.Epoch {
		return fmt.Errorf("%w: marker at epoch %d for transaction %s, which is %s at epoch %d",
			metadata.ErrInvalidTxnState, m.Epoch, t.ID, t.State, t.ProducerEpoch)
	}
	return nil
}

// producerTxn reads a producer's transaction (nil when none) once per
// producer and commit.
func (p *Plan) producerTxn(ctx context.Context, rows CommitRows, producerID int64) (*metadata.Transaction, error) {
	if t, ok := p.txns[producerID]; ok {
		return t, nil
	}
	var t *metadata.Transaction
	got, err := rows.ProducerTxn(ctx, producerID)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		t = &got
	}
	if p.txns == nil {
		p.txns = map[int64]*metadata.Transaction{}
	}
	p.txns[producerID] = t
	return t, nil
}

// checkTxnWrite verifies that transactional batch b is part of its
// producer's ongoing transaction on its partition (CheckTxnWrite),
// reading the producer's transaction once per producer and commit.
func (p *Plan) checkTxnWrite(ctx context.Context, rows CommitRows, b *metadata.BatchCommit) error {
	pb := b.Producer
	t, err := p.producerTxn(ctx, rows, pb.ID)
	if err != nil {
		return err
	}
	return CheckTxnWrite(t, pb.Epoch, b.TopicID, b.Partition)
}

// A group commit (metadata.Log.CommitFiles) of files without producer
// state may read its partitions once, into the plan of all its files'
// batches (NewPlan of them all, the group plan), and sequence each file
// from there: ReadFrom gives a file's plan the partitions as the files
// before it left them, and Advanced moves them on once it is written.

// ReadFrom fills p's partitions from group, the group plan (Read
// already ran on it). It fails for a plan with producer state, which
// must be read from the store.
func (p *Plan) ReadFrom(group *Plan) error {
	if len(p.Producers) > 0 {
		return errors.New("sequencer: a group commit read a file with producer state from memory")
	}
	for i := range p.Partitions {
		pc := &p.Partitions[i]
		j, ok := group.partIndex[pc.PartitionKey]
		if !ok {
			return errors.New("sequencer: a partition missing from the group plan")
		}
		if g := &group.Partitions[j]; g.Exists {
			pc.Found(g.Next)
		} else {
			pc.Exists, pc.Missing = false, g.Missing
		}
	}
	return nil
}

// AdvanceGroup moves group's partitions to where p, a file of the group
// just written, left them. group's Start stays what the store held, so
// the group's write moves each partition from there.
func (p *Plan) AdvanceGroup(group *Plan) {
	for i := range p.Partitions {
		if pc := &p.Partitions[i]; pc.Advanced() {
			group.Partitions[group.partIndex[pc.PartitionKey]].Next = pc.Next
		}
	}
}
