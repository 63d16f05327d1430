package kafka

// Audit events of administrative requests (internal/events, docs/events.md).
//
// After a mutating admin request is answered, audit turns each resource of
// it (topic, group) into one event of the audit stream, with the request's
// principal, client ID and address, what was asked, and the outcome from
// the response's error code. Emitting never blocks (events.Emitter), so
// auditing cannot slow or fail the request. Validate-only requests change
// nothing and are not recorded.

import (
	"context"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/metadata"
)

// auditAutoCreate emits the topic.created event of a topic a Metadata
// request created (or failed to), as CreateTopics' events but marked
// auto_created, with method kafka.Metadata.
func (s *Server) auditAutoCreate(ctx context.Context, req *request, name string, configs map[string]string, err error) {
	if s.events == nil {
		return
	}
	p := req.principal
	if p == (auth.Principal{}) {
		p = auth.Anonymous
	}
	cfg := map[string]any{}
	for k, v := range configs {
		cfg[k] = v
	}
	d := events.AdminData{Method: "kafka." + kmsg.NameForKey(req.key), Principal: p.String(), ClientID: req.clientID,
		RemoteAddr: req.remote, ResourceType: "topic", Resource: name, Status: "SUCCESS", AutoCreated: true,
		Request: map[string]any{"partitions": s.cfg.DefaultPartitions, "configs": cfg}}
	if err != nil {
		d.Status, d.ErrorCode = "FAILURE", metadataErrorCode(err)
		if e := kerr.ErrorForCode(d.ErrorCode); e != nil {
			d.Error = e.Error() + ": " + err.Error()
		}
	}
	s.events.Emit(ctx, events.Event{Type: events.TypeTopicCreated, Subject: name, Data: d})
}

// auditedKeys are the API keys audit looks at.
var auditedKeys = map[int16]bool{8: true, 19: true, 20: true, 21: true, 30: true, 31: true, 33: true, 37: true, 42: true, 44: true, 47: true, 49: true, 51: true}

