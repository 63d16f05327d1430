// Package agent wires one Sluice agent together: it opens the metadata store
// and the bucket named by URLs, builds the write and read paths, and serves
// the Kafka protocol and the HTTP endpoints. It is the only package that
// picks concrete backends.
package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/postgres"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/query"
	"github.com/sluicehq/sluice/internal/schemaregistry"
	"github.com/sluicehq/sluice/internal/tableflow"
	"github.com/sluicehq/sluice/internal/topics"
	"github.com/sluicehq/sluice/internal/txn"
)

// Config is everything an agent needs to start.
type Config struct {
	// BucketURL names the object storage: file:///dir, s3://bucket?…,
	// gs://bucket, azblob://container, mem:// (docs/deploy.md).
	BucketURL string
	// MetadataURL names the metadata store: sqlite:///path/to/file.db or
	// postgres://user:pass@host:5432/db?….
	MetadataURL string
	// Store and Bucket, when set, are used instead of opening MetadataURL
	// and BucketURL and are left open by Close: agents running in one
	// process share them (sluice dev --agents). A shared Store should be a
	// *metadata.Broadcast so each agent's long polls wake on the others'
	// commits.
	Store  metadata.Store
	Bucket objstore.Bucket
	// BucketTimeout bounds every object storage call, so a store that
	// stops answering produces retriable errors instead of hung uploads;
	// 0 means 30s.
	BucketTimeout time.Duration
	// KafkaAddr is the Kafka listener's address; port 0 picks a free one.
	// It and AdvertiseAddr describe the one PLAINTEXT listener used when
	// Listeners is empty.
	KafkaAddr string
	// AdvertiseAddr is the host:port clients are told to connect to; empty
	// means the listener's address.
	AdvertiseAddr string
	// Listeners are the Kafka listeners, each with its security protocol
	// (--listener); the first one's address is the agent's KafkaAddr.
	Listeners []ListenerConfig
	// Security configures TLS, SASL and the HTTP port's protection.
	Security SecurityConfig
	// HTTPAddr serves /healthz, /metrics and /debug/pprof; empty disables it.
	HTTPAddr string
	// NodeID is this agent's Kafka broker ID, unique in the cluster. A
	// negative value derives one from the advertised address (AutoNodeID).
	NodeID int32

	// Zone is the availability zone this agent runs in (reported as the
	// broker rack).
	Zone string
	// Roles are what this agent does (--roles): proxy serves Kafka, the
	// HTTP API and the zone peer cache; jobs runs the leased background
	// jobs; tableflow runs the Tableflow service of TableflowConfig. The
	// zero value means cluster.DefaultRoles (proxy and jobs).
	Roles cluster.Roles
	// AgentGroup is the agent group this agent serves (--agent-group; ""
	// is the default group): clients see only their group's agents.
	AgentGroup string
	// TableflowConfig is the tableflow.yaml the tableflow role runs.
	TableflowConfig string
	// HeartbeatInterval is how often the agent refreshes its registration;
	// AgentTTL is how long an agent stays live without one.
	HeartbeatInterval time.Duration
	AgentTTL          time.Duration

	Produce produce.Config
	// JournalLeaseTTL is the lifetime of journal leases: an agent that has
	// not renewed its own for this long may have its journal of
	// acknowledged, unsequenced files taken over and sequenced by another
	// agent (0 means 30s; docs/lightning.md).
	JournalLeaseTTL time.Duration
	Kafka           kafka.Config
	Groups          groups.Config
	// Jobs configures the background storage jobs (retention, compaction,
	// file deletion); its Holder is set by the agent.
	Jobs jobs.Config

	// Cache configures the read path's block cache and the zone peer cache.
	Cache CacheConfig
	Txn   txn.Config
	// ACL configures authorization (--acl-mode, --super-users,
	// --allow-everyone-if-no-acl-found); the zero value is off.
	ACL acl.Config

	// SchemaRegistry configures the schema registry listener.
	SchemaRegistry SchemaRegistryConfig

	// TopicCacheTTL bounds how stale this agent's view of topics written by
	// other agents may be.
	TopicCacheTTL time.Duration

	// ReadinessInterval is how often the bucket and the metadata store are
	// probed for /readyz (0 means 5s); ReadinessTimeout bounds each probe
	// (0 means 5s).
	ReadinessInterval time.Duration
	ReadinessTimeout  time.Duration
	// ConsoleReadOnly makes the web console and the admin API under
	// /api/v1/ refuse every change (--console-read-only).
	ConsoleReadOnly bool
	// ConsoleAuth is how the console and the admin API log users in
	// (--console-auth): "none" (or "") lets anyone reaching the HTTP port
	// act as the anonymous principal; "scram" checks HTTP basic auth or a
	// console session against the cluster's SCRAM users.
	ConsoleAuth string

	// ShutdownTimeout bounds a graceful shutdown (the command's signal
	// handling; Close takes its bound from its context).
	ShutdownTimeout time.Duration

	// Events configures the events and audit streams and the query
	// engine (docs/events.md). The zero value records nothing.
	Events EventsConfig

	Logger *slog.Logger

	// wrapStore, set by tests, wraps the metadata store (fault injection).
	wrapStore func(metadata.Store) metadata.Store
}

