package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// Compaction tuning.
const (
	// mergeFanIn is how many similar-sized extents make a merge: a group
	// merges only when its largest extent is at most 1/mergeFanIn of the
	// group's bytes, so each byte is rewritten about log_fanIn(max/flush)
	// times (size-tiered) rather than once per flush.
	mergeFanIn = 4
	// partitionsPerRun bounds how many partitions one run looks at.
	partitionsPerRun = 1000
	// extentsPerPartition bounds how many extents of one partition one run
	// considers.
	extentsPerPartition = 4096
)

// compactableEnd is the offset below which compaction may rewrite a
// partition's data; it never touches offsets at or above it: the last
// stable offset, so the data of open transactions (whose markers and
// aborted ranges are still to come) is left as written.
func compactableEnd(st metadata.StableState) int64 {
	return min(st.LastStableOffset, st.HighWatermark)
}

// RunCompaction merges small extents into larger ones: for the partitions
// with the most extents, runs of adjacent small extents are read, their
// batches written (with their final base offsets) into one chunk of a new
// file, and the extents swapped for one in a single metadata transaction
// that fails cleanly if any of them changed meanwhile. Topics with
// cleanup.policy=compact are also key-compacted (keycompact.go). Replaced
// files are deleted by RunFileDeletion after the grace period.
func (r *Runner) RunCompaction(ctx context.Context) error {
	return r.withLease(ctx, LeaseCompaction, r.cfg.CompactionInterval, func(ctx context.Context, h *holding) error {
		if err := r.mergeExtents(ctx, h); err != nil {
			return err
		}
		return r.compactKeys(ctx, h)
	})
}

// mergeGroup is a run of adjacent extents of one partition to merge.
type mergeGroup struct {
	topic     metadata.TopicID
	partition int32
	extents   []metadata.Extent
	bytes     int64
}

// planMerges picks, from one partition's extents in offset order, the runs
// to merge: adjacent extents (no offset gap) below maxBytes whose total
// stays within maxBytes and whose largest member is at most 1/mergeFanIn
// of the total.
func planMerges(exts []metadata.Extent, maxBytes int64) [][]metadata.Extent {
	var out [][]metadata.Extent
	for i := 0; i < len(exts); {
		var sum, largest int64
		j := i
		for j < len(exts) && exts[j].ByteLength < maxBytes && sum+exts[j].ByteLength <= maxBytes &&
			(j == i || exts[j].BaseOffset == exts[j-1].EndOffset) {
			sum += exts[j].ByteLength
			largest = max(largest, exts[j].ByteLength)
			j++
		}
		if j-i >= 2 && largest*mergeFanIn <= sum {
			out = append(out, exts[i:j])
			i = j
			continue
		}
		i++
	}
	return out
}

func (r *Runner) mergeExtents(ctx context.Context, h *holding) error {
	counts, err := r.store.ExtentCounts(ctx, r.cfg.MaxExtentBytes, mergeFanIn, partitionsPerRun)
	if err != nil {
		return err
	}
	out := &compactionFile{}
	for _, c := range counts {
		if err := h.renew(ctx); err != nil {
			return err
		}
		// Key-compacted topics are merged by key compaction itself.
		if t, err := r.store.TopicByID(ctx, c.TopicID); err != nil || r.cleanupOf(t).Compact {
			continue
		}
		exts, err := r.compactableExtents(ctx, c.TopicID, c.Partition)
		if err != nil {
			if errors.Is(err, metadata.ErrUnknownPartition) {
				continue
			}
			return err
		}
		for _, g := range planMerges(exts, r.cfg.MaxExtentBytes) {
			group := mergeGroup{topic: c.TopicID, partition: c.Partition, extents: g}
			for _, e := range g {
				group.bytes += e.ByteLength
			}
			if out.bytes > 0 && out.bytes+group.bytes > r.cfg.FileTargetBytes {
				if err := r.writeCompacted(ctx, h, out); err != nil {
					return err
				}
				out = &compactionFile{}
			}
			if err := r.addGroup(ctx, out, group); err != nil {
				if errors.Is(err, objstore.ErrNotFound) {
					// A file went away (retention got there first): skip.
					continue
				}
				return err
			}
		}
	}
	if out.bytes > 0 {
		return r.writeCompacted(ctx, h, out)
	}
	return nil
}