// audit emits the audit events of one answered request.
func (s *Server) audit(ctx context.Context, req *request, resp kmsg.Response) {
	if s.events == nil || resp == nil || !auditedKeys[req.key] {
		return
	}
	emit := func(typ, resourceType, resource string, request map[string]any, code int16, msg *string) {
		p := req.principal
		if p == (auth.Principal{}) {
			p = auth.Anonymous
		}
		d := events.AdminData{Method: "kafka." + kmsg.NameForKey(req.key), Principal: p.String(), ClientID: req.clientID,
			RemoteAddr: req.remote, ResourceType: resourceType, Resource: resource, Request: request, Status: "SUCCESS", ErrorCode: code}
		if code != 0 {
			d.Status = "FAILURE"
			if e := kerr.ErrorForCode(code); e != nil {
				d.Error = e.Error()
			}
			if msg != nil && *msg != "" {
				d.Error += ": " + *msg
			}
		}
		s.events.Emit(ctx, events.Event{Type: typ, Subject: resource, Data: d})
	}
	switch m := req.msg.(type) {
	case *kmsg.CreateTopicsRequest:
		r := resp.(*kmsg.CreateTopicsResponse)
		if m.ValidateOnly {
			return
		}
		asked := map[string]map[string]any{}
		for _, t := range m.Topics {
			cfg := map[string]any{}
			for _, c := range t.Configs {
				if c.Value != nil {
					cfg[c.Name] = *c.Value
				}
			}
			asked[t.Topic] = map[string]any{"partitions": t.NumPartitions, "replication_factor": t.ReplicationFactor, "configs": cfg}
		}
		for _, t := range r.Topics {
			emit(events.TypeTopicCreated, "topic", t.Topic, asked[t.Topic], t.ErrorCode, t.ErrorMessage)
		}
	case *kmsg.DeleteTopicsRequest:
		r := resp.(*kmsg.DeleteTopicsResponse)
		for _, t := range r.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			emit(events.TypeTopicDeleted, "topic", name, map[string]any{"topic_id": metadata.TopicID(t.TopicID).Base64()}, t.ErrorCode, t.ErrorMessage)
		}
	case *kmsg.DeleteRecordsRequest:
		r := resp.(*kmsg.DeleteRecordsResponse)
		for i, t := range r.Topics {
			offsets := map[string]any{}
			if i < len(m.Topics) && m.Topics[i].Topic == t.Topic {
				for _, p := range m.Topics[i].Partitions {
					offsets[strconv.Itoa(int(p.Partition))] = p.Offset
				}
			}
			var code int16
			low := map[string]any{}
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && code == 0 {
					code = p.ErrorCode
				}
				low[strconv.Itoa(int(p.Partition))] = p.LowWatermark
			}
			emit(events.TypeRecordsDeleted, "topic", t.Topic, map[string]any{"offsets": offsets, "low_watermarks": low}, code, nil)
		}
	case *kmsg.AlterConfigsRequest:
		r := resp.(*kmsg.AlterConfigsResponse)
		if m.ValidateOnly {
			return
		}
		asked := map[string]map[string]any{}
		for _, res := range m.Resources {
			cfg := map[string]any{}
			for _, c := range res.Configs {
				if c.Value != nil {
					cfg[c.Name] = *c.Value
				} else {
					cfg[c.Name] = nil
				}
			}
			asked[res.ResourceName] = map[string]any{"configs": cfg, "incremental": false}
		}
		for _, res := range r.Resources {
			emit(configEventType(res.ResourceType), resourceTypeName(res.ResourceType), res.ResourceName, asked[res.ResourceName], res.ErrorCode, res.ErrorMessage)
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		r := resp.(*kmsg.IncrementalAlterConfigsResponse)
		if m.ValidateOnly {
			return
		}
		asked := map[string]map[string]any{}
		for _, res := range m.Resources {
			var ops []map[string]any
			for _, c := range res.Configs {
				op := map[string]any{"name": c.Name, "op": c.Op.String()}
				if c.Value != nil {
					op["value"] = *c.Value
				}
				ops = append(ops, op)
			}
			asked[res.ResourceName] = map[string]any{"operations": ops, "incremental": true}
		}
		for _, res := range r.Resources {
			emit(configEventType(res.ResourceType), resourceTypeName(res.ResourceType), res.ResourceName, asked[res.ResourceName], res.ErrorCode, res.ErrorMessage)
		}
	case *kmsg.AlterClientQuotasRequest:
		r := resp.(*kmsg.AlterClientQuotasResponse)
		if m.ValidateOnly {
			return
		}
		for i, e := range m.Entries {
			ops := make([]map[string]any, 0, len(e.Ops))
			for _, o := range e.Ops {
				op := map[string]any{"key": o.Key, "remove": o.Remove}
				if !o.Remove {
					op["value"] = o.Value
				}
				ops = append(ops, op)
			}
			var cs []quotaComponent
			for _, c := range e.Entity {
				cs = append(cs, quotaComponent{c.Type, c.Name})
			}
			if i < len(r.Entries) {
				emit(events.TypeClientQuotasAltered, "client_quota", quotaEntityName(cs), map[string]any{"operations": ops}, r.Entries[i].ErrorCode, r.Entries[i].ErrorMessage)
			}
		}
	case *kmsg.CreatePartitionsRequest:
		r := resp.(*kmsg.CreatePartitionsResponse)
		if m.ValidateOnly {
			return
		}
		asked := map[string]int32{}
		for _, t := range m.Topics {
			asked[t.Topic] = t.Count
		}
		for _, t := range r.Topics {
			emit(events.TypePartitionsCreated, "topic", t.Topic, map[string]any{"count": asked[t.Topic]}, t.ErrorCode, t.ErrorMessage)
		}
	case *kmsg.DeleteGroupsRequest:
		r := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range r.Groups {
			emit(events.TypeGroupDeleted, "group", g.Group, nil, g.ErrorCode, nil)
		}
	case *kmsg.OffsetDeleteRequest:
		r := resp.(*kmsg.OffsetDeleteResponse)
		code := r.ErrorCode
		parts := map[string]any{}
		for _, t := range r.Topics {
			var ps []int32
			for _, p := range t.Partitions {
				ps = append(ps, p.Partition)
				if code == 0 && p.ErrorCode != 0 {
					code = p.ErrorCode
				}
			}
			parts[t.Topic] = ps
		}
		emit(events.TypeGroupOffsetsDelete, "group", m.Group, map[string]any{"partitions": parts}, code, nil)
	case *kmsg.CreateACLsRequest:
		r := resp.(*kmsg.CreateACLsResponse)
		for i, c := range m.Creations {
			if i >= len(r.Results) {
				break
			}
			res := r.Results[i]
			emit(events.TypeACLCreated, aclResourceTypeName(c.ResourceType), c.ResourceName, map[string]any{
				"pattern_type": aclPattern(req.version, c.ResourcePatternType).String(), "principal": c.Principal, "host": c.Host,
				"operation": c.Operation.String(), "permission": c.PermissionType.String()}, res.ErrorCode, res.ErrorMessage)
		}
	case *kmsg.DeleteACLsRequest:
		r := resp.(*kmsg.DeleteACLsResponse)
		for i, f := range m.Filters {
			if i >= len(r.Results) {
				break
			}
			res := r.Results[i]
			deleted := []string{}
			for _, b := range res.MatchingACLs {
				deleted = append(deleted, acl.Binding{ResourceType: b.ResourceType, ResourceName: b.ResourceName, PatternType: b.ResourcePatternType,
					Principal: b.Principal, Host: b.Host, Operation: b.Operation, Permission: b.PermissionType}.String())
			}
			name := ""
			if f.ResourceName != nil {
				name = *f.ResourceName
			}
			emit(events.TypeACLDeleted, aclResourceTypeName(f.ResourceType), name, map[string]any{"filter": map[string]any{
				"resource_name": f.ResourceName, "pattern_type": aclPattern(req.version, f.ResourcePatternType).String(), "principal": f.Principal,
				"host": f.Host, "operation": f.Operation.String(), "permission": f.PermissionType.String()}, "deleted": deleted}, res.ErrorCode, res.ErrorMessage)
		}
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		// What changed, never the salt or salted password.
		r := resp.(*kmsg.AlterUserSCRAMCredentialsResponse)
		asked := map[string]map[string]any{}
		ask := func(user string) map[string]any {
			if asked[user] == nil {
				asked[user] = map[string]any{"upserted": []map[string]any{}, "deleted": []string{}}
			}
			return asked[user]
		}
		for _, d := range m.Deletions {
			a := ask(d.Name)
			a["deleted"] = append(a["deleted"].([]string), auth.ScramMechanism(d.Mechanism).String())
		}
		for _, u := range m.Upsertions {
			a := ask(u.Name)
			a["upserted"] = append(a["upserted"].([]map[string]any), map[string]any{"mechanism": auth.ScramMechanism(u.Mechanism).String(), "iterations": u.Iterations})
		}
		for _, res := range r.Results {
			emit(events.TypeSCRAMAltered, "user", res.User, asked[res.User], res.ErrorCode, res.ErrorMessage)
		}
	case *kmsg.OffsetCommitRequest:
		// Only commits outside any generation (an admin resetting a
		// group's offsets, kafka-consumer-groups --reset-offsets) are
		// audited; members' own commits are the data path.
		if m.Generation >= 0 || m.MemberID != "" {
			return
		}
		r := resp.(*kmsg.OffsetCommitResponse)
		offsets := map[string]any{}
		for _, t := range m.Topics {
			ps := map[string]any{}
			for _, p := range t.Partitions {
				ps[strconv.Itoa(int(p.Partition))] = p.Offset
			}
			offsets[t.Topic] = ps
		}
		var code int16
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					code = p.ErrorCode
					break
				}
			}
		}
		emit(events.TypeGroupOffsetsReset, "group", m.Group, map[string]any{"offsets": offsets}, code, nil)
	}
}

// aclResourceTypeName is an ACL resource type as the audit records name
// resources ("topic", "group", "cluster", "transactional_id").
func aclResourceTypeName(t kmsg.ACLResourceType) string {
	return strings.ToLower(t.String())
}

func resourceTypeName(t kmsg.ConfigResourceType) string {
	switch t {
	case kmsg.ConfigResourceTypeTopic:
		return "topic"
	case kmsg.ConfigResourceTypeBroker:
		return "broker"
	case kmsg.ConfigResourceTypeBrokerLogger:
		return "broker_logger"
	}
	return t.String()
}

// configEventType is the audit event of an altered config resource.
func configEventType(t kmsg.ConfigResourceType) string {
	if t == kmsg.ConfigResourceTypeBroker {
		return events.TypeBrokerConfigAltered
	}
	return events.TypeTopicConfigAltered
}
