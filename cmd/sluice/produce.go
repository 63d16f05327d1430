package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newProduceCmd() *cobra.Command {
	var (
		cf        clientFlags
		topic     string
		keySep    string
		partition int32
		acks      string
		timeout   time.Duration
		headers   []string
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce one record per line of standard input",
		Long: `Produce one record per line of standard input. With --key-separator, the
text before the first separator is the key and the rest the value. Prints
the partition and offset of each record when it is acknowledged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Retriable errors (an agent restarting, a metadata store or
			// bucket outage) are retried until --delivery-timeout; only
			// then, or on a non-retriable error, does a record fail.
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
				kgo.RecordDeliveryTimeout(timeout), kgo.RetryTimeout(timeout)}
			switch acks {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return fmt.Errorf("--acks must be all, 1 or 0")
			}
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			hs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			cl, err := cf.client(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			return produceLines(cmd, cl, keySep, partition, hs)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic to produce to (required)")
	f.StringVarP(&keySep, "key-separator", "k", "", "split each line into key and value at the first occurrence of this string")
	f.Int32VarP(&partition, "partition", "p", -1, "partition to produce to (-1: by key, or sticky for keyless records)")
	f.StringVar(&acks, "acks", "all", "acks: all, 1 or 0")
	f.DurationVar(&timeout, "delivery-timeout", 2*time.Minute, "how long a record is retried through retriable errors (an agent restart, a metadata store or bucket outage) before it fails")
	f.StringArrayVarP(&headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	cmd.MarkFlagRequired("topic")
	return cmd
}

// parseHeaders reads --header key=value flags, in order (Kafka headers may
// repeat a key).
func parseHeaders(flags []string) ([]kgo.RecordHeader, error) {
	var hs []kgo.RecordHeader
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--header %q: want key=value", kv)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

func produceLines(cmd *cobra.Command, cl *kgo.Client, keySep string, partition int32, headers []kgo.RecordHeader) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards firstErr and writes to out
		firstErr error
	)
	sc := bufio.NewScanner(cmd.InOrStdin())
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		r := &kgo.Record{Value: []byte(line), Partition: partition, Headers: headers}
		if keySep != "" {
			if k, v, ok := strings.Cut(line, keySep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			fmt.Fprintf(out, "partition %d offset %d\n", r.Partition, r.Offset)
		})
	}
	wg.Wait()
	if err := sc.Err(); err != nil {
		return err
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	return firstErr
}