// compactableExtents lists a partition's extents from its log start that
// end at or before compactableEnd.
func (r *Runner) compactableExtents(ctx context.Context, topic metadata.TopicID, p int32) ([]metadata.Extent, error) {
	// Reading from the high watermark on leaves out the aborted
	// transactions, which compaction does not need.
	st, err := r.store.StableState(ctx, topic, p, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	end := compactableEnd(st)
	var out []metadata.Extent
	from := st.LogStartOffset
	for from < end && len(out) < extentsPerPartition {
		exts, err := r.store.Extents(ctx, topic, p, from, extentsPerPage)
		if err != nil {
			return nil, err
		}
		if len(exts) == 0 {
			break
		}
		for _, e := range exts {
			if e.EndOffset > end {
				return out, nil
			}
			out = append(out, e)
		}
		from = exts[len(exts)-1].EndOffset
	}
	return out, nil
}

// compactionFile accumulates the output of one compaction file.
type compactionFile struct {
	w      segment.Writer
	bytes  int64
	read   int64
	groups []compactedGroup
}

type compactedGroup struct {
	mergeGroup
	firstBatch, batches int   // positions in the writer's Add order
	length              int64 // bytes of the group's batches
	newExtents          []metadata.NewExtent
}

// addGroup reads a group's extents and adds their batches, with final base
// offsets, to the output file as one run.
func (r *Runner) addGroup(ctx context.Context, out *compactionFile, g mergeGroup) error {
	cg := compactedGroup{mergeGroup: g, firstBatch: out.batchCount()}
	var (
		batches [][]byte
		infos   []records.BatchInfo
		maxTS   int64 = -1
		latest  time.Time
	)
	for _, e := range g.extents {
		data, err := r.bucket.GetRange(ctx, e.FileKey, e.ByteOffset, e.ByteLength)
		if err != nil {
			return fmt.Errorf("compaction: read %s: %w", e.FileKey, err)
		}
		out.read += int64(len(data))
		if int64(len(data)) != e.ByteLength {
			return fmt.Errorf("compaction: %s: read %d bytes of %d", e.FileKey, len(data), e.ByteLength)
		}
		end, err := records.PatchBaseOffsets(data, e.BaseOffset)
		if err != nil {
			return fmt.Errorf("compaction: %s: %w", e.FileKey, err)
		}
		if end != e.EndOffset {
			return fmt.Errorf("compaction: %s: batches end at %d, index says %d", e.FileKey, end, e.EndOffset)
		}
		for len(data) > 0 {
			batch, rest, err := records.Next(data)
			if err != nil {
				return err
			}
			data = rest
			info, err := records.InfoOf(batch)
			if err != nil {
				return fmt.Errorf("compaction: %s: %w", e.FileKey, err)
			}
			batches, infos = append(batches, batch), append(infos, info)
		}
		maxTS = max(maxTS, e.MaxTimestamp)
		if e.CommittedAt.After(latest) {
			latest = e.CommittedAt
		}
	}
	for i, b := range batches {
		out.w.Add(g.topic, g.partition, b, infos[i])
		cg.length += int64(len(b))
	}
	cg.batches = len(batches)
	// The committed time of a merged extent is its newest part's, so
	// retention by commit time never removes data earlier than it would
	// have been without compaction.
	cg.newExtents = []metadata.NewExtent{{BaseOffset: g.extents[0].BaseOffset, EndOffset: g.extents[len(g.extents)-1].EndOffset,
		Batches: int32(len(batches)), MaxTimestamp: maxTS, CommittedAt: latest}}
	out.groups = append(out.groups, cg)
	out.bytes += g.bytes
	return nil
}

func (f *compactionFile) batchCount() int {
	n := 0
	for _, g := range f.groups {
		n += g.batches
	}
	return n
}

// writeCompacted uploads the file and swaps its extents in.
func (r *Runner) writeCompacted(ctx context.Context, h *holding, out *compactionFile) error {
	data, _, positions := out.w.FinishWithPositions()
	type partKey struct {
		topic     metadata.TopicID
		partition int32
	}
	swaps := map[partKey]*metadata.PartitionSwap{}
	var order []*metadata.PartitionSwap
	for _, g := range out.groups {
		k := partKey{g.topic, g.partition}
		s := swaps[k]
		if s == nil {
			s = &metadata.PartitionSwap{TopicID: g.topic, Partition: g.partition}
			swaps[k] = s
			order = append(order, s)
		}
		for _, e := range g.extents {
			s.Old = append(s.Old, metadata.ExtentRef{BaseOffset: e.BaseOffset, EndOffset: e.EndOffset, FileKey: e.FileKey})
		}
		ne := g.newExtents[0]
		// A group's batches are contiguous in its partition's chunk.
		ne.ByteOffset = int64(positions[g.firstBatch])
		ne.ByteLength = g.length
		s.New = append(s.New, ne)
	}
	repl := metadata.Replacement{Key: newKey(r.now()), Size: int64(len(data))}
	for _, s := range order {
		repl.Partitions = append(repl.Partitions, *s)
	}
	return r.swapIn(ctx, h, repl, data, out.read)
}

// swapIn uploads data as repl.Key and swaps the extents. An upload that took
// so long that the orphan sweep might already consider the file is
// abandoned; a swap that loses the race with other changes deletes the
// file at once (nothing references it).
func (r *Runner) swapIn(ctx context.Context, h *holding, repl metadata.Replacement, data []byte, read int64) error {
	start := time.Now()
	if err := r.bucket.Put(ctx, repl.Key, data); err != nil {
		return fmt.Errorf("compaction: upload %s: %w", repl.Key, err)
	}
	// The swap must land well inside the grace period: past it, the orphan
	// sweep (perhaps on another agent) may delete the still unrecorded file.
	deadline := start.Add(r.cfg.FileGracePeriod / 2)
	if time.Now().After(deadline) {
		return fmt.Errorf("compaction: upload of %s took %s, over half the file grace period; abandoned", repl.Key, time.Since(start))
	}
	if err := h.renew(ctx); err != nil {
		return err
	}
	swapCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := r.store.ReplaceExtents(swapCtx, h.lease, repl)
	if errors.Is(err, metadata.ErrExtentsChanged) || errors.Is(err, metadata.ErrFenced) {
		r.metrics.compactConflict.Inc()
		r.stats.conflicts.Add(1)
		r.logger.Info("compaction swap abandoned", "file", repl.Key, "err", err)
		return r.bucket.Delete(ctx, repl.Key)
	}
	if err != nil {
		return fmt.Errorf("compaction: swap %s: %w", repl.Key, err)
	}
	replaced := 0
	for _, p := range repl.Partitions {
		replaced += len(p.Old)
	}
	r.metrics.compactRead.Add(float64(read))
	r.metrics.compactWritten.Add(float64(len(data)))
	r.metrics.compactMerged.Add(float64(replaced))
	r.stats.add(read, int64(len(data)), replaced)
	r.logger.Debug("compacted", "file", repl.Key, "bytes", len(data), "extents_replaced", replaced, "partitions", len(repl.Partitions))
	return nil
}
