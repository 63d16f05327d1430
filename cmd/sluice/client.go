package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/metadata"
)

// clientFlags are the connection flags of every client command.
type clientFlags struct {
	brokers string
	// TLS and SASL toward a secured listener (docs/security.md).
	tls                    bool
	tlsCA, tlsCert, tlsKey string
	saslMechanism          string
	saslUser, saslPassword string
}

func (c *clientFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "comma-separated Kafka addresses of any agents")
	f.BoolVar(&c.tls, "tls", false, "connect with TLS (implied by --tls-ca and --tls-client-cert)")
	f.StringVar(&c.tlsCA, "tls-ca", "", "PEM CAs to verify the agents' certificates with (default: the system's)")
	f.StringVar(&c.tlsCert, "tls-client-cert", "", "PEM client certificate, for listeners that require one (mTLS)")
	f.StringVar(&c.tlsKey, "tls-client-key", "", "PEM private key of --tls-client-cert")
	f.StringVar(&c.saslMechanism, "sasl-mechanism", "", "authenticate with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	f.StringVar(&c.saslUser, "sasl-user", "", "SASL user name")
	f.StringVar(&c.saslPassword, "sasl-password", "", "SASL password (prefer SLUICE_SASL_PASSWORD)")
}

func (c *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(strings.Split(c.brokers, ",")...), kgo.ClientID("sluice-cli")}
	sec, err := c.securityOpts()
	if err != nil {
		return nil, err
	}
	base = append(base, sec...)
	return kgo.NewClient(append(base, opts...)...)
}

// securityOpts turns the TLS and SASL flags into client options.
func (c *clientFlags) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if c.tls || c.tlsCA != "" || c.tlsCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.tlsCA != "" {
			pem, err := os.ReadFile(c.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", c.tlsCA)
			}
		}
		if c.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-client-cert: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch strings.ToUpper(c.saslMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.saslUser, Pass: c.saslPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.saslUser, Pass: c.saslPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.saslUser, Pass: c.saslPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.saslMechanism)
	}
	return opts, nil
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
