package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	kbatch "github.com/sluicehq/sluice/internal/records" // records names a count below
)

// countingBucket counts the range reads of data files that reach the real
// bucket, over every agent sharing it (not the readiness probes' reads).
type countingBucket struct {
	objstore.Bucket
	gets  atomic.Int64
	bytes atomic.Int64
}

func (b *countingBucket) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	data, err := b.Bucket.GetRange(ctx, key, off, length)
	if err == nil && strings.HasPrefix(key, jobs.FilePrefix) {
		b.gets.Add(1)
		b.bytes.Add(int64(len(data)))
	}
	return data, err
}

// testCluster is n agents in this process on one SQLite store and one
// local-directory bucket, all in zone "z", as `sluice dev --agents n` runs
// them.
type testCluster struct {
	agents []*Agent
	bucket *countingBucket
	store  metadata.Store
}

func startCacheCluster(t *testing.T, n int, cc CacheConfig) *testCluster {
	t.Helper()
	return startCacheClusterWith(t, n, cc, produce.Config{BatchTimeout: 5 * time.Millisecond})
}

func startCacheClusterWith(t testing.TB, n int, cc CacheConfig, pc produce.Config) *testCluster {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := objstore.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "bucket")))
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{bucket: &countingBucket{Bucket: raw}, store: metadata.NewBroadcast(store)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, a := range c.agents {
			a.Close(ctx)
		}
		raw.Close()
		store.Close()
	})
	for i := 0; i < n; i++ {
		a, err := Start(ctx, Config{
			Store: c.store, Bucket: c.bucket, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: int32(i + 1), Zone: "z",
			Produce: pc,
			Cache:   cc,
		})
		if err != nil {
			t.Fatal(err)
		}
		c.agents = append(c.agents, a)
	}
	for _, a := range c.agents {
		if err := a.RefreshMembership(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// produceFiles writes files flushes to topic, each holding one batch of
// size bytes per partition, and returns the records per partition.
func produceFiles(t testing.TB, ctx context.Context, a *Agent, topic string, partitions int32, files, size int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for f := 0; f < files; f++ {
		var recs []*kgo.Record
		for p := int32(0); p < partitions; p++ {
			v := make([]byte, size)
			for i := range v {
				v[i] = byte(rand.IntN(256))
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// fetchPartition reads a partition from offset 0 to its end through one
// agent with raw Fetch requests on franz-go's connection to that agent,
// checking that offsets are contiguous, and returns the bytes served.
func fetchPartition(ctx context.Context, cl *kgo.Client, node int32, topic string, id [16]byte, partition int32, maxBytes int32) (records int64, served int64, err error) {
	var next int64
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MaxBytes = 50 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, next, maxBytes
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			return records, served, err
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return records, served, fmt.Errorf("node %d: malformed fetch response", node)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return records, served, fmt.Errorf("node %d partition %d offset %d: error code %d", node, partition, next, p.ErrorCode)
		}
		data := p.RecordBatches
		served += int64(len(data))
		for len(data) > 0 {
			batch, rest, err := kbatch.Next(data)
			if err != nil {
				return records, served, err
			}
			data = rest
			base := int64(binary.BigEndian.Uint64(batch))
			if base != next {
				return records, served, fmt.Errorf("node %d partition %d: batch at offset %d, want %d", node, partition, base, next)
			}
			next += kbatch.Offsets(batch)
			records += kbatch.Offsets(batch)
		}
		if next >= p.HighWatermark {
			return records, served, nil
		}
		if len(p.RecordBatches) == 0 {
			return records, served, fmt.Errorf("node %d partition %d: no progress at %d of %d", node, partition, next, p.HighWatermark)
		}
	}
}

// readEverywhere has consumers per agent read every partition of topic
// from the start, concurrently, and returns the bytes served.
func readEverywhere(t *testing.T, ctx context.Context, c *testCluster, topic string, partitions int32, want int64, consumersPerAgent int) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.agents[0].KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("list topic: %v %v", err, td[topic].Err)
	}
	id := td[topic].ID
	var (
		wg     sync.WaitGroup
		served atomic.Int64
		errs   = make(chan error, len(c.agents)*consumersPerAgent*int(partitions))
	)
	for i := range c.agents {
		for k := 0; k < consumersPerAgent; k++ {
			for p := int32(0); p < partitions; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, b, err := fetchPartition(ctx, cl, int32(i+1), topic, id, p, 64<<10)
					if err == nil && n != want {
						err = fmt.Errorf("agent %d partition %d: %d records, want %d", i+1, p, n, want)
					}
					served.Add(b)
					errs <- err
				}()
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return served.Load()
}

// TestFetchReadsEachFileOnce: a Fetch of every partition of a topic whose
// data lives in one file costs one bucket GET, even with the cache turned
// off; with the cache on, a second consumer costs none.
func TestFetchReadsEachFileOnce(t *testing.T) {
	for _, size := range []int64{0, 64 << 20} {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			c := startCacheCluster(t, 1, CacheConfig{Size: size})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const topic, partitions = "coalesce", 8
			produceFiles(t, ctx, c.agents[0], topic, partitions, 1, 1000)
			before := c.bucket.gets.Load()

			// One Fetch naming every partition: a consumer's first poll
			// may be split over several requests as its offsets resolve,
			// and without a cache only reads in flight at once are shared.
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.agents[0].KafkaAddr()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID, req.MaxBytes = -1, 50<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, td[topic].ID
			for p := int32(0); p < partitions; p++ {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl.Broker(1))
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						t.Fatalf("partition %d: error code %d", rp.Partition, rp.ErrorCode)
					}
					if len(rp.RecordBatches) > 0 {
						got++
					}
				}
			}
			if got != partitions {
				t.Fatalf("one fetch returned records for %d partitions, want %d", got, partitions)
			}
			if gets := c.bucket.gets.Load() - before; gets != 1 {
				t.Fatalf("one fetch of %d partitions stored in one file took %d bucket GETs, want 1", partitions, gets)
			}
			if size == 0 {
				return
			}
			cl2, err := kgo.NewClient(kgo.SeedBrokers(c.agents[0].KafkaAddr()),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl2.Close()
			for got = 0; got < partitions; {
				fs := cl2.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				got += fs.NumRecords()
			}
			if gets := c.bucket.gets.Load() - before; gets != 1 {
				t.Fatalf("a second consumer made %d more bucket GETs, want 0 (cached)", gets-1)
			}
		})
	}
}

