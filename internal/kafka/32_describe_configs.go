package kafka

// DescribeConfigs (key 32), versions 0-4.
//
// Topic resources list every topic config Sluice knows
// (internal/topics/configs.go) with its effective value: configs set on the
// topic are DYNAMIC_TOPIC_CONFIG, the rest DEFAULT_CONFIG, except
// max.message.bytes, whose default is the agent's --max-message-bytes and
// is STATIC_BROKER_CONFIG when that flag differs from Kafka's default. No
// topic config is read-only or sensitive. Synonyms (v1+, when asked) list
// the topic's own setting, then the broker config that supplies the
// default, as Kafka does (max.message.bytes ↔ message.max.bytes,
// retention.ms ↔ log.retention.ms, …). Config types and documentation are
// filled in v3+ (documentation only when asked); the documentation ends
// with what Sluice does with the config ("honoured", "accepted, no effect
// here", …; see topics.Support). A name filter keeps only
// the named configs; names Sluice does not know are left out, as in Kafka.
// Unknown topics get UNKNOWN_TOPIC_OR_PARTITION, illegal names
// INVALID_TOPIC_EXCEPTION. Topics are read through the agent's topic cache:
// changes made through this agent show at once, changes made through
// another agent within the cache TTL.
//
// Broker resources named with this agent's node ID list the agent's
// settings that clients care about (broker.id, message.max.bytes,
// auto.create.topics.enable, num.partitions, socket.request.max.bytes,
// default.replication.factor) as read-only STATIC_BROKER_CONFIG: they are
// command-line flags, not dynamic configs. The empty broker name (the
// cluster-wide dynamic defaults) has no configs. Another node ID, a
// non-numeric name and other resource types get INVALID_REQUEST, as in
// Kafka.
//
// Authorization: DESCRIBE_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED)
// or, for broker configs, on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

// brokerSynonyms maps topic configs to the broker config that supplies
// their default in Kafka.
var brokerSynonyms = map[string]string{
	"cleanup.policy":                      "log.cleanup.policy",
	"compression.gzip.level":              "compression.gzip.level",
	"compression.lz4.level":               "compression.lz4.level",
	"compression.type":                    "compression.type",
	"compression.zstd.level":              "compression.zstd.level",
	"delete.retention.ms":                 "log.cleaner.delete.retention.ms",
	"file.delete.delay.ms":                "log.segment.delete.delay.ms",
	"flush.messages":                      "log.flush.interval.messages",
	"flush.ms":                            "log.flush.interval.ms",
	"index.interval.bytes":                "log.index.interval.bytes",
	"local.retention.bytes":               "log.local.retention.bytes",
	"local.retention.ms":                  "log.local.retention.ms",
	"max.compaction.lag.ms":               "log.cleaner.max.compaction.lag.ms",
	"max.message.bytes":                   "message.max.bytes",
	"message.downconversion.enable":       "log.message.downconversion.enable",
	"message.format.version":              "log.message.format.version",
	"message.timestamp.after.max.ms":      "log.message.timestamp.after.max.ms",
	"message.timestamp.before.max.ms":     "log.message.timestamp.before.max.ms",
	"message.timestamp.difference.max.ms": "log.message.timestamp.difference.max.ms",
	"message.timestamp.type":              "log.message.timestamp.type",
	"min.cleanable.dirty.ratio":           "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":               "log.cleaner.min.compaction.lag.ms",
	"min.insync.replicas":                 "min.insync.replicas",
	"preallocate":                         "log.preallocate",
	"retention.bytes":                     "log.retention.bytes",
	"retention.ms":                        "log.retention.ms",
	"segment.bytes":                       "log.segment.bytes",
	"segment.index.bytes":                 "log.index.size.max.bytes",
	"segment.jitter.ms":                   "log.roll.jitter.ms",
	"segment.ms":                          "log.roll.ms",
	"unclean.leader.election.enable":      "unclean.leader.election.enable",
}

// brokerConfigs lists the broker configs DescribeConfigs reports;
// docs/compatibility.md is generated from it.
func (s *Server) brokerConfigs() []dynconfig.BrokerConfig { return dynconfig.BrokerConfigs() }

// topicConfigValue returns a topic's effective value of config name and
// where it comes from.
func (s *Server) topicConfigValue(t metadata.Topic, name string) (string, kmsg.ConfigSource) {
	if v, ok := t.Configs[name]; ok {
		return v, kmsg.ConfigSourceDynamicTopicConfig
	}
	d, _ := s.topicDefault(name)
	return d.Value, d.Source
}