// CacheConfig configures the block cache in front of the bucket and the
// zone peer cache (docs/configuration.md).
type CacheConfig struct {
	// Size is the cache's byte budget (0 caches nothing).
	Size int64
	// BlockSize is the unit of caching and of peer ownership; 0 means
	// cache.DefaultBlockSize. Agents of one zone should agree on it.
	BlockSize int64
	// PrefetchBytes is how far ahead of sequential consumers to read; 0
	// disables read-ahead.
	PrefetchBytes int64
	// Peers makes agents of one zone share their caches: each block is
	// owned by one agent (rendezvous hashing) that reads it from the
	// bucket and serves it to the others over HTTP. It needs HTTPAddr.
	Peers bool
	// PeerAdvertiseAddr is the host:port other agents reach this agent's
	// HTTP listener on; empty means the advertised Kafka host with the
	// HTTP listener's port.
	PeerAdvertiseAddr string
	// PeerTimeout bounds a request to a peer, after which the block is
	// read from the bucket; 0 means 2s.
	PeerTimeout time.Duration
	// Produced puts every file this agent writes into its cache as it is
	// committed, so tail consumers read it without a GET.
	Produced bool
	// NoMap reads a local-directory bucket's files into the cache
	// instead of mapping them (see cache.Config.NoMap).
	NoMap bool
}

// EventsConfig configures what the agent records in its internal event
// topics and the limits of event queries (docs/events.md).
type EventsConfig struct {
	// AgentLogs, Audit, Jobs and ACL enable each stream.
	AgentLogs, Audit, Jobs, ACL bool
	// ACLAllowed records allowed ACL decisions too (denials always are).
	ACLAllowed bool
	// Partitions and Retention configure the event topics (agent logs,
	// jobs, ACL decisions) when they are created; AuditPartitions and
	// AuditRetention the audit topic.
	Partitions      int32
	Retention       time.Duration
	AuditPartitions int32
	AuditRetention  time.Duration
	// LogLevel is the lowest agent log level recorded; LogRate bounds
	// the log records recorded per second.
	LogLevel slog.Level
	LogRate  float64
	// MaxRate bounds the events written per second (0: 2000).
	MaxRate float64
	// Query bounds event queries.
	Query query.Limits
}

func (c EventsConfig) streams() map[events.Stream]events.StreamConfig {
	ev := events.StreamConfig{Partitions: max(c.Partitions, 1), Retention: c.Retention}
	if ev.Retention <= 0 {
		ev.Retention = 6 * time.Hour
	}
	au := events.StreamConfig{Partitions: max(c.AuditPartitions, 1), Retention: c.AuditRetention, Enabled: c.Audit}
	if au.Retention <= 0 {
		au.Retention = 90 * 24 * time.Hour
	}
	logs, jobs, acl := ev, ev, ev
	logs.Enabled, jobs.Enabled, acl.Enabled = c.AgentLogs, c.Jobs, c.ACL
	return map[events.Stream]events.StreamConfig{events.StreamAgentLogs: logs, events.StreamAudit: au, events.StreamJobs: jobs, events.StreamACL: acl}
}

