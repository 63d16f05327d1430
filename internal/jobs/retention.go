package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

// extentsPerPage is how many extents one index query of a job returns.
const extentsPerPage = 256

// RunRetention applies retention.ms and retention.bytes to every topic whose
// cleanup.policy includes delete: it advances each partition's log start
// past the whole extents that have expired. retention.ms counts from the
// time an extent was committed, not from record timestamps (a producer's
// clock cannot make data live forever or vanish at once); retention.bytes
// keeps at least that many bytes, as Kafka does with segments. The
// extents' files are deleted later by RunFileDeletion.
func (r *Runner) RunRetention(ctx context.Context) error {
	return r.withLease(ctx, LeaseRetention, r.cfg.RetentionInterval, func(ctx context.Context, h *holding) error {
		list, err := r.store.ListTopics(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, t := range list {
			c := r.cleanupOf(t)
			if !c.Delete || (c.RetentionMs < 0 && c.RetentionBytes < 0) {
				continue
			}
			if err := h.renew(ctx); err != nil {
				return err
			}
			if err := r.retainTopic(ctx, t, c); err != nil && !errors.Is(err, metadata.ErrUnknownTopic) && !errors.Is(err, metadata.ErrUnknownPartition) {
				errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, err))
			}
		}
		return errors.Join(errs...)
	})
}

func (r *Runner) retainTopic(ctx context.Context, t metadata.Topic, c topics.Cleanup) error {
	var sizes map[int32]int64
	if c.RetentionBytes >= 0 {
		var err error
		if sizes, err = r.store.PartitionBytes(ctx, t.ID); err != nil {
			return err
		}
	}
	now := r.now()
	for p := int32(0); p < t.Partitions; p++ {
		st, err := r.store.PartitionState(ctx, t.ID, p)
		if err != nil {
			return err
		}
		target, reason, err := r.retentionTarget(ctx, t.ID, p, st, c, sizes[p], now)
		if err != nil {
			return err
		}
		if target <= st.LogStartOffset {
			continue
		}
		if _, err := r.store.AdvanceLogStart(ctx, t.ID, p, target); err != nil {
			return err
		}
		r.metrics.logStartMoves.WithLabelValues(reason).Inc()
		r.stats.logStarts.Add(1)
		r.logger.Debug("retention advanced log start", "topic", t.Name, "partition", p, "from", st.LogStartOffset, "to", target, "reason", reason)
	}
	return nil
}

// retentionTarget walks a partition's extents from its log start and returns
// the offset the log should start at: past every extent committed before
// now-retention.ms, and past the oldest extents while the rest still hold
// retention.bytes.
func (r *Runner) retentionTarget(ctx context.Context, topic metadata.TopicID, p int32, st metadata.PartitionState, c topics.Cleanup, size int64, now time.Time) (int64, string, error) {
	target, reason := st.LogStartOffset, ""
	var cutoff time.Time
	if c.RetentionMs >= 0 {
		cutoff = now.Add(-time.Duration(c.RetentionMs) * time.Millisecond)
	}
	remaining := size
	from := st.LogStartOffset
	for from < st.HighWatermark {
		exts, err := r.store.Extents(ctx, topic, p, from, extentsPerPage)
		if err != nil {
			return 0, "", err
		}
		if len(exts) == 0 {
			break
		}
		for _, e := range exts {
			switch {
			case c.RetentionMs >= 0 && e.CommittedAt.Before(cutoff):
				reason = "time"
			case c.RetentionBytes >= 0 && remaining-e.ByteLength >= c.RetentionBytes:
				reason = "bytes"
			default:
				return target, reason, nil
			}
			remaining -= e.ByteLength
			target = e.EndOffset
		}
		from = exts[len(exts)-1].EndOffset
	}
	return target, reason, nil
}
