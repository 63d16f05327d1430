package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

func newDevCmd() *cobra.Command {
	var (
		dataDir string
		agents  int
		cfg     agent.Config
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run one agent with an embedded metadata store and a local-directory bucket",
		Long: `Run a single Sluice agent for development and small deployments: the
metadata store is a SQLite file and the bucket is a directory, both under
--data-dir. Everything acknowledged survives restarts and crashes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.BucketURL, cfg.MetadataURL, err = agent.DataDirURLs(dataDir); err != nil {
				return err
			}
			logStartup(cmd)
			cfg.SchemaRegistry.Optional = !cmd.Flags().Changed("schema-registry-addr")
			// One process per data directory: a second would share the
			// SQLite store and bucket as the same node.
			unlock, err := agent.LockDataDir(dataDir)
			if err != nil {
				return err
			}
			defer unlock()
			if agents > 1 {
				return runLocalCluster(cmd, dataDir, cfg, agents)
			}
			return runAgent(cmd.Context(), cfg, func(a *agent.Agent) {
				fmt.Fprintf(cmd.OutOrStdout(), `Sluice is running.
  data:    %s (bucket %s, metadata %s)
  kafka:   %s   e.g. kcat -b %s -L
  http:    %s   (/metrics, /healthz, /readyz, /api/v1/)
  console: http://%s/
  schema registry: %s
Press Ctrl-C to stop.
`, dataDir, cfg.BucketURL, cfg.MetadataURL, a.KafkaAddr(), a.KafkaAddr(), a.HTTPAddr(), a.HTTPAddr(), a.SchemaRegistryAddr())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "./sluice-data", "directory holding the bucket and the SQLite metadata file")
	f.IntVar(&agents, "agents", 1, "run this many agents in one process, sharing the data dir, on consecutive ports from --kafka-addr and --http-addr with node IDs from --node-id (a local cluster for demos and tests)")
	addAgentFlags(cmd, &cfg)
	// A local directory charges nothing per file, so dev writes files after
	// 5ms instead of the 250ms that keeps object-storage PUTs cheap: an
	// application's tests that produce synchronously wait 5ms per request,
	// not a quarter of a second.
	f.Lookup("batch-timeout").DefValue = devBatchTimeout.String()
	cfg.Produce.BatchTimeout = devBatchTimeout
	return cmd
}

// invertedBool is a boolean flag stored negated, for a setting on by
// default whose config field is the zero-value-safe "No…" form.
type invertedBool struct{ no *bool }

func (b invertedBool) String() string {
	if b.no == nil {
		return "true"
	}
	return strconv.FormatBool(!*b.no)
}

func (b invertedBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.no = !v
	return nil
}

func (invertedBool) Type() string { return "bool" }

// IsBoolFlag lets the flag be given without a value (pflag reads it
// through NoOptDefVal, set where the flag is registered).
func (invertedBool) IsBoolFlag() bool { return true }

// devBatchTimeout is sluice dev's default --batch-timeout.
const devBatchTimeout = 5 * time.Millisecond

// addAgentFlags registers the flags every agent-running command shares.
func addAgentFlags(cmd *cobra.Command, cfg *agent.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "Kafka listener address")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", "", "host:port clients are told to connect to (default: the Kafka listener address)")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP address for the web console, the admin API (/api/v1/), /metrics, /healthz, /readyz, the zone peer cache and /debug/pprof with --enable-pprof (empty disables)")
	f.BoolVar(&cfg.ConsoleReadOnly, "console-read-only", false, "make the web console and the admin API under /api/v1/ refuse every change (403)")
	f.StringVar(&cfg.ConsoleAuth, "console-auth", "none", "how the web console and the admin API log users in: none (anyone reaching --http-addr acts as the anonymous principal) or scram (HTTP basic auth or a console login checked against the cluster's SCRAM users; actions run as User:<name> under ACLs and audit)")
	f.Int32Var(&cfg.NodeID, "node-id", 1, "Kafka broker ID this agent reports")
	f.StringVar(&cfg.Zone, "zone", "", "availability zone of this agent: clients with sluice_az=<zone> in their client.id see only its zone's agents")
	addRoleFlags(f, cfg)
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", time.Second, "how often the agent renews its registration in the metadata store")
	f.DurationVar(&cfg.AgentTTL, "agent-ttl", 6*time.Second, "an agent that has not renewed its registration for this long drops out of Metadata responses and coordinator ownership")
	f.DurationVar(&cfg.BucketTimeout, "bucket-timeout", 30*time.Second, "bound on every object storage call; a store that stops answering then fails produce requests retriably")
	f.DurationVar(&cfg.Produce.BatchTimeout, "batch-timeout", 250*time.Millisecond, "longest time a produced batch is buffered before its file is flushed")
	f.IntVar(&cfg.Produce.BatchMaxBytes, "batch-max-bytes", 8<<20, "flush a file as soon as it holds this many bytes")
	f.IntVar(&cfg.Produce.MaxInFlight, "max-inflight-flushes", 4, "files uploading at once")
	f.BoolVar(&cfg.Produce.EarlySeal, "batch-early-seal", true, "flush a file before --batch-timeout when it cannot grow: every connection that wrote to the previous file waits on this one and none pipelines produce requests (files stay at least --batch-timeout apart)")
	f.DurationVar(&cfg.Produce.IdleSeal, "batch-idle-seal", 10*time.Millisecond, "flush a file before --batch-timeout once nothing was added to it for this long, unless a file not full was flushed less than --batch-timeout ago (files flushed full do not count; 0 disables)")
	f.StringVar(&cfg.Kafka.DefaultTopicType, "default-topic-type", "classic", "sluice.topic.type of topics created without one: classic, or lightning (acknowledged once durable in the bucket, sequenced right after; docs/lightning.md)")
	f.BoolVar(&cfg.Produce.Ripcord, "ripcord", false, "while the metadata store fails or stalls, journal produce to existing topics in the bucket and acknowledge it without offsets, sequencing it when the store is back (docs/lightning.md)")
	f.Int64Var(&cfg.Produce.JournalMaxBytes, "ripcord-max-bytes", 1<<30, "bytes of acknowledged, unsequenced files (lightning topics and ripcord) an agent holds before produce bound for its journal gets retriable errors")
	f.DurationVar(&cfg.Produce.JournalMaxAge, "ripcord-max-age", time.Hour, "age of the oldest acknowledged, unsequenced file past which produce bound for the journal gets retriable errors")
	f.DurationVar(&cfg.Produce.RipcordCommitTimeout, "ripcord-commit-timeout", 2*time.Second, "with --ripcord, a commit that takes longer than this is treated as a store outage: its file is journaled and acknowledged")
	f.DurationVar(&cfg.JournalLeaseTTL, "journal-lease-ttl", 30*time.Second, "an agent that has not renewed its journal lease for this long (dead, or cut off from the store) has its journal sequenced by another agent")
	f.Int32Var(&cfg.Kafka.MaxRequestBytes, "max-request-bytes", 100<<20, "largest Kafka request accepted (socket.request.max.bytes)")
	f.IntVar(&cfg.Kafka.MaxMessageBytes, "max-message-bytes", 1048588, "largest record batch for topics without max.message.bytes (message.max.bytes)")
	f.BoolVar(&cfg.Kafka.AutoCreateTopics, "auto-create-topics", true, "create unknown topics when clients ask for them (auto.create.topics.enable)")
	f.Int32Var(&cfg.Kafka.MaxPartitions, "max-partitions", 10000, "largest partition count a topic may have (CreateTopics and CreatePartitions get INVALID_PARTITIONS above it)")
	f.Int32Var(&cfg.Kafka.DefaultPartitions, "default-partitions", 1, "partition count of auto-created topics (num.partitions)")
	f.Int64Var(&cfg.Cache.Size, "cache-size", 256<<20, "bytes of file blocks the read path keeps in memory (0 disables the cache)")
	f.Int64Var(&cfg.Cache.BlockSize, "cache-block-size", 4<<20, "unit in which files are cached and fetched from the bucket and zone peers; agents of a zone should agree")
	f.Int64Var(&cfg.Cache.PrefetchBytes, "prefetch-bytes", 4<<20, "how many bytes past a sequential consumer's position to read ahead into the cache (0 disables)")
	f.BoolVar(&cfg.Cache.Produced, "cache-produced", true, "put each file this agent writes into its cache as it is committed, so consumers at the tail read it without a GET (not on a file:// bucket the cache maps: its files are in the page cache already)")
	f.Var(invertedBool{&cfg.Cache.NoMap}, "cache-map-files", "on Linux, map the files of a local-directory bucket (file://) into the block cache instead of reading them: no copy and no fresh memory; a disk error on a mapped page then ends the agent (SIGBUS) instead of failing the fetch")
	f.Lookup("cache-map-files").NoOptDefVal = "true"
	f.BoolVar(&cfg.Cache.Peers, "peer-cache", true, "share the block cache with the agents of this zone over the HTTP listener, so each block is read from the bucket about once per zone")
	f.StringVar(&cfg.Cache.PeerAdvertiseAddr, "peer-advertise-addr", "", "host:port other agents of the zone reach this agent's HTTP listener on (default: the advertised Kafka host with the --http-addr port)")
	f.DurationVar(&cfg.Cache.PeerTimeout, "peer-timeout", 2*time.Second, "bound on a block request to a zone peer; a peer that fails or is slower is skipped for a while and the bucket read directly")
	f.DurationVar(&cfg.Groups.ConsumerHeartbeatInterval, "group-consumer-heartbeat-interval", 5*time.Second, "heartbeat interval of KIP-848 consumer group members (group.consumer.heartbeat.interval.ms)")
	f.DurationVar(&cfg.Jobs.CompactionInterval, "compaction-interval", time.Minute, "how often compaction merges small files and key-compacts cleanup.policy=compact topics (0 disables)")
	f.DurationVar(&cfg.Jobs.RetentionInterval, "retention-interval", 5*time.Minute, "how often retention.ms/retention.bytes are applied and unreferenced and orphan files are deleted (0 disables)")
	f.DurationVar(&cfg.Jobs.FileGracePeriod, "file-grace-period", time.Hour, "how long a file no longer referenced (compacted, expired) or never committed (orphan) stays in the bucket before deletion; must exceed the longest fetch and the longest upload-to-commit time")
	f.DurationVar(&cfg.Groups.ConsumerSessionTimeout, "group-consumer-session-timeout", 45*time.Second, "session timeout of KIP-848 consumer group members (group.consumer.session.timeout.ms)")
	f.DurationVar(&cfg.Txn.MaxTimeout, "txn-max-timeout", 15*time.Minute, "longest transaction timeout a producer may ask for (transaction.max.timeout.ms)")
	f.DurationVar(&cfg.Txn.CheckInterval, "txn-check-interval", time.Second, "how often timed-out transactions are aborted and interrupted commits or aborts completed")
	f.IntVar(&cfg.Kafka.FetchSessionSlots, "fetch-session-cache-slots", 1000, "incremental fetch sessions (KIP-227) the agent keeps, as Kafka's max.incremental.fetch.session.cache.slots; 0 answers every fetch without a session")
	f.Int64Var(&cfg.Kafka.QueuedMaxRequestBytes, "queued-max-request-bytes", 500<<20, "bytes of requests in progress on all connections together; beyond it connections are not read until requests finish (queued.max.request.bytes; -1 unbounded)")
	f.DurationVar(&cfg.Kafka.ProduceTimeout, "produce-timeout", 30*time.Second, "longest a produce request waits for its flush, when the client's timeout is longer; it then gets REQUEST_TIMED_OUT")
	f.DurationVar(&cfg.ReadinessInterval, "readiness-interval", 5*time.Second, "how often the bucket (a small write read back) and the metadata store (a trivial query) are probed for /readyz")
	f.DurationVar(&cfg.ReadinessTimeout, "readiness-timeout", 5*time.Second, "bound on one readiness probe; a probe that takes longer marks its component failing")
	addACLFlags(f, &cfg.ACL)
	f.StringVar(&cfg.SchemaRegistry.Addr, "schema-registry-addr", "127.0.0.1:8081", "schema registry (Confluent REST API) listener address; empty disables it. Left at its default, an address already in use only logs a warning")
	f.StringVar(&cfg.SchemaRegistry.Mode, "schema-registry-mode", "readwrite", "readwrite, or readonly: this agent's registry refuses every write (registrations, deletes, config and mode changes)")
	f.StringVar(&cfg.SchemaRegistry.BasicAuth, "schema-registry-basic-auth", "", "where the schema registry's HTTP basic auth users come from: none, file (--schema-registry-basic-auth-file) or scram (the cluster's SCRAM users, checked as SASL PLAIN checks them); empty: file if --schema-registry-basic-auth-file is set, else none")
	f.StringVar(&cfg.SchemaRegistry.BasicAuthFile, "schema-registry-basic-auth-file", "", "file of user:password lines (bcrypt hash or plain) the schema registry requires as HTTP basic auth (empty: no auth)")
	f.StringVar(&cfg.SchemaRegistry.TLSCertFile, "schema-registry-tls-cert-file", "", "PEM certificate the schema registry serves HTTPS with (with --schema-registry-tls-key-file)")
	f.StringVar(&cfg.SchemaRegistry.TLSKeyFile, "schema-registry-tls-key-file", "", "PEM private key of --schema-registry-tls-cert-file")
	addSecurityFlags(cmd, cfg)
	addEventsFlags(cmd, &cfg.Events)
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "bound on a graceful shutdown (SIGINT/SIGTERM): flush, answer requests in progress, release coordinators; a second signal or the bound forces exit")
}

// shutdownContext returns the context bounding a graceful shutdown: it
// ends after timeout, or at once on a second SIGINT or SIGTERM. Should the
// shutdown still not have finished (the returned finish not called) 5s
// after that, or on a third signal, the process exits.
func shutdownContext(timeout time.Duration) (ctx context.Context, finish func()) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	finished := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sig)
		select {
		case <-sig:
			slog.Warn("second signal: forcing shutdown")
			cancel()
		case <-ctx.Done():
		case <-finished:
			return
		}
		select {
		case <-time.After(5 * time.Second):
		case <-sig:
		case <-finished:
			return
		}
		slog.Error("shutdown did not finish; exiting")
		os.Exit(1)
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(finished); cancel() }) }
}

// runAgent starts an agent, calls started, and runs until SIGINT or SIGTERM,
// then shuts down gracefully.
func runAgent(ctx context.Context, cfg agent.Config, started func(*agent.Agent)) error {
	cfg.Logger = slog.Default()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.Start(ctx, cfg)
	if err != nil {
		return err
	}
	started(a)
	select {
	case <-ctx.Done():
	case <-a.Done():
	}
	stop() // a second signal is shutdownContext's
	slog.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	closeCtx, cancel := shutdownContext(cfg.ShutdownTimeout)
	defer cancel()
	return a.Close(closeCtx)
}