// TestZonePeerCacheReadsOncePerZone: three agents in one zone, four
// consumers on each reading every partition from the start. With the peer
// cache each block is read from the bucket once for the whole zone; the
// same workload without it reads each block once per agent.
func TestZonePeerCacheReadsOncePerZone(t *testing.T) {
	const (
		topic      = "zone"
		partitions = 3
		files      = 20
		recordSize = 20 << 10
		blockSize  = 16 << 10
	)
	type setup struct {
		agents int
		peers  bool
	}
	results := map[setup]int64{}
	for _, su := range []setup{{3, true}, {3, false}, {1, false}} {
		t.Run(fmt.Sprintf("agents=%d,peers=%v", su.agents, su.peers), func(t *testing.T) {
			c := startCacheCluster(t, su.agents, CacheConfig{Size: 256 << 20, BlockSize: blockSize, Peers: su.peers, PeerTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			produceFiles(t, ctx, c.agents[0], topic, partitions, files, recordSize)
			blocks, nfiles, fileBytes := bucketBlocks(t, ctx, c.bucket, blockSize)
			before, beforeBytes := c.bucket.gets.Load(), c.bucket.bytes.Load()

			served := readEverywhere(t, ctx, c, topic, partitions, files, 4)
			gets, read := c.bucket.gets.Load()-before, c.bucket.bytes.Load()-beforeBytes
			t.Logf("agents=%d peers=%v: %d blocks in %d files (%d bytes); %d bucket GETs, %d bytes read from the bucket, %d bytes served (%.2f GETs per MiB served, read/served %.3f, read/stored %.2f)",
				su.agents, su.peers, blocks, nfiles, fileBytes, gets, read, served, float64(gets)/(float64(served)/(1<<20)), float64(read)/float64(served), float64(read)/float64(fileBytes))
			results[su] = gets
			switch {
			case su.peers:
				// Each block once per zone: reads are single-flight per
				// agent and each block has one owner.
				if gets > int64(blocks) || read != fileBytes {
					t.Fatalf("%d bucket GETs reading %d bytes for %d blocks of %d bytes with the zone peer cache, want at most one GET per block and every byte once",
						gets, read, blocks, fileBytes)
				}
				var servedPeers, peerErrs float64
				for _, a := range c.agents {
					servedPeers += metricValue(t, a, "sluice_cache_peer_served_total")
					peerErrs += labelledMetric(t, a, `sluice_cache_peer_requests_total{result="error"}`)
				}
				if servedPeers == 0 {
					t.Fatal("no agent served a peer")
				}
				t.Logf("%v peer runs served, %v peer errors", servedPeers, peerErrs)
			case su.agents == 1:
				if read != fileBytes {
					t.Fatalf("one agent read %d bytes from the bucket for %d stored: the cache did not serve its consumers", read, fileBytes)
				}
			default:
				if read < fileBytes {
					t.Fatalf("%d bytes read without peers for %d stored: the data was not all read", read, fileBytes)
				}
			}
		})
	}
	if p, np := results[setup{3, true}], results[setup{3, false}]; p > 0 && np > 0 {
		t.Logf("three agents: %d bucket GETs with the peer cache, %d without (%.1fx)", p, np, float64(np)/float64(p))
	}
}

// bucketBlocks counts the cache blocks of every file in the bucket.
func bucketBlocks(t *testing.T, ctx context.Context, b objstore.Bucket, blockSize int64) (blocks, files int, total int64) {
	t.Helper()
	if err := b.List(ctx, jobs.FilePrefix, func(o objstore.Object) error {
		files++
		blocks += int((o.Size + blockSize - 1) / blockSize)
		total += o.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return blocks, files, total
}

func metricValue(t testing.TB, a *Agent, name string) float64 {
	t.Helper()
	v, ok := scrapeMetric(t, a, name)
	if !ok {
		t.Fatalf("metric %s not found", name)
	}
	return v
}

// scrapeMetric reads one series (name and labels as exposed) from the
// agent's /metrics.
func scrapeMetric(t testing.TB, a *Agent, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(series+" ")); ok {
			var f float64
			fmt.Sscan(string(v), &f)
			return f, true
		}
	}
	return 0, false
}

// TestPeerFailuresFallBackToBucket: zone peers that are down (refuse
// connections), hang, or answer wrong bytes are skipped after a bounded
// wait, and every consumer still reads exactly the data produced.
func TestPeerFailuresFallBackToBucket(t *testing.T) {
	c := startCacheCluster(t, 2, CacheConfig{Size: 256 << 20, BlockSize: 8 << 10, Peers: true, PeerTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic, partitions, files = "faults", 2, 10
	produceFiles(t, ctx, c.agents[0], topic, partitions, files, 10<<10)

	// Three fake zone members: a closed port, a black hole that accepts
	// and never answers, and one that answers garbage.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			conn, err := hole.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	}()
	liar := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("len"), &n)
		w.Header().Set("X-Sluice-Crc32c", "12345")
		w.Write(make([]byte, n))
	})}
	liarLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go liar.Serve(liarLn)
	defer liar.Close()
	for i, addr := range []string{closedAddr, hole.Addr().String(), liarLn.Addr().String()} {
		if err := c.store.HeartbeatAgent(ctx, metadata.Agent{NodeID: int32(100 + i), Host: "127.0.0.1", Port: 1, Zone: "z", Instance: "fake", PeerAddr: addr}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range c.agents {
		if err := a.RefreshMembership(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(a.registry.ZonePeers()); n != 5 {
			t.Fatalf("agent sees %d zone peers, want 5", n)
		}
	}
	readEverywhere(t, ctx, c, topic, partitions, files, 2)
	var fallbacks, peerErrors float64
	for _, a := range c.agents {
		fallbacks += metricValue(t, a, "sluice_cache_peer_fallbacks_total")
	}
	for _, a := range c.agents {
		peerErrors += labelledMetric(t, a, `sluice_cache_peer_requests_total{result="error"}`)
	}
	if fallbacks == 0 || peerErrors == 0 {
		t.Fatalf("fallbacks %v, peer errors %v: the failing peers were never asked", fallbacks, peerErrors)
	}
	t.Logf("%v peer errors, %v fallbacks to the bucket", peerErrors, fallbacks)
}

// labelledMetric is scrapeMetric with 0 for a series not exposed yet.
func labelledMetric(t *testing.T, a *Agent, series string) float64 {
	t.Helper()
	v, _ := scrapeMetric(t, a, series)
	return v
}

// TestSequentialConsumerPrefetch: a consumer reading a partition from the
// start in small fetches gets read-ahead once it has come back for the
// offset where its previous fetch stopped (a single fetch gets none), and
// reads every record correctly.
func TestSequentialConsumerPrefetch(t *testing.T) {
	c := startCacheCluster(t, 1, CacheConfig{Size: 64 << 20, BlockSize: 16 << 10, PrefetchBytes: 128 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, files = "seq", 40
	produceFiles(t, ctx, c.agents[0], topic, 1, files, 8<<10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.agents[0].KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	// One fetch of the first 16 KiB: not (yet) a sequential consumer.
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = -1, 16<<10
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 16 << 10
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(ctx, cl.Broker(1)); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(t, c.agents[0], "sluice_fetch_prefetches_total"); n != 0 {
		t.Fatalf("%v read-aheads after one fetch, want 0", n)
	}
	n, _, err := fetchPartition(ctx, cl, 1, topic, td[topic].ID, 0, 16<<10)
	if err != nil || n != files {
		t.Fatalf("sequential read: %d records, %v", n, err)
	}
	if n := metricValue(t, c.agents[0], "sluice_fetch_prefetches_total"); n == 0 {
		t.Fatal("a sequential consumer got no read-ahead")
	}
}

// TestProducedFilesCached: with CacheConfig.Produced the files an agent
// writes are in its cache when committed, so its consumers read them
// without a single bucket GET (TestFetchReadsEachFileOnce shows the GET
// without it).
func TestProducedFilesCached(t *testing.T) {
	c := startCacheCluster(t, 1, CacheConfig{Size: 64 << 20, Produced: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, partitions, files = "written", 4, 3
	produceFiles(t, ctx, c.agents[0], topic, partitions, files, 1000)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.agents[0].KafkaAddr()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < partitions*files; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if gets := c.bucket.gets.Load(); gets != 0 {
		t.Fatalf("consuming files this agent wrote took %d bucket GETs, want 0", gets)
	}
	if w := metricValue(t, c.agents[0], "sluice_cache_written_bytes_total"); w <= 0 {
		t.Fatalf("sluice_cache_written_bytes_total = %v", w)
	}
}

// TestProducedFilesOnMappedBucket: on a local-directory bucket the cache
// maps, written files are not kept in the cache (the page cache holds
// them) and a tail consumer reads them mapped; with mapping off they are
// kept as on an object store.
func TestProducedFilesOnMappedBucket(t *testing.T) {
	if !objstore.Maps(mustOpenDir(t)) {
		t.Skip("this platform does not map local files")
	}
	for _, noMap := range []bool{false, true} {
		t.Run(fmt.Sprintf("nomap=%v", noMap), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			bucket, meta, err := DataDirURLs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			a, err := Start(ctx, Config{BucketURL: bucket, MetadataURL: meta, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
				Roles: cluster.Roles{Proxy: true}, Cache: CacheConfig{Size: 64 << 20, Produced: true, NoMap: noMap}})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(context.Background())
			produceFiles(t, ctx, a, "tail", 2, 3, 1000)
			cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics("tail"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			for got := 0; got < 2*3; {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				got += fs.NumRecords()
			}
			written := metricValue(t, a, "sluice_cache_written_bytes_total")
			if noMap != (written > 0) {
				t.Fatalf("mapping off %v: %v bytes of written files entered the cache", noMap, written)
			}
		})
	}
}

func mustOpenDir(t *testing.T) objstore.Bucket {
	t.Helper()
	b, err := objstore.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
