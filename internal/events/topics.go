package events

import (
	"strconv"
	"strings"
	"time"
)

// Stream is one kind of event, stored in its own internal topic.
type Stream string

// The streams.
const (
	StreamAgentLogs Stream = "agent_logs"
	StreamAudit     Stream = "audit"
	StreamJobs      Stream = "jobs"
	// StreamACL holds ACL decisions (denials and shadow-mode would-be
	// denials); its topic is created on the first one.
	StreamACL Stream = "acl"
)

// Streams lists every stream, in a fixed order.
var Streams = []Stream{StreamAgentLogs, StreamAudit, StreamJobs, StreamACL}

// Topic names of the streams.
const (
	TopicAgentLogs = "__sluice_events_agent_logs"
	TopicAudit     = "__sluice_audit"
	TopicJobs      = "__sluice_events_jobs"
	TopicACL       = "__sluice_events_acl"
)

// Topic returns the stream's topic name.
func (s Stream) Topic() string {
	switch s {
	case StreamAgentLogs:
		return TopicAgentLogs
	case StreamAudit:
		return TopicAudit
	case StreamJobs:
		return TopicJobs
	case StreamACL:
		return TopicACL
	}
	return ""
}

// ParseStream accepts a stream name ("audit") or its topic name
// ("__sluice_audit").
func ParseStream(s string) (Stream, bool) {
	for _, st := range Streams {
		if s == string(st) || s == st.Topic() {
			return st, true
		}
	}
	return "", false
}

// StreamOf returns the stream an event type belongs to.
func StreamOf(eventType string) Stream {
	switch {
	case eventType == TypeAgentLog:
		return StreamAgentLogs
	case eventType == TypeJobRun:
		return StreamJobs
	case eventType == TypeACLDecision:
		return StreamACL
	case strings.HasPrefix(eventType, "io.sluice.audit."):
		return StreamAudit
	}
	return StreamAudit
}

// InternalPrefix starts the name of every internal topic Sluice creates.
const InternalPrefix = "__sluice_"

// IsInternal reports whether a topic is one of Sluice's internal topics:
// Metadata flags it is_internal, and plain listings leave it out.
func IsInternal(topic string) bool { return strings.HasPrefix(topic, InternalPrefix) }

// StreamConfig configures one stream's topic.
type StreamConfig struct {
	// Enabled turns the stream on; a disabled stream's events are
	// discarded (not counted as drops).
	Enabled bool
	// Partitions is the topic's partition count when it is created.
	Partitions int32
	// Retention is the topic's retention.ms when it is created.
	Retention time.Duration
}

// topicConfigs are the configs the topic is created with.
func (c StreamConfig) topicConfigs() map[string]string {
	return map[string]string{
		"retention.ms":   strconv.FormatInt(c.Retention.Milliseconds(), 10),
		"cleanup.policy": "delete",
	}
}

// DefaultStreams returns the default configuration of every stream:
// events kept 6 hours, audit 90 days, one partition each (ACL decisions
// four), all enabled.
func DefaultStreams() map[Stream]StreamConfig {
	return map[Stream]StreamConfig{
		StreamAgentLogs: {Enabled: true, Partitions: 1, Retention: 6 * time.Hour},
		StreamAudit:     {Enabled: true, Partitions: 1, Retention: 90 * 24 * time.Hour},
		StreamJobs:      {Enabled: true, Partitions: 1, Retention: 6 * time.Hour},
		StreamACL:       {Enabled: true, Partitions: 4, Retention: 6 * time.Hour},
	}
}
