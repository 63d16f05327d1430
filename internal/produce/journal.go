package produce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
)

// ErrJournalFull is returned (wrapping ErrStorage, so producers retry) for
// batches bound for the journal while it holds more than
// Config.JournalMaxBytes or its oldest entry is older than
// Config.JournalMaxAge.
var ErrJournalFull = fmt.Errorf("%w: journal of unsequenced files is full", ErrStorage)

// ErrJournalLate is returned (wrapping ErrStorage) for a journaled flush
// that became durable later than Config.JournalAckBound after its seal.
var ErrJournalLate = fmt.Errorf("%w: journaled file became durable too late to acknowledge", ErrStorage)

// A lightning flush goes through these steps, each safe to crash after:
//
//  1. Its data file is PUT into the journal,
//     journal/<agent>/<generation>/<sequence>-<name>: one request, and
//     that object is the file the store records. A crash or failure
//     before it is durable leaves at most a file nobody acknowledged
//     (recovery may commit it: its producers retry, at least once).
//  2. The generation's marker is PUT, only for the first journaled file
//     of the process and whenever the journal lease is not surely held
//     (Config.LeaseState), and the flush must be durable within
//     Config.JournalAckBound of its seal (see RecovererConfig.AckBound).
//  3. The producers are answered: base offset -1, the batches are durable.
//  4. In seal order with every other flush, its commit is retried until
//     it succeeds or reports ErrFileCommitted (recovery got there first),
//     alone or in a group with the acknowledged flushes that follow it
//     (CommitFiles: see commitJournaled). The commit advances the
//     generation's journal mark (metadata.JournalMark) in its own
//     transaction: recovery skips every file at or below the mark,
//     whatever has become of its file record since.
//     Only this agent, while it holds its journal lease (CommitGate),
//     commits its current generation's files. Nothing is deleted.
//
// A classic flush with Config.Ripcord joins at step 1 with an empty entry
// naming its file (already uploaded under files/) when its commit fails
// or stalls past RipcordCommitTimeout, or when ripcord turns active while
// it waits for earlier flushes to commit; its entry is deleted after the
// commit (a crash before leaves an entry at or below the mark, which
// recovery deletes).

// journalable reports whether a batch may be journaled: batches of
// idempotent and transactional producers and transaction markers must be
// checked by the store before they are acknowledged.
func journalable(bt *Batch) bool {
	return bt.Marker == nil && bt.Info.ProducerID < 0
}

func allJournalable(batches []Batch) bool {
	for i := range batches {
		if !journalable(&batches[i]) {
			return false
		}
	}
	return true
}

// journalRoomLocked fails with ErrJournalFull when n more bytes would pass
// the journal's bounds.
func (b *Batcher) journalRoomLocked(n int64) error {
	if b.journalBytes+n > b.cfg.JournalMaxBytes && b.journalBytes > 0 {
		return ErrJournalFull
	}
	for _, at := range b.journal {
		if time.Since(at) > b.cfg.JournalMaxAge {
			return ErrJournalFull
		}
	}
	return nil
}

func (b *Batcher) entryKey(f *flush, file string) string {
	return journal.Key(b.cfg.Agent, b.gen, f.seq, file)
}

// uploadJournaled writes a lightning flush's file into the journal, then
// acknowledges it.
func (b *Batcher) uploadJournaled(f *flush, key string, pieces [][]byte) error {
	err := b.upload(key, pieces)
	if err == nil {
		err = b.readyToAcknowledge(f)
	}
	if err != nil {
		b.dropUnacknowledged(key)
		return err
	}
	b.acknowledge(f)
	return nil
}

// journalUploaded journals a classic flush whose file is already in the
// bucket, then acknowledges it.
func (b *Batcher) journalUploaded(f *flush, key string) error {
	entry := b.entryKey(f, key)
	err := b.putEmpty(entry)
	if err == nil {
		err = b.readyToAcknowledge(f)
	}
	if err != nil {
		b.dropUnacknowledged(entry)
		return err
	}
	b.metrics.ripcordFlushes.Inc()
	b.acknowledge(f)
	return nil
}

// readyToAcknowledge is step 2: after f's file (or entry) is durable, the
// generation's marker is in the bucket and f is not too late.
func (b *Batcher) readyToAcknowledge(f *flush) error {
	if err := b.ensureMarker(); err != nil {
		return err
	}
	if time.Since(f.sealed) > b.cfg.JournalAckBound {
		return ErrJournalLate
	}
	return nil
}

