package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newGroupsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "groups", Short: "List, describe and delete consumer groups, and reset their offsets"}
	cf.register(cmd)

	var states []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, closeAdm, err := cf.admin()
			if err != nil {
				return err
			}
			defer closeAdm()
			listed, err := adm.ListGroups(cmd.Context(), states...)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL TYPE")
			for _, g := range listed.Sorted() {
				fmt.Fprintf(w, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
			}
			return w.Flush()
		},
	}
	list.Flags().StringArrayVar(&states, "state", nil, "only groups in this state: Empty, Stable, PreparingRebalance, CompletingRebalance (repeatable)")

	describe := &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's state, members, and per partition its committed offset, end offset and lag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, closeAdm, err := cf.admin()
			if err != nil {
				return err
			}
			defer closeAdm()
			return describeGroup(cmd.Context(), adm, args[0], cmd.OutOrStdout())
		},
	}

	del := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete groups without members, with their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, closeAdm, err := cf.admin()
			if err != nil {
				return err
			}
			defer closeAdm()
			res, err := adm.DeleteGroups(cmd.Context(), args...)
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range res.Sorted() {
				if r.Err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", r.Group, r.Err))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", r.Group)
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s", strings.Join(failed, "; "))
			}
			return nil
		},
	}

	lag := &cobra.Command{
		Use:   "lag GROUP",
		Short: "Show a group's lag per partition and in total",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, closeAdm, err := cf.admin()
			if err != nil {
				return err
			}
			defer closeAdm()
			return groupLag(cmd.Context(), adm, args[0], cmd.OutOrStdout())
		},
	}

	cmd.AddCommand(list, describe, lag, del, newResetOffsetsCmd(&cf))
	return cmd
}

// admin returns an admin client and the function that closes it.
func (c *clientFlags) admin() (*kadm.Client, func(), error) {
	cl, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// groupLag prints a group's lag per partition and the total.
func groupLag(ctx context.Context, adm *kadm.Client, group string, out io.Writer) error {
	l, err := lagOf(ctx, adm, group)
	if err != nil {
		return err
	}
	if err := printLag(out, l); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "total lag %d\n", l.Lag.Total())
	return err
}

// lagOf describes a group with its lag; a group that does not exist is an
// error.
func lagOf(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedGroupLag, error) {
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return kadm.DescribedGroupLag{}, err
	}
	l, ok := lags[group]
	if !ok {
		return l, fmt.Errorf("group %s: not described", group)
	}
	if err := l.Error(); err != nil {
		return l, fmt.Errorf("group %s: %w", group, err)
	}
	if l.State == "Dead" && len(l.Lag) == 0 {
		return l, fmt.Errorf("group %s does not exist", group)
	}
	return l, nil
}

