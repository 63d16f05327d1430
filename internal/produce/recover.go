package produce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// RecoveryStore is what journal recovery needs from the metadata store.
type RecoveryStore interface {
	CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error)
	CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error)
	KnownFiles(ctx context.Context, keys []string) (map[string]bool, error)
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (metadata.Lease, error)
	ReleaseLease(ctx context.Context, l metadata.Lease) error
	metadata.JournalMarks
}

// RecovererConfig configures journal recovery.
type RecovererConfig struct {
	// Agent is this agent's journal name (Config.Agent).
	Agent string
	// Generation is the running batcher's generation: this agent's
	// generations other than this one are earlier processes', and are
	// recovered; this one is the batcher's to commit.
	Generation uint64
	// Interval is the time between recovery passes (default 10s).
	Interval time.Duration
	// LeaseTTL is the lifetime of journal leases (default 30s). An agent
	// renews its own every Interval and commits its journal only while it
	// is sure to hold it (within LeaseTTL/2 of the last renewal); another
	// agent may take the journal over once the lease has expired.
	LeaseTTL time.Duration
	// AckBound is the agents' Config.JournalAckBound (default
	// DefaultJournalAckBound): recovery of another agent's journal lists
	// each generation twice, this long apart.
	AckBound time.Duration
}

// Recoverer sequences journaled files nobody else will: those of this
// agent's earlier processes, and those of agents whose journal lease has
// expired (dead, or cut off from the store for longer than the lease). It
// also keeps this agent's own journal lease, which Gate checks before
// every commit of a journaled flush.
//
// A pass lists the generation markers (journal-open/…, one per process
// that journaled and has not been recovered or stopped cleanly) and, for
// each generation it may recover, that generation's objects, skipping
// those at or below the generation's journal mark: they are sequenced,
// whatever has become of their file records since (retention and
// compaction delete them). The rest are committed in sequence order,
// several files per store transaction (CommitFiles), each file advancing
// the mark in the transaction that commits it, so a file is committed
// once however often recovery runs. One agent's journal is
// recovered at a time under that journal's lease ("journal/<agent>").
//
// Another agent's process may still be alive, cut off from the store, and
// still journaling. Its flushes are acknowledged only when durable within
// AckBound of their seal, so recovery lists such a generation, waits
// AckBound, lists it again, and sequences only up to the last file of the
// first listing: any acknowledged file that sorts before it is in the
// second. It deletes the marker only when the second listing had nothing
// newer, then lists once more and puts the marker back if something new
// appeared (the process writes its marker after its file whenever it is
// not sure of its lease, so one of the two sees the other).
type Recoverer struct {
	cfg      RecovererConfig
	store    RecoveryStore
	bucket   objstore.Bucket
	onCommit func(...metadata.TopicPartition)
	metrics  *Metrics
	logger   *slog.Logger

	mu sync.Mutex // guards validUntil and lapses
	// validUntil is when this agent stops being sure it holds its own
	// journal lease (local clock).
	validUntil time.Time
	// lapses counts the renewals that came after validUntil had passed.
	lapses uint64

	// The fields below are owned by the goroutine running passes.
	// written holds the objects' modification times of the current pass.
	written map[string]time.Time
	// legacy holds the generations found, on the first pass, by a listing
	// of the whole journal: older agents' markers and entries.
	legacy     map[genKey]bool
	legacyDone bool
}

type genKey struct {
	agent string
	gen   uint64
}

