package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests run real clusters: several `sluice agent` processes sharing a
// PostgreSQL database and an S3 bucket on versitygw, driven by franz-go.

// TestClusterZonesAndCrossAgentLongPoll checks zone-aware Metadata and that
// a consumer long-polling one agent wakes up for data produced through
// another without waiting out its fetch wait. It logs the latency from the
// produce acknowledgement to the consumer receiving the record.
func TestClusterZonesAndCrossAgentLongPoll(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"a", "b", "b"}, extra: []string{"--batch-timeout", "5ms"}})
	ctx := testContext(t, 90*time.Second)

	// Metadata: all agents, or only the client's zone.
	for _, tc := range []struct {
		clientID string
		want     []int32
	}{{"plain", []int32{1, 2, 3}}, {"probe,sluice_az=a", []int32{1}}, {"sluice_az=b", []int32{2, 3}}, {"sluice_az=elsewhere", []int32{1, 2, 3}}} {
		cl := c.Client(kgo.ClientID(tc.clientID))
		var got []int32
		deadline := time.Now().Add(15 * time.Second)
		for {
			// A raw request: kadm would answer from the client's cache.
			req := kmsg.NewPtrMetadataRequest()
			req.Topics = []kmsg.MetadataRequestTopic{}
			md, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("%s: metadata: %v", tc.clientID, err)
			}
			got = got[:0]
			for _, b := range md.Brokers {
				got = append(got, b.NodeID)
			}
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			if slices.Equal(got, tc.want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // registrations still propagating
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("client %q sees brokers %v, want %v", tc.clientID, got, tc.want)
		}
	}

	const topic = "longpoll"
	c.Agents[0].CreateTopic(topic, 1)
	// The producer sees only agent 1 (zone a), which therefore leads every
	// partition for it; the consumer sees only agents 2 and 3 (zone b).
	producer := c.Client(kgo.ClientID("prod,sluice_az=a"), kgo.ProducerLinger(0))
	consumer := c.Client(kgo.ClientID("cons,sluice_az=b"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Second))
	md, err := kadm.NewClient(consumer).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if l := md.Topics[topic].Partitions[0].Leader; l != 2 && l != 3 {
		t.Fatalf("zone b client's leader is agent %d", l)
	}

	received := make(chan time.Time, 100)
	go func() {
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			now := time.Now()
			fs.EachRecord(func(*kgo.Record) { received <- now })
		}
	}()
	produce := func(i int) time.Time {
		t.Helper()
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint("v", i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		return time.Now()
	}
	// Warm up: the consumer's first fetch and both clients' connections.
	produce(-1)
	select {
	case <-received:
	case <-ctx.Done():
		t.Fatal("warm-up record never consumed")
	}
	var lat []time.Duration
	for i := 0; i < 15; i++ {
		time.Sleep(150 * time.Millisecond) // the consumer is parked in a long poll
		acked := produce(i)
		select {
		case got := <-received:
			lat = append(lat, max(got.Sub(acked), 0))
		case <-time.After(8 * time.Second):
			t.Fatalf("record %d not received within 8s of its acknowledgement (the long poll was not woken)", i)
		}
	}
	slices.Sort(lat)
	median := lat[len(lat)/2]
	t.Logf("cross-agent long-poll wake latency (ack on agent 1 → record at consumer on zone b): median %v, min %v, max %v (fetch wait 10s)",
		median, lat[0], lat[len(lat)-1])
	if median > time.Second {
		t.Fatalf("median cross-agent wake latency %v; want well under the 10s fetch wait", median)
	}
}

// clusterLoad produces to topic from several franz-go producers (idempotent,
// acks=all, retrying) until stopped, recording every acknowledgement.
type clusterLoad struct {
	p      *produced
	acked  atomic.Int64
	failed atomic.Int64
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, ctx context.Context, clients []*kgo.Client, topic string, valueSize int) *clusterLoad {
	l := &clusterLoad{p: newProduced()}
	prodCtx, stop := context.WithCancel(ctx)
	l.stop = stop
	pad := string(make([]byte, valueSize))
	for w, cl := range clients {
		l.wg.Add(1)
		go func(w int, cl *kgo.Client) {
			defer l.wg.Done()
			var inflight sync.WaitGroup
			for i := 0; prodCtx.Err() == nil; i++ {
				inflight.Add(1)
				cl.Produce(prodCtx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("w%d-%07d%s", w, i, pad))}, func(r *kgo.Record, err error) {
					defer inflight.Done()
					if err == nil {
						l.p.add(r)
						l.acked.Add(1)
					} else if prodCtx.Err() == nil {
						l.failed.Add(1)
					}
				})
			}
			inflight.Wait()
		}(w, cl)
	}
	return l
}

