package dynconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/topics"
)

// Mode is how a broker config may change, in Kafka's words.
type Mode string

const (
	// ReadOnly configs are agent flags (or derived): AlterConfigs refuses
	// them ("Cannot update these configs dynamically").
	ReadOnly Mode = "read-only"
	// ClusterWide configs may be set on the cluster default resource ("")
	// and, overriding it, on one agent's resource.
	ClusterWide Mode = "cluster-wide"
)

// BrokerConfig describes one broker config Sluice knows.
type BrokerConfig struct {
	Name string
	Type topics.ConfigType
	// Default is Kafka's default, the value without a flag or a dynamic
	// setting.
	Default string
	Mode    Mode
	// Topic is the topic config this broker config supplies the default
	// of ("" for none): its values are checked as that topic config's.
	Topic   string
	Support topics.Support
	Doc     string
	// check validates a value of a config without a topic synonym.
	check func(string) error
}

// Documentation is Doc with what Sluice does with the config.
func (c BrokerConfig) Documentation() string {
	return c.Doc + " (Sluice: " + string(c.Support) + "; " + string(c.Mode) + ".)"
}

func intAtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || n < min {
			return fmt.Errorf("%w: value %q must be an integer of at least %d", topics.ErrInvalidConfig, v, min)
		}
		return nil
	}
}

func boolean(v string) error {
	if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
		return fmt.Errorf("%w: value %q must be true or false", topics.ErrInvalidConfig, v)
	}
	return nil
}

var brokerConfigs = []BrokerConfig{
	{Name: "auto.create.topics.enable", Type: topics.TypeBoolean, Default: "true", Mode: ClusterWide, Support: topics.Honoured, check: boolean,
		Doc: "Whether Metadata requests create unknown topics (agent flag --auto-create-topics; dynamic in Sluice, read-only in Kafka)."},
	{Name: "broker.id", Type: topics.TypeInt, Default: "-1", Mode: ReadOnly, Support: topics.Honoured,
		Doc: "This agent's node ID (agent flag --node-id; sluice agent derives it from the advertised address by default)."},
	{Name: "default.replication.factor", Type: topics.TypeInt, Default: "1", Mode: ReadOnly, Support: topics.NoEffect,
		Doc: "The replica count Metadata reports (live agents, at most 3); durability comes from object storage."},
	{Name: "log.cleaner.delete.retention.ms", Type: topics.TypeLong, Default: "86400000", Mode: ClusterWide, Topic: "delete.retention.ms", Support: topics.Honoured,
		Doc: "Default delete.retention.ms: how long key compaction keeps tombstones."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: topics.TypeDouble, Default: "0.5", Mode: ClusterWide, Topic: "min.cleanable.dirty.ratio", Support: topics.Honoured,
		Doc: "Default min.cleanable.dirty.ratio: the share of not yet compacted bytes that triggers key compaction."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: topics.TypeLong, Default: "0", Mode: ClusterWide, Topic: "min.compaction.lag.ms", Support: topics.Honoured,
		Doc: "Default min.compaction.lag.ms: how old a record must be before key compaction may remove it."},
	{Name: "log.cleanup.policy", Type: topics.TypeList, Default: "delete", Mode: ClusterWide, Topic: "cleanup.policy", Support: topics.Honoured,
		Doc: "Default cleanup.policy of topics without their own."},
	{Name: "log.retention.bytes", Type: topics.TypeLong, Default: "-1", Mode: ClusterWide, Topic: "retention.bytes", Support: topics.Honoured,
		Doc: "Default retention.bytes of topics without their own (applied by the retention job)."},
	{Name: "log.retention.ms", Type: topics.TypeLong, Default: "604800000", Mode: ClusterWide, Topic: "retention.ms", Support: topics.Honoured,
		Doc: "Default retention.ms of topics without their own (applied by the retention job)."},
	{Name: "message.max.bytes", Type: topics.TypeInt, Default: strconv.Itoa(topics.DefaultMaxMessageBytes), Mode: ClusterWide, Topic: "max.message.bytes", Support: topics.Honoured,
		Doc: "Largest record batch for topics without max.message.bytes (agent flag --max-message-bytes)."},
	{Name: "num.partitions", Type: topics.TypeInt, Default: "1", Mode: ClusterWide, Support: topics.Honoured, check: intAtLeast(1),
		Doc: "Partition count of auto-created topics and of CreateTopics with -1 (agent flag --default-partitions; dynamic in Sluice, read-only in Kafka)."},
	{Name: "socket.request.max.bytes", Type: topics.TypeInt, Default: "104857600", Mode: ReadOnly, Support: topics.Honoured,
		Doc: "Largest request frame accepted (agent flag --max-request-bytes)."},
}

