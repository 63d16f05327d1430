package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SchemaValidator checks produced records against registered schemas
// (broker-side schema validation, internal/schemaregistry). The produce
// handler calls it only for topics whose configs turn validation on
// (Enabled), after the batch passed every other check.
type SchemaValidator interface {
	// Enabled reports, cheaply, whether the topic's configs ask for
	// validation.
	Enabled(configs map[string]string) bool
	// ValidateBatch returns the records that fail, with the reason, and an
	// error summarising them; nil if all pass. An error with no records is
	// a failure to read the registry (retriable).
	ValidateBatch(ctx context.Context, topic string, configs map[string]string, batch []byte) ([]kmsg.ProduceResponseTopicPartitionErrorRecord, error)
}
