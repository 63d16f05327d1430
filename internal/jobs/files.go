package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/objstore"
)

// FilePrefix is where the write path and compaction put data files; the
// orphan sweep looks only there.
const FilePrefix = "files/"

// filesPerPass bounds the released files one pass deletes.
const filesPerPass = 1000

// RunFileDeletion deletes from the bucket the files no extent has referenced
// for the grace period, then sweeps orphans: objects under FilePrefix that
// no file record names and that are older than the grace period (a crash
// between upload and commit, or a compaction that lost its swap, leaves
// them).
func (r *Runner) RunFileDeletion(ctx context.Context) error {
	return r.withLease(ctx, LeaseFiles, r.cfg.RetentionInterval, func(ctx context.Context, h *holding) error {
		if err := r.deleteReleased(ctx, h); err != nil {
			return err
		}
		return r.sweepOrphans(ctx, h)
	})
}

func (r *Runner) deleteReleased(ctx context.Context, h *holding) error {
	if _, err := r.store.MarkReleasedFiles(ctx); err != nil {
		return fmt.Errorf("mark released files: %w", err)
	}
	files, err := r.store.ReleasedFiles(ctx, r.cfg.FileGracePeriod, filesPerPass)
	if err != nil {
		return fmt.Errorf("released files: %w", err)
	}
	var keys []string
	for _, f := range files {
		// The object goes first: a crash before ForgetFiles leaves a
		// record whose deletion is simply retried.
		if err := r.bucket.Delete(ctx, f.Key); err != nil {
			return fmt.Errorf("delete %s: %w", f.Key, err)
		}
		r.metrics.filesDeleted.WithLabelValues("released").Inc()
		r.stats.released.Add(1)
		keys = append(keys, f.Key)
	}
	if len(keys) == 0 {
		return nil
	}
	if err := h.renew(ctx); err != nil {
		return err
	}
	if err := r.store.ForgetFiles(ctx, h.lease, keys); err != nil {
		return fmt.Errorf("forget files: %w", err)
	}
	r.logger.Info("deleted released files", "files", len(keys))
	return nil
}

// errStopList ends a bucket listing early.
var errStopList = errors.New("stop listing")

func (r *Runner) sweepOrphans(ctx context.Context, h *holding) error {
	cutoff := r.now().Add(-r.cfg.FileGracePeriod)
	// Files named by journal entries are acknowledged and waiting to be
	// sequenced (ripcord): not orphans, however old. The journal is
	// listed first: an entry deleted after this listing belongs to a file
	// committed by then, which KnownFiles finds. Lightning files live in
	// the journal itself, outside FilePrefix: this sweep never sees them,
	// and they are deleted through their records, as every file is.
	journaled := make(map[string]bool)
	err := r.bucket.List(ctx, journal.Prefix, func(o objstore.Object) error {
		if e, ok := journal.Parse(o.Key); ok {
			journaled[e.File] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list journal: %w", err)
	}
	var (
		batch   []objstore.Object
		deleted int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys := make([]string, len(batch))
		for i, o := range batch {
			keys[i] = o.Key
		}
		known, err := r.store.KnownFiles(ctx, keys)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if known[k] || journaled[k] {
				continue
			}
			if err := r.bucket.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete orphan %s: %w", k, err)
			}
			r.metrics.filesDeleted.WithLabelValues("orphan").Inc()
			r.stats.orphans.Add(1)
			deleted++
		}
		batch = batch[:0]
		return h.renew(ctx)
	}
	err = r.bucket.List(ctx, FilePrefix, func(o objstore.Object) error {
		if !olderThan(o, cutoff) {
			return nil
		}
		batch = append(batch, o)
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopList) {
		return fmt.Errorf("list bucket: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	if deleted > 0 {
		r.logger.Info("deleted orphan files", "files", deleted)
	}
	return nil
}

// olderThan reports whether o was created before cutoff, by both its
// modification time and the creation time in its key (whichever is later
// counts, so a clock or a store that reports odd times errs on keeping).
func olderThan(o objstore.Object, cutoff time.Time) bool {
	if o.ModTime.IsZero() || !o.ModTime.Before(cutoff) {
		return false
	}
	if created, ok := keyTime(o.Key); ok && !created.Before(cutoff) {
		return false
	}
	return true
}

// keyTime parses the creation time out of a key of the form
// files/<hour>/<16 hex digits of UnixNano>-<random>.slc.
func keyTime(key string) (time.Time, bool) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	i := strings.IndexByte(base, '-')
	if i != 16 {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(base[:i], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(n)), true
}
