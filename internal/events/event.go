// Package events records what happens in a Sluice cluster in the cluster
// itself: agent logs, audit records of administrative actions, background
// job runs, ACL decisions and authentications, as
// CloudEvents 1.0 JSON records in internal topics (topics.go). Writing an
// event never blocks or fails the caller: Emit hands it to a bounded
// buffer, a background writer batches the buffer into one record batch per
// topic and submits it to the agent's own write path (produce.Batcher, no
// network), and an event that finds the buffer full is dropped and counted
// (sluice_events_dropped_total).
//
// internal/query reads the topics back; docs/events.md documents every
// event type's schema, the topics and the flags.
//
// Example (what the agent does):
//
//	w := events.NewWriter(events.Config{Source: "sluice://node-1"}, store, reg, logger)
//	w.Start(batcher)
//	defer w.Close(ctx)
//	w.Emit(ctx, events.Event{Type: events.TypeTopicDeleted, Subject: "orders",
//		Data: events.AdminData{Method: "DeleteTopics", Resource: "orders", Status: "SUCCESS"}})
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// SpecVersion is the CloudEvents version every event carries.
const SpecVersion = "1.0"

// ContentType is every event's datacontenttype (and its record's
// content-type header value is StructuredContentType).
const (
	ContentType           = "application/json"
	StructuredContentType = "application/cloudevents+json"
)

// Event types. Each type has one data schema (the struct named beside it),
// documented in docs/events.md; a type belongs to one stream (TopicFor).
const (
	// Agent logs (stream agent_logs): LogData.
	TypeAgentLog = "io.sluice.agent.log"

	// Audit (stream audit): AdminData.
	TypeTopicCreated       = "io.sluice.audit.topic.created"
	TypeTopicDeleted       = "io.sluice.audit.topic.deleted"
	TypeTopicConfigAltered = "io.sluice.audit.topic.config_altered"
	TypePartitionsCreated  = "io.sluice.audit.topic.partitions_created"
	TypeRecordsDeleted     = "io.sluice.audit.records.deleted"
	TypeGroupDeleted       = "io.sluice.audit.group.deleted"
	TypeGroupOffsetsDelete = "io.sluice.audit.group.offsets_deleted"
	TypeGroupOffsetsReset  = "io.sluice.audit.group.offsets_reset"
	// Dynamic broker configs and client quotas (internal/dynconfig).
	TypeBrokerConfigAltered = "io.sluice.audit.broker.config_altered"
	TypeClientQuotasAltered = "io.sluice.audit.client_quotas.altered"
	// Authentications (stream audit): AuthData; ACL and SCRAM changes:
	// AdminData (internal/kafka).
	TypeAuthSuccess  = "io.sluice.audit.authentication.success"
	TypeAuthFailure  = "io.sluice.audit.authentication.failure"
	TypeACLCreated   = "io.sluice.audit.acl.created"
	TypeACLDeleted   = "io.sluice.audit.acl.deleted"
	TypeSCRAMAltered = "io.sluice.audit.scram.altered"
	// Schema registry writes (stream audit): AdminData with the HTTP
	// fields (internal/schemaregistry, through its Auditor).
	TypeSchemaRegistered     = "io.sluice.audit.schema.registered"
	TypeSchemaDeleted        = "io.sluice.audit.schema.deleted"
	TypeSchemaConfigAltered  = "io.sluice.audit.schema.config_altered"
	TypeSchemaModeAltered    = "io.sluice.audit.schema.mode_altered"
	TypeSchemaContextDeleted = "io.sluice.audit.schema.context_deleted"
	// Mutating calls of the HTTP admin API (stream audit): AdminData with
	// the HTTP fields (internal/adminapi, through its Auditor).
	TypeHTTPAdminCall = "io.sluice.audit.http.admin_call"

	// ACL decisions (stream acl): ACLDecisionData, every denial and
	// shadow-mode would-be denial (internal/kafka/authz.go).
	TypeACLDecision = "io.sluice.acl.decision"

	// Background job runs (stream jobs): JobData.
	TypeJobRun = "io.sluice.job.run"
)

// maxSubjectRunes bounds an event's subject.
const maxSubjectRunes = 256

// Event is one CloudEvent. Emit fills ID, Source, Time and SpecVersion
// when they are empty; Data is marshalled with encoding/json.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Subject         string    `json:"subject,omitempty"`
	Data            any       `json:"data"`
}

