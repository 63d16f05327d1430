package produce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Flushes commit one at a time, in seal order: a flush whose file is
// uploaded waits for the flush sealed before it to finish committing.
// While one commit runs (a store transaction and its sync), the next
// files finish uploading and queue up behind it. The flush whose turn
// comes takes those waiting right behind it, without a gap in seal
// order, into its own store transaction (Log.CommitFiles, which
// sequences them as CommitFile would one after the other): one
// transaction and one sync for the queue instead of one each, and each
// flush of it answered as soon as that transaction commits. Nothing
// waits to form a group; a flush alone commits alone. Classic flushes
// group with classic flushes (commitClassicGroup), journaled ones with
// journaled ones (commitJournaled); a flush of the other kind, or one
// still uploading, ends a group.

// commitClassicGroup commits a classic flush (without ripcord), file its
// commit, at its turn (when prev is closed): with the classic flushes
// waiting right behind it, or, if an earlier flush took it into its
// group, by taking that group's results for it.
func (b *Batcher) commitClassicGroup(f *flush, file metadata.FileCommit, prev <-chan struct{}) ([]metadata.BatchResult, error) {
	b.mu.Lock()
	f.file = file
	b.waitingClassic[f.seq] = f
	b.mu.Unlock()
	<-prev

	b.mu.Lock()
	if f.grouped {
		// An earlier flush committed this one; its group ended this
		// flush's predecessor's turn only after setting the results.
		res, err := f.groupRes, f.groupErr
		b.mu.Unlock()
		return res, err
	}
	delete(b.waitingClassic, f.seq)
	group, files := []*flush{f}, []metadata.FileCommit{file}
	batches := len(file.Batches)
	for seq := f.seq + 1; len(group) < b.cfg.JournalCommitMaxFiles; seq++ {
		g, ok := b.waitingClassic[seq]
		if !ok || batches+len(g.file.Batches) > b.cfg.JournalCommitMaxBatches {
			break
		}
		delete(b.waitingClassic, seq)
		g.grouped = true
		group, files = append(group, g), append(files, g.file)
		batches += len(g.file.Batches)
	}
	b.mu.Unlock()

	res, err := b.commitFiles(b.ctx, files)
	b.mu.Lock()
	for i, g := range group {
		if i == 0 {
			continue
		}
		if err != nil {
			g.groupErr = err
		} else {
			g.groupRes, g.groupErr = res[i].Batches, res[i].Err
		}
	}
	b.mu.Unlock()
	// The group is committed (or failed as one): the turn passes along
	// it at once, while each of its flushes finishes on its own
	// goroutine.
	for _, g := range group[1:] {
		g.endTurn()
	}
	if err != nil {
		return nil, err
	}
	b.metrics.commitFiles.Observe(float64(len(group)))
	return res[0].Batches, res[0].Err
}

// commitFiles makes one commit attempt of files, in order, in one store
// transaction, and returns each file's result. An error means nothing
// was committed.
func (b *Batcher) commitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	if len(files) == 1 {
		c := files[0]
		res, err := b.commit(ctx, c.Key, c.Size, c.Batches, c.Journal)
		if errors.Is(err, metadata.ErrFileCommitted) {
			return []metadata.FileResult{{Err: err}}, nil
		}
		if err != nil {
			return nil, err
		}
		return []metadata.FileResult{{Batches: res}}, nil
	}
	start := time.Now()
	res, err := b.log.CommitFiles(ctx, files)
	took := time.Since(start).Seconds()
	b.metrics.commitLatency.Observe(took)
	var all []metadata.BatchCommit
	for i := range files {
		all = append(all, files[i].Batches...)
	}
	b.metrics.commitBySize.WithLabelValues(commitSizeClass(distinctPartitions(all))).Observe(took)
	if err == nil && len(res) != len(files) {
		err = fmt.Errorf("store answered %d results for %d files", len(res), len(files))
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
