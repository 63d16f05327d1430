package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/metadata"
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

// brokerError is a Kafka error as the CLI reports it: the code's name and
// then the broker's own message when it sent one (it says what went wrong,
// where the code's generic description may not fit), else the description.
type brokerError struct {
	code    *kerr.Error
	message string
}

func (e *brokerError) Error() string { return e.code.Message + ": " + e.message }
func (e *brokerError) Unwrap() error { return e.code }

// kafkaError wraps err, a Kafka error code or anything else, with the
// broker's message for it.
func kafkaError(err error, message string) error {
	var code *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &code):
		if message == "" {
			message = code.Description
		}
		return &brokerError{code: code, message: message}
	case message != "":
		return fmt.Errorf("%w: %s", err, message)
	}
	return err
}

// topicID prints a topic ID as Kafka's tools do (URL-safe base64, no
// padding), the one format the CLI uses.
func topicID(id [16]byte) string { return metadata.TopicID(id).Base64() }