// NewRecoverer returns a Recoverer. onCommit is told the partitions each
// recovered file gave data, like the Batcher's.
func NewRecoverer(cfg RecovererConfig, store RecoveryStore, bucket objstore.Bucket, onCommit func(...metadata.TopicPartition), m *Metrics, logger *slog.Logger) *Recoverer {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.AckBound <= 0 {
		cfg.AckBound = DefaultJournalAckBound
	}
	if onCommit == nil {
		onCommit = func(...metadata.TopicPartition) {}
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Recoverer{cfg: cfg, store: store, bucket: bucket, onCommit: onCommit, metrics: m, logger: logger}
}

// NextGeneration returns a journal generation for a new process of agent:
// its start time on this host's clock, or one past the highest generation
// of agent's markers in the bucket if that is later (the previous process
// ran on a host whose clock is ahead of this one's), so that this
// process's files sort after every earlier process's, and recovery, by
// this agent or another, sequences them in write order.
func NextGeneration(ctx context.Context, bucket objstore.Bucket, agent string, now time.Time) (uint64, error) {
	gen := uint64(now.UnixNano())
	see := func(o objstore.Object) error {
		if m, ok := journal.ParseMarker(o.Key); ok && m.Agent == agent && m.Generation >= gen {
			gen = m.Generation + 1
		}
		if e, ok := journal.Parse(o.Key); ok && e.Agent == agent && e.Generation >= gen {
			gen = e.Generation + 1
		}
		return nil
	}
	if err := bucket.List(ctx, journal.AgentMarkerPrefix(agent), see); err != nil {
		return 0, err
	}
	// Older agents left no marker in journal-open/; this lists the
	// agent's sequenced files as well, once per process start.
	err := bucket.List(ctx, journal.Prefix+agent+"/", see)
	return gen, err
}

func leaseName(agent string) string { return "journal/" + agent }

// renew takes or renews this agent's own journal lease.
func (r *Recoverer) renew(ctx context.Context) error {
	start := time.Now()
	_, err := r.store.AcquireLease(ctx, leaseName(r.cfg.Agent), r.cfg.Agent, r.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if !start.Before(r.validUntil) {
		r.lapses++
	}
	r.validUntil = start.Add(r.cfg.LeaseTTL / 2)
	r.mu.Unlock()
	return nil
}

// LeaseState reports whether this agent surely holds its own journal
// lease now, and how many times it has renewed the lease after that
// assurance had lapsed (the first renewal counts). It is
// Config.LeaseState.
func (r *Recoverer) LeaseState() (held bool, lapses uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Now().Before(r.validUntil), r.lapses
}

// Gate blocks until this agent surely holds its own journal lease,
// renewing it as needed. It is Config.CommitGate.
func (r *Recoverer) Gate(ctx context.Context) error {
	for {
		r.mu.Lock()
		ok := time.Now().Before(r.validUntil)
		r.mu.Unlock()
		if ok {
			return nil
		}
		err := r.renew(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run renews the lease and runs a pass every Interval until ctx ends.
func (r *Recoverer) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.renew(ctx); err != nil && ctx.Err() == nil {
			r.logger.Debug("cannot renew journal lease", "err", err)
		}
		if err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("journal recovery pass failed; retrying next pass", "err", err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// RunOnce finds the generations that may need recovery and recovers what
// it may: this agent's earlier generations (under its own lease) and those
// of every other agent whose lease it can take.
func (r *Recoverer) RunOnce(ctx context.Context) error {
	r.written = make(map[string]time.Time)
	if !r.legacyDone {
		// Once per process: older agents marked a generation inside the
		// journal, and the oldest wrote no marker at all.
		r.legacy = make(map[genKey]bool)
		err := r.bucket.List(ctx, journal.Prefix, func(o objstore.Object) error {
			if e, ok := journal.Parse(o.Key); ok && !e.Resident() {
				r.legacy[genKey{e.Agent, e.Generation}] = true
			} else if m, ok := journal.ParseMarker(o.Key); ok {
				r.legacy[genKey{m.Agent, m.Generation}] = true
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list journal: %w", err)
		}
		r.legacyDone = true
	}
	gens := make(map[string]map[uint64]bool)
	var agents []string
	add := func(agent string, gen uint64) {
		if gens[agent] == nil {
			gens[agent] = make(map[uint64]bool)
			agents = append(agents, agent)
		}
		gens[agent][gen] = true
	}
	for g := range r.legacy {
		add(g.agent, g.gen)
	}
	err := r.bucket.List(ctx, journal.MarkerPrefix, func(o objstore.Object) error {
		if m, ok := journal.ParseMarker(o.Key); ok {
			add(m.Agent, m.Generation)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list journal markers: %w", err)
	}
	slices.Sort(agents)
	var errs []error
	for _, agent := range agents {
		list := slices.Sorted(maps.Keys(gens[agent]))
		if agent == r.cfg.Agent {
			// Every other generation is an earlier process's, older or
			// not by this clock: a generation is a process's start time
			// on its own host's clock, so a restart on a host whose clock
			// is behind the previous one's picks a lower one.
			list = slices.DeleteFunc(list, func(g uint64) bool { return g == r.cfg.Generation })
			if len(list) == 0 {
				continue
			}
			if err := r.Gate(ctx); err != nil {
				return err
			}
			errs = append(errs, r.recoverJournal(ctx, agent, list, nil))
			continue
		}
		lease, err := r.store.AcquireLease(ctx, leaseName(agent), r.cfg.Agent, r.cfg.LeaseTTL)
		if errors.Is(err, metadata.ErrLeaseHeld) {
			continue // alive, or someone is recovering it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.logger.Info("recovering the journal of an agent whose lease expired", "agent", agent, "generations", len(list))
		renewed := time.Now()
		renew := func(ctx context.Context) error {
			if time.Since(renewed) < r.cfg.LeaseTTL/4 {
				return nil
			}
			start := time.Now()
			if _, err := r.store.AcquireLease(ctx, leaseName(agent), r.cfg.Agent, r.cfg.LeaseTTL); err != nil {
				return err
			}
			renewed = start
			return nil
		}
		errs = append(errs, r.recoverJournal(ctx, agent, list, renew))
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		r.store.ReleaseLease(rctx, lease)
		cancel()
	}
	return errors.Join(errs...)
}

// recoverJournal recovers agent's generations gens, in order, stopping at
// the first that fails (a later one must not overtake it). renew, if set,
// keeps the journal's lease, which means the journal is another agent's;
// nil means this agent's own (Gate), whose earlier processes are gone.
func (r *Recoverer) recoverJournal(ctx context.Context, agent string, gens []uint64, renew func(context.Context) error) error {
	own := renew == nil
	if own {
		renew = r.Gate
	}
	marks, err := r.store.JournalMarks(ctx, agent)
	if err != nil {
		return fmt.Errorf("journal marks of %s: %w", agent, err)
	}
	for _, gen := range gens {
		if err := r.recoverGeneration(ctx, agent, gen, marks[gen], own, renew); err != nil {
			return err
		}
	}
	return nil
}

// listGeneration returns the files and entries of agent's generation gen
// above mark, in write order, and whether there is any at all.
func (r *Recoverer) listGeneration(ctx context.Context, agent string, gen, mark uint64) (above, sequenced []journal.Entry, err error) {
	err = r.bucket.List(ctx, journal.GenerationPrefix(agent, gen), func(o objstore.Object) error {
		e, ok := journal.Parse(o.Key)
		if !ok || e.Agent != agent || e.Generation != gen {
			return nil
		}
		if e.Sequence <= mark {
			sequenced = append(sequenced, e)
			return nil
		}
		r.written[e.Key] = o.ModTime
		above = append(above, e)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list journal generation: %w", err)
	}
	// Listing order is write order within one key layout; a generation
	// of an older agent may hold entries of two.
	slices.SortStableFunc(above, func(a, b journal.Entry) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return above, sequenced, nil
}

// recoverGeneration sequences what agent's generation gen holds above its
// mark, then deletes the generation's markers (see Recoverer).
func (r *Recoverer) recoverGeneration(ctx context.Context, agent string, gen, mark uint64, own bool, renew func(context.Context) error) error {
	if err := renew(ctx); err != nil {
		return fmt.Errorf("journal lease of %s: %w", agent, err)
	}
	entries, sequenced, err := r.listGeneration(ctx, agent, gen, mark)
	if err != nil {
		return err
	}
	// Entries at or below the mark are of committed files (a ripcord
	// entry whose delete failed): only the entry is left to delete.
	for _, e := range sequenced {
		if !e.Resident() {
			if err := r.bucket.Delete(ctx, e.Key); err != nil {
				return fmt.Errorf("delete sequenced entry: %w", err)
			}
		}
	}
	newer := false
	if !own && len(entries) > 0 {
		// The process may be alive: wait for any acknowledged file that
		// sorts before the last one seen to become visible.
		limit := entries[len(entries)-1].Sequence
		if err := r.sleep(ctx, r.cfg.AckBound, renew); err != nil {
			return err
		}
		if entries, _, err = r.listGeneration(ctx, agent, gen, mark); err != nil {
			return err
		}
		if i := slices.IndexFunc(entries, func(e journal.Entry) bool { return e.Sequence > limit }); i >= 0 {
			entries, newer = entries[:i], true
		}
	}
	last, err := r.recover(ctx, agent, gen, entries, renew)
	if err != nil {
		return err
	}
	if newer {
		return nil // the next pass goes on
	}
	for _, key := range []string{journal.MarkerKey(agent, gen), journal.LegacyMarkerKey(agent, gen)} {
		if err := r.bucket.Delete(ctx, key); err != nil {
			return fmt.Errorf("delete journal marker: %w", err)
		}
	}
	delete(r.legacy, genKey{agent, gen})
	if own {
		return nil // the process is gone: nothing more can come
	}
	again, _, err := r.listGeneration(ctx, agent, gen, max(mark, last))
	if err == nil && len(again) > 0 {
		err = r.bucket.Put(ctx, journal.MarkerKey(agent, gen), nil)
	}
	if err != nil {
		return fmt.Errorf("journal generation of %s written to during recovery: %w", agent, err)
	}
	return nil
}

// sleep waits d, renewing the lease on the way.
func (r *Recoverer) sleep(ctx context.Context, d time.Duration, renew func(context.Context) error) error {
	deadline := time.Now().Add(d)
	for {
		if err := renew(ctx); err != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		select {
		case <-time.After(min(left, r.cfg.LeaseTTL/8)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// recover settles entries, which are one generation's above its mark, in
// order, stopping at the first that cannot be settled now (later ones
// must not overtake it), and returns the last sequence it settled. Runs
// of journaled files are committed several per store transaction
// (commitGroup); entries that name a file elsewhere, and files that are
// missing or corrupt, are settled one at a time (settle).
func (r *Recoverer) recover(ctx context.Context, agent string, gen uint64, entries []journal.Entry, renew func(context.Context) error) (uint64, error) {
	r.reportBacklog(agent, entries)
	defer r.metrics.setBacklog(agent, JournalStats{})
	var last uint64
	for i := 0; i < len(entries); {
		if err := renew(ctx); err != nil {
			return last, fmt.Errorf("journal lease of %s: %w", agent, err)
		}
		if group := r.readGroup(ctx, entries[i:]); len(group) > 0 {
			if err := r.commitGroup(ctx, group); err != nil {
				return last, fmt.Errorf("recover %s and %d more: %w", group[0].entry.Key, len(group)-1, err)
			}
			i += len(group)
			last = entries[i-1].Sequence
			r.reportBacklog(agent, entries[i:])
			continue
		}
		e := entries[i]
		result, err := r.settle(ctx, e)
		if err != nil {
			return last, fmt.Errorf("recover %s: %w", e.Key, err)
		}
		last = e.Sequence
		r.metrics.recovered.WithLabelValues(result).Inc()
		i++
		r.reportBacklog(agent, entries[i:])
	}
	if len(entries) > 0 {
		r.logger.Info("journal recovered", "agent", agent, "generation", gen, "files", len(entries))
	}
	return last, nil
}

// recoveredFile is a journaled file read back for a group commit.
type recoveredFile struct {
	entry   journal.Entry
	size    int64
	commits []metadata.BatchCommit
	ok      bool // read and parsed
}

// recoverReadAhead is how many journaled files recovery reads from the
// bucket at once: a backlog of small files costs a GET's latency per
// file, which reading them one at a time would pay in series. A variable
// so that a measurement can compare it with 1.
var recoverReadAhead = 8

// readGroup reads the journaled files at the head of entries, in order,
// while they are files in the journal (resident) that read and parse,
// within the group bounds. It stops at anything else, which settle then
// handles alone (and reports on). Files are read recoverReadAhead at a
// time; a failure discards what was read after it.
func (r *Recoverer) readGroup(ctx context.Context, entries []journal.Entry) []recoveredFile {
	n := 0
	for n < len(entries) && n < DefaultJournalCommitMaxFiles && entries[n].Resident() {
		n++
	}
	var (
		group   []recoveredFile
		batches int
	)
	for start := 0; start < n; start += recoverReadAhead {
		chunk := r.readFiles(ctx, entries[start:min(start+recoverReadAhead, n)])
		for _, f := range chunk {
			if !f.ok || (len(group) > 0 && batches+len(f.commits) > DefaultJournalCommitMaxBatches) {
				return group
			}
			group = append(group, f)
			batches += len(f.commits)
		}
	}
	return group
}

// readFiles reads and parses entries' files concurrently; a file that
// could not be read or parsed is not ok.
func (r *Recoverer) readFiles(ctx context.Context, entries []journal.Entry) []recoveredFile {
	files := make([]recoveredFile, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			files[i].entry = e
			data, err := r.bucket.GetRange(ctx, e.File, 0, -1)
			if err != nil {
				return
			}
			commits, err := CommitsOfFile(data)
			if err != nil {
				return
			}
			files[i].size, files[i].commits, files[i].ok = int64(len(data)), commits, true
		})
	}
	wg.Wait()
	return files
}

// commitGroup commits group's files in one store transaction, in order,
// each advancing its generation's mark, and moves the mark to the last
// one if that file's commit did not (recorded already, or every batch
// refused).
func (r *Recoverer) commitGroup(ctx context.Context, group []recoveredFile) error {
	files := make([]metadata.FileCommit, len(group))
	for i, g := range group {
		files[i] = metadata.FileCommit{Key: g.entry.File, Size: g.size, Batches: g.commits,
			Journal: &metadata.JournalMark{Agent: g.entry.Agent, Generation: g.entry.Generation, Sequence: g.entry.Sequence}}
	}
	res, err := r.store.CommitFiles(ctx, files)
	if err == nil && len(res) != len(files) {
		err = fmt.Errorf("store answered %d results for %d files", len(res), len(files))
	}
	if err != nil {
		return err
	}
	results := make([]string, len(res))
	for i, fr := range res {
		switch {
		case errors.Is(fr.Err, metadata.ErrFileCommitted):
			results[i] = "already"
		case fr.Err != nil:
			return fr.Err
		case !slices.ContainsFunc(fr.Batches, func(b metadata.BatchResult) bool { return b.Err == nil }):
			results[i] = "refused"
		default:
			results[i] = "committed"
			r.notify(files[i].Batches, fr.Batches)
		}
	}
	if results[len(results)-1] != "committed" {
		if err := r.store.MarkJournal(ctx, *files[len(files)-1].Journal); err != nil {
			return err
		}
	}
	for _, res := range results {
		r.metrics.recovered.WithLabelValues(res).Inc()
	}
	return nil
}

// reportBacklog publishes what is left of a journal being recovered (its
// age is the oldest file's).
func (r *Recoverer) reportBacklog(agent string, left []journal.Entry) {
	st := JournalStats{Files: len(left)}
	if len(left) > 0 {
		st.Oldest = r.written[left[0].Key]
	}
	r.metrics.setBacklog(agent, st)
}

// settle commits one journaled file (or the file an entry names) above
// its generation's mark, advancing the mark; deletes an entry once its
// file is settled; and says what it was. A file that is recorded, missing
// or corrupt, or whose every batch the store refuses, advances the mark
// on its own.
func (r *Recoverer) settle(ctx context.Context, e journal.Entry) (string, error) {
	mark := metadata.JournalMark{Agent: e.Agent, Generation: e.Generation, Sequence: e.Sequence}
	result := "already"
	known := map[string]bool{}
	if !e.Resident() {
		// An entry of an older agent, which kept no marks: its file's
		// record, kept until the file is deleted, says it is sequenced.
		var err error
		if known, err = r.store.KnownFiles(ctx, []string{e.File}); err != nil {
			return "", err
		}
	}
	if !known[e.File] {
		data, err := r.bucket.GetRange(ctx, e.File, 0, -1)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			// Never durable (so never acknowledged), or committed and
			// deleted since: its record outlived the object.
			result = "missing"
		case err != nil:
			return "", err
		default:
			commits, perr := CommitsOfFile(data)
			if perr != nil {
				r.logger.Error("journaled file is corrupt; skipping it", "file", e.File, "err", perr)
				result = "corrupt"
				break
			}
			res, err := r.store.CommitFile(ctx, metadata.FileCommit{Key: e.File, Size: int64(len(data)), Batches: commits, Journal: &mark})
			switch {
			case errors.Is(err, metadata.ErrFileCommitted):
			case err != nil:
				return "", err
			default:
				result = "committed"
				r.notify(commits, res)
				if !slices.ContainsFunc(res, func(b metadata.BatchResult) bool { return b.Err == nil }) {
					// Nothing appended, so nothing recorded: the mark
					// did not move with it.
					result = "refused"
				}
			}
		}
	}
	if result != "committed" {
		if err := r.store.MarkJournal(ctx, mark); err != nil {
			return "", err
		}
	}
	if !e.Resident() {
		if err := r.bucket.Delete(ctx, e.Key); err != nil {
			return "", fmt.Errorf("delete entry: %w", err)
		}
	}
	return result, nil
}

func (r *Recoverer) notify(commits []metadata.BatchCommit, res []metadata.BatchResult) {
	seen := make(map[metadata.TopicPartition]struct{})
	var parts []metadata.TopicPartition
	for i, c := range commits {
		if i < len(res) && res[i].Err == nil {
			p := metadata.TopicPartition{Topic: c.TopicID, Partition: c.Partition}
			if _, ok := seen[p]; !ok {
				seen[p] = struct{}{}
				parts = append(parts, p)
			}
		}
	}
	if len(parts) > 0 {
		r.onCommit(parts...)
	}
}

// CommitsOfFile rebuilds a file's commit from the file alone: its index
// and the batches of each chunk, in file order (one partition's batches
// are in the order they were submitted).
func CommitsOfFile(data []byte) ([]metadata.BatchCommit, error) {
	f, err := segment.Parse(data)
	if err != nil {
		return nil, err
	}
	var commits []metadata.BatchCommit
	for i, e := range f.Entries {
		chunk := f.Chunk(i)
		pos := int64(e.Offset)
		for len(chunk) > 0 {
			batch, rest, err := records.Next(chunk)
			if err != nil {
				return nil, fmt.Errorf("chunk %d: %w", i, err)
			}
			commits = append(commits, metadata.BatchCommit{
				TopicID: metadata.TopicID(e.TopicID), Partition: e.Partition,
				ByteOffset: pos, ByteLength: int64(len(batch)),
				Records: records.Offsets(batch), MaxTimestamp: records.MaxTimestamp(batch),
			})
			pos += int64(len(batch))
			chunk = rest
		}
	}
	return commits, nil
}
