package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "topics", Short: "Create, list, describe, alter and delete topics"}
	cf.register(cmd)

	var (
		partitions int32
		configs    []string
	)
	create := &cobra.Command{
		Use:   "create TOPIC",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs := map[string]*string{}
			for _, kv := range configs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--config %q: want key=value", kv)
				}
				cfgs[k] = &v
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).CreateTopic(cmd.Context(), partitions, -1, cfgs, args[0])
			if res.Err != nil {
				// kadm returns the topic's error as err too; report it once.
				return kafkaError(res.Err, res.ErrMessage)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created topic %s with %d partitions (id %s)\n", res.Topic, res.NumPartitions, topicID(res.ID))
			return nil
		},
	}
	create.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partition count (-1: the agent's default)")
	create.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")

	var internal bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			td, err := list(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITIONS\tID")
			for _, t := range td.Sorted() {
				fmt.Fprintf(w, "%s\t%d\t%s\n", t.Topic, len(t.Partitions), topicID(t.ID))
			}
			return w.Flush()
		},
	}

	list.Flags().BoolVar(&internal, "internal", false, "also list internal topics (__consumer_offsets, __transaction_state, __sluice_*)")

	var allConfigs bool
	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show a topic's partitions with their offsets and its configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			ctx := cmd.Context()
			td, err := adm.ListTopics(ctx, args[0])
			if err != nil {
				return err
			}
			t, ok := td[args[0]]
			if !ok {
				return fmt.Errorf("topic %s: not in the agent's answer", args[0])
			}
			if t.Err != nil {
				return fmt.Errorf("topic %s: %w", args[0], kafkaError(t.Err, ""))
			}
			starts, err := adm.ListStartOffsets(ctx, args[0])
			if err != nil {
				return err
			}
			ends, err := adm.ListEndOffsets(ctx, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "topic %s  id %s  partitions %d\n", t.Topic, topicID(t.ID), len(t.Partitions))
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PARTITION\tLEADER\tSTART\tEND")
			for _, p := range t.Partitions.Sorted() {
				s, _ := starts.Lookup(args[0], p.Partition)
				e, _ := ends.Lookup(args[0], p.Partition)
				fmt.Fprintf(w, "%d\t%d\t%d\t%d\n", p.Partition, p.Leader, s.Offset, e.Offset)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return printTopicConfigs(ctx, adm, args[0], allConfigs, out)
		},
	}
	describe.Flags().BoolVar(&allConfigs, "all-configs", false, "print every config with its default, not only those set on the topic")

	var set, unset []string
	alter := &cobra.Command{
		Use:   "alter-config TOPIC --set key=value... --delete key...",
		Short: "Set or remove topic configs (incrementally: others stay as they are)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var alters []kadm.AlterConfig
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--set %q: want key=value", kv)
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range unset {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			if len(alters) == 0 {
				return errors.New("nothing to change: give --set key=value or --delete key")
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).AlterTopicConfigs(cmd.Context(), alters, args[0])
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("topic %s: %w", r.Name, kafkaError(r.Err, r.ErrMessage))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "altered %d config(s) of topic %s\n", len(alters), args[0])
			return nil
		},
	}
	alter.Flags().StringArrayVar(&set, "set", nil, "config to set, key=value (repeatable)")
	alter.Flags().StringArrayVar(&unset, "delete", nil, "config to remove from the topic, back to its default (repeatable)")

	del := &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := kadm.NewClient(cl).DeleteTopics(cmd.Context(), args...)
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range res.Sorted() {
				if r.Err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", r.Topic, kafkaError(r.Err, r.ErrMessage)))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted topic %s\n", r.Topic)
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s", strings.Join(failed, "; "))
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, describe, alter, del)
	return cmd
}

// printTopicConfigs prints a topic's configs set on it (all of them with
// all), with where each value comes from.
func printTopicConfigs(ctx context.Context, adm *kadm.Client, topic string, all bool, out io.Writer) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return err
	}
	if rc.Err != nil {
		return fmt.Errorf("configs of topic %s: %w", topic, kafkaError(rc.Err, rc.ErrMessage))
	}
	var rows []kadm.Config
	for _, c := range rc.Configs {
		if all || c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			rows = append(rows, c)
		}
	}
	fmt.Fprintln(out)
	if len(rows) == 0 {
		_, err := fmt.Fprintln(out, "no configs set on the topic (--all-configs prints the defaults)")
		return err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CONFIG\tVALUE\tSOURCE")
	for _, c := range rows {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.Key, v, c.Source)
	}
	return w.Flush()
}
