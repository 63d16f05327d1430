// Package jobs runs the storage lifecycle in the background: retention
// (retention.ms by commit time and retention.bytes), compaction (merging
// small files so each partition's data is contiguous and its index stays
// small), key compaction for cleanup.policy=compact, deletion of files no
// extent references once a grace period has passed, and the sweep of orphan
// files a crash between upload and commit leaves in the bucket.
//
// Every job runs under a lease in the metadata store, so in a cluster one
// agent at a time runs it: a job first takes (or renews) its lease, renews it
// between units of work, and makes its metadata writes fenced by it
// (ReplaceExtents, ForgetFiles fail with metadata.ErrFenced once another
// agent has taken the lease over). Work that is safe to repeat (advancing a
// log start, deleting an object twice) is not fenced.
//
// Deleting objects is always delayed by the grace period: a file is deleted
// only once it has been unreferenced for that long (so fetches that looked
// up its extents before a swap or a retention pass have finished), and a
// bucket object no metadata knows is deleted only once it is older than the
// grace period (which must exceed the longest upload-to-commit time, or the
// sweeper would delete a file whose commit is still to come).
//
// Example (what the agent does):
//
//	r := jobs.New(jobs.Config{Holder: "1/abcd", CompactionInterval: time.Minute,
//		RetentionInterval: 5 * time.Minute, FileGracePeriod: time.Hour}, store, bucket, reg, logger)
//	r.Start()
//	defer r.Stop()
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/topics"
)

// Lease names.
const (
	LeaseRetention  = "retention"
	LeaseCompaction = "compaction"
	LeaseFiles      = "file-deletion"
)

// Config configures the background jobs.
type Config struct {
	// Holder identifies this agent in leases; it must differ between
	// agents (and between restarts, so a restarted agent does not inherit
	// a lease it cannot know it held).
	Holder string
	// CompactionInterval is how often compaction runs; 0 disables it.
	CompactionInterval time.Duration
	// RetentionInterval is how often retention, file deletion and the
	// orphan sweep run; 0 disables them.
	RetentionInterval time.Duration
	// FileGracePeriod is how long an unreferenced file stays in the bucket
	// before deletion, and how old an unknown object must be before the
	// orphan sweep deletes it. It must exceed any fetch's read time and any
	// upload-to-commit time.
	FileGracePeriod time.Duration
	// MaxExtentBytes caps the size of an extent compaction builds by
	// merging (default 16 MiB); FileTargetBytes is the size at which a
	// compaction output file is closed (default 64 MiB).
	MaxExtentBytes  int64
	FileTargetBytes int64
	// OnRun, if set, is told of every run this agent makes while holding
	// the job's lease (the agent emits job events). It must not block.
	OnRun func(Run)
	// TopicDefaults, if set, returns the defaults of topic configs that
	// the dynamic broker configs set (retention.ms from log.retention.ms,
	// …; dynconfig.Manager.TopicDefaults): a topic that does not set a
	// config gets these before the built-in default.
	TopicDefaults func() map[string]string
}

func (c *Config) setDefaults() {
	if c.MaxExtentBytes <= 0 {
		c.MaxExtentBytes = 16 << 20
	}
	if c.FileTargetBytes <= 0 {
		c.FileTargetBytes = 64 << 20
	}
	if c.Holder == "" {
		c.Holder = NewHolder("agent")
	}
}

// NewHolder returns a lease holder name: prefix plus a random suffix.
func NewHolder(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "/" + hex.EncodeToString(b[:])
}

// Runner runs the jobs. Its Run* methods may also be called directly (tests,
// tools); they take the job's lease like the background loops.
type Runner struct {
	cfg     Config
	store   metadata.Store
	bucket  objstore.Bucket
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time
	stats   stats

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex // guards held
	held map[string]metadata.Lease
}

// New returns a Runner; reg may be nil.
func New(cfg Config, store metadata.Store, bucket objstore.Bucket, reg prometheus.Registerer, logger *slog.Logger) *Runner {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &Runner{cfg: cfg, store: store, bucket: bucket, logger: logger.With("component", "jobs"), metrics: newMetrics(reg), now: time.Now}
}

