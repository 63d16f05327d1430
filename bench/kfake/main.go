// Command kfake runs franz-go's in-memory fake Kafka cluster
// (github.com/twmb/franz-go/pkg/kfake) on a fixed port, so bench/run.sh can
// benchmark Sluice against it as another process under the same conditions.
// It is a baseline for benchmarks only, not a broker for real use.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9192, "port of the single broker on 127.0.0.1")
	brokers := flag.Int("brokers", 1, "brokers in the fake cluster")
	partitions := flag.Int("default-partitions", 8, "partitions of auto-created topics")
	flag.Parse()
	ports := make([]int, *brokers)
	for i := range ports {
		ports[i] = *port + i
	}
	c, err := kfake.NewCluster(
		kfake.Ports(ports...),
		kfake.NumBrokers(*brokers),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println("kfake listening on", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