var brokerByName = func() map[string]BrokerConfig {
	m := make(map[string]BrokerConfig, len(brokerConfigs))
	for _, c := range brokerConfigs {
		m[c.Name] = c
	}
	return m
}()

var brokerByTopic = func() map[string]BrokerConfig {
	m := map[string]BrokerConfig{}
	for _, c := range brokerConfigs {
		if c.Topic != "" {
			m[c.Topic] = c
		}
	}
	return m
}()

// BrokerConfigs lists every broker config Sluice knows, sorted by name.
func BrokerConfigs() []BrokerConfig { return brokerConfigs }

// LookupBroker finds a broker config by name.
func LookupBroker(name string) (BrokerConfig, bool) {
	c, ok := brokerByName[name]
	return c, ok
}

// BrokerFor returns the broker config that supplies a topic config's
// default when Sluice resolves it dynamically (message.max.bytes for
// max.message.bytes, log.retention.ms for retention.ms, …).
func BrokerFor(topicConfig string) (BrokerConfig, bool) {
	c, ok := brokerByTopic[topicConfig]
	return c, ok
}

// ValidateBroker checks that name may be set dynamically to value, with
// Kafka's errors: unknown names and read-only configs are INVALID_CONFIG.
func ValidateBroker(name, value string) error {
	c, ok := brokerByName[name]
	if !ok {
		return fmt.Errorf("%w: unknown broker config %s", topics.ErrInvalidConfig, name)
	}
	if c.Mode == ReadOnly {
		return fmt.Errorf("%w: Cannot update these configs dynamically: Set(%s)", topics.ErrInvalidConfig, name)
	}
	if c.Topic != "" {
		if err := topics.ValidateConfig(c.Topic, value); err != nil {
			return fmt.Errorf("%w (as %s)", err, name)
		}
		return nil
	}
	if c.check != nil {
		return c.check(value)
	}
	return nil
}

// brokerScope is the store scope of a broker resource ("" for the
// cluster-wide default, else a node ID).
func brokerScope(resource string) string { return "broker:" + resource }

// Value is a resolved broker config.
type Value struct {
	Value  string
	Source kmsg.ConfigSource
}

// Resolve returns a broker config's layers for one agent, most specific
// first, as DescribeConfigs lists its synonyms: this agent's dynamic
// value (DYNAMIC_BROKER_CONFIG), the cluster default
// (DYNAMIC_DEFAULT_BROKER_CONFIG), the flag (STATIC_BROKER_CONFIG, from
// static) and Kafka's default (DEFAULT_CONFIG). The first is the
// effective value. Unknown names give nil.
func (s *Snapshot) Resolve(node, name string, static map[string]string) []Value {
	c, ok := brokerByName[name]
	if !ok {
		return nil
	}
	var out []Value
	if s != nil && c.Mode != ReadOnly {
		if v, ok := s.brokers[node][name]; ok && node != "" {
			out = append(out, Value{v, kmsg.ConfigSourceDynamicBrokerConfig})
		}
		if v, ok := s.brokers[""][name]; ok {
			out = append(out, Value{v, kmsg.ConfigSourceDynamicDefaultBrokerConfig})
		}
	}
	if v, ok := static[name]; ok {
		out = append(out, Value{v, kmsg.ConfigSourceStaticBrokerConfig})
	}
	return append(out, Value{c.Default, kmsg.ConfigSourceDefaultConfig})
}

// Broker returns the dynamic configs set on a broker resource ("" for the
// cluster default), a copy.
func (s *Snapshot) Broker(resource string) map[string]string {
	out := map[string]string{}
	if s == nil {
		return out
	}
	for k, v := range s.brokers[resource] {
		out[k] = v
	}
	return out
}
