package tableflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"
	"gocloud.dev/blob"
)

// maintain runs one maintenance pass on the owned table: what is pending is
// committed first, so every maintenance snapshot carries the same offsets
// as the store. Each step commits on its own; a crash between steps leaves
// a valid table and, at worst, orphans for the next pass.
func (w *tableWorker) maintain(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	mc := w.svc.cfg.Maintenance
	if err := w.retain(ctx); err != nil {
		return err
	}
	if err := w.compact(ctx); err != nil {
		return err
	}
	if err := w.expire(ctx, mc.KeepSnapshots, time.Duration(mc.SnapshotMaxAge)); err != nil {
		return err
	}
	n, err := RemoveOrphans(ctx, w.svc.wh, w.tbl, time.Duration(mc.OrphanGracePeriod))
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.Info("tableflow: removed orphan files", "count", n)
	}
	return nil
}

// compact merges each partition's small files into files of about the
// target size, in one replace snapshot. Skipped while fewer than
// compaction_min_files small files share a partition.
func (w *tableWorker) compact(ctx context.Context) error {
	if w.tbl.CurrentSnapshot() == nil {
		return nil
	}
	scan, err := w.tbl.NewTransaction().Scan()
	if err != nil {
		return err
	}
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		return fmt.Errorf("tableflow: plan compaction: %w", err)
	}
	target := int64(w.svc.cfg.TargetFileSize)
	cfg := compaction.Config{
		TargetFileSizeBytes:  target,
		MinFileSizeBytes:     target * 3 / 4,
		MaxFileSizeBytes:     target * 9 / 5,
		MinInputFiles:        uint(w.svc.cfg.Maintenance.CompactionMinFiles),
		DeleteFileThreshold:  5,
		DeleteRatioThreshold: compaction.DefaultDeleteRatioThreshold,
		PackingLookback:      compaction.DefaultPackingLookback,
	}
	small := 0
	for _, t := range tasks {
		if t.File.FileSizeBytes() < cfg.MinFileSizeBytes {
			small++
		}
	}
	w.svc.metrics.debt.WithLabelValues(w.cfg.Name).Set(float64(small))
	plan, err := cfg.PlanCompaction(tasks)
	if err != nil {
		return err
	}
	if len(plan.Groups) == 0 {
		return nil
	}
	groups := make([]table.CompactionTaskGroup, 0, len(plan.Groups))
	for _, g := range plan.Groups {
		groups = append(groups, table.CompactionTaskGroup{PartitionKey: g.PartitionKey, Tasks: g.Tasks, TotalSizeBytes: g.TotalSizeBytes})
	}
	res, err := w.tbl.RewriteDataFiles(ctx, groups, table.RewriteDataFilesOptions{
		SnapshotProps: iceberg.Properties{offsetsProperty: encodeOffsets(w.committed)},
		GroupOptions:  []table.CompactionGroupOption{table.WithCompactionTargetFileSize(target)},
	})
	if err != nil {
		return fmt.Errorf("tableflow: compaction: %w", err)
	}
	if res.Table != nil {
		w.tbl = res.Table
	} else if w.tbl, err = w.svc.cat.LoadTable(ctx, w.tbl.Identifier()); err != nil {
		return err
	}
	w.svc.metrics.commits.WithLabelValues(w.cfg.Name, "compaction").Inc()
	w.log.Info("tableflow: compacted", "groups", len(groups), "input_files", plan.TotalInputFiles-plan.SkippedFiles)
	return nil
}