// Agent is a running agent.
type Agent struct {
	cfg      Config
	logger   *slog.Logger
	store    metadata.Store
	bucket   objstore.Bucket
	batcher  *produce.Batcher
	registry *cluster.Registry
	groups   *groups.Coordinator
	jobs     *jobs.Runner
	txn      *txn.Coordinator
	txnDone  chan struct{} // closed when the transaction sweep stops
	aclDone  chan struct{} // closed when the ACL refresh loop stops
	// dyn holds the dynamic broker configs and client quotas; dynDone is
	// closed when its refresh loop stops.
	dyn     *dynconfig.Manager
	dynDone chan struct{}
	// recoverDone is closed when journal recovery stops.
	recoverDone chan struct{}
	// proberDone is closed when the readiness prober stops.
	proberDone chan struct{}
	server     *kafka.Server
	cache      *cache.Cache
	reader     *fetch.Reader
	// events writes the event and audit streams; query answers queries
	// over them.
	events    *events.Writer
	query     *query.Engine
	kafkaLn   net.Listener // the first of listeners
	listeners []*kafkaListener
	// tls serves the TLS listeners' (and HTTP's) certificates; nil
	// without TLS.
	tls         *auth.TLSReloader
	peerRefused prometheus.Counter
	httpLn      net.Listener
	httpSrv     *http.Server
	metrics     *prometheus.Registry
	health      *health
	// admin is the JSON admin API and console the web console, both
	// served on the HTTP listener; summary feeds the console's charts.
	admin   *adminapi.API
	console *console.Console
	summary *adminapi.Summary
	// summaryDone is closed when the summary sampler stops.
	summaryDone chan struct{}

	// srLn and srSrv serve the schema registry (nil when disabled);
	// schemaValidator checks produced records (nil without the store role).
	srLn            net.Listener
	srSrv           *http.Server
	schemaValidator *schemaregistry.Validator
	// schemaRegistry is the registry the console reads (nil when the
	// metadata store keeps no schemas).
	schemaRegistry *schemaregistry.Registry
	srServing      bool // srSrv took srLn over

	// ownStore and ownBucket are false for backends shared through
	// Config, which Close leaves open.
	ownStore, ownBucket bool
	// tableflow runs the tableflow role's service (nil without the role);
	// tableflowDone is closed when its Run has returned.
	tableflow    *tableflow.Service
	tableflowCfg *tableflow.Config // the config tableflow runs, for the console
	// schemaAuth is the schema registry listener's Authenticator (nil:
	// none), which the console's schema pages follow.
	schemaAuth    schemaregistry.Authenticator
	tableflowDone chan struct{}

	// watcher announces other agents' commits (nil if the store cannot);
	// watchDone is closed when its goroutine has stopped.
	watcher   metadata.CommitWatcher
	watchDone chan struct{}

	cancel   context.CancelFunc
	done     chan struct{} // closed when the Kafka server has stopped
	errMu    sync.Mutex    // guards serveErr
	serveErr error
}

