package agent

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type readyz struct {
	Ready    bool
	Bucket   componentState
	Metadata componentState
}

func getReadyz(t *testing.T, a *Agent) (int, readyz) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz %d: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, r
}

// sharedBackends opens one SQLite store and one directory bucket for agents
// started in this process.
func sharedBackends(t *testing.T) (metadata.Store, objstore.Bucket) {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := objstore.OpenDir(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close(); store.Close() })
	return metadata.NewBroadcast(store), bucket
}

func startShared(t *testing.T, store metadata.Store, bucket objstore.Bucket, node int32) *Agent {
	t.Helper()
	a, err := Start(context.Background(), Config{
		Store: store, Bucket: bucket, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: node,
		HeartbeatInterval: 50 * time.Millisecond, ReadinessInterval: 50 * time.Millisecond, ReadinessTimeout: time.Second,
		Produce: produce.Config{BatchTimeout: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return a
}

func advertised(t *testing.T, a *Agent) []int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return md.Brokers.NodeIDs()
}

// TestReadinessFollowsTheBucket: /readyz reports the bucket and the
// metadata store separately; an agent whose bucket stops taking writes
// turns unready, refuses produce at once with KAFKA_STORAGE_ERROR, and
// leaves the brokers every agent advertises (another agent is live), and
// comes back when the bucket heals. /healthz (liveness) stays 200.
func TestReadinessFollowsTheBucket(t *testing.T) {
	store, bucket := sharedBackends(t)
	faulty := &objstore.Faulty{Bucket: bucket}
	good := startShared(t, store, bucket, 1)
	bad := startShared(t, store, faulty, 2)
	waitUntil(t, "both agents ready", func() bool {
		c1, _ := getReadyz(t, good)
		c2, _ := getReadyz(t, bad)
		return c1 == 200 && c2 == 200
	})
	waitUntil(t, "both agents advertised", func() bool { return len(advertised(t, good)) == 2 })

	faulty.FailPuts(errors.New("injected: bucket gone"))
	var r readyz
	waitUntil(t, "the bad agent unready", func() bool {
		var code int
		code, r = getReadyz(t, bad)
		return code == http.StatusServiceUnavailable
	})
	if r.Bucket.State != stateFailing || r.Metadata.State != stateOK || r.Bucket.LastError == "" {
		t.Fatalf("/readyz = %+v; want the bucket failing with its error, the metadata store ok", r)
	}
	if resp, err := http.Get("http://" + bad.HTTPAddr() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz while the bucket fails: %v %v; want 200 (liveness)", resp, err)
	}
	waitUntil(t, "the bad agent no longer advertised", func() bool {
		g, b := advertised(t, good), advertised(t, bad)
		return len(g) == 1 && g[0] == 1 && len(b) == 1 && b[0] == 1
	})
	if err := createTopic(bad, "t"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code := rawProduce(t, bad.KafkaAddr(), "t", 30000)
	if code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the agent whose bucket fails: error %d, want KAFKA_STORAGE_ERROR", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("refusal took %v", took)
	}

	faulty.FailPuts(nil)
	waitUntil(t, "the bad agent ready and advertised again", func() bool {
		c, _ := getReadyz(t, bad)
		return c == 200 && len(advertised(t, good)) == 2
	})
	if code := rawProduce(t, bad.KafkaAddr(), "t", 30000); code != 0 {
		t.Fatalf("produce after the bucket healed: error %d", code)
	}
}

// TestLoneUnreadyAgentKeepsItself: with no other agent to send clients to,
// an agent whose bucket fails still advertises itself.
func TestLoneUnreadyAgentKeepsItself(t *testing.T) {
	store, bucket := sharedBackends(t)
	faulty := &objstore.Faulty{Bucket: bucket}
	faulty.FailPuts(errors.New("injected: bucket gone"))
	a := startShared(t, store, faulty, 1)
	waitUntil(t, "the agent unready", func() bool { c, _ := getReadyz(t, a); return c == 503 })
	if err := a.RefreshMembership(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids := advertised(t, a); len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("lone unready agent advertises %v, want itself", ids)
	}
}

func createTopic(a *Agent, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	return err
}

// rawProduce sends one produce request (one record, acks=all) on a fresh
// connection and returns the partition's error code.
func rawProduce(t *testing.T, addr, topic string, timeoutMillis int32) int16 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, corr := produceRequest(topic, timeoutMillis), int32(7)
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := readProduceResponse(bufio.NewReader(c), req.Version)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func produceRequest(topic string, timeoutMillis int32) *kmsg.ProduceRequest {
	raw := rawBatch("v")
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, timeoutMillis
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func readProduceResponse(br *bufio.Reader, version int16) (*kmsg.ProduceResponse, error) {
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = version
	return resp, resp.ReadFrom(body[4:])
}

// TestCloseAcknowledgesBufferedProduce: a produce still buffered (its file
// not yet written) when the agent is told to shut down gets its
// acknowledgement, with its offset, before the connection closes.
func TestCloseAcknowledgesBufferedProduce(t *testing.T) {
	dir := t.TempDir()
	bucketURL, metaURL, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), Config{
		BucketURL: bucketURL, MetadataURL: metaURL, KafkaAddr: "127.0.0.1:0", NodeID: 1,
		Produce: produce.Config{BatchTimeout: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := createTopic(a, "s"); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := produceRequest("s", 60000)
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the batch buffered", func() bool { return gaugeValue(t, a.metrics, "sluice_produce_buffered_bytes") > 0 })

	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		closed <- a.Close(ctx)
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := readProduceResponse(bufio.NewReader(c), req.Version)
	if err != nil {
		t.Fatalf("no acknowledgement for the buffered produce: %v", err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("acknowledgement: error %d, offset %d; want 0, 0", p.ErrorCode, p.BaseOffset)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	return 0
}