func describeGroup(ctx context.Context, adm *kadm.Client, group string, out io.Writer) error {
	l, err := lagOf(ctx, adm, group)
	if err != nil {
		return err
	}
	protocol := l.ProtocolType
	if l.Protocol != "" {
		protocol += "/" + l.Protocol
	}
	if protocol == "" {
		protocol = "-"
	}
	fmt.Fprintf(out, "group %s  state %s  protocol %s  coordinator %d  members %d\n", group, l.State, protocol, l.Coordinator.NodeID, len(l.Members))

	if len(l.Members) > 0 {
		fmt.Fprintln(out)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MEMBER\tINSTANCE\tCLIENT\tHOST\tASSIGNED")
		for _, m := range l.Members {
			instance := "-"
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			assigned := "-"
			if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 {
				var parts []string
				for _, t := range c.Topics {
					ps := append([]int32(nil), t.Partitions...)
					sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
					parts = append(parts, fmt.Sprintf("%s%v", t.Topic, ps))
				}
				sort.Strings(parts)
				assigned = strings.Join(parts, " ")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, instance, m.ClientID, m.ClientHost, assigned)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	if len(l.Lag) > 0 {
		fmt.Fprintln(out)
		return printLag(out, l)
	}
	return nil
}

// printLag prints a group's committed offset, end offset and lag per
// partition.
func printLag(out io.Writer, l kadm.DescribedGroupLag) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, p := range l.Lag.Sorted() {
		committed, end, lag, member := "-", "-", "-", "-"
		if p.Commit.At >= 0 {
			committed = strconv.FormatInt(p.Commit.At, 10)
		}
		if p.End.Err == nil {
			end = strconv.FormatInt(p.End.Offset, 10)
		}
		if p.Err == nil && p.Lag >= 0 {
			lag = strconv.FormatInt(p.Lag, 10)
		}
		if p.Member != nil {
			member = p.Member.MemberID
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, committed, end, lag, member)
	}
	return w.Flush()
}

func newResetOffsetsCmd(cf *clientFlags) *cobra.Command {
	var (
		topic       string
		partitions  []int32
		toEarliest  bool
		toLatest    bool
		toTimestamp string
		toOffset    int64
		dryRun      bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC (--to-earliest | --to-latest | --to-timestamp TIME | --to-offset N)",
		Short: "Set a group's committed offsets for a topic's partitions",
		Long: `Set the committed offsets of GROUP for the partitions of TOPIC (all of them,
or those named with --partitions). The group must have no active members,
as with Kafka's kafka-consumer-groups tool: stop its consumers first.

Prints the plan (partition, current committed offset, new offset) and
commits it, unless --dry-run. --to-offset is clamped into each partition's
[start, end] range; --to-timestamp (milliseconds since the epoch, or
RFC 3339) picks the first offset at or after that time, or the end offset.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			var at int64
			if toTimestamp != "" {
				var err error
				if at, err = parseTimestamp(toTimestamp); err != nil {
					return err
				}
			}
			adm, closeAdm, err := cf.admin()
			if err != nil {
				return err
			}
			defer closeAdm()
			ctx := cmd.Context()

			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return err
			}
			g := described[group]
			if g.Err != nil {
				return fmt.Errorf("group %s: %w", group, g.Err)
			}
			if len(g.Members) > 0 {
				return fmt.Errorf("group %s has %d active members (state %s): offsets can only be reset while the group is inactive; stop its consumers first",
					group, len(g.Members), g.State)
			}

			td, err := adm.ListTopics(ctx, topic)
			if err != nil {
				return err
			}
			t, ok := td[topic]
			if !ok || t.Err != nil {
				return fmt.Errorf("topic %s: %v", topic, t.Err)
			}
			want := partitions
			if len(want) == 0 {
				for _, p := range t.Partitions.Sorted() {
					want = append(want, p.Partition)
				}
			}
			for _, p := range want {
				if _, ok := t.Partitions[p]; !ok {
					return fmt.Errorf("topic %s has no partition %d", topic, p)
				}
			}

			starts, err := listed(adm.ListStartOffsets(ctx, topic))
			if err != nil {
				return err
			}
			ends, err := listed(adm.ListEndOffsets(ctx, topic))
			if err != nil {
				return err
			}
			var byTime kadm.ListedOffsets
			if toTimestamp != "" {
				if byTime, err = listed(adm.ListOffsetsAfterMilli(ctx, at, topic)); err != nil {
					return err
				}
			}
			current, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return err
			}

			plan := kadm.Offsets{}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITION\tCURRENT\tNEW")
			for _, p := range want {
				start, _ := starts.Lookup(topic, p)
				end, _ := ends.Lookup(topic, p)
				var to int64
				switch {
				case toEarliest:
					to = start.Offset
				case toLatest:
					to = end.Offset
				case toTimestamp != "":
					o, ok := byTime.Lookup(topic, p)
					if !ok {
						return fmt.Errorf("partition %d: no offset listed for time %d", p, at)
					}
					to = o.Offset
				default:
					to = min(max(toOffset, start.Offset), end.Offset)
				}
				cur := "-"
				if c, ok := current.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
					cur = strconv.FormatInt(c.At, 10)
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%d\n", topic, p, cur, to)
				plan.Add(kadm.Offset{Topic: topic, Partition: p, At: to, LeaderEpoch: -1})
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(cmd.OutOrStdout(), "dry run: nothing committed")
				return nil
			}
			// No member ID and generation -1: an admin commit, which the
			// coordinator accepts only while the group has no members.
			res, err := adm.CommitOffsets(ctx, group, plan)
			if err != nil {
				return err
			}
			if err := res.Error(); err != nil {
				return fmt.Errorf("commit: %w (did a consumer join group %s meanwhile?)", err, group)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset %d partitions of topic %s for group %s\n", len(want), topic, group)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic whose offsets to reset (required)")
	f.Int32SliceVar(&partitions, "partitions", nil, "partitions to reset, comma-separated; all when omitted")
	f.BoolVar(&toEarliest, "to-earliest", false, "reset to each partition's start offset")
	f.BoolVar(&toLatest, "to-latest", false, "reset to each partition's end offset")
	f.StringVar(&toTimestamp, "to-timestamp", "", "reset to the first offset at or after this time: milliseconds since the epoch or RFC 3339")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset (clamped to each partition's start and end)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan without committing it")
	cmd.MarkFlagRequired("topic")
	cmd.MarkFlagsMutuallyExclusive("to-earliest", "to-latest", "to-timestamp", "to-offset")
	cmd.MarkFlagsOneRequired("to-earliest", "to-latest", "to-timestamp", "to-offset")
	return cmd
}

// listed checks a ListOffsets answer for errors.
func listed(l kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	if err == nil {
		err = l.Error()
	}
	return l, err
}

// parseTimestamp reads milliseconds since the epoch or an RFC 3339 time.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New("--to-timestamp: want milliseconds since the epoch or an RFC 3339 time such as 2024-05-01T12:00:00Z")
	}
	return t.UnixMilli(), nil
}