// Start opens the backends and starts serving. It returns once both
// listeners are bound.
func Start(ctx context.Context, cfg Config) (_ *Agent, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TopicCacheTTL <= 0 {
		cfg.TopicCacheTTL = time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.AgentTTL <= 0 {
		cfg.AgentTTL = 6 * cfg.HeartbeatInterval
	}
	if cfg.ReadinessInterval <= 0 {
		cfg.ReadinessInterval = 5 * time.Second
	}
	if cfg.ReadinessTimeout <= 0 {
		cfg.ReadinessTimeout = 5 * time.Second
	}
	switch cfg.Kafka.DefaultTopicType {
	case "", topics.TypeClassic, topics.TypeLightning:
	default:
		return nil, fmt.Errorf("agent: default topic type %q: want classic or lightning", cfg.Kafka.DefaultTopicType)
	}
	switch cfg.ConsoleAuth {
	case "", ConsoleAuthNone, ConsoleAuthScram:
	default:
		return nil, fmt.Errorf("agent: --console-auth %q: want none or scram", cfg.ConsoleAuth)
	}
	if cfg.Roles == (cluster.Roles{}) {
		cfg.Roles = cluster.DefaultRoles
	}
	if cfg.Roles.Tableflow && cfg.TableflowConfig == "" {
		return nil, errors.New("agent: the tableflow role needs --tableflow-config")
	}
	if !cfg.Roles.Proxy {
		// The schema registry is a proxy's: an agent without Kafka
		// clients serves no API.
		cfg.SchemaRegistry.Addr = ""
	}
	a := &Agent{cfg: cfg, logger: cfg.Logger, metrics: prometheus.NewRegistry(), done: make(chan struct{})}
	defer func() {
		if err != nil {
			a.closeBackends()
		}
	}()
	a.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.health = newHealth(a.metrics)
	if cfg.Roles.Tableflow {
		if err := a.openTableflow(ctx); err != nil {
			return nil, err
		}
	}

	if cfg.BucketTimeout <= 0 {
		cfg.BucketTimeout = 30 * time.Second
	}
	if a.store = cfg.Store; a.store == nil {
		if a.store, err = OpenMetadata(ctx, cfg.MetadataURL); err != nil {
			return nil, err
		}
		a.ownStore = true
	}
	a.watcher, _ = a.store.(metadata.CommitWatcher)
	if _, ok := a.store.(*postgres.Store); ok {
		a.metrics.MustRegister(postgres.Collectors()...)
	}
	aclStore := aclStoreOf(a.store)
	dynStore := dynconfigStoreOf(a.store)
	if err := a.startSchemaRegistry(a.store); err != nil {
		return nil, err
	}
	scram := scramStoreOf(a.store)
	if cfg.ConsoleAuth == ConsoleAuthScram && scram == nil {
		return nil, errors.New("agent: --console-auth scram needs a metadata store that keeps SCRAM credentials")
	}
	if cfg.wrapStore != nil {
		a.store = cfg.wrapStore(a.store)
	}
	bucket := cfg.Bucket
	if bucket == nil {
		if bucket, err = objstore.Open(ctx, cfg.BucketURL); err != nil {
			return nil, err
		}
		a.ownBucket = true
	}
	a.bucket = objstore.Instrumented{Bucket: objstore.Timeout{Bucket: bucket, Op: cfg.BucketTimeout}, M: objstore.NewMetrics(a.metrics)}
	clusterID, err := a.store.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: read cluster id: %w", err)
	}

	listenerConfigs, err := cfg.listenerConfigs()
	if err != nil {
		return nil, err
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if cfg.HTTPAddr != "" {
		if a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("agent: http listener: %w", err)
		}
	}
	var self cluster.Broker
	if cfg.Roles.Proxy {
		if err := a.bindListeners(serveCtx, listenerConfigs, scram); err != nil {
			return nil, err
		}
		a.kafkaLn = a.listeners[0].ln
		if self, err = brokerFor(cfg.NodeID, listenerConfigs[0].Advertise, a.kafkaLn.Addr()); err != nil {
			return nil, err
		}
		if len(cfg.Listeners) > 0 {
			for _, l := range a.listeners {
				self.Listeners = append(self.Listeners, l.endpoint)
			}
		}
	} else {
		// No Kafka listener: the agent is known by its advertised or
		// HTTP address, which also derives its node ID.
		if a.tls, _, _, err = a.securityFor(serveCtx, listenerConfigs, scram); err != nil {
			return nil, err
		}
		if self, err = unlistedSelf(cfg, a.httpLn); err != nil {
			return nil, err
		}
	}
	if self.NodeID < 0 {
		self.NodeID = AutoNodeID(net.JoinHostPort(self.Host, strconv.Itoa(int(self.Port))))
	}
	// Events are written through this agent's write path once it exists
	// (Start below); the agent's logs at or above the configured level
	// become events from here on.
	eventMetrics := events.NewMetrics(a.metrics)
	a.events = events.NewWriter(events.Config{Source: fmt.Sprintf("sluice://%s/node-%d", clusterID, self.NodeID), Streams: cfg.Events.streams(), MaxRate: cfg.Events.MaxRate},
		a.store, eventMetrics, a.logger)
	if cfg.Events.AgentLogs {
		a.logger = slog.New(events.NewLogHandler(a.logger.Handler(), a.events, events.LogConfig{Level: cfg.Events.LogLevel, Rate: cfg.Events.LogRate}, eventMetrics))
	}

	a.registry = cluster.NewRegistry(a.store, self, cfg.Zone, cfg.HeartbeatInterval, cfg.AgentTTL, a.logger)
	a.registry.SetRoles(cfg.Roles)
	a.registry.SetGroup(cfg.AgentGroup)
	a.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_jobs_agents_live",
		Help: "Live agents with the jobs role, as this agent last saw them; 0 means retention, compaction and file deletion run nowhere."},
		func() float64 { return float64(a.registry.JobsAgents()) }))
	cacheMetrics := cache.NewMetrics(a.metrics)
	a.cache = cache.New(a.bucket, cache.Config{Size: cfg.Cache.Size, BlockSize: cfg.Cache.BlockSize, NoMap: cfg.Cache.NoMap}, cacheMetrics)
	a.peerRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_http_peer_refused_total",
		Help: "Zone peer cache requests refused for lacking the cluster secret or a client certificate."})
	a.metrics.MustRegister(a.peerRefused)
	peerAddr := ""
	if cfg.Cache.Peers && cfg.Roles.Proxy && a.httpLn != nil {
		if a.secured() && !a.peerAuthConfigured() {
			return nil, errors.New("agent: the zone peer cache serves stored data over HTTP; on an agent with secured Kafka listeners it needs --cluster-secret (or --http-tls with --tls-client-ca), or --peer-cache=false")
		}
		if peerAddr, err = peerAddrFor(cfg.Cache.PeerAdvertiseAddr, self.Host, a.httpLn.Addr()); err != nil {
			return nil, err
		}
		a.registry.AdvertisePeer(peerAddr)
		scheme, peerTLS, header := a.peerTransport()
		a.cache.SetPeers(cache.NewPeers(cache.PeersConfig{Self: peerAddr, Timeout: cfg.Cache.PeerTimeout, Members: a.zonePeers,
			Scheme: scheme, TLS: peerTLS, Header: header}, cacheMetrics))
	}
	// Everything that can refuse to start does so before the registry
	// starts heartbeating, so a failed Start leaves no goroutine behind.
	if cfg.ACL.Mode != acl.ModeOff && aclStore == nil {
		return nil, fmt.Errorf("agent: --acl-mode %s: the metadata store does not keep ACLs", cfg.ACL.Mode)
	}
	authorizer := acl.New(cfg.ACL, aclStore, acl.NewMetrics(a.metrics), a.logger)
	if err := authorizer.Load(ctx); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.dyn = dynconfig.New(dynconfig.Config{NodeID: self.NodeID, Logger: a.logger}, dynStore)
	if err := a.dyn.Load(ctx); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := a.registry.Start(ctx); err != nil {
		return nil, fmt.Errorf("agent: register in metadata store: %w", err)
	}
	groupMetrics := groups.NewMetrics(a.metrics, nil)
	a.groups = groups.New(cfg.Groups, a.store, a.registry, groupMetrics, a.logger)
	groupMetrics.SetCoordinator(a.groups)

	notifier := fetch.NewNotifier()
	// The write path's uploads and commits report to readiness as they
	// succeed or fail. Its journal (lightning topics, ripcord) is named
	// after the node; the recoverer holds its lease, which the batcher
	// checks before committing journaled files.
	cfg.Produce.Agent = fmt.Sprintf("node-%d", self.NodeID)
	var recoverer *produce.Recoverer
	cfg.Produce.CommitGate = func(ctx context.Context) error { return recoverer.Gate(ctx) }
	cfg.Produce.LeaseState = func() (bool, uint64) { return recoverer.LeaseState() }
	if os.Getenv(holdJournalEnv) == "1" {
		// Test hook: acknowledge journaled files but never commit them,
		// so a kill -9 always falls between acknowledgement and commit.
		a.logger.Warn(holdJournalEnv + " is set: journaled files are acknowledged and never committed by this process")
		cfg.Produce.CommitGate = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	}
	if cfg.Produce.Agent != "" && cfg.Produce.Generation == 0 {
		// Above every earlier process's generation whatever this host's
		// clock says (see produce.NextGeneration); without the bucket,
		// this host's clock.
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		gen, err := produce.NextGeneration(gctx, a.bucket, cfg.Produce.Agent, time.Now())
		cancel()
		if err != nil {
			a.logger.Warn("cannot list this agent's journal; its generation is this host's clock", "err", err)
			gen = 0
		}
		cfg.Produce.Generation = gen
	}
	produceMetrics := produce.NewMetrics(a.metrics)
	a.batcher = produce.New(cfg.Produce, observedLog{a.store, a.health}, observedBucket{a.bucket, a.health}, notifier.Notify, produceMetrics, a.logger)
	leaseTTL := cfg.JournalLeaseTTL
	if leaseTTL <= 0 {
		leaseTTL = 30 * time.Second
	}
	recoverer = produce.NewRecoverer(produce.RecovererConfig{
		Agent: cfg.Produce.Agent, Generation: a.batcher.Generation(),
		Interval: leaseTTL / 3, LeaseTTL: leaseTTL, AckBound: cfg.Produce.JournalAckBound,
	}, a.store, a.bucket, notifier.Notify, produceMetrics, a.logger)
	// A bucket whose files the cache maps has them in the page cache
	// once written: keeping the produce requests' buffers as well would
	// only cost memory (and, in a fresh agent, the kernel's zeroing of
	// every new request buffer).
	if cfg.Cache.Produced && (cfg.Cache.NoMap || !objstore.Maps(a.bucket)) {
		a.batcher.OnWritten(a.cache.Put)
	}
	a.events.Start(a.batcher)
	a.txn = txn.New(cfg.Txn, a.store, a.batcher, a.registry, txn.NewMetrics(a.metrics), a.logger)
	a.reader = fetch.NewCachedReader(a.store, a.cache, fetch.NewMetrics(a.metrics), fetch.Config{PrefetchBytes: cfg.Cache.PrefetchBytes})
	a.query = query.NewEngine(a.reader, a.store, cfg.Events.Query)
	if cfg.Kafka.LogDir == "" {
		cfg.Kafka.LogDir = redactURL(cfg.BucketURL)
	}
	// The cache answers from what it last saw while the store is away,
	// which ripcord's produce relies on.
	topicCache := topics.NewCache(a.store, cfg.TopicCacheTTL)
	cfg.Kafka.ACLEventsAllowed = cfg.Events.ACLAllowed
	a.server = kafka.NewServer(cfg.Kafka, kafka.Deps{
		Topics:       topicCache,
		Log:          a.store,
		Records:      a.store,
		Producer:     a.batcher,
		Reader:       a.reader,
		Groups:       a.groups,
		Txn:          a.txn,
		Transactions: a.store,
		Notifier:     notifier,
		Membership:   a.registry,
		ClusterID:    clusterID,
		Metrics:      kafka.NewMetrics(a.metrics),
		Logger:       a.logger,
		BucketReady:  a.health.bucketErr,
		Authorizer:   authorizer,
		Schemas:      a.kafkaSchemas(),
		Scram:        scram,
		Events:       a.events,
		Dynamic:      a.dyn,
	})
	// An agent that cannot write to its bucket stops being advertised (when
	// other agents can take its clients) until it can again.
	a.health.onBucket = func(ok bool) {
		if !ok {
			a.logger.Warn("bucket failing: refusing produce and leaving the advertised agents", "err", a.health.bucketErr())
		} else {
			a.logger.Info("bucket working again")
		}
		if cfg.Roles.Proxy {
			// Only proxies are advertised; an agent that only runs jobs
			// stays registered, so the cluster still counts it.
			a.registry.SetAdvertised(ok)
		}
	}

	cfg.Jobs.Holder = jobs.NewHolder(fmt.Sprintf("node-%d", self.NodeID))
	cfg.Jobs.OnRun = a.emitJobRun
	cfg.Jobs.TopicDefaults = a.dyn.TopicDefaults
	a.jobs = jobs.New(cfg.Jobs, a.store, a.bucket, a.metrics, a.logger)
	if cfg.Roles.Jobs {
		a.jobs.Start()
	}
	if a.tableflow != nil {
		a.runTableflow(serveCtx)
	}

	a.startConsole(serveCtx, self.NodeID, scram)
	if a.watcher != nil {
		a.watchCommits(serveCtx, a.watcher, notifier)
	}
	a.proberDone = make(chan struct{})
	go func() {
		defer close(a.proberDone)
		a.runProber(serveCtx, cfg.ReadinessInterval, cfg.ReadinessTimeout)
	}()
	a.aclDone = make(chan struct{})
	go func() {
		defer close(a.aclDone)
		authorizer.Run(serveCtx)
	}()
	a.dynDone = make(chan struct{})
	go func() {
		defer close(a.dynDone)
		a.dyn.Run(serveCtx)
	}()
	a.txnDone = make(chan struct{})
	go func() {
		defer close(a.txnDone)
		a.txn.Run(serveCtx)
	}()
	var serving sync.WaitGroup
	if len(a.listeners) == 0 {
		// Without the proxy role the agent serves until Close.
		serving.Add(1)
		go func() {
			defer serving.Done()
			<-serveCtx.Done()
		}()
	}
	for _, l := range a.listeners {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := a.server.ServeListener(serveCtx, l.ln, l.serve); err != nil {
				a.errMu.Lock()
				a.serveErr = errors.Join(a.serveErr, err)
				a.errMu.Unlock()
				a.server.Close() // one listener failing stops the agent
			}
		}()
	}
	a.recoverDone = make(chan struct{})
	go func() {
		defer close(a.recoverDone)
		recoverer.Run(serveCtx)
	}()
	go func() {
		serving.Wait()
		close(a.done)
	}()
	if a.httpLn != nil {
		a.httpSrv = &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: serveTimeout}
		if cfg.Security.HTTPTLS {
			a.httpSrv.TLSConfig = a.httpTLSConfig()
			go a.httpSrv.ServeTLS(a.httpLn, "", "")
		} else {
			go a.httpSrv.Serve(a.httpLn)
		}
	}
	a.serveSchemaRegistry()
	a.logger.Info("agent started", "roles", cfg.Roles.String(), "agent_group", cfg.AgentGroup, "kafka", a.KafkaAddr(), "advertised", net.JoinHostPort(self.Host, strconv.Itoa(int(self.Port))),
		"listeners", cluster.FormatListeners(self.Listeners),
		"http", a.HTTPAddr(), "schema_registry", a.SchemaRegistryAddr(), "node_id", self.NodeID, "zone", cfg.Zone, "cluster_id", clusterID, "peer_cache", peerAddr)
	return a, nil
}

