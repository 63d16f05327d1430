package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/query"
)

// levelFlag is a slog.Level as a flag value.
type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return "warn"
	}
	return strings.ToLower(f.l.String())
}
func (f levelFlag) Set(s string) error { return f.l.UnmarshalText([]byte(s)) }
func (f levelFlag) Type() string       { return "level" }

// addEventsFlags adds the events, audit and query flags of sluice dev and
// sluice agent (docs/events.md).
func addEventsFlags(cmd *cobra.Command, cfg *agent.EventsConfig) {
	f := cmd.Flags()
	f.BoolVar(&cfg.AgentLogs, "events-agent-logs", true, "record the agent's logs at or above --events-log-level in __sluice_events_agent_logs")
	f.BoolVar(&cfg.Audit, "audit", true, "record administrative actions (topic, config, partition, group and offset changes, DeleteRecords, ACL and SCRAM changes) and authentications in __sluice_audit")
	f.BoolVar(&cfg.Jobs, "events-jobs", true, "record background job runs (compaction, retention, file deletion and orphan sweep) with their figures in __sluice_events_jobs")
	f.BoolVar(&cfg.ACL, "events-acl", true, "record ACL decisions (every denial, every shadow-mode would-be denial) in __sluice_events_acl")
	f.BoolVar(&cfg.ACLAllowed, "events-acl-allowed", false, "with --events-acl, record allowed ACL decisions too (one event per authorized request: use with care)")
	f.Int32Var(&cfg.Partitions, "events-partitions", 1, "partitions of each event topic when it is created")
	f.DurationVar(&cfg.Retention, "events-retention", 6*time.Hour, "retention.ms of each event topic when it is created")
	f.Int32Var(&cfg.AuditPartitions, "audit-partitions", 1, "partitions of __sluice_audit when it is created")
	f.DurationVar(&cfg.AuditRetention, "audit-retention", 90*24*time.Hour, "retention.ms of __sluice_audit when it is created")
	cfg.LogLevel = slog.LevelWarn
	f.Var(levelFlag{&cfg.LogLevel}, "events-log-level", "lowest agent log level recorded as events (debug, info, warn, error)")
	f.Float64Var(&cfg.LogRate, "events-log-rate", 20, "agent log records recorded per second on average (bursts of 100); the rest are counted")
	f.Float64Var(&cfg.MaxRate, "events-max-rate", 2000, "events written per second at most, all streams together; beyond it (and a buffer of 8192) events are dropped and counted in sluice_events_dropped_total")
	f.DurationVar(&cfg.Query.MaxRange, "events-query-max-range", 24*time.Hour, "longest time range an event query may cover")
	f.Int64Var(&cfg.Query.MaxScanBytes, "events-query-max-scan-bytes", 1<<30, "record bytes one event query may read; a query that reaches it answers what it found, marked partial")
	f.Int64Var(&cfg.Query.MaxMemoryBytes, "events-query-max-memory-bytes", 64<<20, "bytes of events and groups one event query may hold; a query that reaches it answers what it found, marked partial")
	f.IntVar(&cfg.Query.MaxConcurrent, "events-query-max-concurrent", 2, "event queries running at once on this agent; more are refused (HTTP 429)")
	f.DurationVar(&cfg.Query.Timeout, "events-query-timeout", 30*time.Second, "bound on one event query; a query that reaches it answers what it found, marked partial")
}

// eventsFlags are the flags of sluice events query and sluice audit.
type eventsFlags struct {
	http, since, until, output, page string
	limit                            int
}

