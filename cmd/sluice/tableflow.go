package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/tableflow"
)

func newTableflowCmd() *cobra.Command {
	var configPath, listen string
	var leaseTTL time.Duration
	cmd := &cobra.Command{
		Use:   "tableflow",
		Short: "Maintain Iceberg tables from Kafka topics, as tableflow.yaml declares",
		Long: `Consumes the topics tableflow.yaml names (from any Kafka cluster), writes
their records as Parquet files in the destination bucket and commits them to
Iceberg v2 tables, exactly once, with compaction, snapshot expiry and orphan
cleanup. Serves an Iceberg REST catalog and /metrics on --listen. Several
processes with the same config share the tables through leases.
See docs/tableflow.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("--config is required")
			}
			cfg, err := tableflow.LoadConfig(configPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			svc, err := tableflow.New(ctx, cfg, tableflow.Options{Metrics: tableflow.NewMetrics(reg), Logger: slog.Default(), LeaseTTL: leaseTTL})
			if err != nil {
				return err
			}
			defer svc.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			mux.Handle("/v1/", svc.RESTHandler())
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			slog.Info("tableflow: serving the Iceberg REST catalog and /metrics", "addr", "http://"+ln.Addr().String(), "tables", len(cfg.Tables))
			err = svc.Run(ctx)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "tableflow.yaml")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8181", "address of the Iceberg REST catalog and /metrics")
	cmd.Flags().DurationVar(&leaseTTL, "lease-ttl", 15*time.Second, "how long a table stays with a process that stopped renewing its lease")
	return cmd
}

func newTablesCmd() *cobra.Command {
	var catURL string
	cmd := &cobra.Command{Use: "tables", Short: "List and describe the Iceberg tables of a tableflow REST catalog"}
	cmd.PersistentFlags().StringVar(&catURL, "catalog", "http://127.0.0.1:8181", "Iceberg REST catalog URL (sluice tableflow --listen)")
	open := func(ctx context.Context) (*rest.Catalog, error) {
		return rest.NewCatalog(ctx, "sluice", catURL)
	}
	load := func(ctx context.Context, name string) (*table.Table, error) {
		cat, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return cat.LoadTable(ctx, tableflow.Ident(name))
	}
	var apiAddr string
	list := &cobra.Command{
		Use:   "list",
		Short: "List tables",
		Long: `Lists the tables of the Iceberg REST catalog (--catalog). With --http-addr,
asks an agent with the tableflow role through its admin API instead
(GET /api/v1/tables, docs/api.md): one request, and the answer adds what
the catalog does not know, each table's source topic, format, lag and
last commit. With --console-auth scram on the agent, set
SLUICE_API_USER and SLUICE_API_PASSWORD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if apiAddr != "" {
				return listTablesAPI(ctx, apiAddr, cmd.OutOrStdout())
			}
			cat, err := open(ctx)
			if err != nil {
				return err
			}
			nss, err := cat.ListNamespaces(ctx, nil)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tSNAPSHOTS\tRECORDS\tFILES\tLOCATION")
			var names []string
			for _, ns := range nss {
				for id, err := range cat.ListTables(ctx, ns) {
					if err != nil {
						return err
					}
					names = append(names, strings.Join(id, "."))
				}
			}
			sort.Strings(names)
			for _, n := range names {
				tbl, err := cat.LoadTable(ctx, tableflow.Ident(n))
				if err != nil {
					return err
				}
				recs, files := "0", "0"
				if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil {
					recs, files = s.Summary.Properties["total-records"], s.Summary.Properties["total-data-files"]
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", n, len(tbl.Metadata().Snapshots()), recs, files, tbl.Location())
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&apiAddr, "http-addr", "", "HTTP address of an agent with the tableflow role: list through its admin API, with source topics and lag")
	describe := &cobra.Command{
		Use:   "describe TABLE",
		Short: "Print a table's schema, partition spec, current snapshot and Kafka offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tbl, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "table:     %s\nlocation:  %s\nmetadata:  %s\nformat:    v%d\nspec:      %s\n", args[0], tbl.Location(), tbl.MetadataLocation(), tbl.Metadata().Version(), tbl.Spec())
			fmt.Fprintf(out, "schema %d:\n", tbl.Schema().ID)
			for _, f := range tbl.Schema().Fields() {
				req := "optional"
				if f.Required {
					req = "required"
				}
				fmt.Fprintf(out, "  %3d  %-20s %-12s %s\n", f.ID, f.Name, f.Type, req)
			}
			if s := tbl.CurrentSnapshot(); s != nil {
				fmt.Fprintf(out, "current snapshot: %d (%s)\n", s.SnapshotID, time.UnixMilli(s.TimestampMs).UTC().Format(time.RFC3339))
				if s.Summary != nil {
					keys := make([]string, 0, len(s.Summary.Properties))
					for k := range s.Summary.Properties {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						fmt.Fprintf(out, "  %s: %s\n", k, s.Summary.Properties[k])
					}
				}
			}
			return nil
		},
	}
	snapshots := &cobra.Command{
		Use:   "snapshots TABLE",
		Short: "List a table's snapshots",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tbl, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tPARENT\tTIME\tOPERATION\tADDED FILES\tRECORDS\tKAFKA OFFSETS")
			for _, s := range tbl.Metadata().Snapshots() {
				parent := "-"
				if s.ParentSnapshotID != nil {
					parent = fmt.Sprint(*s.ParentSnapshotID)
				}
				op, added, recs, offs := "", "", "", ""
				if s.Summary != nil {
					op = string(s.Summary.Operation)
					added, recs, offs = s.Summary.Properties["added-data-files"], s.Summary.Properties["total-records"], s.Summary.Properties["sluice.kafka.offsets"]
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.SnapshotID, parent, time.UnixMilli(s.TimestampMs).UTC().Format(time.RFC3339), op, added, recs, offs)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(list, describe, snapshots)
	return cmd
}

var _ catalog.Catalog = (*rest.Catalog)(nil)

// listTablesAPI prints the tables GET /api/v1/tables answers, every page.
func listTablesAPI(ctx context.Context, addr string, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSOURCE\tFORMAT\tSTATE\tSNAPSHOTS\tRECORDS\tFILES\tBYTES\tLAG\tLAST COMMIT")
	token := ""
	for {
		var pg adminapi.TablePage
		path := "/api/v1/tables?limit=1000"
		if token != "" {
			path += "&page_token=" + url.QueryEscape(token)
		}
		if err := apiGet(ctx, addr, path, &pg); err != nil {
			return err
		}
		for _, t := range pg.Tables {
			lag, last := "-", "-"
			if t.Lag != nil {
				lag = strconv.FormatInt(*t.Lag, 10)
			}
			if !t.LastCommitAt.IsZero() {
				last = t.LastCommitAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", t.Name, t.SourceCluster, t.SourceTopic, t.Format, t.State,
				t.Snapshots, t.Records, t.DataFiles, t.Bytes, lag, last)
		}
		if token = pg.NextPageToken; token == "" {
			return tw.Flush()
		}
	}
}
