package kafka

// DescribeClientQuotas (key 48), versions 0-1 (KIP-546).
//
// Lists the client quotas (internal/dynconfig) whose entity matches the
// filter: each component matches an entity with that entity type named
// exactly (match type 0), set to the default (1), or either (2); with
// strict, the entity has no other entity types. An empty, non-strict
// filter lists every quota. Entity types are user and client-id; ip (which
// Sluice does not keep) matches nothing. An unknown entity type, a type
// named twice, an exact match without a name or a default match with one
// is INVALID_REQUEST, as in Kafka. The quotas are the ones this agent
// last loaded from the metadata store: another agent's change shows within
// the poll interval.
//
// Authorization: DESCRIBE_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

func (s *Server) handleDescribeClientQuotas(_ context.Context, req *request, m *kmsg.DescribeClientQuotasRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeClientQuotasResponse()
	resp.Version = req.version
	fail := func(err error) kmsg.Response {
		resp.ErrorCode = metadataErrorCode(err)
		resp.ErrorMessage = errorMessage(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	if !s.authorizeCluster(req, kmsg.ACLOperationDescribeConfigs) {
		return fail(kerr.ClusterAuthorizationFailed)
	}
	seen := map[string]bool{}
	ipOnly := false
	for _, c := range m.Components {
		switch c.EntityType {
		case dynconfig.EntityUser, dynconfig.EntityClientID:
		case "ip":
			ipOnly = true
		default:
			return fail(fmt.Errorf("%w: custom entity type %q not supported", kerr.InvalidRequest, c.EntityType))
		}
		if seen[c.EntityType] {
			return fail(fmt.Errorf("%w: duplicate filter component entity type %s", kerr.InvalidRequest, c.EntityType))
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return fail(fmt.Errorf("%w: unexpected null match for an exact match of %s", kerr.InvalidRequest, c.EntityType))
			}
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return fail(fmt.Errorf("%w: unexpected match name for a default match of %s", kerr.InvalidRequest, c.EntityType))
			}
		case kmsg.QuotasMatchTypeAny:
		default:
			return fail(fmt.Errorf("%w: unknown match type %d", kerr.InvalidRequest, c.MatchType))
		}
	}
	if ipOnly {
		resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
		return resp // Sluice keeps no ip quotas
	}
	quotas := s.dyn.Snapshot().Quotas()
	entities := make([]dynconfig.Entity, 0, len(quotas))
	for e := range quotas {
		if quotaMatches(e, m.Components, m.Strict) {
			entities = append(entities, e)
		}
	}
	sort.Slice(entities, func(i, j int) bool {
		return quotaEntityName(quotaComponents(entities[i])) < quotaEntityName(quotaComponents(entities[j]))
	})
	resp.Entries = make([]kmsg.DescribeClientQuotasResponseEntry, 0, len(entities))
	for _, e := range entities {
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range quotaComponents(e) {
			entry.Entity = append(entry.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
		}
		keys := make([]string, 0, len(quotas[e]))
		for k := range quotas[e] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			entry.Values = append(entry.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: quotas[e][k]})
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp
}

// quotaPart returns an entity's component of one type.
func quotaPart(e dynconfig.Entity, typ string) dynconfig.Part {
	if typ == dynconfig.EntityUser {
		return e.User
	}
	return e.ClientID
}

// quotaMatches applies a DescribeClientQuotas filter to an entity.
func quotaMatches(e dynconfig.Entity, filter []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	for _, c := range filter {
		p := quotaPart(e, c.EntityType)
		switch {
		case p.Kind == dynconfig.Absent:
			return false
		case c.MatchType == kmsg.QuotasMatchTypeExact && (p.Kind != dynconfig.Named || p.Name != *c.Match):
			return false
		case c.MatchType == kmsg.QuotasMatchTypeDefault && p.Kind != dynconfig.Default:
			return false
		}
	}
	if strict {
		n := 0
		if e.User.Kind != dynconfig.Absent {
			n++
		}
		if e.ClientID.Kind != dynconfig.Absent {
			n++
		}
		return n == len(filter)
	}
	return true
}

// quotaComponent is one entity component as the wire carries it: a name,
// or nil for the default.
type quotaComponent struct {
	Type string
	Name *string
}

func quotaComponents(e dynconfig.Entity) []quotaComponent {
	var out []quotaComponent
	for _, typ := range []string{dynconfig.EntityUser, dynconfig.EntityClientID} {
		switch p := quotaPart(e, typ); p.Kind {
		case dynconfig.Named:
			out = append(out, quotaComponent{typ, kmsg.StringPtr(p.Name)})
		case dynconfig.Default:
			out = append(out, quotaComponent{typ, nil})
		}
	}
	return out
}

// quotaEntityName renders an entity for logs and audit events
// ("user=alice,client-id=<default>").
func quotaEntityName(cs []quotaComponent) string {
	var b []byte
	for i, c := range cs {
		typ, name := c.Type, c.Name
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, typ...)
		b = append(b, '=')
		if name == nil {
			b = append(b, "<default>"...)
		} else {
			b = append(b, *name...)
		}
	}
	return string(b)
}
