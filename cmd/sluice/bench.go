package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cf    clientFlags
		cfg   bench.Config
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce, consume and end-to-end throughput and latency",
		Long: `Drive a cluster with franz-go clients and measure it. Each run prints a
progress line a second on stderr and one JSON line with every figure on
stdout, and fails (exit status 1) unless every record came back exactly
once. Record values are random (incompressible) bytes behind a 24-byte
header carrying a run id, producer id, counter and send time.

See docs/performance.md and bench/run.sh for the standard workload.`,
	}
	cf.register(cmd)
	pf := cmd.PersistentFlags()
	pf.StringVarP(&cfg.Topic, "topic", "t", "sluice-bench", "topic to use")
	pf.Int32Var(&cfg.Partitions, "partitions", 8, "partitions of the topic when it is created")
	pf.IntVar(&cfg.Producers, "producers", 4, "producer clients (each with its own connections)")
	pf.IntVar(&cfg.RecordSize, "record-size", 1024, "bytes per record value (at least 24)")
	pf.Int64Var(&cfg.Records, "records", 100000, "records to produce (0: until --duration ends); consume: records expected (0: whatever is there)")
	pf.DurationVar(&cfg.Duration, "duration", 0, "stop producing after this long (0: when --records are sent)")
	pf.DurationVar(&cfg.Linger, "linger", 5*time.Millisecond, "client linger (linger.ms)")
	pf.StringVar(&cfg.Acks, "acks", "all", "required acks: all, 1 or 0")
	pf.BoolVar(&cfg.Idempotent, "idempotent", true, "use idempotent producers (needs --acks all)")
	pf.Float64Var(&cfg.Rate, "rate", 0, "records per second over all producers (0: as fast as possible)")
	pf.IntVar(&cfg.MaxInFlight, "max-inflight", 0, "client produce requests in flight per broker (0: client default)")
	pf.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", 0, "client batch size limit (0: client default, 1 MB)")
	pf.DurationVar(&cfg.Drain, "drain", 60*time.Second, "how long consumers wait for records still missing")
	pf.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	pf.StringVar(&cfg.TopicType, "topic-type", "", "sluice.topic.type of the topic when it is created: classic or lightning (empty: the agent's --default-topic-type); lightning needs --idempotent=false")

	run := func(name, short string, fn func(context.Context, bench.Config) (*bench.Result, error)) *cobra.Command {
		return &cobra.Command{
			Use:   name,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c := cfg
				c.Brokers = bench.SplitBrokers(cf.brokers)
				if name == "consume" && !cmd.Flags().Changed("records") {
					c.Records = 0 // check only what is there
				}
				if !quiet {
					c.Progress = cmd.ErrOrStderr()
				}
				res, err := fn(cmd.Context(), c)
				if res != nil {
					line, jerr := json.Marshal(res)
					if jerr != nil {
						return jerr
					}
					fmt.Fprintln(cmd.OutOrStdout(), string(line))
				}
				if errors.Is(err, bench.ErrCheck) {
					fmt.Fprintln(os.Stderr, "error:", err)
					os.Exit(1)
				}
				return err
			},
		}
	}
	cmd.AddCommand(
		run("produce", "Produce records and check every acknowledgement is distinct", bench.Produce),
		run("consume", "Read the whole topic and check every record is there exactly once", bench.Consume),
		run("e2e", "Produce (at --rate) while consuming; measure send-to-receive latency", bench.E2E),
		newBenchScaleCmd(&cf),
		newBenchCostCmd(),
	)
	return cmd
}

