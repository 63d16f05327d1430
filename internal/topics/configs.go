package topics

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidConfig is returned (wrapped, with the reason) for unknown config
// names and invalid values.
var ErrInvalidConfig = errors.New("invalid config")

// ConfigType is a config value's type, as Kafka's DescribeConfigs reports it.
type ConfigType int8

// Kafka's config types (DescribeConfigs v3+ ConfigType values).
const (
	TypeBoolean  ConfigType = 1
	TypeString   ConfigType = 2
	TypeInt      ConfigType = 3
	TypeLong     ConfigType = 5
	TypeDouble   ConfigType = 6
	TypeList     ConfigType = 7
	TypePassword ConfigType = 9
)

// Support says what Sluice does with a config. Flipping a config from
// NotYet to Honoured when the feature lands is a one-word change in the
// table below; docs/compatibility.md is generated from it.
type Support string

// Support levels, as docs/compatibility.md words them.
const (
	// Honoured: the config has its Kafka meaning here.
	Honoured Support = "honoured"
	// NotYet: validated and stored; the feature that applies it is not
	// built yet.
	NotYet Support = "stored, not yet enforced"
	// NotApplied: validated and stored; Sluice deliberately does not apply
	// it (Doc says why).
	NotApplied Support = "stored, not applied"
	// NoEffect: validated and stored so that tools which set it work, but
	// it has no meaning without local disks, followers or leader elections.
	NoEffect Support = "accepted, no effect here"
)

// Config describes one topic config.
type Config struct {
	Name    string
	Type    ConfigType
	Default string
	// Check validates a value beyond its type; nil accepts any value of the type.
	Check func(string) error
	// Support is what Sluice does with the config.
	Support Support
	// Doc says what the config means in Sluice (its effect once honoured).
	Doc string
	// Kafka names the Kafka versions that define the config, when not all
	// of 3.x and 4.x do.
	Kafka string
}

