package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientFlags are the connection flags of every client command.
type clientFlags struct {
	brokers string
}

func (c *clientFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "comma-separated Kafka addresses of any agents")
}

func (c *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(strings.Split(c.brokers, ",")...), kgo.ClientID("sluice-cli")}
	return kgo.NewClient(append(base, opts...)...)
}