func newBenchScaleCmd(cf *clientFlags) *cobra.Command {
	var (
		cfg   bench.ScaleConfig
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Create many partitions, load them all, and measure what grows with them",
		Long: `Create --topics topics of --partitions-per-topic partitions (those that
exist are kept), time Metadata requests for all topics, send --rate
records a second for --duration, each to the next partition in turn (a
flush of --batch-timeout T touches about rate×T partitions), then time
Fetch requests naming --fetch-partitions partitions at their high
watermarks (a caught-up consumer's poll). With --metrics-url (the
agent's /metrics) it also reports the commit latency of the agent's
flushes by the partitions they touched and the agent's memory. Prints
one JSON line. See bench/scale.sh and docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := cfg
			c.Brokers = bench.SplitBrokers(cf.brokers)
			if !quiet {
				c.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Scale(cmd.Context(), c)
			if err != nil {
				return err
			}
			return printBenchLine(cmd.OutOrStdout(), "scale", res, res.OK, res.Problem)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Prefix, "prefix", "scale", "topic name prefix (topics are PREFIX-00000 …)")
	f.IntVar(&cfg.Topics, "topics", 100, "topics to create")
	f.Int32Var(&cfg.PartitionsPerTopic, "partitions-per-topic", 10, "partitions of each topic")
	f.IntVar(&cfg.RecordSize, "record-size", 100, "bytes per record value")
	f.Float64Var(&cfg.Rate, "rate", 8000, "records per second over all partitions")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to produce")
	f.DurationVar(&cfg.Linger, "linger", 5*time.Millisecond, "client linger (linger.ms)")
	f.IntVar(&cfg.MetadataRounds, "metadata-rounds", 5, "all-topics Metadata requests to time")
	f.IntVar(&cfg.FetchPartitions, "fetch-partitions", 1000, "caught-up partitions named by each timed Fetch")
	f.IntVar(&cfg.FetchRounds, "fetch-rounds", 20, "Fetch requests to time")
	f.StringVar(&cfg.MetricsURL, "metrics-url", "", "the agent's /metrics URL, for commit latencies and memory (empty: not reported)")
	f.IntVar(&cfg.CreateBatch, "create-batch", 500, "topics per CreateTopics request")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	return cmd
}

func newBenchCostCmd() *cobra.Command {
	var (
		cfg        bench.CostConfig
		pricesPath string
		quiet      bool
	)
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Run agents in several zones, move a fixed volume, and price its bucket requests, storage and cross-zone bytes",
		Long: `Start --agents-per-zone 'sluice agent' processes in each of --zones (this
binary, or --sluice-bin) on --bucket-url and the PostgreSQL --metadata-url,
each behind counting proxies of its own: an HTTP proxy in front of the S3
endpoint (requests by billing class and key prefix, bytes each way), a TCP
proxy in front of the metadata store, and one in front of its zone peer
cache listener that attributes every connection to the agent that opened
it. Producers and consumers in every zone (client IDs with sluice_az=<zone>
unless --zone-aware=false) move --bytes through one topic while their
connections' bytes are counted by client and agent zone; the agents then
run --settle longer while compaction and file deletion work and the
bucket's stored bytes are sampled. Prints one JSON line: requests per GiB
produced and consumed, write amplification, storage over time, cross-zone
bytes, the seeds' design figures, prices from --prices, and a 3-zone Kafka
model. Fails when zone-aware clients or agents moved bytes across zones.
A file:// bucket is counted by the agents' own metrics instead. See
bench/cost.sh and docs/performance.md#cost.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := cfg
			p, err := bench.LoadPrices(pricesPath)
			if err != nil {
				return err
			}
			c.Prices = p
			if !quiet {
				c.Progress = cmd.ErrOrStderr()
			}
			// SIGINT and SIGTERM end the run and stop the agents it started.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := bench.Cost(ctx, c)
			if err != nil {
				return err
			}
			return printBenchLine(cmd.OutOrStdout(), "cost", res, res.OK, res.Problem)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BucketURL, "bucket-url", "", "the bucket: s3://NAME?endpoint=http://HOST:PORT&region=…&use_path_style=true (counted by a proxy per agent) or file:///DIR (counted by the agents)")
	f.StringVar(&cfg.MetadataURL, "metadata-url", "", "PostgreSQL URL of the metadata store the agents share")
	f.StringVar(&cfg.SluiceBin, "sluice-bin", "", "sluice binary the agents run (empty: this one)")
	f.StringSliceVar(&cfg.Zones, "zones", []string{"a", "b", "c"}, "availability zones, one --zone per agent group")
	f.IntVar(&cfg.AgentsPerZone, "agents-per-zone", 1, "agents started in each zone")
	f.StringVar(&cfg.StoreZone, "store-zone", "", "zone the metadata store is in (empty: the first zone)")
	f.Int64Var(&cfg.Bytes, "bytes", 1<<30, "bytes of record values to produce and consume")
	f.IntVar(&cfg.RecordSize, "record-size", 4096, "bytes per record value")
	f.Int32Var(&cfg.Partitions, "partitions", 12, "partitions of the topic")
	f.IntVar(&cfg.ProducersPerZone, "producers-per-zone", 1, "producer clients in each zone")
	f.IntVar(&cfg.ConsumersPerZone, "consumers-per-zone", 1, "consumer clients in each zone (the partitions are split among all consumers)")
	f.Float64Var(&cfg.Rate, "rate-bytes", 0, "bytes per second over all producers (0: as fast as possible)")
	f.BoolVar(&cfg.ZoneAware, "zone-aware", true, "clients put sluice_az=<zone> in their client ID and are seeded with their zone's agents")
	f.DurationVar(&cfg.BatchTimeout, "batch-timeout", 250*time.Millisecond, "the agents' --batch-timeout")
	f.Int64Var(&cfg.BatchMaxBytes, "batch-max-bytes", 8<<20, "the agents' --batch-max-bytes")
	f.Int64Var(&cfg.CacheBlockSize, "cache-block-size", 4<<20, "the agents' --cache-block-size")
	f.DurationVar(&cfg.CompactionInterval, "compaction-interval", 10*time.Second, "the agents' --compaction-interval")
	f.DurationVar(&cfg.RetentionInterval, "retention-interval", 10*time.Second, "the agents' --retention-interval (deletes replaced files after the grace period)")
	f.DurationVar(&cfg.FileGracePeriod, "file-grace-period", 20*time.Second, "the agents' --file-grace-period")
	f.DurationVar(&cfg.Settle, "settle", 90*time.Second, "how long the agents run after the data is consumed, while compaction works")
	f.DurationVar(&cfg.SampleInterval, "sample-interval", 2*time.Second, "how often the bucket's stored bytes are sampled")
	f.DurationVar(&cfg.Drain, "drain", 60*time.Second, "how long consumers may make no progress once producing ends")
	f.StringArrayVar(&cfg.AgentFlags, "agent-flag", nil, "extra 'sluice agent' flag, repeatable (--agent-flag=--cache-size=0)")
	f.StringVar(&cfg.LogDir, "log-dir", "", "directory for the agents' logs (empty: a temporary one, kept only when the run fails)")
	f.StringVar(&pricesPath, "prices", "bench/prices-aws-us-east-1.json", "price table (JSON): requests per 1,000, storage per GB-month, cross-zone per GB")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	return cmd
}

// printBenchLine prints a run's result as one JSON line and fails the
// command unless the run was ok.
func printBenchLine(out io.Writer, what string, res any, ok bool, problem string) error {
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(line))
	if !ok {
		return fmt.Errorf("%s: %s", what, problem)
	}
	return nil
}
