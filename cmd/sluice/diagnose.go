package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/filetool"
)

func newDiagnoseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Find out why a client cannot connect, or what is stored at an offset",
	}
	cmd.AddCommand(newDiagnoseConnectionCmd(), newDiagnoseRecordCmd())
	return cmd
}

func newDiagnoseConnectionCmd() *cobra.Command {
	var cf clientFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "connection",
		Short: "Check the path a Kafka client takes: bootstrap, every advertised agent, ApiVersions, coordinators",
		Long: `Walk the path a Kafka client takes and say where it breaks: a TCP
connection to each bootstrap address, ApiVersions, Metadata and the
agents it advertises, then a TCP connection and ApiVersions to each of
those (a client connects to the advertised addresses, not the bootstrap
ones), and the group and transaction coordinator lookups. Exits non-zero
when a step fails.`,
		Example: `  sluice diagnose connection --brokers agent-1:9092,agent-2:9092`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return diagnoseConnection(ctx, &cf, cmd.OutOrStdout())
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "bound on the whole check")
	return cmd
}

// step prints one check's outcome and remembers failures.
type steps struct {
	w      io.Writer
	failed []string
}

func (s *steps) ok(format string, args ...any) { fmt.Fprintf(s.w, "ok    "+format+"\n", args...) }
func (s *steps) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(s.w, "FAIL  %s\n", msg)
	s.failed = append(s.failed, msg)
}

func diagnoseConnection(ctx context.Context, cf *clientFlags, w io.Writer) error {
	s := &steps{w: w}
	var d net.Dialer
	dial := func(addr string) bool {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			s.fail("tcp %s: %v", addr, err)
			return false
		}
		c.Close()
		s.ok("tcp %s (%s)", addr, time.Since(start).Round(time.Microsecond))
		return true
	}
	reachable := 0
	for _, addr := range strings.Split(cf.brokers, ",") {
		if dial(addr) {
			reachable++
		}
	}
	if reachable == 0 {
		return fmt.Errorf("no bootstrap address is reachable")
	}
	cl, err := cf.client(kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()

	apiVersions := func(who string, b *kgo.Broker) bool {
		start := time.Now()
		resp, err := b.Request(ctx, kmsg.NewPtrApiVersionsRequest())
		if err == nil {
			err = kerr.ErrorForCode(resp.(*kmsg.ApiVersionsResponse).ErrorCode)
		}
		if err != nil {
			s.fail("ApiVersions to %s: %v", who, err)
			return false
		}
		r := resp.(*kmsg.ApiVersionsResponse)
		s.ok("ApiVersions to %s: %d APIs (%s)", who, len(r.ApiKeys), time.Since(start).Round(time.Microsecond))
		return true
	}
	for i, b := range cl.SeedBrokers() {
		apiVersions(fmt.Sprintf("bootstrap %d", i), b)
	}

	mreq := kmsg.NewPtrMetadataRequest()
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		s.fail("Metadata: %v", err)
		return diagnoseResult(s)
	}
	clusterID := ""
	if mresp.ClusterID != nil {
		clusterID = *mresp.ClusterID
	}
	s.ok("Metadata: cluster %s, %d agents advertised, %d topics", clusterID, len(mresp.Brokers), len(mresp.Topics))
	for _, b := range mresp.Brokers {
		addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
		rack := ""
		if b.Rack != nil {
			rack = ", zone " + *b.Rack
		}
		fmt.Fprintf(w, "      agent %d at %s%s\n", b.NodeID, addr, rack)
		if dial(addr) {
			apiVersions(fmt.Sprintf("agent %d (%s)", b.NodeID, addr), cl.Broker(int(b.NodeID)))
		}
	}
	for _, c := range []struct {
		typ  int8
		what string
		key  string
	}{{0, "group", "sluice-diagnose"}, {1, "transaction", "sluice-diagnose"}} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType = c.typ
		req.CoordinatorKey = c.key
		req.CoordinatorKeys = []string{c.key}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = coordinatorErr(resp)
		}
		if err != nil {
			s.fail("FindCoordinator (%s): %v", c.what, err)
			continue
		}
		node, host, port := resp.NodeID, resp.Host, resp.Port
		if len(resp.Coordinators) > 0 {
			node, host, port = resp.Coordinators[0].NodeID, resp.Coordinators[0].Host, resp.Coordinators[0].Port
		}
		s.ok("FindCoordinator (%s %q): agent %d at %s", c.what, c.key, node, net.JoinHostPort(host, fmt.Sprint(port)))
	}
	return diagnoseResult(s)
}

func coordinatorErr(resp *kmsg.FindCoordinatorResponse) error {
	code, msg := resp.ErrorCode, resp.ErrorMessage
	if len(resp.Coordinators) > 0 {
		code, msg = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].ErrorMessage
	}
	if err := kerr.ErrorForCode(code); err != nil {
		m := ""
		if msg != nil {
			m = *msg
		}
		return kafkaError(err, m)
	}
	return nil
}

func diagnoseResult(s *steps) error {
	if len(s.failed) > 0 {
		return fmt.Errorf("%d checks failed; first: %s", len(s.failed), s.failed[0])
	}
	fmt.Fprintln(s.w, "all checks passed")
	return nil
}

func newDiagnoseRecordCmd() *cobra.Command {
	var sf storageFlags
	var topic string
	var partition int32
	var offset int64
	var maxValue int
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Show where a record is stored: extent, file, byte range, batch header, CRC and checksum verdicts, the record",
		Long: `Look a record up in the metadata store and the bucket directly (no agent
needed): the index extent holding the offset, the file and byte range,
the file's checksum verdict, the batch's header and CRC verdict, and the
record decoded.`,
		Example: `  sluice diagnose record --topic orders --partition 0 --offset 1234
  sluice diagnose record --bucket-url s3://my-bucket --metadata-url postgres://… --topic orders --partition 3 --offset 77`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if topic == "" {
				return errors.New("--topic is required")
			}
			bucket, store, err := sf.open(ctx, true)
			if err != nil {
				return err
			}
			defer bucket.Close()
			defer store.Close()
			loc, err := filetool.Locate(ctx, store, bucket, topic, partition, offset, filetool.ReadOptions{MaxValueBytes: maxValue}, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if !loc.FileChecksumOK {
				return fmt.Errorf("file %s fails its checksum", loc.Extent.FileKey)
			}
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic")
	f.Int32VarP(&partition, "partition", "p", 0, "partition")
	f.Int64VarP(&offset, "offset", "o", 0, "offset")
	f.IntVar(&maxValue, "max-value-bytes", 256, "print at most this many bytes of the key, value and each header value (-1: all)")
	return cmd
}
