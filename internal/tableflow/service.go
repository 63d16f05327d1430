package tableflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/sr"
)

// Service runs tableflow: it takes the leases of the configured tables it
// can get, ingests each owned table on a goroutine of its own, and keeps it
// maintained. Several processes with the same config share the tables.
type Service struct {
	cfg      *Config
	store    Store
	wh       *Warehouse
	cat      *Catalog
	registry *sr.Client
	metrics  *Metrics
	log      *slog.Logger
	// owner names this process in leases.
	owner string
	// LeaseTTL is how long a lease lasts without renewal.
	leaseTTL time.Duration
	// syncs keep the external catalogs up to date, one per catalog.
	syncs []*catalogSync
	// stopTest stops a service a test started.
	stopTest func()
}

// Options are the parts of a Service that are not in the config file.
type Options struct {
	Metrics  *Metrics
	Logger   *slog.Logger
	LeaseTTL time.Duration // default 15s
	// CatalogRetryMax caps the backoff between attempts to sync a failing
	// external catalog (default 30s).
	CatalogRetryMax time.Duration
}

// New opens the store and the bucket.
func New(ctx context.Context, cfg *Config, o Options) (*Service, error) {
	store, err := OpenStore(ctx, cfg.MetadataURL)
	if err != nil {
		return nil, err
	}
	wh, err := OpenWarehouse(ctx, cfg.DestinationBucketURL)
	if err != nil {
		store.Close()
		return nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	s := &Service{cfg: cfg, store: store, wh: wh, metrics: o.Metrics, log: o.Logger, owner: host + "-" + hex.EncodeToString(b[:]), leaseTTL: o.LeaseTTL}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.leaseTTL == 0 {
		s.leaseTTL = 15 * time.Second
	}
	s.cat = NewCatalog(store, wh, s.owner)
	retryMax := o.CatalogRetryMax
	if retryMax == 0 {
		retryMax = 30 * time.Second
	}
	for _, ec := range cfg.ExternalCatalogs {
		ext, err := openSQLCatalog(ec)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.syncs = append(s.syncs, newCatalogSync(ext, store, s.metrics, s.log, retryMax))
	}
	if len(s.syncs) > 0 {
		s.cat.committed = func(name string) {
			for _, cs := range s.syncs {
				cs.mark(name)
			}
		}
	}
	if cfg.SchemaRegistryURL != "" {
		if s.registry, err = sr.NewClient(sr.URLs(cfg.SchemaRegistryURL)); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Catalog is the service's Iceberg catalog (for the REST server).
func (s *Service) Catalog() *Catalog { return s.cat }

// Close releases the store, bucket and external catalogs.
func (s *Service) Close() error {
	errs := []error{s.store.Close(), s.wh.Close()}
	for _, cs := range s.syncs {
		errs = append(errs, cs.cat.Close())
	}
	return errors.Join(errs...)
}

func (s *Service) cluster(name string) SourceCluster {
	for _, c := range s.cfg.SourceClusters {
		if c.Name == name {
			return c
		}
	}
	return SourceCluster{}
}

// Run ingests until ctx ends. Every third of the lease TTL it tries to take
// the lease of one table it does not run. Each table whose lease it gets runs
// until it fails or loses the lease; then its lease is released and it is
// tried again on a later round.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	running := map[string]bool{} // guarded by mu
	retryAt := map[string]time.Time{}
	// The external catalogs start with every table marked, so a
	// registration a crash skipped is made now.
	for _, cs := range s.syncs {
		for _, t := range s.cfg.Tables {
			cs.mark(t.Name)
		}
		wg.Add(1)
		go func() { defer wg.Done(); cs.run(ctx) }()
	}
	tick := time.NewTicker(s.leaseTTL / 3)
	defer tick.Stop()
	for {
		// At most one new table per round, so processes started together
		// spread the tables between them instead of the first taking all.
		took := false
		for _, t := range s.cfg.Tables {
			if took {
				break
			}
			mu.Lock()
			busy := running[t.Name] || time.Now().Before(retryAt[t.Name])
			mu.Unlock()
			if busy {
				continue
			}
			ok, err := s.store.AcquireLease(ctx, t.Name, s.owner, s.leaseTTL)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn("tableflow: lease", "table", t.Name, "err", err)
				continue
			}
			if !ok {
				continue
			}
			took = true
			mu.Lock()
			running[t.Name] = true
			mu.Unlock()
			wg.Add(1)
			go func(t TableConfig) {
				defer wg.Done()
				err := s.runTable(ctx, t)
				mu.Lock()
				running[t.Name] = false
				if err != nil && ctx.Err() == nil {
					retryAt[t.Name] = time.Now().Add(2 * time.Second)
				}
				mu.Unlock()
			}(t)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// runTable ingests one owned table, renewing its lease, until ctx ends,
// the lease is lost or ingestion fails.
func (s *Service) runTable(ctx context.Context, t TableConfig) error {
	log := s.log.With("table", t.Name)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.metrics.owned.WithLabelValues(t.Name).Set(1)
	defer s.metrics.owned.WithLabelValues(t.Name).Set(0)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		tick := time.NewTicker(s.leaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ok, err := s.store.AcquireLease(ctx, t.Name, s.owner, s.leaseTTL)
			if ctx.Err() != nil {
				return
			}
			if err != nil || !ok {
				cancel(fmt.Errorf("%w: renew: ok=%v err=%v", ErrLeaseLost, ok, err))
				return
			}
		}
	}()
	w := &tableWorker{svc: s, cfg: t, log: log}
	err := w.run(ctx)
	cancel(err)
	<-renewDone
	// Release with a fresh context: the run's may be done.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if rerr := s.store.ReleaseLease(rctx, t.Name, s.owner); rerr != nil {
		log.Warn("tableflow: release lease", "err", rerr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("tableflow: table stopped", "err", err)
	}
	return err
}

// ensureTable loads the table, creating it from the config on first run.
func (s *Service) ensureTable(ctx context.Context, t TableConfig, dec decoder) (*table.Table, error) {
	ident := Ident(t.Name)
	tbl, err := s.cat.LoadTable(ctx, ident)
	if err == nil {
		return tbl, nil
	}
	if ok, cerr := s.cat.CheckTableExists(ctx, ident); cerr != nil || ok {
		return nil, err
	}
	cols, ids, err := dec.initialColumns(ctx)
	if err != nil {
		return nil, err
	}
	sc := initialSchema(cols, ids)
	spec, err := partitionSpec(sc, t.PartitionBy)
	if err != nil {
		return nil, fmt.Errorf("tableflow: %s: %w", t.Name, err)
	}
	props := dataFileProperties()
	props["write.target-file-size-bytes"] = fmt.Sprint(int64(s.cfg.TargetFileSize))
	props["sluice.source.topic"] = t.SourceTopic
	props["sluice.source.format"] = t.Format
	tbl, err = s.cat.Create(ctx, ident, sc, spec, props)
	if err != nil {
		return nil, fmt.Errorf("tableflow: create %s: %w", t.Name, err)
	}
	s.log.Info("tableflow: created table", "table", t.Name, "location", tbl.Location())
	return tbl, nil
}

// partitionSpec builds the spec for partition_by entries.
func partitionSpec(sc *iceberg.Schema, by []string) (iceberg.PartitionSpec, error) {
	var opts []iceberg.PartitionOption
	for i, p := range by {
		tr, col, err := parsePartition(p)
		if err != nil {
			return iceberg.PartitionSpec{}, err
		}
		f, ok := sc.FindFieldByName(col)
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition_by %q: no column %s", p, col)
		}
		transform, err := iceberg.ParseTransform(tr)
		if err != nil {
			return iceberg.PartitionSpec{}, err
		}
		name := col
		if tr != "identity" {
			name = col + "_" + transformSuffix(tr)
		}
		id := 1000 + i
		opts = append(opts, iceberg.AddPartitionFieldBySourceID(f.ID, name, transform, sc, &id))
	}
	if len(opts) == 0 {
		return *iceberg.UnpartitionedSpec, nil
	}
	return iceberg.NewPartitionSpecOpts(opts...)
}

func transformSuffix(tr string) string {
	for i, r := range tr {
		if r == '[' {
			return tr[:i]
		}
	}
	return tr
}

// dataFileProperties are the Parquet writer settings new tables get
// (tables keep them in their metadata; older tables keep iceberg-go's
// defaults). zstd at level 1 (klauspost's fastest) instead of the default
// level 3: on BenchmarkIngestJSON's records it spent no more CPU and wrote
// files about 40% smaller (127 KB against 208 KB for 10 MB of JSON);
// snappy and lz4 files were 3.5 times larger for no CPU saved, and
// turning dictionaries off cost CPU (more bytes to compress).
func dataFileProperties() iceberg.Properties {
	return iceberg.Properties{
		"write.parquet.compression-codec": "zstd",
		"write.parquet.compression-level": "1",
	}
}