// expire drops snapshots beyond the newest keep that are older than
// maxAge. Their files are left to orphan cleanup, which deletes them once
// older than the grace period.
func (w *tableWorker) expire(ctx context.Context, keep int, maxAge time.Duration) error {
	if len(w.tbl.Metadata().Snapshots()) <= keep {
		return nil
	}
	before := len(w.tbl.Metadata().Snapshots())
	tx := w.tbl.NewTransaction()
	if err := tx.ExpireSnapshots(table.WithRetainLast(keep), table.WithOlderThan(maxAge), table.WithPostCommit(false)); err != nil {
		return fmt.Errorf("tableflow: expire snapshots: %w", err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		return fmt.Errorf("tableflow: commit expiry: %w", err)
	}
	w.tbl = tbl
	if after := len(tbl.Metadata().Snapshots()); after < before {
		w.svc.metrics.commits.WithLabelValues(w.cfg.Name, "expiry").Inc()
		w.log.Info("tableflow: expired snapshots", "count", before-after)
	}
	return nil
}

// Referenced returns every file the table's metadata reaches: metadata
// files (current and logged), manifest lists, manifests and data files of
// every snapshot.
func Referenced(tbl *table.Table) (map[string]bool, error) {
	fs, err := tbl.FS(context.Background())
	if err != nil {
		return nil, err
	}
	ref := map[string]bool{tbl.MetadataLocation(): true}
	for e := range tbl.Metadata().PreviousFiles() {
		ref[e.MetadataFile] = true
	}
	for _, s := range tbl.Metadata().Snapshots() {
		ref[s.ManifestList] = true
		manifests, err := s.Manifests(fs)
		if err != nil {
			return nil, err
		}
		for _, m := range manifests {
			ref[m.FilePath()] = true
			entries, err := m.FetchEntries(fs, false)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				ref[e.DataFile().FilePath()] = true
			}
		}
	}
	return ref, nil
}

// RemoveOrphans deletes files under the table's location that its metadata
// does not reach and that are older than grace: Parquet files of appends
// and compactions that crashed before their commit, their manifests and
// metadata files, and the files of expired snapshots. It returns how many
// it deleted.
func RemoveOrphans(ctx context.Context, wh *Warehouse, tbl *table.Table, grace time.Duration) (int, error) {
	ref, err := Referenced(tbl)
	if err != nil {
		return 0, fmt.Errorf("tableflow: orphan scan: %w", err)
	}
	prefix, ok := wh.Key(tbl.Location() + "/")
	if !ok {
		return 0, fmt.Errorf("tableflow: table location %s is outside the warehouse %s", tbl.Location(), wh.Root)
	}
	cutoff := time.Now().Add(-grace)
	var orphans []string
	it := wh.Bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if obj.IsDir || ref[wh.Root+"/"+obj.Key] || obj.ModTime.After(cutoff) {
			continue
		}
		orphans = append(orphans, obj.Key)
	}
	for _, k := range orphans {
		if err := wh.Bucket.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("tableflow: delete orphan %s: %w", k, err)
		}
	}
	return len(orphans), nil
}

// retain deletes the rows older than the table's retention, cut at the
// start of a UTC day so that, with a day (or coarser) partition on the
// column, whole partitions are dropped and no file is rewritten.
func (w *tableWorker) retain(ctx context.Context) error {
	if w.cfg.Retention <= 0 || w.tbl.CurrentSnapshot() == nil {
		return nil
	}
	f, ok := w.tbl.Schema().FindFieldByName(w.cfg.RetentionColumn)
	if !ok {
		return fmt.Errorf("tableflow: retention column %s is not in the table", w.cfg.RetentionColumn)
	}
	cutoff := time.Now().UTC().Add(-time.Duration(w.cfg.Retention)).Truncate(24 * time.Hour)
	var filter iceberg.BooleanExpression
	switch f.Type.(type) {
	case iceberg.TimestampTzType, iceberg.TimestampType:
		filter = iceberg.LessThan(iceberg.Reference(f.Name), iceberg.Timestamp(cutoff.UnixMicro()))
	case iceberg.DateType:
		filter = iceberg.LessThan(iceberg.Reference(f.Name), iceberg.Date(cutoff.Unix()/86400))
	default:
		return fmt.Errorf("tableflow: retention column %s is %s, not a timestamp or date", f.Name, f.Type)
	}
	before := w.tbl.CurrentSnapshot().SnapshotID
	tx := w.tbl.NewTransaction()
	if err := tx.Delete(ctx, filter, iceberg.Properties{offsetsProperty: encodeOffsets(w.committed)}); err != nil {
		return fmt.Errorf("tableflow: retention: %w", err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		return fmt.Errorf("tableflow: commit retention: %w", err)
	}
	w.tbl = tbl
	if s := tbl.CurrentSnapshot(); s != nil && s.SnapshotID != before {
		w.svc.metrics.commits.WithLabelValues(w.cfg.Name, "retention").Inc()
		w.log.Info("tableflow: retention dropped rows", "older_than", cutoff)
	}
	return nil
}
