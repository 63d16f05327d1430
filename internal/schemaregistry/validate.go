package schemaregistry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
)

// Broker-side schema validation (Confluent Server's topic configs).
const (
	ConfigKeyValidation     = "confluent.key.schema.validation"
	ConfigValueValidation   = "confluent.value.schema.validation"
	ConfigKeyStrategy       = "confluent.key.subject.name.strategy"
	ConfigValueStrategy     = "confluent.value.subject.name.strategy"
	ConfigKeyValidationMode = "sluice.key.schema.validation.mode"
	ConfigValueValidateMode = "sluice.value.schema.validation.mode"
)

// Enabled reports whether a topic's configs turn schema validation on for
// its keys or values: the produce path calls the validator only then.
func Enabled(configs map[string]string) bool {
	return configs[ConfigKeyValidation] == "true" || configs[ConfigValueValidation] == "true"
}

// subjectIDsTTL bounds how long a validator trusts its cached list of a
// subject's schema IDs before reading it again. A record whose ID is not in
// the cached list makes the validator read the subject at once, so a schema
// registered on another agent is accepted on its first record; the TTL
// only bounds how long a deleted version's ID keeps being accepted.
const subjectIDsTTL = 10 * time.Second

// maxCachedSchemas bounds the parsed schemas a validator keeps (full mode
// and the record name strategies need them); past it the cache is reset.
const maxCachedSchemas = 10000

// Validator checks produced records against the registry. It is safe for
// concurrent use.
type Validator struct {
	store   srstore.Store
	metrics *Metrics

	mu struct {
		sync.Mutex
		// subjects caches the live schema IDs of a subject.
		subjects map[string]subjectIDs
		// schemas caches parsed schemas by ID (immutable once registered).
		schemas map[int64]schema.Schema
	}
}

type subjectIDs struct {
	ids    map[int64]bool
	loaded time.Time
}

// NewValidator returns a validator over store; metrics may be nil.
func NewValidator(store srstore.Store, metrics *Metrics) *Validator {
	v := &Validator{store: store, metrics: metrics}
	v.mu.subjects = map[string]subjectIDs{}
	v.mu.schemas = map[int64]schema.Schema{}
	return v
}

// side is what validation checks of one side (key or value) of records.
type side struct {
	name     string // "key" or "value"
	strategy string // short name: TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy
	full     bool
	// subject is <topic>-<name>, the TopicNameStrategy subject, built once
	// per batch.
	subject string
}

func sidesOf(configs map[string]string) []side {
	var out []side
	if configs[ConfigKeyValidation] == "true" {
		out = append(out, side{name: "key", strategy: configs[ConfigKeyStrategy], full: configs[ConfigKeyValidationMode] == "full"})
	}
	if configs[ConfigValueValidation] == "true" {
		out = append(out, side{name: "value", strategy: configs[ConfigValueStrategy], full: configs[ConfigValueValidateMode] == "full"})
	}
	return out
}