// waitAcked waits until at least n records are acknowledged.
func (l *clusterLoad) waitAcked(t *testing.T, ctx context.Context, n int64, what string) {
	t.Helper()
	for l.acked.Load() < n {
		if ctx.Err() != nil {
			t.Fatalf("%s: only %d of %d records acknowledged before the deadline (%d failed)", what, l.acked.Load(), n, l.failed.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *clusterLoad) finish() {
	l.stop()
	l.wg.Wait()
}

func loadClients(c *Cluster, n int) []*kgo.Client {
	var out []*kgo.Client
	for i := 0; i < n; i++ {
		// Each producer starts from a different agent; all of them learn
		// the whole cluster and spread partitions over every agent.
		a := c.Agents[i%len(c.Agents)]
		out = append(out, a.Client(kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(300),
			kgo.RecordDeliveryTimeout(45*time.Second), kgo.ClientID(fmt.Sprint("load-", i))))
	}
	return out
}

func (c *Cluster) flushErrors(t *testing.T) float64 {
	total := 0.0
	for _, a := range c.Agents {
		v, err := a.Metric("sluice_produce_flush_errors_total")
		if err != nil {
			t.Fatalf("agent %d: %v", a.NodeID, err)
		}
		total += v
	}
	return total
}

// TestClusterKillTwoAgents is fault test 1: producers with acks=all write
// through three agents; two are killed with SIGKILL mid-stream and
// restarted. Every acknowledged record must be readable exactly once at its
// acknowledged offset, and each partition's log must be gapless.
func TestClusterKillTwoAgents(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", "", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 150*time.Second)
	const topic = "kill"
	c.Agents[0].CreateTopic(topic, 6)
	load := startLoad(t, ctx, loadClients(c, 3), topic, 0)

	load.waitAcked(t, ctx, 1500, "before the kill")
	c.Agents[1].Kill()
	c.Agents[2].Kill()
	atKill := load.acked.Load()
	// The survivor takes over every partition once the dead agents'
	// registrations expire.
	load.waitAcked(t, ctx, atKill+500, "with two agents dead")
	c.Agents[1].Restart()
	c.Agents[2].Restart()
	atRestart := load.acked.Load()
	load.waitAcked(t, ctx, atRestart+1500, "after the restart")
	load.finish()

	got := c.Agents[2].ConsumeAll(ctx, topic)
	load.p.check(t, got)
	total := 0
	for _, recs := range got {
		total += len(recs)
	}
	t.Logf("acknowledged %d (%d at kill, %d at restart), %d failed, read back %d", load.acked.Load(), atKill, atRestart, load.failed.Load(), total)
}

// TestClusterPostgresRestart is fault test 2: PostgreSQL restarts under
// load. Produce fails retriably while it is down (flushes fail, producers
// retry by themselves) and recovers without help; nothing acknowledged is
// lost or duplicated.
func TestClusterPostgresRestart(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 150*time.Second)
	const topic = "pgrestart"
	c.Agents[0].CreateTopic(topic, 4)
	load := startLoad(t, ctx, loadClients(c, 2), topic, 0)

	load.waitAcked(t, ctx, 1000, "before the restart")
	errsBefore := c.flushErrors(t)
	c.PG.Stop()
	time.Sleep(2 * time.Second)
	c.PG.Start()
	atRestart := load.acked.Load()
	load.waitAcked(t, ctx, atRestart+1500, "after the restart")
	load.finish()
	errsDuring := c.flushErrors(t) - errsBefore

	got := c.Agents[1].ConsumeAll(ctx, topic)
	load.p.check(t, got)
	t.Logf("acknowledged %d (%d at restart), %d records failed, %v flushes failed while the database was down",
		load.acked.Load(), atRestart, load.failed.Load(), errsDuring)
	if errsDuring == 0 {
		t.Fatal("no flush failed while PostgreSQL was down: the outage was not exercised")
	}
}

// TestClusterObjectStorageOutage is fault test 3: object storage first
// stalls (a proxy holds every connection silent, as a partition or an
// overloaded store would) and then goes down (the server is killed).
// Produce fails retriably and recovers each time, nothing acknowledged is
// lost, and the agents' heap stays bounded while they back off.
func TestClusterObjectStorageOutage(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, proxyS3: true,
		extra: []string{"--batch-timeout", "20ms", "--batch-max-bytes", "262144", "--bucket-timeout", "1s"}})
	ctx := testContext(t, 180*time.Second)
	const topic = "s3outage"
	c.Agents[0].CreateTopic(topic, 4)
	load := startLoad(t, ctx, loadClients(c, 3), topic, 512)

	// heap is the largest agent heap in use outside the read cache: the
	// cache keeps committed files (--cache-produced) up to --cache-size,
	// a bound of its own, so it is left out of the write path's.
	heap := func() float64 {
		worst := 0.0
		for _, a := range c.Agents {
			v, err := a.Metric("go_memstats_heap_inuse_bytes")
			cached, cerr := a.Metric("sluice_cache_bytes")
			if err == nil && cerr == nil {
				worst = max(worst, v-cached)
			}
		}
		return worst
	}
	// outage runs fault for at least d, and until a flush has failed
	// (bounded): producers that were backing off when it began send
	// nothing to fail, so a fixed d alone may not exercise it. It samples
	// the agents' heap meanwhile.
	outage := func(name string, d time.Duration, start, end func()) (peak float64) {
		errsBefore := c.flushErrors(t)
		start()
		minEnd, maxEnd := time.Now().Add(d), time.Now().Add(d+30*time.Second)
		for now := time.Now(); now.Before(minEnd) || (now.Before(maxEnd) && c.flushErrors(t) == errsBefore); now = time.Now() {
			peak = max(peak, heap())
			time.Sleep(200 * time.Millisecond)
		}
		end()
		at := load.acked.Load()
		load.waitAcked(t, ctx, at+1000, "after "+name)
		if n := c.flushErrors(t) - errsBefore; n == 0 {
			t.Fatalf("%s: no flush failed: the outage was not exercised", name)
		} else {
			t.Logf("%s: %v flushes failed; peak heap in use %.1f MiB; acks resumed", name, n, peak/(1<<20))
		}
		return peak
	}

	load.waitAcked(t, ctx, 1000, "before the outages")
	base := heap()
	peak := outage("stalled store", 4*time.Second, c.S3Proxy.Stall, c.S3Proxy.Heal)
	peak = max(peak, outage("store down", 4*time.Second, c.S3.Stop, c.S3.Start))
	load.finish()

	got := c.Agents[0].ConsumeAll(ctx, topic)
	load.p.check(t, got)
	t.Logf("acknowledged %d, %d records failed; heap in use outside the cache %.1f MiB before, peak %.1f MiB during outages",
		load.acked.Load(), load.failed.Load(), base/(1<<20), peak/(1<<20))
	// The write buffer is bounded (6 × 256 KiB here) and so is each
	// connection's pipeline: the heap must not grow with the outage.
	if peak > 64<<20 {
		t.Fatalf("agent heap reached %.0f MiB during the outage", peak/(1<<20))
	}
}