// emitJobRun records one background job run (jobs.Config.OnRun).
func (a *Agent) emitJobRun(r jobs.Run) {
	d := events.JobData{Job: r.Job, Status: "SUCCESS", DurationMs: float64(r.Duration.Microseconds()) / 1000, Figures: r.Figures}
	if r.Err != nil {
		d.Status, d.Error = "FAILURE", r.Err.Error()
	}
	a.events.Emit(context.Background(), events.Event{Type: events.TypeJobRun, Subject: r.Job, Time: r.Started, Data: d})
}

// peerAddrFor is the address zone peers fetch cached blocks from: the
// configured one, or the advertised Kafka host with the HTTP port.
func peerAddrFor(configured, host string, httpAddr net.Addr) (string, error) {
	if configured != "" {
		if _, _, err := net.SplitHostPort(configured); err != nil {
			return "", fmt.Errorf("agent: peer advertise address %q: %w", configured, err)
		}
		return configured, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(httpAddr.(*net.TCPAddr).Port)), nil
}

// zonePeers lists the zone's agents serving their cache, for cache.Peers.
func (a *Agent) zonePeers() []cache.Peer {
	zp := a.registry.ZonePeers()
	out := make([]cache.Peer, len(zp))
	for i, p := range zp {
		out[i] = cache.Peer{NodeID: p.NodeID, Addr: p.Addr}
	}
	return out
}

