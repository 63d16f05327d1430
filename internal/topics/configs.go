package topics

import (
	"errors"
	"fmt"
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

// Config describes one topic config.
type Config struct {
	Name    string
	Type    ConfigType
	Default string
	// Check validates a value beyond its type; nil accepts any value of the type.
	Check func(string) error
	// Doc says what the config does in Sluice.
	Doc string
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

// configs are the topic configs Kafka defines. Which of them Sluice honours
// is stated in each Doc.
var configs = []Config{
	{Name: "cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact"), Doc: "Stored; retention and compaction are not yet enforced."},
	{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), Doc: "Stored; batches are always kept as the producer compressed them."},
	{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", Check: atLeast(0), Doc: "Stored."},
	{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", Check: atLeast(0), Doc: "Accepted; no meaning without local segments."},
	{Name: "flush.messages", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(1), Doc: "Accepted; every flush is durable before it is acknowledged."},
	{Name: "flush.ms", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(0), Doc: "Accepted; every flush is durable before it is acknowledged."},
	{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", Doc: "Accepted; there are no followers."},
	{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0), Doc: "Accepted; no meaning without local segments."},
	{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", Doc: "Accepted; there are no followers."},
	{Name: "local.retention.bytes", Type: TypeLong, Default: "-2", Check: atLeast(-2), Doc: "Accepted; all data lives in object storage."},
	{Name: "local.retention.ms", Type: TypeLong, Default: "-2", Check: atLeast(-2), Doc: "Accepted; all data lives in object storage."},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(1), Doc: "Stored."},
	{Name: "max.message.bytes", Type: TypeInt, Default: strconv.Itoa(DefaultMaxMessageBytes), Check: atLeast(0), Doc: "Honoured: larger record batches get MESSAGE_TOO_LARGE."},
	{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", Doc: "Accepted; batches are never down-converted."},
	{Name: "message.format.version", Type: TypeString, Default: "3.0-IV1", Doc: "Accepted; the format is always v2."},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(0), Doc: "Stored."},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(0), Doc: "Stored."},
	{Name: "message.timestamp.difference.max.ms", Type: TypeLong, Default: "9223372036854775807", Check: atLeast(0), Doc: "Stored."},
	{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", Check: oneOf("CreateTime", "LogAppendTime"), Doc: "Stored; timestamps are kept as the producer set them."},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", Check: between(0, 1), Doc: "Stored."},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", Check: atLeast(0), Doc: "Stored."},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1), Doc: "Accepted; durability comes from object storage."},
	{Name: "preallocate", Type: TypeBoolean, Default: "false", Doc: "Accepted; no meaning without local segments."},
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: "false", Doc: "Accepted; all data lives in object storage."},
	{Name: "retention.bytes", Type: TypeLong, Default: "-1", Check: atLeast(-1), Doc: "Stored; retention is not yet enforced."},
	{Name: "retention.ms", Type: TypeLong, Default: "604800000", Check: atLeast(-1), Doc: "Stored; retention is not yet enforced."},
	{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14), Doc: "Accepted; no meaning without local segments."},
	{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(4), Doc: "Accepted; no meaning without local segments."},
	{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", Check: atLeast(0), Doc: "Accepted; no meaning without local segments."},
	{Name: "segment.ms", Type: TypeLong, Default: "604800000", Check: atLeast(1), Doc: "Accepted; no meaning without local segments."},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", Doc: "Accepted; there are no leader elections."},
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

// Value returns a topic's effective value of config name: the topic's own
// setting, else the default.
func Value(set map[string]string, name string) string {
	if v, ok := set[name]; ok {
		return v
	}
	return byName[name].Default
}
