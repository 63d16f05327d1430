package metadatatest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// SharedOpener returns two stores on one fresh, empty database, as two
// agents of a cluster open it; the suite closes them.
type SharedOpener func(t *testing.T) (metadata.Store, metadata.Store)

// RunShared runs the conformance tests of stores that share a database.
func RunShared(t *testing.T, open SharedOpener) {
	tests := []struct {
		name string
		fn   func(*testing.T, metadata.Store, metadata.Store)
	}{
		{"ConcurrentCommitsToSamePartitions", testSharedCommits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			tt.fn(t, a, b)
		})
	}
}

// testSharedCommits has two stores commit, round after round and at the
// same time, files that touch the same partitions (listed in opposite
// orders), each with its own idempotent producer on every partition, and
// both with the same batch of a third producer (a client that retried its
// batch through the other agent). Where a backend commits optimistically,
// these commits conflict and must retry. Every partition's offsets must
// be gap-free, each producer's batches in sequence order, and the shared
// batch appended once, the other commit reporting it a duplicate at the
// same offset.
func testSharedCommits(t *testing.T, a, b metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, a, "shared", 3)
	stores := []metadata.Store{a, b}
	var own [2]int64
	for w, s := range stores {
		id, err := s.AllocateProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		own[w] = id
	}
	shared, err := b.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 25
	type appended struct{ base, end int64 }
	var (
		byPart = map[int32][]appended{}
		// byProducer[producer][partition] lists the offsets of its batches
		// in sequence order.
		byProducer = map[int64]map[int32][]int64{}
	)
	for r := 0; r < rounds; r++ {
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results [2][]metadata.BatchResult
			files   [2][]metadata.BatchCommit
			errs    [2]error
		)
		for w, s := range stores {
			order := []int32{0, 1, 2}
			if w == 1 {
				order = []int32{2, 1, 0}
			}
			var batches []metadata.BatchCommit
			for _, p := range order {
				batches = append(batches, metadata.BatchCommit{TopicID: tp.ID, Partition: p, Records: 1,
					ByteOffset: int64(8 + 10*len(batches)), ByteLength: 10,
					Producer: &metadata.ProducerBatch{ID: own[w], FirstSequence: int32(r)}})
				if p == 1 {
					batches = append(batches, metadata.BatchCommit{TopicID: tp.ID, Partition: p, Records: 2,
						ByteOffset: int64(8 + 10*len(batches)), ByteLength: 10,
						Producer: &metadata.ProducerBatch{ID: shared, FirstSequence: int32(2 * r)}})
				}
			}
			files[w] = batches
			wg.Add(1)
			go func(w int, s metadata.Store) {
				defer wg.Done()
				<-start
				results[w], errs[w] = s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("r%d-w%d", r, w), Size: 100, Batches: batches})
			}(w, s)
		}
		close(start)
		wg.Wait()
		sharedBase := map[bool][]int64{}
		for w := range stores {
			if errs[w] != nil {
				t.Fatalf("round %d, store %d: CommitFile: %v", r, w, errs[w])
			}
			for j, res := range results[w] {
				bc := files[w][j]
				if res.Err != nil {
					t.Fatalf("round %d, store %d, batch %d: %v", r, w, j, res.Err)
				}
				if bc.Producer.ID == shared {
					sharedBase[res.Duplicate] = append(sharedBase[res.Duplicate], res.BaseOffset)
				} else if res.Duplicate {
					t.Fatalf("round %d, store %d, batch %d: duplicate", r, w, j)
				}
				if res.Duplicate {
					continue
				}
				byPart[bc.Partition] = append(byPart[bc.Partition], appended{res.BaseOffset, res.BaseOffset + bc.Records})
				if byProducer[bc.Producer.ID] == nil {
					byProducer[bc.Producer.ID] = map[int32][]int64{}
				}
				byProducer[bc.Producer.ID][bc.Partition] = append(byProducer[bc.Producer.ID][bc.Partition], res.BaseOffset)
			}
		}
		if len(sharedBase[false]) != 1 || len(sharedBase[true]) != 1 || sharedBase[false][0] != sharedBase[true][0] {
			t.Fatalf("round %d: the shared batch's results: appended at %v, duplicate at %v; want one of each, at one offset",
				r, sharedBase[false], sharedBase[true])
		}
	}
	for p, rs := range byPart {
		sort.Slice(rs, func(i, j int) bool { return rs[i].base < rs[j].base })
		next := int64(0)
		for _, r := range rs {
			if r.base != next {
				t.Fatalf("partition %d: batch at %d follows offset %d (gap or overlap)", p, r.base, next)
			}
			next = r.end
		}
		for _, s := range stores {
			st, err := s.PartitionState(ctx, tp.ID, p)
			if err != nil || st.HighWatermark != next {
				t.Fatalf("partition %d: state %+v, %v; want high watermark %d", p, st, err, next)
			}
		}
	}
	for id, parts := range byProducer {
		for p, offsets := range parts {
			if !sort.SliceIsSorted(offsets, func(i, j int) bool { return offsets[i] < offsets[j] }) {
				t.Fatalf("producer %d, partition %d: batches in sequence order got offsets %v", id, p, offsets)
			}
		}
	}
}