// Emitter records events. Emit never blocks and never fails: an event that
// cannot be buffered is dropped and counted. Security code (ACL decisions,
// authentication) calls it with the types above.
type Emitter interface {
	Emit(ctx context.Context, e Event)
}

// Nop is an Emitter that records nothing.
type Nop struct{}

// Emit does nothing.
func (Nop) Emit(context.Context, Event) {}

// LogData is the data of TypeAgentLog.
type LogData struct {
	// LogLevel is "debug", "info", "warn" or "error".
	LogLevel string `json:"log_level"`
	Message  string `json:"message"`
	// Attrs are the record's attributes, groups joined with dots.
	Attrs map[string]any `json:"attrs,omitempty"`
	// Suppressed counts records of this agent dropped by the rate limit
	// since the previous one that was written.
	Suppressed int64 `json:"suppressed,omitempty"`
}

// AdminData is the data of the audit types of administrative actions:
// who asked what of which resource, and how it ended.
type AdminData struct {
	// Method is the Kafka API (or HTTP route) that made the change, e.g.
	// "kafka.DeleteTopics".
	Method string `json:"method"`
	// Principal is who asked ("User:alice"; "User:ANONYMOUS" without
	// authentication).
	Principal string `json:"principal"`
	ClientID  string `json:"client_id,omitempty"`
	// RemoteAddr is the client's address.
	RemoteAddr string `json:"remote_addr,omitempty"`
	// ResourceType is "topic" or "group"; Resource its name.
	ResourceType string `json:"resource_type"`
	Resource     string `json:"resource"`
	// Request holds the change asked for (configs, partition count,
	// offsets…), as the method's fields.
	Request map[string]any `json:"request,omitempty"`
	// Status is "SUCCESS" or "FAILURE"; ErrorCode and Error say why a
	// failure failed (Kafka error code name).
	Status    string `json:"status"`
	ErrorCode int16  `json:"error_code"`
	Error     string `json:"error,omitempty"`
	// HTTPMethod, Path and HTTPStatus describe the HTTP request of a
	// schema registry write or an admin API call (empty for Kafka
	// requests).
	HTTPMethod string `json:"http_method,omitempty"`
	Path       string `json:"path,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	// AutoCreated marks a topic.created event of a topic that a Metadata
	// request created (auto.create.topics.enable), not CreateTopics.
	AutoCreated bool `json:"auto_created,omitempty"`
}

// JobData is the data of TypeJobRun.
type JobData struct {
	// Job is "compaction", "retention" or "file-deletion" (which includes
	// the orphan sweep).
	Job        string  `json:"job"`
	Status     string  `json:"status"`
	Error      string  `json:"error,omitempty"`
	DurationMs float64 `json:"duration_ms"`
	// Figures are the run's counts (bytes read and written, extents
	// replaced, log starts advanced, files deleted, orphans deleted…).
	Figures map[string]int64 `json:"figures"`
}

// AuthData is the data of the authentication types.
type AuthData struct {
	Principal  string `json:"principal"`
	Mechanism  string `json:"mechanism"`
	Listener   string `json:"listener"`
	RemoteAddr string `json:"remote_addr"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
}

// ACLDecisionData is the data of TypeACLDecision.
type ACLDecisionData struct {
	Principal    string `json:"principal"`
	Operation    string `json:"operation"`
	ResourceType string `json:"resource_type"`
	Resource     string `json:"resource"`
	Listener     string `json:"listener"`
	RemoteAddr   string `json:"remote_addr"`
	// Allowed is the decision; Shadow marks a decision computed in shadow
	// mode (recorded, not enforced).
	Allowed bool   `json:"allowed"`
	Shadow  bool   `json:"shadow,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// newID returns a random event ID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// complete fills the envelope fields Emit may leave empty.
func (e *Event) complete(source string, now time.Time) {
	if e.SpecVersion == "" {
		e.SpecVersion = SpecVersion
	}
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Source == "" {
		e.Source = source
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.DataContentType == "" {
		e.DataContentType = ContentType
	}
	if r := []rune(e.Subject); len(r) > maxSubjectRunes {
		e.Subject = string(r[:maxSubjectRunes])
	}
}

// Marshal encodes e as structured-mode CloudEvents JSON.
func (e *Event) Marshal() ([]byte, error) { return json.Marshal(e) }