// Start starts the background loops. Stop ends them.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.loop(ctx, LeaseRetention, r.cfg.RetentionInterval, r.RunRetention)
	r.loop(ctx, LeaseFiles, r.cfg.RetentionInterval, r.RunFileDeletion)
	r.loop(ctx, LeaseCompaction, r.cfg.CompactionInterval, r.RunCompaction)
}

// Stop cancels the loops, waits for them to return, and releases the
// leases this Runner holds, so another agent (or this one restarted) can
// take the jobs over at once instead of after the leases expire.
func (r *Runner) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, l := range r.held {
		if err := r.store.ReleaseLease(ctx, l); err != nil {
			r.logger.Warn("release lease", "lease", name, "err", err)
		}
		delete(r.held, name)
	}
}

// remember records the latest holding of a lease, for Stop to release.
func (r *Runner) remember(l metadata.Lease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[string]metadata.Lease{}
	}
	r.held[l.Name] = l
}

func (r *Runner) loop(ctx context.Context, name string, interval time.Duration, run func(context.Context) error) {
	if interval <= 0 {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := run(ctx); err != nil && ctx.Err() == nil {
				r.logger.Warn("background job failed", "job", name, "err", err)
			}
		}
	}()
}

// leaseTTL is how long a job's lease lasts without renewal: long enough
// for a slow run, short enough that a dead agent's jobs move on.
func leaseTTL(interval time.Duration) time.Duration {
	return min(max(3*interval, 30*time.Second), 10*time.Minute)
}

// holding is a job's lease while it runs; renew keeps it alive between
// units of work. It is used by one goroutine.
type holding struct {
	r     *Runner
	ttl   time.Duration
	lease metadata.Lease
	taken time.Time
}

// withLease runs fn holding the named lease. A lease held by another agent
// is not an error: that agent runs the job.
func (r *Runner) withLease(ctx context.Context, name string, interval time.Duration, fn func(context.Context, *holding) error) error {
	ttl := leaseTTL(interval)
	l, err := r.store.AcquireLease(ctx, name, r.cfg.Holder, ttl)
	if errors.Is(err, metadata.ErrLeaseHeld) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jobs: lease %s: %w", name, err)
	}
	r.remember(l)
	start := time.Now()
	before := r.stats.figures(name)
	h := &holding{r: r, ttl: ttl, lease: l, taken: time.Now()}
	err = fn(ctx, h)
	if r.cfg.OnRun != nil {
		figs := r.stats.figures(name)
		for k, v := range before {
			figs[k] -= v
		}
		r.cfg.OnRun(Run{Job: name, Started: start, Duration: time.Since(start), Err: err, Figures: figs})
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.metrics.runs.WithLabelValues(name, result).Inc()
	r.metrics.runSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	return err
}

// renew extends the lease once a third of its TTL has passed, failing if
// another agent has taken it over.
func (h *holding) renew(ctx context.Context) error {
	if time.Since(h.taken) < h.ttl/3 {
		return nil
	}
	l, err := h.r.store.AcquireLease(ctx, h.lease.Name, h.lease.Holder, h.ttl)
	if err != nil {
		return fmt.Errorf("jobs: renew lease %s: %w", h.lease.Name, err)
	}
	if l.Epoch != h.lease.Epoch {
		return fmt.Errorf("jobs: lease %s: %w (epoch %d, now %d)", h.lease.Name, metadata.ErrFenced, h.lease.Epoch, l.Epoch)
	}
	h.lease, h.taken = l, time.Now()
	h.r.remember(l)
	return nil
}

// newKey names a file the jobs write, in the write path's key scheme
// (files/<hour>/<nanos>-<random>.slc), so the orphan sweep covers it.
func newKey(now time.Time) string {
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("files/%s/%016x-%s.slc", now.UTC().Format("2006/01/02/15"), now.UnixNano(), hex.EncodeToString(r[:]))
}