// Documentation is the config's documentation as DescribeConfigs reports
// it: its meaning and what Sluice does with it.
func (c Config) Documentation() string {
	return c.Doc + " (Sluice: " + string(c.Support) + ".)"
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, ok := range values {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

func listOf(values ...string) func(string) error {
	one := oneOf(values...)
	return func(v string) error {
		for _, item := range strings.Split(v, ",") {
			if err := one(strings.TrimSpace(item)); err != nil {
				return err
			}
		}
		return nil
	}
}

func between(lo, hi float64) func(string) error {
	return func(v string) error {
		f, _ := strconv.ParseFloat(v, 64)
		if f < lo || f > hi {
			return fmt.Errorf("must be between %v and %v", lo, hi)
		}
		return nil
	}
}

// DefaultMaxMessageBytes is Kafka's default largest record batch.
const DefaultMaxMessageBytes = 1048588

const maxLong = "9223372036854775807"

// configs are the topic configs Kafka 3.x and 4.x define (Kafka's
// TopicConfig and LogConfig), with Kafka's types, defaults and validators.
var configs = []Config{
	{Name: "cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact"), Support: Honoured,
		Doc: "delete: the retention job (--retention-interval) removes data older than retention.ms or beyond retention.bytes; compact: key compaction (--compaction-interval) keeps the latest record of each key at its offset; control and transactional batches are kept as written."},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", Check: level(1, 9, -1), Support: NotApplied, Kafka: "3.8+",
		Doc: "Batches are stored as the producer compressed them; Sluice never recompresses."},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", Check: level(1, 17, 9), Support: NotApplied, Kafka: "3.8+",
		Doc: "Batches are stored as the producer compressed them; Sluice never recompresses."},
	{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), Support: NotApplied,
		Doc: "Batches are stored as the producer compressed them (as with the default, producer); Sluice never recompresses."},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", Check: level(-131072, 22, 3), Support: NotApplied, Kafka: "3.8+",
		Doc: "Batches are stored as the producer compressed them; Sluice never recompresses."},
	{Name: "confluent.key.schema.validation", Type: TypeBoolean, Default: "false", Support: Honoured,
		Doc: "true: every produced record's key must carry the schema registry wire format (magic byte 0, schema ID) with an ID registered under the key subject (confluent.key.subject.name.strategy); batches that do not are refused with INVALID_RECORD (docs/schema-registry.md). A Confluent Server config."},
	{Name: "confluent.key.subject.name.strategy", Type: TypeString, Default: "TopicNameStrategy", Check: subjectNameStrategy, Support: Honoured,
		Doc: "How the key subject is named for confluent.key.schema.validation: TopicNameStrategy (<topic>-key), RecordNameStrategy (<record name>), TopicRecordNameStrategy (<topic>-<record name>); Confluent's class names are accepted too. A Confluent Server config."},
	{Name: "confluent.value.schema.validation", Type: TypeBoolean, Default: "false", Support: Honoured,
		Doc: "true: every produced record's value must carry the schema registry wire format (magic byte 0, schema ID) with an ID registered under the value subject (confluent.value.subject.name.strategy); batches that do not are refused with INVALID_RECORD (docs/schema-registry.md). A Confluent Server config."},
	{Name: "confluent.value.subject.name.strategy", Type: TypeString, Default: "TopicNameStrategy", Check: subjectNameStrategy, Support: Honoured,
		Doc: "How the value subject is named for confluent.value.schema.validation: TopicNameStrategy (<topic>-value), RecordNameStrategy (<record name>), TopicRecordNameStrategy (<topic>-<record name>); Confluent's class names are accepted too. A Confluent Server config."},
	{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", Check: atLeast(0), Support: Honoured,
		Doc: "How long key compaction keeps tombstones (null-value records)."},
	{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", Check: atLeast(0), Support: NoEffect,
		Doc: "No local segment files to delete."},
	{Name: "flush.messages", Type: TypeLong, Default: maxLong, Check: atLeast(1), Support: NoEffect,
		Doc: "Every record is durable in object storage before it is acknowledged; there is no fsync to schedule."},
	{Name: "flush.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0), Support: NoEffect,
		Doc: "Every record is durable in object storage before it is acknowledged; there is no fsync to schedule."},
	{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", Check: throttledReplicas, Support: NoEffect,
		Doc: "There are no followers: object storage replicates."},
	{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0), Support: NoEffect,
		Doc: "Files are indexed per batch in the metadata store, not by a sparse offset index."},
	{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", Check: throttledReplicas, Support: NoEffect,
		Doc: "There are no followers: object storage replicates."},
	{Name: "local.retention.bytes", Type: TypeLong, Default: "-2", Check: atLeast(-2), Support: NoEffect,
		Doc: "All data lives in object storage; there is no local tier."},
	{Name: "local.retention.ms", Type: TypeLong, Default: "-2", Check: atLeast(-2), Support: NoEffect,
		Doc: "All data lives in object storage; there is no local tier."},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, Check: atLeast(1), Support: NotYet,
		Doc: "Longest a record stays ineligible for key compaction (key compaction runs by min.cleanable.dirty.ratio only)."},
	{Name: "max.message.bytes", Type: TypeInt, Default: strconv.Itoa(DefaultMaxMessageBytes), Check: atLeast(0), Support: Honoured,
		Doc: "Largest record batch accepted; larger batches get MESSAGE_TOO_LARGE. The default is the agent's --max-message-bytes."},
	{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", Support: NoEffect, Kafka: "3.x (removed in 4.0)",
		Doc: "Batches are never down-converted: Fetch is served from v4, which reads v2 batches."},
	{Name: "message.format.version", Type: TypeString, Default: "3.0-IV1", Check: messageFormatVersion, Support: NoEffect, Kafka: "3.x (removed in 4.0)",
		Doc: "Batches are always stored in the v2 format."},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0), Support: Honoured,
		Doc: "With CreateTime, a batch holding a record timestamped more than this many ms after the agent's clock gets INVALID_TIMESTAMP and is not stored."},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0), Support: Honoured,
		Doc: "With CreateTime, a batch holding a record timestamped more than this many ms before the agent's clock gets INVALID_TIMESTAMP and is not stored."},
	{Name: "message.timestamp.difference.max.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0), Support: Honoured, Kafka: "3.x (removed in 4.0)",
		Doc: "Deprecated: the bound for message.timestamp.before.max.ms and after.max.ms when those are left at their defaults."},
	{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", Check: oneOf("CreateTime", "LogAppendTime"), Support: Honoured,
		Doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the agent's clock when its file is sealed, just before upload and commit."},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", Check: between(0, 1), Support: Honoured,
		Doc: "Share of a partition not yet compacted before key compaction runs."},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", Check: atLeast(0), Support: Honoured,
		Doc: "Shortest time a record stays uncompacted."},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1), Support: NoEffect,
		Doc: "Durability comes from object storage: an acknowledged batch is in the bucket and committed, for acks=1 and acks=all alike."},
	{Name: "preallocate", Type: TypeBoolean, Default: "false", Support: NoEffect,
		Doc: "No local segment files to preallocate."},
	{Name: "remote.log.copy.disable", Type: TypeBoolean, Default: "false", Support: NoEffect, Kafka: "3.9+",
		Doc: "All data lives in object storage; there is no tiering to disable."},
	{Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: "false", Support: NoEffect, Kafka: "3.9+",
		Doc: "All data lives in object storage; there is no tiering to disable."},
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: "false", Support: NoEffect,
		Doc: "All data lives in object storage, whatever the value."},
	{Name: "retention.bytes", Type: TypeLong, Default: "-1", Support: Honoured,
		Doc: "Largest size of a partition before the retention job removes its oldest data, whole extents at a time (as Kafka removes whole segments); -1 (or any negative value) means no limit."},
	{Name: "retention.ms", Type: TypeLong, Default: "604800000", Check: atLeast(-1), Support: Honoured,
		Doc: "Age after which the retention job removes data, counted from the time the data was committed, not from record timestamps; -1 means forever."},
	{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14), Support: NoEffect,
		Doc: "No local segments: each flush writes one object, sized by the agent's --batch-max-bytes. Values from 14 are accepted, as Kafka 3.x accepts them (Kafka 4.x requires 1048576), so tools and tests that create topics with small segments work."},
	{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(4), Support: NoEffect,
		Doc: "No local segment indexes."},
	{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", Check: atLeast(0), Support: NoEffect,
		Doc: "No local segments to roll."},
	{Name: "segment.ms", Type: TypeLong, Default: "604800000", Check: atLeast(1), Support: NoEffect,
		Doc: "No local segments: each flush writes one object, at the latest after the agent's --batch-timeout."},
	{Name: "sluice.key.schema.validation.mode", Type: TypeString, Default: "id", Check: oneOf("id", "full"), Support: Honoured,
		Doc: "With confluent.key.schema.validation=true: id checks the wire format and that the schema ID is registered under the subject; full also decodes each key with its schema (docs/schema-registry.md has the cost per record)."},
	{Name: "sluice.value.schema.validation.mode", Type: TypeString, Default: "id", Check: oneOf("id", "full"), Support: Honoured,
		Doc: "With confluent.value.schema.validation=true: id checks the wire format and that the schema ID is registered under the subject; full also decodes each value with its schema (docs/schema-registry.md has the cost per record)."},
	{Name: TypeConfig, Type: TypeString, Default: TypeClassic, Check: oneOf(TypeClassic, TypeLightning), Support: Honoured, Kafka: "none: Sluice's own config",
		Doc: "classic: a produce is acknowledged once its file is in the bucket and sequenced, with its offsets; lightning: once its file is durable in the bucket (written into the journal), with base offset -1, and sequenced right after (docs/lightning.md). Idempotent and transactional producers are refused on lightning topics. Set at creation only (the agent's --default-topic-type when absent)."},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", Support: NoEffect,
		Doc: "Leaders are nominal and every agent serves every partition; there are no leader elections."},
}