// ensureMarker writes this process's generation marker unless it was
// written while the journal lease was surely held and the lease has not
// lapsed since. Written after the file it covers is durable: recovery by
// another agent deletes a marker only after listing the generation, and
// lists it again after the delete (see Recoverer).
func (b *Batcher) ensureMarker() error {
	held, lapses := true, uint64(0)
	if b.cfg.LeaseState != nil {
		held, lapses = b.cfg.LeaseState()
	}
	b.mu.Lock()
	ok := b.markerPut && held && lapses == b.markerLapses
	b.mu.Unlock()
	if ok {
		return nil
	}
	if err := b.putEmpty(journal.MarkerKey(b.cfg.Agent, b.gen)); err != nil {
		return err
	}
	b.mu.Lock()
	b.markerWritten = true
	if held {
		b.markerPut, b.markerLapses = true, lapses
	} else {
		b.markerPut = false
	}
	b.mu.Unlock()
	return nil
}

// dropUnacknowledged deletes, in the background, a journaled object whose
// flush failed, if this agent surely holds its journal lease (no one else
// can be recovering it). Otherwise, or if the delete fails, recovery may
// commit it: its producers got an error and retry, so at worst their
// batches are in the log twice.
func (b *Batcher) dropUnacknowledged(key string) {
	if b.cfg.LeaseState != nil {
		if held, _ := b.cfg.LeaseState(); !held {
			return
		}
	}
	b.deleteLater(key, "cannot delete the journaled object of a failed flush")
}

// deleteLater deletes key in the background (bounded to 10 s), logging
// failure with msg; Close waits for it.
func (b *Batcher) deleteLater(key, msg string) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.bucket.Delete(ctx, key); err != nil {
			b.logger.Warn(msg, "key", key, "err", err)
		}
	}()
}

// putEmpty writes an empty object, with the upload retries but outside
// the upload slots: an empty object must not halve the uploads of files.
func (b *Batcher) putEmpty(key string) error {
	var err error
	for attempt := 0; attempt < b.cfg.UploadAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-b.ctx.Done():
				return b.ctx.Err()
			}
		}
		if err = b.bucket.Put(b.ctx, key, nil); err == nil {
			return nil
		}
	}
	return err
}

// closeGeneration deletes this process's generation marker once every
// flush has finished, unless an acknowledged file is left for recovery,
// which finds generations by their markers.
func (b *Batcher) closeGeneration(ctx context.Context) {
	b.mu.Lock()
	written := b.markerWritten
	keep := b.leftForRecovery || len(b.journal) > 0
	b.mu.Unlock()
	if keep || !written {
		return
	}
	if err := b.bucket.Delete(ctx, journal.MarkerKey(b.cfg.Agent, b.gen)); err != nil {
		b.logger.Warn("cannot delete the journal generation marker; recovery will", "err", err)
	}
}

// acknowledge answers f's producers without offsets and counts f in the
// journal.
func (b *Batcher) acknowledge(f *flush) {
	for i := range f.batches {
		f.results[i] = Result{BaseOffset: -1, LogAppendTime: logAppendTime(&f.batches[i])}
	}
	b.mu.Lock()
	b.journal[f] = time.Now()
	b.journalBytes += int64(f.bytes)
	b.ready[f.seq] = f
	b.mu.Unlock()
	f.acked = true
	b.release(f)
	b.metrics.ackLatency.WithLabelValues("journaled").Observe(time.Since(f.sealed).Seconds())
	close(f.durable)
}

// failEarly answers f's producers with err before f's turn to commit.
func (b *Batcher) failEarly(f *flush, err error) {
	for i := range f.results {
		f.results[i].Err = fmt.Errorf("%w: %v", ErrStorage, err)
	}
	f.acked = true
	b.release(f)
	close(f.durable)
}

// deleteEntry deletes, for a ripcord flush whose file is committed, its
// entry in the background, off the commit order's critical path (a
// lightning flush's file is its own entry and stays). (The caller is a
// flush goroutine, so the WaitGroup is above zero.)
func (b *Batcher) deleteEntry(f *flush, key string) {
	if f.journaled {
		return
	}
	// On failure recovery finds the file recorded and deletes the entry.
	b.deleteLater(b.entryKey(f, key), "cannot delete journal entry of a committed file")
}

func (b *Batcher) forget(f *flush) {
	b.mu.Lock()
	b.forgetLocked(f)
	b.mu.Unlock()
}