type metrics struct {
	runs            *prometheus.CounterVec
	runSeconds      *prometheus.HistogramVec
	logStartMoves   *prometheus.CounterVec
	filesDeleted    *prometheus.CounterVec
	compactRead     prometheus.Counter
	compactWritten  prometheus.Counter
	compactMerged   prometheus.Counter
	compactConflict prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_jobs_runs_total",
			Help: "Background job runs by this agent (while holding the job's lease), by job and result."}, []string{"job", "result"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_jobs_run_seconds",
			Help: "Duration of background job runs.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"job"}),
		logStartMoves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_retention_log_start_advances_total",
			Help: "Partition log start offsets advanced by retention, by reason (time, bytes)."}, []string{"reason"}),
		filesDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_files_deleted_total",
			Help: "Objects deleted from the bucket, by reason (released: no longer referenced; orphan: never committed)."}, []string{"reason"}),
		compactRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_compaction_read_bytes_total",
			Help: "Bytes compaction read from the bucket."}),
		compactWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_compaction_written_bytes_total",
			Help: "Bytes compaction wrote to the bucket (files swapped in)."}),
		compactMerged: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_compaction_extents_replaced_total",
			Help: "Index extents compaction replaced."}),
		compactConflict: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_compaction_conflicts_total",
			Help: "Compaction swaps abandoned because the extents changed underneath."}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.runSeconds, m.logStartMoves, m.filesDeleted, m.compactRead, m.compactWritten, m.compactMerged, m.compactConflict)
	}
	return m
}

// Stats are totals of this Runner's compaction work, for tests and
// benchmarks (the same figures are exported as metrics).
type Stats struct {
	CompactionReadBytes    int64
	CompactionWrittenBytes int64
	ExtentsReplaced        int64
}

type stats struct {
	read, written, replaced atomic.Int64
	// For Run figures: log starts retention advanced, released and orphan
	// files deleted, compaction swaps abandoned.
	logStarts, released, orphans, conflicts atomic.Int64
}

// figures returns the counters a run of job reports, as totals so far.
func (s *stats) figures(job string) map[string]int64 {
	switch job {
	case LeaseCompaction:
		return map[string]int64{"bytes_read": s.read.Load(), "bytes_written": s.written.Load(),
			"extents_replaced": s.replaced.Load(), "swaps_abandoned": s.conflicts.Load()}
	case LeaseRetention:
		return map[string]int64{"log_starts_advanced": s.logStarts.Load()}
	case LeaseFiles:
		return map[string]int64{"released_files_deleted": s.released.Load(), "orphan_files_deleted": s.orphans.Load()}
	}
	return map[string]int64{}
}

// Run is the outcome of one run of a job, for Config.OnRun.
type Run struct {
	// Job is the job's lease name (LeaseCompaction, LeaseRetention,
	// LeaseFiles: file deletion and the orphan sweep).
	Job      string
	Started  time.Time
	Duration time.Duration
	Err      error
	// Figures are the run's counts (bytes read and written, extents
	// replaced, log starts advanced, files deleted…). They are this
	// agent's counters' growth during the run, so two concurrent direct
	// calls of the same Run* method share their figures.
	Figures map[string]int64
}

func (s *stats) add(read, written int64, replaced int) {
	s.read.Add(read)
	s.written.Add(written)
	s.replaced.Add(int64(replaced))
}

// Stats returns the compaction totals so far.
func (r *Runner) Stats() Stats {
	return Stats{CompactionReadBytes: r.stats.read.Load(), CompactionWrittenBytes: r.stats.written.Load(), ExtentsReplaced: r.stats.replaced.Load()}
}

// cleanupOf resolves a topic's cleanup settings through the dynamic topic
// defaults (Config.TopicDefaults).
func (r *Runner) cleanupOf(t metadata.Topic) topics.Cleanup {
	if r.cfg.TopicDefaults == nil {
		return topics.CleanupOf(t)
	}
	defaults := r.cfg.TopicDefaults()
	if len(defaults) == 0 {
		return topics.CleanupOf(t)
	}
	merged := make(map[string]string, len(defaults)+len(t.Configs))
	for k, v := range defaults {
		merged[k] = v
	}
	for k, v := range t.Configs {
		merged[k] = v
	}
	t.Configs = merged
	return topics.CleanupOf(t)
}