func (f *eventsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.http, "http-addr", "127.0.0.1:8080", "HTTP address of any agent")
	cmd.Flags().StringVar(&f.since, "since", "", "start of the time range: a duration before now (1h, 30m) or an RFC 3339 time (default: the query's, else 1h)")
	cmd.Flags().StringVar(&f.until, "until", "", "end of the time range (default: the query's, else now)")
	cmd.Flags().IntVar(&f.limit, "limit", 0, "events or groups to return (default: the query's, else 100)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")
	cmd.Flags().StringVar(&f.page, "page", "", "continue a list from the next_page_token a previous answer printed")
}

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Query the cluster's events (agent logs, audit, job runs, ACL decisions)"}
	var f eventsFlags
	q := &cobra.Command{
		Use:   "query 'QUERY'",
		Short: "Run an event query (docs/events.md has the language)",
		Example: `  sluice events query 'data.log_level == "error"' --since 1h
  sluice events query 'from jobs and data.job == "compaction"'
  sluice events query 'from audit group by data.principal, type'
  sluice events query 'from agent_logs timeline 5m group by data.log_level' -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := ""
			if len(args) == 1 {
				text = args[0]
			}
			return runEventsQuery(cmd, f, text)
		},
	}
	f.register(q)
	cmd.AddCommand(q)
	return cmd
}

func newAuditCmd() *cobra.Command {
	var f eventsFlags
	cmd := &cobra.Command{
		Use:   "audit ['FILTER']",
		Short: "List audit records (who changed what): events query 'from audit …'",
		Example: `  sluice audit --since 24h
  sluice audit 'type == "io.sluice.audit.topic.deleted"'
  sluice audit 'data.principal == "User:alice" and data.status == "FAILURE"'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := "from audit"
			if len(args) == 1 && strings.TrimSpace(args[0]) != "" {
				// The filter goes first, the stream after: the grammar
				// puts clauses after the expression.
				text = args[0] + " from audit"
			}
			return runEventsQuery(cmd, f, text)
		},
	}
	f.register(cmd)
	return cmd
}

func runEventsQuery(cmd *cobra.Command, f eventsFlags, text string) error {
	if _, err := query.Parse(text); err != nil {
		return err // caught here with its position, before any network
	}
	body, _ := json.Marshal(query.Request{Query: text, Since: f.since, Until: f.until, Limit: f.limit, PageToken: f.page})
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.http+query.Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	setAPIAuth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb query.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Message != "" {
			return errors.New(eb.Message)
		}
		var ae struct{ Code, Error string } // the admin API's login and authorization
		if json.Unmarshal(raw, &ae) == nil && ae.Code != "" {
			return fmt.Errorf("%s: %s", ae.Code, ae.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		_, err := out.Write(raw)
		return err
	}
	if f.output != "table" {
		return fmt.Errorf("--output %q: want table or json", f.output)
	}
	var res query.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	return printResult(out, &res)
}

// printResult prints an answer as a table.
func printResult(out io.Writer, res *query.Result) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	switch res.Kind {
	case "events":
		fmt.Fprintln(w, "TIME\tTYPE\tSUBJECT\tDATA")
		for _, ev := range res.Events {
			var e struct {
				Type    string          `json:"type"`
				Subject string          `json:"subject"`
				Data    json.RawMessage `json:"data"`
			}
			json.Unmarshal(ev.Event, &e)
			data := string(e.Data)
			if len(data) > 200 {
				data = data[:200] + "…"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ev.Time.Format(time.RFC3339Nano), e.Type, e.Subject, data)
		}
	case "count":
		fmt.Fprintf(w, "COUNT\n%d\n", res.Count)
	case "groups":
		for i, g := range res.Groups {
			keys := sortedKeys(g.Key)
			if i == 0 {
				fmt.Fprintln(w, strings.ToUpper(strings.Join(keys, "\t"))+"\tCOUNT")
			}
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t", g.Key[k])
			}
			fmt.Fprintf(w, "%d\n", g.Count)
		}
	case "timeline":
		fmt.Fprintln(w, "BUCKET\tCOUNT\tGROUPS")
		for _, b := range res.Timeline {
			var gs []string
			for _, g := range b.Groups {
				var kv []string
				for _, k := range sortedKeys(g.Key) {
					kv = append(kv, g.Key[k])
				}
				gs = append(gs, fmt.Sprintf("%s=%d", strings.Join(kv, ","), g.Count))
			}
			fmt.Fprintf(w, "%s\t%d\t%s\n", b.Start.Format(time.RFC3339), b.Count, strings.Join(gs, " "))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s := res.Stats
	fmt.Fprintf(out, "-- %s to %s: %d matched of %d records; %d of %d tasks scanned (%d pruned), %d bytes, %.1f ms\n",
		res.Since.Format(time.RFC3339), res.Until.Format(time.RFC3339), s.RecordsMatched, s.RecordsScanned,
		s.TasksScanned, s.TasksTotal, s.TasksPruned, s.BytesScanned, s.DurationMs)
	if res.Partial {
		fmt.Fprintf(out, "-- partial answer: limit reached (%s)\n", strings.Join(res.LimitsHit, ", "))
	}
	if res.NextPageToken != "" {
		fmt.Fprintf(out, "-- more: --page %s\n", res.NextPageToken)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