// forgetLocked stops counting f in the journal.
func (b *Batcher) forgetLocked(f *flush) {
	if _, ok := b.journal[f]; ok {
		delete(b.journal, f)
		b.journalBytes -= int64(f.bytes)
	}
}

// commitAttemptTimeout bounds one commit attempt of a journaled flush, so
// that a stalled store cannot hold the attempt past the journal lease.
const commitAttemptTimeout = 10 * time.Second

// commitJournaled commits an acknowledged flush at its turn (every flush
// sealed before it has finished committing), retrying until it is
// committed or the batcher closes (the entry then stays for recovery).
// Results are nil when recovery had committed the file already.
//
// The backlog an outage leaves is sequenced in groups: each attempt takes
// along the acknowledged flushes that directly follow f in seal order
// (Batcher.ready; up to Config.JournalCommitMaxFiles and
// JournalCommitMaxBatches) and commits them all in one store transaction
// (Log.CommitFiles), in seal order, each file with its own journal mark.
// A flush so committed finds its results when its own turn comes; the
// turn after the group's last flush comes at once (settleGroup). Only
// the flush whose turn it is commits, so groups never overlap, and a
// flush that is not acknowledged (a classic one, or one still being
// made durable) ends the group: no file is sequenced before one sealed
// earlier.
func (b *Batcher) commitJournaled(f *flush) ([]metadata.BatchResult, error) {
	b.mu.Lock()
	grouped, res := f.grouped, f.groupRes
	b.mu.Unlock()
	if grouped {
		return res, nil
	}
	defer func() {
		b.mu.Lock()
		delete(b.ready, f.seq)
		b.mu.Unlock()
	}()
	backoff := 50 * time.Millisecond
	for {
		if b.cfg.CommitGate != nil {
			if err := b.cfg.CommitGate(b.ctx); err != nil {
				return nil, fmt.Errorf("journal lease: %w", err)
			}
		}
		group := b.groupOf(f)
		ctx, cancel := context.WithTimeout(b.ctx, commitAttemptTimeout)
		results, err := b.commitGroup(ctx, group)
		cancel()
		if err == nil {
			b.settleGroup(group, results)
			return results[0], nil
		}
		if b.ctx.Err() != nil {
			b.logger.Warn("batcher closing: journaled file left for recovery", "file", f.commit.Key)
			return nil, err
		}
		if b.cfg.Ripcord {
			b.ripcordOn(err)
		}
		b.metrics.journalRetries.Inc()
		select {
		case <-time.After(backoff):
		case <-b.ctx.Done():
			return nil, b.ctx.Err()
		}
		// At most half a second: the next attempt is what finds the store
		// back, and until then ripcord stays active; one attempt per
		// half second is no load on a store that is down.
		backoff = min(2*backoff, maxJournalBackoff)
	}
}

// maxJournalBackoff is the longest wait between two commit attempts of
// the journal.
const maxJournalBackoff = 500 * time.Millisecond

// groupOf returns f and the acknowledged flushes that follow it without a
// gap in seal order, within the group bounds.
func (b *Batcher) groupOf(f *flush) []*flush {
	group := []*flush{f}
	batches := len(f.commit.Batches)
	b.mu.Lock()
	defer b.mu.Unlock()
	for seq := f.seq + 1; len(group) < b.cfg.JournalCommitMaxFiles; seq++ {
		g, ok := b.ready[seq]
		if !ok || batches+len(g.commit.Batches) > b.cfg.JournalCommitMaxBatches {
			break
		}
		group = append(group, g)
		batches += len(g.commit.Batches)
	}
	return group
}

// commitGroup makes one commit attempt of group's files, in order, in
// one store transaction, and returns each file's results (nil for a file
// recovery had committed).
func (b *Batcher) commitGroup(ctx context.Context, group []*flush) ([][]metadata.BatchResult, error) {
	files := make([]metadata.FileCommit, len(group))
	for i, g := range group {
		files[i] = *g.commit
	}
	res, err := b.commitFiles(ctx, files)
	if err != nil {
		return nil, err
	}
	out := make([][]metadata.BatchResult, len(group))
	for i, r := range res {
		switch {
		case errors.Is(r.Err, metadata.ErrFileCommitted):
		case r.Err != nil:
			return nil, r.Err
		default:
			out[i] = r.Batches
		}
	}
	b.metrics.journalCommitFiles.Observe(float64(len(group)))
	return out, nil
}