// consecutiveAddrs returns a loopback host:port whose port and the next n-1
// were all free just now.
func consecutiveAddrs(t *testing.T, n int) string {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(40000)
		var lns []net.Listener
		for i := 0; i < n; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return fmt.Sprintf("127.0.0.1:%d", base)
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return ""
}

// TestDevLocalCluster runs `sluice dev --agents 3`: three agents in one
// process on consecutive ports sharing one data directory. Every agent is
// listed, and a fetch long-polling one agent wakes up when a record is
// produced through another.
func TestDevLocalCluster(t *testing.T) {
	t.Parallel()
	kafkaBase, httpBase := consecutiveAddrs(t, 3), consecutiveAddrs(t, 3)
	cmd := exec.Command(sluiceBin, "dev", "--agents", "3", "--data-dir", t.TempDir(),
		"--kafka-addr", kafkaBase, "--http-addr", httpBase, "--batch-timeout", "5ms")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("sluice dev --agents 3 ignored SIGTERM")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	host, portStr, _ := net.SplitHostPort(kafkaBase)
	port, _ := strconv.Atoi(portStr)
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(port+i)))
	}
	ctx := testContext(t, 60*time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(logs.String(), "Press Ctrl-C") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev cluster did not start:\n%s", logs.String())
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[2]), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic = "devcluster"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Agents learn of each other within a heartbeat interval of starting.
	var (
		leader  int32
		topicID [16]byte
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		md, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 3 {
			leader, topicID = md.Topics[0].Partitions[0].Leader, md.Topics[0].TopicID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokers = %+v, want 3", md.Brokers)
		}
	}
	other := leader%3 + 1 // any agent serves any fetch
	// Long-poll the non-leader agent at the end of the log.
	fetched := make(chan time.Time, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest() // sent at the newest version: topics by ID
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10000, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := cl.Broker(int(other)).RetriableRequest(ctx, req)
		resp, _ := kresp.(*kmsg.FetchResponse)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Errorf("long poll on agent %d: %v %+v", other, err, resp)
		}
		fetched <- time.Now()
	}()
	time.Sleep(300 * time.Millisecond) // let the fetch park
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	select {
	case at := <-fetched:
		t.Logf("fetch parked on agent %d returned %v after the ack through agent %d", other, at.Sub(acked), leader)
	case <-time.After(5 * time.Second):
		t.Fatalf("fetch parked on agent %d was not woken by a produce through agent %d", other, leader)
	}
}