// brokerFor builds this agent's broker entry from the advertised address,
// or from the listener's when none is given (a wildcard host becomes
// 127.0.0.1, the only address that is then sure to work).
func brokerFor(nodeID int32, advertise string, ln net.Addr) (cluster.Broker, error) {
	addr := advertise
	if addr == "" {
		addr = ln.String()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return cluster.Broker{}, fmt.Errorf("agent: advertise address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return cluster.Broker{}, fmt.Errorf("agent: advertise port %q: %w", portStr, err)
	}
	if port == 0 {
		port = ln.(*net.TCPAddr).Port
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return cluster.Broker{NodeID: nodeID, Host: host, Port: int32(port)}, nil
}

// AutoNodeID derives a node ID from an agent's advertised host:port, for
// clusters whose agents are interchangeable (a Kubernetes Deployment): the
// same address always gets the same ID, and distinct addresses collide with
// probability about n²/2³² for n agents. IDs fall in [1<<20, 1<<31) so they
// never meet small hand-picked IDs.
func AutoNodeID(advertised string) int32 {
	h := fnv.New32a()
	h.Write([]byte(advertised))
	return int32(1<<20 + h.Sum32()%(1<<31-1<<20))
}

// aclStoreOf is the ACL side of a metadata store (sqlite and postgres
// keep ACLs; a Broadcast shares its wrapped store's), or nil.
func aclStoreOf(s metadata.Store) acl.Store {
	if b, ok := s.(*metadata.Broadcast); ok {
		s = b.Store
	}
	st, _ := s.(acl.Store)
	return st
}

// dynconfigStoreOf is the dynamic config side of a metadata store (sqlite
// and postgres keep them; a Broadcast shares its wrapped store's), or nil:
// the agent then keeps its dynamic configs in memory.
func dynconfigStoreOf(s metadata.Store) dynconfig.Store {
	if b, ok := s.(*metadata.Broadcast); ok {
		s = b.Store
	}
	st, _ := s.(dynconfig.Store)
	return st
}

// OpenMetadata opens a metadata store by URL.
func OpenMetadata(ctx context.Context, rawURL string) (metadata.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("agent: metadata URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "sqlite":
		path := u.Path
		if u.Host != "" { // sqlite://relative/path
			path = filepath.Join(u.Host, u.Path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("agent: metadata dir: %w", err)
		}
		return sqlite.Open(ctx, path)
	case "postgres", "postgresql":
		return postgres.Open(ctx, rawURL)
	}
	return nil, fmt.Errorf("agent: unsupported metadata URL scheme %q (want sqlite:// or postgres://)", u.Scheme)
}

// KafkaAddr is the bound address of the first Kafka listener, or "" for
// an agent without the proxy role.
func (a *Agent) KafkaAddr() string {
	if a.kafkaLn == nil {
		return ""
	}
	return a.kafkaLn.Addr().String()
}

// ListenerAddr is the bound address of the Kafka listener called name, or
// "" when there is none.
func (a *Agent) ListenerAddr(name string) string {
	for _, l := range a.listeners {
		if l.cfg.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// HTTPAddr is the bound HTTP listener address, or "" when disabled.
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// Done is closed when the agent has stopped serving Kafka.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Close shuts down gracefully, bounded by ctx: stop accepting connections,
// flush and commit what is buffered, answer every request already read (a
// buffered produce gets its acknowledgement), close the connections, then
// release coordinators, leases and the registration, and close the
// backends. When ctx ends first, what is left is cut short.
func (a *Agent) Close(ctx context.Context) error {
	var errs []error
	a.server.StopAccepting()
	// Buffered events go out while the write path is still open.
	if err := a.events.Close(ctx); err != nil {
		a.logger.Warn("shutdown bound reached before the buffered events were written", "err", err)
	}
	errs = append(errs, a.batcher.Close(ctx))
	if err := a.server.Drain(ctx); err != nil {
		a.logger.Warn("shutdown bound reached; closing the remaining connections", "err", err)
	}
	a.cancel()
	<-a.done
	<-a.proberDone
	if a.watchDone != nil {
		<-a.watchDone
	}
	if a.httpSrv != nil {
		// Zone peers keep connections open (some never used: Go's HTTP
		// client dials ahead), which Shutdown would wait out for seconds;
		// after a short grace the rest are cut.
		shutCtx, cancel := context.WithTimeout(ctx, time.Second)
		if err := a.httpSrv.Shutdown(shutCtx); err != nil {
			a.httpSrv.Close()
		}
		cancel()
	}
	a.stopSchemaRegistry(ctx)
	<-a.txnDone
	<-a.aclDone
	<-a.dynDone
	<-a.summaryDone
	<-a.recoverDone
	a.reader.Close()
	a.cache.Close()
	a.jobs.Stop()
	a.stopTableflow()
	a.groups.Close()
	errs = append(errs, a.registry.Stop(ctx))
	errs = append(errs, a.closeBackends())
	a.errMu.Lock()
	errs = append(errs, a.serveErr)
	a.errMu.Unlock()
	a.logger.Info("agent stopped")
	return errors.Join(errs...)
}

// holdJournalEnv names the test hook that holds every commit of a
// journaled file (tests of recovery after kill -9).
const holdJournalEnv = "SLUICE_TEST_HOLD_JOURNAL_COMMITS"

func (a *Agent) closeBackends() error {
	var errs []error
	if a.server == nil {
		for _, l := range a.listeners {
			errs = append(errs, l.ln.Close())
		}
		if a.cancel != nil {
			a.cancel()
		}
	}
	if a.httpLn != nil && a.httpSrv == nil {
		errs = append(errs, a.httpLn.Close())
	}
	if a.srLn != nil && !a.srServing {
		errs = append(errs, a.srLn.Close())
	}
	if a.bucket != nil && a.ownBucket {
		errs = append(errs, a.bucket.Close())
	}
	if a.store != nil && a.ownStore {
		errs = append(errs, a.store.Close())
	}
	if a.tableflow != nil && a.tableflowDone == nil { // opened, never run
		errs = append(errs, a.tableflow.Close())
	}
	return errors.Join(errs...)
}

// DataDirURLs returns the bucket and metadata URLs `sluice dev` derives from
// its data directory.
func DataDirURLs(dataDir string) (bucketURL, metadataURL string, err error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", "", err
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs
	}
	return "file://" + abs + "/bucket", "sqlite://" + abs + "/metadata.db", nil
}

// redactURL drops credentials and query parameters from a URL, for
// reporting it to clients (DescribeLogDirs).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "bucket"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
