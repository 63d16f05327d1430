package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newConsumeCmd() *cobra.Command {
	var (
		cf     clientFlags
		topic  string
		from   string
		follow bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print a topic's records: partition, offset, key and value",
		Long: `Print a topic's records, one per line: partition, offset, key and value,
tab-separated. Without --follow it stops once it has read every partition
up to the end offsets it saw when it started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var start kgo.Offset
			switch from {
			case "beginning":
				start = kgo.NewOffset().AtStart()
			case "end":
				start = kgo.NewOffset().AtEnd()
			default:
				return fmt.Errorf("--from must be beginning or end")
			}
			cl, err := cf.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))
			if err != nil {
				return err
			}
			defer cl.Close()
			return consume(cmd.Context(), cl, topic, from, follow, limit, cmd.OutOrStdout())
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic to consume (required)")
	f.StringVar(&from, "from", "beginning", "where to start: beginning or end")
	f.BoolVarP(&follow, "follow", "f", false, "keep waiting for new records instead of stopping at the end")
	f.IntVarP(&limit, "max-records", "n", 0, "stop after this many records (0: no limit)")
	cmd.MarkFlagRequired("topic")
	return cmd
}

func consume(ctx context.Context, cl *kgo.Client, topic, from string, follow bool, limit int, out io.Writer) error {
	// remaining maps partition → end offset still to reach; empty when
	// following.
	remaining := map[int32]int64{}
	if !follow {
		adm := kadm.NewClient(cl)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		if err := ends.Error(); err != nil {
			return err
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return err
		}
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := starts.Lookup(o.Topic, o.Partition)
			if from == "beginning" && o.Offset > s.Offset {
				remaining[o.Partition] = o.Offset
			}
		})
		if len(remaining) == 0 {
			return nil
		}
	}
	printed := 0
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s[%d]: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			fmt.Fprintf(out, "%d\t%d\t%s\t%s\n", r.Partition, r.Offset, r.Key, r.Value)
			printed++
			if limit > 0 && printed >= limit {
				return nil
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
				if len(remaining) == 0 {
					return nil
				}
			}
		}
	}
}