// ValidateBatch checks every record of one produced batch (already
// validated as a well-formed v2 batch) of topic against the registry, as
// the topic's configs ask. It returns the records that fail, each with the
// reason, and an error summarising them; nil if every record passes.
// A null key or value (a tombstone) is not checked.
func (v *Validator) ValidateBatch(ctx context.Context, topic string, configs map[string]string, batch []byte) ([]kmsg.ProduceResponseTopicPartitionErrorRecord, error) {
	sides := sidesOf(configs)
	if len(sides) == 0 {
		return nil, nil
	}
	for i := range sides {
		sides[i].strategy = strings.TrimPrefix(sides[i].strategy, "io.confluent.kafka.serializers.subject.")
		sides[i].subject = topic + "-" + sides[i].name
	}
	section, err := records.Section(batch, records.MaxDecompressedBatch)
	if err != nil {
		return nil, err
	}
	var bad []kmsg.ProduceResponseTopicPartitionErrorRecord
	refreshed := map[string]bool{}
	it := records.NewRecordIter(section)
	for i := int32(0); it.Next(); i++ {
		key, value := keyValue(it.Fields())
		for _, sd := range sides {
			payload := value
			if sd.name == "key" {
				payload = key
			}
			if payload == nil {
				continue
			}
			if err := v.check(ctx, topic, sd, payload, refreshed); err != nil {
				if IsStoreError(err) {
					return nil, err
				}
				msg := err.Error()
				bad = append(bad, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: i, ErrorMessage: &msg})
				break
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if len(bad) == 0 {
		return nil, nil
	}
	v.metrics.rejected(topic)
	return bad, fmt.Errorf("%d record(s) failed schema validation; first: record %d: %s", len(bad), bad[0].RelativeOffset, *bad[0].ErrorMessage)
}

// keyValue returns a record's key and value (nil when null) from its
// fields, which records.Validate has already checked.
func keyValue(fields []byte) (key, value []byte) {
	rd := kbin.Reader{Src: fields}
	rd.Int8()    // attributes
	rd.Varlong() // timestamp delta
	rd.Varint()  // offset delta
	key = rd.VarintBytes()
	value = rd.VarintBytes()
	return key, value
}

// storeError marks a failure to read the registry (not the record's
// fault): the produce is refused as retriable.
type storeError struct{ err error }

func (e storeError) Error() string { return "schema registry: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// IsStoreError reports whether a ValidateBatch error is a failure to read
// the registry rather than a bad record: the produce path answers it with
// a retriable error.
func IsStoreError(err error) bool {
	var se storeError
	return errors.As(err, &se)
}

func (v *Validator) check(ctx context.Context, topic string, sd side, payload []byte, refreshed map[string]bool) error {
	if len(payload) < 5 || payload[0] != 0 {
		return fmt.Errorf("%s does not start with the schema registry wire format (magic byte 0 and a 4-byte schema ID)", sd.name)
	}
	id := int64(binary.BigEndian.Uint32(payload[1:5]))
	var s schema.Schema
	strategy := sd.strategy
	if sd.full || strategy == "RecordNameStrategy" || strategy == "TopicRecordNameStrategy" {
		var err error
		if s, err = v.schema(ctx, id); err != nil {
			return err
		}
	}
	var subject string
	switch strategy {
	case "RecordNameStrategy", "TopicRecordNameStrategy":
		name, err := schema.PayloadRecordName(s, payload[5:])
		if err != nil || name == "" {
			return fmt.Errorf("%s schema %d: no record name for %s: %v", sd.name, id, strategy, err)
		}
		subject = name
		if strategy == "TopicRecordNameStrategy" {
			subject = topic + "-" + subject
		}
	default:
		subject = sd.subject
	}
	ok, err := v.registered(ctx, subject, id, refreshed)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s schema ID %d is not registered under subject %s", sd.name, id, subject)
	}
	if sd.full {
		if err := schema.ValidatePayload(s, payload[5:]); err != nil {
			return fmt.Errorf("%s does not match schema %d: %v", sd.name, id, err)
		}
	}
	return nil
}

// registered reports whether id is a live version of subject, reading the
// subject again when the cache is stale or does not have the ID (once per
// batch).
func (v *Validator) registered(ctx context.Context, subject string, id int64, refreshed map[string]bool) (bool, error) {
	v.mu.Lock()
	c, ok := v.mu.subjects[subject]
	v.mu.Unlock()
	if ok && c.ids[id] && time.Since(c.loaded) < subjectIDsTTL {
		return true, nil
	}
	if ok && refreshed[subject] {
		return c.ids[id], nil
	}
	refreshed[subject] = true
	ids := map[int64]bool{}
	err := v.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		versions, err := tx.Versions(ctx, subject)
		if err != nil {
			return err
		}
		for _, sv := range versions {
			if !sv.Deleted {
				ids[sv.SchemaID] = true
			}
		}
		return nil
	})
	if err != nil {
		return false, storeError{err}
	}
	v.mu.Lock()
	v.mu.subjects[subject] = subjectIDs{ids: ids, loaded: time.Now()}
	v.mu.Unlock()
	return ids[id], nil
}

// schema returns the parsed schema with the ID.
func (v *Validator) schema(ctx context.Context, id int64) (schema.Schema, error) {
	v.mu.Lock()
	s, ok := v.mu.schemas[id]
	v.mu.Unlock()
	if ok {
		return s, nil
	}
	var found bool
	err := v.store.SchemaRegistryView(ctx, func(tx srstore.Tx) error {
		st, ok, err := tx.SchemaByID(ctx, id)
		if err != nil || !ok {
			return err
		}
		found = true
		s, err = parseStored(ctx, tx, st)
		return err
	})
	if err != nil {
		return nil, storeError{err}
	}
	if !found {
		return nil, fmt.Errorf("schema ID %d is not registered", id)
	}
	v.mu.Lock()
	if len(v.mu.schemas) >= maxCachedSchemas {
		v.mu.schemas = map[int64]schema.Schema{}
	}
	v.mu.schemas[id] = s
	v.mu.Unlock()
	return s, nil
}

// Enabled implements the produce path's SchemaValidator.
func (v *Validator) Enabled(configs map[string]string) bool { return Enabled(configs) }
