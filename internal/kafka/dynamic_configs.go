package kafka

// Dynamic broker configs (internal/dynconfig): the layers under a broker
// config's effective value on this agent are its dynamic value on this
// agent's broker resource, the cluster-wide dynamic default (resource ""),
// the agent's flag, and Kafka's default. Handlers read settings through
// these helpers, never from Config directly, so a change made with
// AlterConfigs through any agent applies here within the poll interval.

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

// staticBrokerConfigs is the flag layer (STATIC_BROKER_CONFIG).
func (s *Server) staticBrokerConfigs() map[string]string {
	return map[string]string{
		"auto.create.topics.enable":  strconv.FormatBool(s.cfg.AutoCreateTopics),
		"broker.id":                  strconv.Itoa(int(s.members.Self().NodeID)),
		"default.replication.factor": strconv.Itoa(min(len(s.members.Brokers("")), 3)),
		"message.max.bytes":          strconv.Itoa(s.cfg.MaxMessageBytes),
		"num.partitions":             strconv.Itoa(int(s.cfg.DefaultPartitions)),
		"socket.request.max.bytes":   strconv.Itoa(int(s.cfg.MaxRequestBytes)),
	}
}

// brokerLayers returns a broker config's layers on this agent, the
// effective one first. For the defaults of topic configs (forTopic), a
// flag equal to Kafka's default is not a layer of its own, so topics keep
// showing DEFAULT_CONFIG unless the agent's flag changed something.
func (s *Server) brokerLayers(name string, forTopic bool) []dynconfig.Value {
	static := s.staticBrokerConfigs()
	if c, ok := dynconfig.LookupBroker(name); ok && forTopic && static[name] == c.Default {
		delete(static, name)
	}
	return s.dyn.Snapshot().Resolve(s.dyn.Node(), name, static)
}

func (s *Server) brokerValue(name string) string {
	if vs := s.brokerLayers(name, false); len(vs) > 0 {
		return vs[0].Value
	}
	return ""
}

// maxMessageBytes is message.max.bytes: the largest batch for topics
// without max.message.bytes.
func (s *Server) maxMessageBytes() int {
	if n, err := strconv.Atoi(strings.TrimSpace(s.brokerValue("message.max.bytes"))); err == nil {
		return n
	}
	return s.cfg.MaxMessageBytes
}

// autoCreateTopics is auto.create.topics.enable.
func (s *Server) autoCreateTopics() bool {
	if b, err := strconv.ParseBool(strings.TrimSpace(s.brokerValue("auto.create.topics.enable"))); err == nil {
		return b
	}
	return s.cfg.AutoCreateTopics
}

// defaultPartitions is num.partitions.
func (s *Server) defaultPartitions() int32 {
	if n, err := strconv.ParseInt(strings.TrimSpace(s.brokerValue("num.partitions")), 10, 32); err == nil && n > 0 {
		return int32(n)
	}
	return s.cfg.DefaultPartitions
}

// topicDefault returns the default of a topic config the topic does not
// set and where it comes from: its broker config's layers when it has a
// dynamic one (message.max.bytes for max.message.bytes, …), else the
// topic config's default.
func (s *Server) topicDefault(name string) (dynconfig.Value, []dynconfig.Value) {
	if bc, ok := dynconfig.BrokerFor(name); ok {
		vs := s.brokerLayers(bc.Name, true)
		return vs[0], vs
	}
	return dynconfig.Value{Value: topics.Value(nil, name), Source: kmsg.ConfigSourceDefaultConfig}, nil
}

// cleanupOf resolves a topic's cleanup settings through the dynamic topic
// defaults (log.cleanup.policy for cleanup.policy, …).
func (s *Server) cleanupOf(t metadata.Topic) topics.Cleanup {
	defaults := s.dyn.TopicDefaults()
	if len(defaults) == 0 {
		return topics.CleanupOf(t)
	}
	for k, v := range t.Configs {
		defaults[k] = v
	}
	t.Configs = defaults
	return topics.CleanupOf(t)
}
