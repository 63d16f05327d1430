package produce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	KnownFiles(ctx context.Context, keys []string) (map[string]bool, error)
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (metadata.Lease, error)
	ReleaseLease(ctx context.Context, l metadata.Lease) error
}

// RecovererConfig configures journal recovery.
type RecovererConfig struct {
	// Agent is this agent's journal name (Config.Agent).
	Agent string
	// Generation is the running batcher's generation: this agent's
	// entries of any other generation are an earlier process's, and are
	// recovered; those of this one are the batcher's to commit.
	Generation uint64
	// Interval is the time between recovery passes (default 10s).
	Interval time.Duration
	// LeaseTTL is the lifetime of journal leases (default 30s). An agent
	// renews its own every Interval and commits its journal only while it
	// is sure to hold it (within LeaseTTL/2 of the last renewal); another
	// agent may take the journal over once the lease has expired.
	LeaseTTL time.Duration
}

// Recoverer sequences journal entries nobody else will: those of this
// agent's earlier processes, and those of agents whose journal lease has
// expired (dead, or cut off from the store for longer than the lease). It
// also keeps this agent's own journal lease, which Gate checks before
// every commit of a journaled flush.
//
// Entries are committed in (generation, sequence) order, which is write
// order, one agent's journal at a time under that journal's lease
// ("journal/<agent>"), and each file exactly once: CommitFile refuses a key it has recorded
// (metadata.ErrFileCommitted), a file recorded before is only unlisted,
// and a file deleted after it was committed (compaction, retention) had
// its record kept until its object was gone, so an entry whose file is
// missing is dropped, never committed.
type Recoverer struct {
	cfg      RecovererConfig
	store    RecoveryStore
	bucket   objstore.Bucket
	onCommit func(...metadata.TopicPartition)
	metrics  *Metrics
	logger   *slog.Logger

	mu sync.Mutex // guards validUntil
	// validUntil is when this agent stops being sure it holds its own
	// journal lease (local clock).
	validUntil time.Time

	// written holds the entries' modification times of the current pass
	// (owned by the goroutine running it).
	written map[string]time.Time
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
// of agent's journal entries in the bucket if that is later (the previous
// process ran on a host whose clock is ahead of this one's), so that this
// process's entries sort after every earlier process's and recovery, by
// this agent or another, sequences them in write order.
func NextGeneration(ctx context.Context, bucket objstore.Bucket, agent string, now time.Time) (uint64, error) {
	gen := uint64(now.UnixNano())
	err := bucket.List(ctx, journal.AgentPrefix(agent), func(o objstore.Object) error {
		if e, ok := journal.Parse(o.Key); ok && e.Agent == agent && e.Generation >= gen {
			gen = e.Generation + 1
		}
		if m, ok := journal.ParseMarker(o.Key); ok && m.Agent == agent && m.Generation >= gen {
			gen = m.Generation + 1
		}
		return nil
	})
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
	r.validUntil = start.Add(r.cfg.LeaseTTL / 2)
	r.mu.Unlock()
	return nil
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

// RunOnce lists the journal and recovers what it may: this agent's
// earlier generations (under its own lease) and every other agent's
// journal whose lease it can take. The markers of the generations it
// recovered completely are deleted with their last entry.
func (r *Recoverer) RunOnce(ctx context.Context) error {
	byAgent := make(map[string]*agentJournal)
	var agents []string
	of := func(agent string) *agentJournal {
		j, ok := byAgent[agent]
		if !ok {
			j = &agentJournal{}
			byAgent[agent] = j
			agents = append(agents, agent)
		}
		return j
	}
	r.written = make(map[string]time.Time)
	err := r.bucket.List(ctx, journal.Prefix, func(o objstore.Object) error {
		if e, ok := journal.Parse(o.Key); ok {
			r.written[e.Key] = o.ModTime
			j := of(e.Agent)
			j.entries = append(j.entries, e)
		} else if m, ok := journal.ParseMarker(o.Key); ok {
			j := of(m.Agent)
			j.markers = append(j.markers, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list journal: %w", err)
	}
	var errs []error
	for _, agent := range agents {
		j := byAgent[agent]
		// Listing order is write order within one key layout; a journal
		// may hold entries of both (an older process's, then a newer's).
		slices.SortStableFunc(j.entries, func(a, b journal.Entry) int {
			return cmp.Or(cmp.Compare(a.Generation, b.Generation), cmp.Compare(a.Sequence, b.Sequence))
		})
		if agent == r.cfg.Agent {
			// Every other generation is an earlier process's, older or
			// not by this clock: a generation is a process's start time
			// on its own host's clock, so a restart on a host whose clock
			// is behind the previous one's picks a lower one.
			mine := func(gen uint64) bool { return gen == r.cfg.Generation }
			j.entries = slices.DeleteFunc(j.entries, func(e journal.Entry) bool { return mine(e.Generation) })
			j.markers = slices.DeleteFunc(j.markers, func(m journal.Marker) bool { return mine(m.Generation) })
			if len(j.entries) == 0 && len(j.markers) == 0 {
				continue
			}
			if err := r.Gate(ctx); err != nil {
				return err
			}
			errs = append(errs, r.recoverJournal(ctx, agent, j, nil))
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
		r.logger.Info("recovering the journal of an agent whose lease expired", "agent", agent, "entries", len(j.entries))
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
		errs = append(errs, r.recoverJournal(ctx, agent, j, renew))
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		r.store.ReleaseLease(rctx, lease)
		cancel()
	}
	return errors.Join(errs...)
}

// agentJournal is what one pass found of one agent's journal: entries in
// write order, and generation markers.
type agentJournal struct {
	entries []journal.Entry
	markers []journal.Marker
}

// recoverJournal settles j's entries and then, if all were settled,
// deletes j's markers: those generations' processes are gone (or, for an
// agent cut off from the store, have lost their journal: an entry it
// still writes is found by the next pass all the same).
func (r *Recoverer) recoverJournal(ctx context.Context, agent string, j *agentJournal, renew func(context.Context) error) error {
	if err := r.recover(ctx, agent, j.entries, renew); err != nil {
		return err
	}
	for _, m := range j.markers {
		if err := r.bucket.Delete(ctx, m.Key); err != nil {
			return fmt.Errorf("delete journal marker: %w", err)
		}
	}
	return nil
}

// recover settles entries, which are one agent's, in order, stopping at
// the first that cannot be settled now (later ones must not overtake it).
// renew, if set, keeps the journal's lease; nil means this agent's own
// (Gate).
func (r *Recoverer) recover(ctx context.Context, agent string, entries []journal.Entry, renew func(context.Context) error) error {
	if renew == nil {
		renew = r.Gate
	}
	r.reportBacklog(agent, entries)
	defer r.metrics.setBacklog(agent, JournalStats{})
	for i, e := range entries {
		if err := renew(ctx); err != nil {
			return fmt.Errorf("journal lease of %s: %w", agent, err)
		}
		result, err := r.settle(ctx, e)
		if err != nil {
			return fmt.Errorf("recover %s: %w", e.Key, err)
		}
		r.metrics.recovered.WithLabelValues(result).Inc()
		r.reportBacklog(agent, entries[i+1:])
	}
	if len(entries) > 0 {
		r.logger.Info("journal recovered", "agent", agent, "entries", len(entries))
	}
	return nil
}

// reportBacklog publishes what is left of a journal being recovered (its
// age is the oldest entry's).
func (r *Recoverer) reportBacklog(agent string, left []journal.Entry) {
	st := JournalStats{Files: len(left)}
	if len(left) > 0 {
		st.Oldest = r.written[left[0].Key]
	}
	r.metrics.setBacklog(agent, st)
}

// settle commits one entry's file unless it is recorded or missing, then
// deletes the entry, and says which it was.
func (r *Recoverer) settle(ctx context.Context, e journal.Entry) (string, error) {
	known, err := r.store.KnownFiles(ctx, []string{e.File})
	if err != nil {
		return "", err
	}
	result := "already"
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
				r.logger.Error("journaled file is corrupt; dropping its entry", "file", e.File, "err", perr)
				result = "corrupt"
				break
			}
			res, err := r.store.CommitFile(ctx, metadata.FileCommit{Key: e.File, Size: int64(len(data)), Batches: commits})
			switch {
			case errors.Is(err, metadata.ErrFileCommitted):
			case err != nil:
				return "", err
			default:
				result = "committed"
				r.notify(commits, res)
			}
		}
	}
	if err := r.bucket.Delete(ctx, e.Key); err != nil {
		return "", fmt.Errorf("delete entry: %w", err)
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
