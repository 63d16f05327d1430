package sequencer

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// memRows is an in-memory backend's side of CommitFile: tables as maps,
// applied by Write as a database would. It shows what Commit asks of a
// backend, without one.
type memRows struct {
	topics     map[metadata.TopicID]bool
	partitions map[PartitionKey]int64 // next offset
	producers  map[Key][]byte         // AppendRecent JSON; epoch in epochs
	epochs     map[Key]int16
	open       map[Key]int64
	aborted    []AbortedRange
	txns       map[int64]metadata.Transaction
	extents    []Extent // as written, Part resolved to keys below
	extentKeys []PartitionKey
	writes     int
}

func newMemRows() *memRows {
	return &memRows{topics: map[metadata.TopicID]bool{}, partitions: map[PartitionKey]int64{}, producers: map[Key][]byte{},
		epochs: map[Key]int16{}, open: map[Key]int64{}, txns: map[int64]metadata.Transaction{}}
}

func (m *memRows) Read(_ context.Context, p *Plan) error {
	for i := range p.Partitions {
		pc := &p.Partitions[i]
		if next, ok := m.partitions[pc.PartitionKey]; ok {
			pc.Found(next)
		} else {
			pc.NotFound(m.topics[pc.Topic])
		}
	}
	for i := range p.Producers {
		if recent, ok := m.producers[p.Producers[i].Key]; ok {
			if err := p.Producers[i].Load(m.epochs[p.Producers[i].Key], recent); err != nil {
				return err
			}
		}
	}
	for i := range p.OpenTxns {
		if first, ok := m.open[p.OpenTxns[i].Key]; ok {
			p.OpenTxns[i].Load(first)
		}
	}
	return nil
}

func (m *memRows) ProducerTxn(_ context.Context, pid int64) (metadata.Transaction, error) {
	t, ok := m.txns[pid]
	if !ok {
		return t, metadata.ErrNotFound
	}
	return t, nil
}

func (m *memRows) Write(_ context.Context, p *Plan) error {
	m.writes++
	for _, pc := range p.Partitions {
		if pc.Advanced() {
			if m.partitions[pc.PartitionKey] != pc.Start {
				return errors.New("partition moved")
			}
			m.partitions[pc.PartitionKey] = pc.Next
		}
	}
	for _, e := range p.Extents {
		m.extents = append(m.extents, e)
		m.extentKeys = append(m.extentKeys, p.Partitions[e.Part].PartitionKey)
	}
	for _, pr := range p.Producers {
		if pr.Dirty {
			m.producers[pr.Key] = AppendRecent(nil, pr.Recent)
			m.epochs[pr.Key] = pr.Epoch
		}
	}
	for _, o := range p.OpenTxns {
		switch {
		case o.Upsert():
			m.open[o.Key] = o.First
		case o.Delete():
			delete(m.open, o.Key)
		}
	}
	m.aborted = append(m.aborted, p.Aborted...)
	return nil
}