func (s *Server) handleDescribeConfigs(ctx context.Context, req *request, m *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeConfigsResponse()
	resp.Version = req.version
	for _, rr := range m.Resources {
		rs := kmsg.NewDescribeConfigsResponseResource()
		rs.ResourceType = rr.ResourceType
		rs.ResourceName = rr.ResourceName
		err := s.authorizeConfigs(req, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName)
		switch {
		case err != nil:
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			rs.Configs, err = s.describeTopicConfigs(ctx, req.version, rr, m)
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			rs.Configs, err = s.describeBrokerConfigs(req.version, rr, m)
		default:
			err = fmt.Errorf("%w: unsupported resource type %v", kerr.InvalidRequest, rr.ResourceType)
		}
		if err != nil {
			rs.ErrorCode = metadataErrorCode(err)
			rs.ErrorMessage = errorMessage(err)
			rs.Configs = nil
			s.metrics.errorCode(req.key, rs.ErrorCode)
		}
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// wanted reports whether a config name passes the request's name filter.
func wanted(names []string, name string) bool {
	if names == nil {
		return true
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Server) describeTopicConfigs(ctx context.Context, version int16, rr kmsg.DescribeConfigsRequestResource, m *kmsg.DescribeConfigsRequest) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if err := topics.ValidateName(rr.ResourceName); err != nil {
		return nil, err
	}
	t, err := s.topics.Topic(ctx, rr.ResourceName)
	if err != nil {
		return nil, err
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, c := range topics.Configs() {
		if !wanted(rr.ConfigNames, c.Name) {
			continue
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name = c.Name
		v, src := s.topicConfigValue(t, c.Name)
		rc.Value = kmsg.StringPtr(v)
		rc.Source = src
		rc.IsDefault = src == kmsg.ConfigSourceDefaultConfig
		rc.ConfigType = kmsg.ConfigType(c.Type)
		if m.IncludeDocumentation && version >= 3 {
			rc.Documentation = kmsg.StringPtr(c.Documentation())
		}
		if m.IncludeSynonyms {
			rc.ConfigSynonyms = s.topicSynonyms(t, c)
		}
		out = append(out, rc)
	}
	return out, nil
}

func (s *Server) topicSynonyms(t metadata.Topic, c topics.Config) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if v, ok := t.Configs[c.Name]; ok {
		out = append(out, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: c.Name, Value: kmsg.StringPtr(v), Source: kmsg.ConfigSourceDynamicTopicConfig})
	}
	broker, ok := brokerSynonyms[c.Name]
	if !ok {
		return out
	}
	if _, layers := s.topicDefault(c.Name); layers != nil {
		for _, l := range layers[:len(layers)-1] { // the last is the broker config's default, written as the topic's below
			out = append(out, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: broker, Value: kmsg.StringPtr(l.Value), Source: l.Source})
		}
	}
	return append(out, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: broker, Value: kmsg.StringPtr(c.Default), Source: kmsg.ConfigSourceDefaultConfig})
}

// describeBrokerConfigs answers a broker resource: the cluster default
// ("") lists the dynamic defaults set, as Kafka does; this agent's node ID
// lists every broker config Sluice knows with its effective value.
func (s *Server) describeBrokerConfigs(version int16, rr kmsg.DescribeConfigsRequestResource, m *kmsg.DescribeConfigsRequest) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	defaults := rr.ResourceName == ""
	if !defaults {
		self := s.members.Self().NodeID
		if id, err := strconv.ParseInt(rr.ResourceName, 10, 32); err != nil || int32(id) != self {
			return nil, fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, self, rr.ResourceName)
		}
	}
	set := s.dyn.Snapshot().Broker("")
	out := []kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range s.brokerConfigs() {
		if !wanted(rr.ConfigNames, c.Name) {
			continue
		}
		layers := s.brokerLayers(c.Name, false)
		if defaults {
			v, ok := set[c.Name]
			if !ok {
				continue
			}
			layers = []dynconfig.Value{{Value: v, Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig}}
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name = c.Name
		rc.Value = kmsg.StringPtr(layers[0].Value)
		rc.ReadOnly = c.Mode == dynconfig.ReadOnly
		rc.Source = layers[0].Source
		rc.IsDefault = rc.Source == kmsg.ConfigSourceDefaultConfig
		rc.ConfigType = kmsg.ConfigType(c.Type)
		if m.IncludeDocumentation && version >= 3 {
			rc.Documentation = kmsg.StringPtr(c.Documentation())
		}
		if m.IncludeSynonyms {
			for _, l := range layers {
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: c.Name, Value: kmsg.StringPtr(l.Value), Source: l.Source})
			}
		}
		out = append(out, rc)
	}
	return out, nil
}