// subjectNameStrategy accepts Confluent's subject name strategies, by
// short name or by the serializers' class name.
func subjectNameStrategy(v string) error {
	switch strings.TrimPrefix(v, "io.confluent.kafka.serializers.subject.") {
	case "TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy":
		return nil
	}
	return errors.New("must be TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy")
}

// level validates a compression level as Kafka's CompressionType does: lo
// to hi, or the codec's default.
func level(lo, hi, def int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n != def && (n < lo || n > hi) {
			return fmt.Errorf("must be between %d and %d, or %d", lo, hi, def)
		}
		return nil
	}
}

var throttledReplica = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas validates as Kafka's ThrottledReplicaListValidator:
// the literal "*" or a list of partitionId:brokerId.
func throttledReplicas(v string) error {
	if strings.TrimSpace(v) == "*" {
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		if !throttledReplica.MatchString(strings.TrimSpace(item)) {
			return errors.New("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

var formatVersion = regexp.MustCompile(`^(0\.(8\.[0-2]|9\.0|10\.[0-2]|11\.0)|[1-3]\.[0-9]+)(\.[0-9]+)?(-IV[0-9]+)?$`)

// messageFormatVersion accepts Kafka version strings (0.8.0 … 3.x, with an
// optional -IVn), as Kafka 3.x's validator accepts the known ones.
func messageFormatVersion(v string) error {
	if !formatVersion.MatchString(v) {
		return errors.New("must be a Kafka version such as 2.8 or 3.0-IV1")
	}
	return nil
}

var byName = func() map[string]*Config {
	m := make(map[string]*Config, len(configs))
	for i := range configs {
		m[configs[i].Name] = &configs[i]
	}
	return m
}()

// Configs returns every known topic config, sorted by name.
func Configs() []Config {
	out := append([]Config(nil), configs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the definition of a topic config.
func Lookup(name string) (Config, bool) {
	c, ok := byName[name]
	if !ok {
		return Config{}, false
	}
	return *c, true
}

// ValidateConfig checks one name and value.
func ValidateConfig(name, value string) error {
	c, ok := byName[name]
	if !ok {
		return fmt.Errorf("%w: unknown topic config name %q", ErrInvalidConfig, name)
	}
	var err error
	switch c.Type {
	case TypeBoolean:
		if v := strings.ToLower(value); v != "true" && v != "false" {
			err = errors.New("must be true or false")
		}
	case TypeInt:
		_, err = strconv.ParseInt(value, 10, 32)
	case TypeLong:
		_, err = strconv.ParseInt(value, 10, 64)
	case TypeDouble:
		_, err = strconv.ParseFloat(value, 64)
	}
	if err == nil && c.Check != nil {
		err = c.Check(value)
	}
	if err != nil {
		return fmt.Errorf("%w: invalid value %q for configuration %s: %v", ErrInvalidConfig, value, name, err)
	}
	return nil
}

// ValidateConfigs checks what single values cannot show: configs that
// conflict with each other in a topic's whole set, as Kafka's
// LogConfig.validateValues does.
func ValidateConfigs(set map[string]string) error {
	minLag, _ := strconv.ParseInt(Value(set, "min.compaction.lag.ms"), 10, 64)
	maxLag, _ := strconv.ParseInt(Value(set, "max.compaction.lag.ms"), 10, 64)
	if minLag > maxLag {
		return fmt.Errorf("%w: conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", ErrInvalidConfig, minLag, maxLag)
	}
	return nil
}

// The topic type config and its values (docs/lightning.md).
const (
	TypeConfig    = "sluice.topic.type"
	TypeClassic   = "classic"
	TypeLightning = "lightning"
)

// IsLightning reports whether a topic with these configs is a lightning
// topic.
func IsLightning(set map[string]string) bool {
	return Value(set, TypeConfig) == TypeLightning
}

// ValidateChange checks what may not change once a topic exists: its type
// (a partition's batches would otherwise be split between two commit
// paths mid-stream).
func ValidateChange(current, next map[string]string) error {
	if Value(current, TypeConfig) != Value(next, TypeConfig) {
		return fmt.Errorf("%w: %s is set when a topic is created and cannot be changed", ErrInvalidConfig, TypeConfig)
	}
	return nil
}

// Value returns a topic's effective value of config name: the topic's own
// setting, else the default.
func Value(set map[string]string, name string) string {
	if v, ok := set[name]; ok {
		return v
	}
	return byName[name].Default
}
