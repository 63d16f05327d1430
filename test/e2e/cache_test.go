package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterZonePeerCache runs three `sluice agent` processes in one zone
// on PostgreSQL and S3 (versitygw). Consumers on every agent read every
// partition from the start through that agent; with the zone peer cache the
// bucket is read about once for the whole zone (bytes read from S3 close to
// the bytes stored, where three independent agents would read three times
// as much). Then one agent is killed while it is still registered: the
// others read the blocks it owns from S3 after their request to it fails,
// and every record still arrives in order.
func TestClusterZonePeerCache(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"a", "a", "a"},
		// Small blocks so files span several owners; a long TTL keeps the
		// killed agent registered (and its blocks assigned to it). Files
		// are not cached as they are written, so every block's first read
		// goes to its owner and then S3, which is what is measured.
		extra: []string{"--cache-block-size", "65536", "--batch-timeout", "20ms", "--agent-ttl", "60s", "--peer-timeout", "1s", "--cache-produced=false",
			// Only the test's topic is stored: no event streams.
			"--audit=false", "--events-agent-logs=false", "--events-jobs=false", "--events-acl=false"}})
	ctx := testContext(t, 3*time.Minute)
	const topic, partitions = "peers", 3
	cl := c.Client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceRounds := func(n int) {
		for r := 0; r < n; r++ {
			var recs []*kgo.Record
			for p := int32(0); p < partitions; p++ {
				v := make([]byte, 40<<10)
				for i := range v {
					v[i] = byte(rand.IntN(256))
				}
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produceRounds(30)
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := td[topic].ID

	sum := func(agents []*ClusterAgent, name string) float64 {
		var total float64
		for _, a := range agents {
			v, err := a.Metric(name)
			if err != nil {
				t.Fatalf("agent %d: %v", a.NodeID, err)
			}
			total += v
		}
		return total
	}
	stored := sum(c.Agents, "sluice_produce_flush_bytes_sum")
	readBefore := sum(c.Agents, "sluice_fetch_bucket_bytes_total")
	getsBefore := sum(c.Agents, "sluice_fetch_bucket_reads_total")

	readAll := func(agents []*ClusterAgent, want int64) int64 {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			served int64
			errs   []error
		)
		for _, a := range agents {
			for k := 0; k < 3; k++ {
				for p := int32(0); p < partitions; p++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, b, err := fetchThrough(ctx, cl, a.NodeID, topic, id, p)
						if err == nil && n != want {
							err = fmt.Errorf("agent %d partition %d: %d records, want %d", a.NodeID, p, n, want)
						}
						mu.Lock()
						served += b
						if err != nil {
							errs = append(errs, err)
						}
						mu.Unlock()
					}()
				}
			}
		}
		wg.Wait()
		for _, err := range errs {
			t.Fatal(err)
		}
		return served
	}
	served := readAll(c.Agents, 30)
	read := sum(c.Agents, "sluice_fetch_bucket_bytes_total") - readBefore
	gets := sum(c.Agents, "sluice_fetch_bucket_reads_total") - getsBefore
	t.Logf("3 agents, 9 consumers each reading all: %.0f bytes stored, %.0f read from S3 in %.0f GETs (%.2fx stored), %d served; %.2f GETs per MiB served",
		stored, read, gets, read/stored, served, gets/(float64(served)/(1<<20)))
	if read < stored || read > 1.5*stored {
		t.Fatalf("read %.0f bytes from S3 for %.0f stored: want about once per zone (at most 1.5x; independent agents read 3x)", read, stored)
	}

	// New data, not read by anyone yet; then kill agent 3, which stays
	// registered (and owner of part of the new blocks) for the TTL.
	produceRounds(10)
	dead := c.Agents[2]
	dead.Kill()
	fallbacksBefore := sum(c.Agents[:2], "sluice_cache_peer_fallbacks_total")
	readAll(c.Agents[:2], 40)
	fallbacks := sum(c.Agents[:2], "sluice_cache_peer_fallbacks_total") - fallbacksBefore
	t.Logf("with agent %d killed: %.0f block runs fell back to S3", dead.NodeID, fallbacks)
	if fallbacks == 0 {
		t.Fatal("no read fell back to S3 although a registered peer was dead")
	}
	for _, a := range c.Agents[:2] {
		if strings.Contains(a.logs.String(), "panic") {
			t.Fatalf("agent %d panicked", a.NodeID)
		}
	}
}

// fetchThrough reads a partition from offset 0 to its end with raw Fetch
// requests sent to one agent over franz-go's connection to it, checking
// that offsets are contiguous.
func fetchThrough(ctx context.Context, cl *kgo.Client, node int32, topic string, id [16]byte, partition int32) (records, served int64, err error) {
	var next int64
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes = -1, 50<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, next, 128<<10
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
		if err != nil {
			return records, served, err
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return records, served, fmt.Errorf("agent %d: malformed fetch response", node)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return records, served, fmt.Errorf("agent %d partition %d offset %d: error code %d", node, partition, next, p.ErrorCode)
		}
		data := p.RecordBatches
		served += int64(len(data))
		for len(data) >= 61 {
			length := int64(binary.BigEndian.Uint32(data[8:12]))
			if 12+length > int64(len(data)) {
				return records, served, fmt.Errorf("agent %d: truncated batch", node)
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(data[:12+length]); err != nil {
				return records, served, err
			}
			if b.FirstOffset != next {
				return records, served, fmt.Errorf("agent %d partition %d: batch at offset %d, want %d", node, partition, b.FirstOffset, next)
			}
			next += int64(b.LastOffsetDelta) + 1
			records += int64(b.NumRecords)
			data = data[12+length:]
		}
		if next >= p.HighWatermark {
			return records, served, nil
		}
		if len(p.RecordBatches) == 0 {
			return records, served, fmt.Errorf("agent %d partition %d: no progress at %d of %d", node, partition, next, p.HighWatermark)
		}
	}
}
