package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultConsumeFormat prints partition, offset, key and value,
// tab-separated.
const defaultConsumeFormat = `%p\t%o\t%k\t%v\n`

func newConsumeCmd() *cobra.Command {
	var (
		cf           clientFlags
		opts         consumeOptions
		printHeaders bool
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print a topic's records: partition, offset, key and value",
		Long: `Print a topic's records, one per line: partition, offset, key and value,
tab-separated, or as --format says. Without --follow it stops once it has
read every partition up to the end offsets it saw when it started.

Where to start: --from beginning|end, --from-time (RFC 3339, Unix
milliseconds, or a duration meaning that long ago, e.g. 15m), or --offset
with --partition. With --group the records are read as a member of that
consumer group, from its committed offsets (--from where it has none), and
the group's offsets are committed as records are printed.

--format takes kcat-style placeholders: %t topic, %p partition, %o offset,
%k key, %v value, %h headers (key=value, comma-separated), %T timestamp
(Unix ms), %%; and \n, \t for newline and tab.`,
		Example: `  sluice consume -t orders
  sluice consume -t orders --partition 2 --offset 100 -n 10
  sluice consume -t orders --from-time 15m --format '%T %k=%v %h\n'
  sluice consume -t orders --group billing --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printHeaders && !cmd.Flags().Changed("format") {
				opts.format = strings.TrimSuffix(defaultConsumeFormat, `\n`) + `\t%h\n`
			}
			opts.offsetSet = cmd.Flags().Changed("offset")
			return runConsume(cmd.Context(), &cf, opts, cmd.OutOrStdout())
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&opts.topic, "topic", "t", "", "topic to consume (required)")
	f.StringVar(&opts.from, "from", "beginning", "where to start without --offset, --from-time or committed group offsets: beginning or end")
	f.StringVar(&opts.fromTime, "from-time", "", "start at the first record at or after this time: RFC 3339, Unix milliseconds, or a duration ago (e.g. 15m)")
	f.Int32SliceVar(&opts.partitions, "partition", nil, "consume only these partitions (repeatable or comma-separated)")
	f.Int64Var(&opts.offset, "offset", 0, "start at this offset of each --partition (negative: that many before the end)")
	f.StringVarP(&opts.group, "group", "g", "", "consume as a member of this consumer group, committing its offsets")
	f.BoolVarP(&opts.follow, "follow", "f", false, "keep waiting for new records instead of stopping at the end")
	f.IntVarP(&opts.limit, "max-records", "n", 0, "stop after this many records (0: no limit)")
	f.StringVar(&opts.format, "format", defaultConsumeFormat, "output format of each record (see above)")
	f.BoolVar(&printHeaders, "print-headers", false, "append the record's headers to the default format")
	cmd.MarkFlagRequired("topic")
	return cmd
}

type consumeOptions struct {
	topic      string
	from       string
	fromTime   string
	partitions []int32
	offset     int64
	offsetSet  bool
	group      string
	follow     bool
	limit      int
	format     string
}

// check refuses combinations that cannot mean anything.
func (o consumeOptions) check() error {
	if o.from != "beginning" && o.from != "end" {
		return errors.New("--from must be beginning or end")
	}
	if o.offsetSet && len(o.partitions) == 0 {
		return errors.New("--offset needs --partition")
	}
	if o.offsetSet && o.fromTime != "" {
		return errors.New("--offset and --from-time exclude each other")
	}
	if o.group != "" && len(o.partitions) > 0 {
		return errors.New("--group and --partition exclude each other: a group member is assigned its partitions")
	}
	if o.group != "" && (o.offsetSet || o.fromTime != "") {
		return errors.New("--group starts at the group's committed offsets; use 'sluice groups reset-offsets' to move them")
	}
	return nil
}

// parseFromTime reads --from-time: RFC 3339, Unix milliseconds, or a
// duration before now.
func parseFromTime(s string, now time.Time) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UnixMilli(), nil
	}
	return 0, fmt.Errorf("--from-time %q: want RFC 3339 (2026-01-02T15:04:05Z), Unix milliseconds, or a duration ago (15m)", s)
}

func runConsume(ctx context.Context, cf *clientFlags, o consumeOptions, out io.Writer) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	format, err := parseRecordFormat(o.format)
	if err != nil {
		return err
	}
	reset := kgo.NewOffset().AtStart()
	if o.from == "end" {
		reset = kgo.NewOffset().AtEnd()
	}
	if o.fromTime != "" {
		ms, err := parseFromTime(o.fromTime, time.Now())
		if err != nil {
			return err
		}
		reset = kgo.NewOffset().AfterMilli(ms)
	}

	var opts []kgo.Opt
	switch {
	case len(o.partitions) > 0:
		start := reset
		if o.offsetSet {
			start = kgo.NewOffset().At(o.offset)
			if o.offset < 0 {
				start = kgo.NewOffset().AtEnd().Relative(o.offset)
			}
		}
		parts := map[int32]kgo.Offset{}
		for _, p := range o.partitions {
			parts[p] = start
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: parts}))
	case o.group != "":
		// Only printed records count as consumed: -n may stop inside a fetch.
		opts = append(opts, kgo.ConsumeTopics(o.topic), kgo.ConsumerGroup(o.group), kgo.ConsumeResetOffset(reset), kgo.AutoCommitMarks())
	default:
		opts = append(opts, kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(reset))
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if o.group != "" {
		defer func() {
			// Commit what was printed before leaving, also after Ctrl-C.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
				err = fmt.Errorf("committing group %s's offsets: %w", o.group, cerr)
			}
		}()
	}

	var remaining map[int32]int64
	if !o.follow {
		if remaining, err = consumeTargets(ctx, kadm.NewClient(cl), o); err != nil {
			return err
		}
		if len(remaining) == 0 {
			return nil
		}
	}
	printed := 0
	var line []byte
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
			line = format.append(line[:0], r)
			if _, err := out.Write(line); err != nil {
				return err
			}
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			printed++
			if limit := o.limit; limit > 0 && printed >= limit {
				return nil
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
				if remaining != nil && len(remaining) == 0 {
					return nil
				}
			}
		}
	}
}

// consumeTargets returns, per partition that has records to print, the end
// offset the consumer stops at: the end offsets when it starts, for the
// partitions whose start position is below them.
func consumeTargets(ctx context.Context, adm *kadm.Client, o consumeOptions) (map[int32]int64, error) {
	ends, err := adm.ListEndOffsets(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	var byTime kadm.ListedOffsets
	if o.fromTime != "" {
		ms, _ := parseFromTime(o.fromTime, time.Now())
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, ms, o.topic); err != nil {
			return nil, err
		}
	}
	var committed kadm.OffsetResponses
	if o.group != "" {
		if committed, err = adm.FetchOffsets(ctx, o.group); err != nil {
			return nil, err
		}
	}
	selected := func(p int32) bool {
		if len(o.partitions) == 0 {
			return true
		}
		for _, q := range o.partitions {
			if q == p {
				return true
			}
		}
		return false
	}
	remaining := map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		if !selected(e.Partition) {
			return
		}
		s, _ := starts.Lookup(e.Topic, e.Partition)
		start := s.Offset
		switch {
		case o.offsetSet && o.offset >= 0:
			start = max(start, o.offset)
		case o.offsetSet:
			start = max(start, e.Offset+o.offset)
		case o.group != "":
			if c, ok := committed.Lookup(e.Topic, e.Partition); ok && c.Err == nil && c.At >= 0 {
				start = c.At
			} else if o.from == "end" {
				start = e.Offset
			}
		case o.fromTime != "":
			if t, ok := byTime.Lookup(e.Topic, e.Partition); ok && t.Err == nil && t.Offset >= 0 {
				start = t.Offset
			} else {
				start = e.Offset
			}
		case o.from == "end":
			start = e.Offset
		}
		if e.Offset > start {
			remaining[e.Partition] = e.Offset
		}
	})
	return remaining, nil
}

// recordFormat is a parsed --format: literal text and placeholders.
type recordFormat []formatPart

type formatPart struct {
	verb byte // 0 for literal text
	text string
}

func parseRecordFormat(s string) (recordFormat, error) {
	var f recordFormat
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f = append(f, formatPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c != '%' && c != '\\') || i+1 == len(s) {
			lit.WriteByte(c)
			continue
		}
		i++
		n := s[i]
		switch {
		case c == '\\' && n == 'n':
			lit.WriteByte('\n')
		case c == '\\' && n == 't':
			lit.WriteByte('\t')
		case c == '\\':
			lit.WriteByte(c)
			lit.WriteByte(n)
		case n == '%':
			lit.WriteByte('%')
		case strings.IndexByte("tpokvhT", n) >= 0:
			flush()
			f = append(f, formatPart{verb: n})
		default:
			return nil, fmt.Errorf("--format: unknown placeholder %%%c (use %%t %%p %%o %%k %%v %%h %%T or %%%%)", n)
		}
	}
	flush()
	return f, nil
}

func (f recordFormat) append(b []byte, r *kgo.Record) []byte {
	for _, p := range f {
		switch p.verb {
		case 0:
			b = append(b, p.text...)
		case 't':
			b = append(b, r.Topic...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'k':
			b = append(b, r.Key...)
		case 'v':
			b = append(b, r.Value...)
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
	}
	return b
}