// settleGroup accounts for a committed group: its flushes leave the
// journal, and ripcord ends if the journal is empty, at once (JournalStats
// never shows an empty journal with ripcord still active after a
// commit); each flush but the first, which is the caller's, gets its
// results for its turn; ripcord flushes' entries are deleted.
func (b *Batcher) settleGroup(group []*flush, results [][]metadata.BatchResult) {
	b.mu.Lock()
	for i, g := range group {
		b.forgetLocked(g)
		if i > 0 {
			g.grouped, g.groupRes = true, results[i]
			delete(b.ready, g.seq)
		}
	}
	b.ripcordOffLocked()
	b.mu.Unlock()
	for i, g := range group {
		b.deleteEntry(g, g.commit.Key)
		for j := range results[i] {
			if err := results[i][j].Err; err != nil {
				b.metrics.journalRefused.Inc()
				b.logger.Warn("acknowledged batch refused at commit", "file", g.commit.Key, "partition", g.batches[j].Partition, "err", err)
			}
		}
	}
	// Every flush of the group is committed: the turn passes to the one
	// after it now, in order, while each finishes on its own goroutine.
	for _, g := range group[1:] {
		g.endTurn()
	}
}

// commitClassic commits a classic flush after prev. With ripcord, a
// commit that fails or stalls, or ripcord turning active while the flush
// waits, makes it a journaled flush.
func (b *Batcher) commitClassic(f *flush, key string, size int64, commits []metadata.BatchCommit, prev <-chan struct{}) ([]metadata.BatchResult, error) {
	if !b.cfg.Ripcord || b.cfg.Agent == "" {
		return b.commitClassicGroup(f, metadata.FileCommit{Key: key, Size: size, Batches: commits}, prev)
	}
	b.mu.Lock()
	rc := b.ripcord
	b.mu.Unlock()
	if !allJournalable(f.batches) {
		// Batches the store must check first cannot be journaled: while
		// ripcord is active they fail at once rather than wait behind
		// the journal, and keep their place in the commit order.
		select {
		case <-prev:
			return b.commit(b.ctx, key, size, commits, nil)
		case <-rc:
			err := errors.New("metadata store unavailable (ripcord journals only batches without a producer ID)")
			b.failEarly(f, err)
			<-prev
			return nil, err
		}
	}
	select {
	case <-prev:
	case <-rc:
		if err := b.journalUploaded(f, key); err != nil {
			<-prev
			return nil, err
		}
		<-prev
		return b.commitJournaled(f)
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RipcordCommitTimeout)
	res, err := b.commit(ctx, key, size, commits, nil)
	cancel()
	if err == nil {
		b.ripcordOff()
		return res, nil
	}
	if b.ctx.Err() != nil {
		return nil, err
	}
	b.ripcordOn(err)
	if jerr := b.journalUploaded(f, key); jerr != nil {
		return nil, err
	}
	return b.commitJournaled(f)
}

// ripcordOn activates ripcord: eligible batches go to the journal until a
// commit succeeds again.
func (b *Batcher) ripcordOn(cause error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ripcordActive || !b.cfg.Ripcord {
		return
	}
	b.ripcordActive = true
	close(b.ripcord)
	b.metrics.ripcordActivations.Inc()
	b.logger.Warn("ripcord active: metadata store failing, journaling produce", "err", cause)
}

// ripcordOff ends ripcord once the store commits again and the journal
// has drained: until then new batches are journaled too, so producers
// are not made to wait behind the backlog.
func (b *Batcher) ripcordOff() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ripcordOffLocked()
}

func (b *Batcher) ripcordOffLocked() {
	if !b.ripcordActive || len(b.journal) > 0 {
		return
	}
	b.ripcordActive = false
	b.ripcord = make(chan struct{})
	b.logger.Info("ripcord inactive: metadata store committing again")
}

// JournalStats is what the journal holds: acknowledged files not yet
// sequenced, their bytes, and when the oldest was acknowledged.
type JournalStats struct {
	Files  int
	Bytes  int64
	Oldest time.Time
	// Ripcord reports whether ripcord is active.
	Ripcord bool
}

// JournalStats returns this batcher's journal state.
func (b *Batcher) JournalStats() JournalStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := JournalStats{Files: len(b.journal), Bytes: b.journalBytes, Ripcord: b.ripcordActive}
	for _, at := range b.journal {
		if st.Oldest.IsZero() || at.Before(st.Oldest) {
			st.Oldest = at
		}
	}
	return st
}
