package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
)

func newAgentCmd() *cobra.Command {
	var cfg agent.Config
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a cluster agent on shared object storage and a shared metadata store",
		Long: `Run one stateless agent of a Sluice cluster. Every agent of a cluster
uses the same --bucket-url (s3://, gs://, azblob://, or file:// on a shared
filesystem) and the same --metadata-url (postgres://). Any agent accepts any
produce and serves any fetch; start as many as the load needs, in any zone.

Every flag can also be set through the environment variable SLUICE_<FLAG>,
upper case with dashes as underscores (SLUICE_METADATA_URL, SLUICE_ZONE, …).
See docs/deploy.md.`,
		Example: `  sluice agent \
    --bucket-url 's3://my-bucket?region=us-east-1' \
    --metadata-url 'postgres://sluice:secret@db:5432/sluice' \
    --kafka-addr 0.0.0.0:9092 --advertise-addr 10.0.1.17:9092 \
    --http-addr 0.0.0.0:8080 --zone us-east-1a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.BucketURL == "" || cfg.MetadataURL == "" {
				return errors.New("--bucket-url and --metadata-url are required (or SLUICE_BUCKET_URL and SLUICE_METADATA_URL)")
			}
			logStartup(cmd)
			cfg.SchemaRegistry.Optional = !cmd.Flags().Changed("schema-registry-addr")
			if !cmd.Flags().Changed("node-id") {
				cfg.NodeID = -1 // derived from the advertised address
			}
			return runAgent(cmd.Context(), cfg, func(a *agent.Agent) {
				fmt.Fprintf(cmd.OutOrStdout(), "Sluice agent is running: roles %s, kafka %s, http %s, schema registry %s, zone %q, agent group %q\n", cfg.Roles, a.KafkaAddr(), a.HTTPAddr(), a.SchemaRegistryAddr(), cfg.Zone, cfg.AgentGroup)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BucketURL, "bucket-url", "", "object storage for data files: s3://bucket?region=…[&endpoint=…&use_path_style=true], gs://bucket, azblob://container, file:///dir")
	f.StringVar(&cfg.MetadataURL, "metadata-url", "", "metadata store shared by the cluster: postgres://user:pass@host:5432/db (sqlite:///file.db only for a single agent)")
	addAgentFlags(cmd, &cfg)
	nodeID := f.Lookup("node-id")
	nodeID.Usage, nodeID.DefValue = "Kafka broker ID, unique in the cluster (default: derived from the advertised address)", "0"
	return cmd
}

// runLocalCluster runs n agents in this process on one data directory:
// they share one SQLite store (wrapped so each agent's long polls wake on
// the others' commits) and one bucket, and listen on consecutive ports.
func runLocalCluster(cmd *cobra.Command, dataDir string, base agent.Config, n int) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := agent.OpenMetadata(ctx, base.MetadataURL)
	if err != nil {
		return err
	}
	defer store.Close()
	bucket, err := objstore.Open(ctx, base.BucketURL)
	if err != nil {
		return err
	}
	defer bucket.Close()
	shared := metadata.NewBroadcast(store)
	if base.Security.ClusterSecret == "" {
		// The agents of one process share a zone peer cache: give them a
		// secret of their own, so a secured local cluster needs none.
		var secret [16]byte
		rand.Read(secret[:])
		base.Security.ClusterSecret = hex.EncodeToString(secret[:])
	}

	var agents []*agent.Agent
	closeAll := func() error {
		stop() // a second signal is shutdownContext's
		closeCtx, cancel := shutdownContext(base.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, a := range agents {
			errs = append(errs, a.Close(closeCtx))
		}
		return errors.Join(errs...)
	}
	for i := 0; i < n; i++ {
		cfg := base
		cfg.Logger = slog.Default().With("agent", i+1)
		cfg.Store, cfg.Bucket = shared, bucket
		cfg.NodeID = base.NodeID + int32(i)
		if cfg.KafkaAddr, err = offsetPort(base.KafkaAddr, i); err != nil {
			return fmt.Errorf("--kafka-addr: %w", err)
		}
		if base.AdvertiseAddr != "" {
			if cfg.AdvertiseAddr, err = offsetPort(base.AdvertiseAddr, i); err != nil {
				return fmt.Errorf("--advertise-addr: %w", err)
			}
		}
		cfg.Listeners = nil
		for _, l := range base.Listeners {
			if l.Addr, err = offsetPort(l.Addr, i); err != nil {
				return fmt.Errorf("--listener %s: %w", l.Name, err)
			}
			if l.Advertise != "" {
				if l.Advertise, err = offsetPort(l.Advertise, i); err != nil {
					return fmt.Errorf("--listener %s: %w", l.Name, err)
				}
			}
			cfg.Listeners = append(cfg.Listeners, l)
		}
		if base.HTTPAddr != "" {
			if cfg.HTTPAddr, err = offsetPort(base.HTTPAddr, i); err != nil {
				return fmt.Errorf("--http-addr: %w", err)
			}
		}
		if base.SchemaRegistry.Addr != "" {
			if cfg.SchemaRegistry.Addr, err = offsetPort(base.SchemaRegistry.Addr, i); err != nil {
				return fmt.Errorf("--schema-registry-addr: %w", err)
			}
		}
		a, err := agent.Start(ctx, cfg)
		if err != nil {
			return errors.Join(fmt.Errorf("agent %d: %w", i+1, err), closeAll())
		}
		agents = append(agents, a)
	}
	for _, a := range agents {
		if err := a.RefreshMembership(ctx); err != nil {
			return errors.Join(err, closeAll())
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Sluice is running a local cluster of %d agents.\n  data:    %s (bucket %s, metadata %s)\n", n, dataDir, base.BucketURL, base.MetadataURL)
	for i, a := range agents {
		fmt.Fprintf(out, "  agent %d: kafka %s  http %s\n", base.NodeID+int32(i), a.KafkaAddr(), a.HTTPAddr())
	}
	fmt.Fprintf(out, "  e.g. kcat -b %s -L\nPress Ctrl-C to stop.\n", agents[0].KafkaAddr())

	done := make(chan struct{}, len(agents))
	for _, a := range agents {
		go func(a *agent.Agent) { <-a.Done(); done <- struct{}{} }(a)
	}
	select {
	case <-ctx.Done():
	case <-done:
	}
	slog.Info("shutting down")
	return closeAll()
}

// offsetPort adds i to the port of host:port; port 0 stays 0 (each agent
// picks a free port).
func offsetPort(addr string, i int) (string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", err
	}
	if port == 0 {
		return addr, nil
	}
	if port+i > 65535 {
		return "", fmt.Errorf("port %d + %d is out of range", port, i)
	}
	return net.JoinHostPort(host, strconv.Itoa(port+i)), nil
}
