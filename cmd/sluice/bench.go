package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
			line, err := json.Marshal(res)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(line))
			if !res.OK {
				return fmt.Errorf("scale: %s", res.Problem)
			}
			return nil
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
