package e2e

// sarama and kafkajs against `sluice dev --agents 3`: three agents, so
// partitions have different nominal leaders, groups are coordinated by
// whichever agent rendezvous hashing picks, and clients connect to every
// agent they are told about.

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// startDevCluster runs `sluice dev --agents n` and returns the agents'
// Kafka addresses once all of them are in every agent's Metadata.
func startDevCluster(t *testing.T, n int) []string {
	t.Helper()
	kafkaBase, httpBase := consecutiveAddrs(t, n), consecutiveAddrs(t, n)
	cmd := exec.Command(sluiceBin, "dev", "--agents", strconv.Itoa(n), "--data-dir", t.TempDir(),
		"--kafka-addr", kafkaBase, "--http-addr", httpBase, "--batch-timeout", "20ms", "--log-level", "debug")
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
			<-exited
			t.Errorf("sluice dev --agents %d ignored SIGTERM", n)
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	host, portStr, _ := net.SplitHostPort(kafkaBase)
	port, _ := strconv.Atoi(portStr)
	var addrs []string
	for i := 0; i < n; i++ {
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(port+i)))
	}
	waitFor(t, 30*time.Second, "the dev cluster to start", func() bool { return strings.Contains(logs.String(), "Press Ctrl-C") })
	cfg := saramaConfig(sarama.V3_9_0_0)
	for _, addr := range addrs {
		waitFor(t, 15*time.Second, addr+" to list every agent", func() bool {
			cl, err := sarama.NewClient([]string{addr}, cfg)
			if err != nil {
				return false
			}
			defer cl.Close()
			return len(cl.Brokers()) == n
		})
	}
	return addrs
}

func TestClientsOnDevCluster(t *testing.T) {
	t.Parallel()
	addrs := startDevCluster(t, 3)

	t.Run("sarama", func(t *testing.T) {
		const topic, group, partitions = "cluster-sarama", "cluster-sarama-g", 6
		adm, err := sarama.NewClusterAdmin(addrs[:1], saramaConfig(sarama.V3_9_0_0))
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]bool{}
		for _, p := range md[0].Partitions {
			leaders[p.Leader] = true
		}
		if len(leaders) < 2 {
			t.Fatalf("partitions led by %v: the test needs several agents", leaders)
		}
		cfg := saramaConfig(sarama.V3_9_0_0)
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Flush.Frequency = 10 * time.Millisecond
		ap, err := sarama.NewAsyncProducer(addrs[1:2], cfg)
		if err != nil {
			t.Fatal(err)
		}
		const n = 300
		go func() {
			for i := 0; i < n; i++ {
				ap.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("c%d", i)), Metadata: i}
			}
		}()
		var sent []*saramaMsg
		deadline := time.After(60 * time.Second)
		for len(sent) < n {
			select {
			case pm := <-ap.Successes():
				i := pm.Metadata.(int)
				sent = append(sent, &saramaMsg{key: fmt.Sprintf("k%d", i), value: fmt.Sprintf("c%d", i), headers: map[string]string{}, partition: pm.Partition, offset: pm.Offset})
			case perr := <-ap.Errors():
				t.Fatalf("produce: %v", perr)
			case <-deadline:
				t.Fatalf("%d of %d acknowledged after 60s", len(sent), n)
			}
		}
		if err := ap.Close(); err != nil {
			t.Fatal(err)
		}
		checkSaramaDelivered(t, addrs[2], saramaConfig(sarama.V3_9_0_0), topic, partitions, sent)

		// A group whose members bootstrap from different agents.
		m1 := startSaramaMember(t, sarama.V3_9_0_0, addrs[0], group, topic, "m1", sarama.NewBalanceStrategyRange())
		m2 := startSaramaMember(t, sarama.V3_9_0_0, addrs[2], group, topic, "m2", sarama.NewBalanceStrategyRange())
		waitFor(t, 60*time.Second, "the members to share the partitions and read everything", func() bool {
			c1, c2 := m1.Claims(), m2.Claims()
			s1, s2 := m1.Seen(), m2.Seen()
			return len(c1) == 3 && len(c2) == 3 && len(s1)+len(s2) >= n
		})
		m1.Close(t)
		m2.Close(t)
		offs, err := adm.ListConsumerGroupOffsets(group, nil)
		if err != nil {
			t.Fatal(err)
		}
		ends := map[int32]int64{}
		for _, m := range sent {
			ends[m.partition] = max(ends[m.partition], m.offset+1)
		}
		for p, end := range ends {
			if b := offs.GetBlock(topic, p); b == nil || b.Offset != end {
				t.Fatalf("committed [%d] = %+v, want %d", p, b, end)
			}
		}
	})

	t.Run("kafkajs", func(t *testing.T) {
		requireKafkajs(t)
		const topic, group, partitions = "cluster-kafkajs", "cluster-kafkajs-g", 4
		adm, err := sarama.NewClusterAdmin(addrs[:1], saramaConfig(sarama.V3_9_0_0))
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
		lines := runKafkajs(t, "produce", map[string]any{
			"broker": addrs[1], "topic": topic, "partitions": partitions, "n": 40, "batch": 10,
			"acks": -1, "codec": "gzip", "idempotent": true, "prefix": "v",
		})
		if len(lines["ack"]) != 40 {
			t.Fatalf("%d acks", len(lines["ack"]))
		}
		lines = runKafkajs(t, "group", map[string]any{
			"broker": addrs[2], "topic": topic, "group": group, "partitions": partitions, "before": 40, "after": 40,
		})
		var done struct {
			Seen      map[string][]string `json:"seen"`
			Committed map[string]string   `json:"committed"`
		}
		one(t, lines, "done", &done)
		if len(done.Seen["m1"]) < 40 || len(done.Seen["m2"]) == 0 {
			t.Fatalf("m1 read %d, m2 %d", len(done.Seen["m1"]), len(done.Seen["m2"]))
		}
		for p := 0; p < partitions; p++ {
			if got := done.Committed[strconv.Itoa(p)]; got != "20" {
				t.Fatalf("committed [%d] = %q, want 20", p, got)
			}
		}
	})
}