func TestCommitPlansExtents(t *testing.T) {
	ctx := context.Background()
	m := newMemRows()
	topic, unknownTopic := metadata.TopicID{1}, metadata.TopicID{2}
	m.topics[topic] = true
	p0, p1 := PartitionKey{topic, 0}, PartitionKey{topic, 1}
	m.partitions[p0], m.partitions[p1] = 10, 0
	b := func(part int32, at, length, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: topic, Partition: part, ByteOffset: at, ByteLength: length, Records: records, MaxTimestamp: at}
	}
	res, err := Commit(ctx, m, metadata.FileCommit{Key: "f", Size: 100, Batches: []metadata.BatchCommit{
		b(0, 0, 10, 2),  // [10,12)
		b(0, 10, 10, 3), // adjacent in the file: the same extent, [10,15)
		b(1, 20, 10, 0), // no records: takes no offsets, not indexed
		b(0, 40, 10, 1), // not adjacent: a new extent, [15,16)
		b(7, 50, 10, 1), // unknown partition of a known topic
		{TopicID: unknownTopic, ByteOffset: 60, ByteLength: 10, Records: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantBase := []int64{10, 12, 0, 15}
	for i, want := range wantBase {
		if res[i].Err != nil || res[i].BaseOffset != want {
			t.Errorf("batch %d = %+v, want base %d", i, res[i], want)
		}
	}
	if !errors.Is(res[4].Err, metadata.ErrUnknownPartition) || !errors.Is(res[5].Err, metadata.ErrUnknownTopic) {
		t.Errorf("missing partitions = %v, %v", res[4].Err, res[5].Err)
	}
	want := []Extent{
		{Part: 0, BaseOffset: 10, EndOffset: 15, ByteOffset: 0, ByteLength: 20, Batches: 2, MaxTimestamp: 10},
		{Part: 0, BaseOffset: 15, EndOffset: 16, ByteOffset: 40, ByteLength: 10, Batches: 1, MaxTimestamp: 40},
	}
	if !reflect.DeepEqual(m.extents, want) || m.partitions[p0] != 16 || m.partitions[p1] != 0 {
		t.Fatalf("extents %+v, next offsets %d, %d; want %+v, 16, 0", m.extents, m.partitions[p0], m.partitions[p1], want)
	}

	// A file of nothing but failures writes nothing.
	res, err = Commit(ctx, m, metadata.FileCommit{Key: "g", Batches: []metadata.BatchCommit{b(7, 0, 10, 1)}})
	if err != nil || res[0].Err == nil || m.writes != 1 {
		t.Fatalf("failed-only commit = %+v, %v; writes %d, want 1", res, err, m.writes)
	}
}

func TestCommitIdempotentAndTransactional(t *testing.T) {
	ctx := context.Background()
	m := newMemRows()
	topic := metadata.TopicID{1}
	m.topics[topic] = true
	pk := PartitionKey{topic, 0}
	m.partitions[pk] = 0
	const pid = 7
	k := Key{topic, 0, pid}
	m.txns[pid] = metadata.Transaction{ID: "x", ProducerID: pid, ProducerEpoch: 1, State: metadata.TxnOngoing,
		Partitions: []metadata.TxnPartition{{TopicID: topic}}}
	batch := func(at int64, first int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: topic, ByteOffset: at, ByteLength: 10, Records: records,
			Producer: &metadata.ProducerBatch{ID: pid, Epoch: 1, FirstSequence: first}, Transactional: true}
	}
	if _, err := Commit(ctx, m, metadata.FileCommit{Key: "f1", Batches: []metadata.BatchCommit{batch(0, 0, 2)}}); err != nil {
		t.Fatal(err)
	}
	if m.open[k] != 0 {
		t.Fatalf("open transaction rows = %+v, want first offset 0", m.open)
	}
	// A retry between two new batches: a duplicate with its original
	// offset, and the index splits around it.
	res, err := Commit(ctx, m, metadata.FileCommit{Key: "f2", Batches: []metadata.BatchCommit{
		batch(0, 2, 1), batch(10, 0, 2), batch(20, 3, 1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].BaseOffset != 2 || !res[1].Duplicate || res[1].BaseOffset != 0 || res[2].BaseOffset != 3 {
		t.Fatalf("results = %+v", res)
	}
	if n := len(m.extents); n != 3 || m.extents[1].ByteOffset != 0 || m.extents[2].ByteOffset != 20 {
		t.Fatalf("extents = %+v, want [0,10) and [20,30) of f2 indexed apart", m.extents)
	}
	// The abort marker closes the transaction and records its range.
	prepared := m.txns[pid]
	prepared.State = metadata.TxnPrepareAbort
	m.txns[pid] = prepared
	res, err = Commit(ctx, m, metadata.FileCommit{Key: "m", Batches: []metadata.BatchCommit{
		{TopicID: topic, ByteLength: 10, Records: 1, Marker: &metadata.TxnMarker{ProducerID: pid, Epoch: 1}},
	}})
	if err != nil || res[0].Err != nil || res[0].BaseOffset != 4 {
		t.Fatalf("marker = %+v, %v", res, err)
	}
	if _, open := m.open[k]; open || len(m.aborted) != 1 || m.aborted[0].First != 0 || m.aborted[0].Last != 4 {
		t.Fatalf("after abort: open %+v, aborted %+v", m.open, m.aborted)
	}
	// A batch of an older epoch is fenced; the producer's state is kept.
	old := batch(0, 4, 1)
	old.Producer.Epoch = 0
	if res, _ := Commit(ctx, m, metadata.FileCommit{Key: "o", Batches: []metadata.BatchCommit{old}}); !errors.Is(res[0].Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch = %+v", res[0])
	}
}
