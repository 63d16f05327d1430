package kafka

// AlterClientQuotas (key 49), versions 0-1 (KIP-546).
//
// Each entry sets or removes quota keys of one entity: a user, a client
// ID, or a user and a client ID, each named or the default (a null name).
// Keys are producer_byte_rate and consumer_byte_rate (enforced per agent,
// quota.go), request_percentage and controller_mutation_rate (stored and
// described, not enforced). An entity with no component, an unknown or
// repeated entity type, an unknown or repeated key, and a value that is not
// positive (or not whole, for byte rates) get INVALID_REQUEST, as in
// Kafka; ip entities (connection_creation_rate) are not kept by Sluice and
// get INVALID_REQUEST too. One entry's change is one compare-and-set of
// the metadata store's dynamic configs; validate_only changes nothing.
// Every agent applies it within its poll interval, this one at once.
//
// Authorization: ALTER_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED for every entry).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

func (s *Server) handleAlterClientQuotas(ctx context.Context, req *request, m *kmsg.AlterClientQuotasRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterClientQuotasResponse()
	resp.Version = req.version
	allowed := s.authorizeCluster(req, kmsg.ACLOperationAlterConfigs)
	for _, e := range m.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range e.Entity {
			re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
		}
		var err error
		if !allowed {
			err = kerr.ClusterAuthorizationFailed
		} else {
			err = s.alterClientQuotas(ctx, e, m.ValidateOnly)
		}
		if err != nil {
			re.ErrorCode = metadataErrorCode(err)
			re.ErrorMessage = errorMessage(err)
			s.metrics.errorCode(req.key, re.ErrorCode)
		}
		resp.Entries = append(resp.Entries, re)
	}
	return resp
}

func (s *Server) alterClientQuotas(ctx context.Context, e kmsg.AlterClientQuotasRequestEntry, validateOnly bool) error {
	var ent dynconfig.Entity
	for _, c := range e.Entity {
		p := dynconfig.Part{Kind: dynconfig.Default}
		if c.Name != nil {
			p = dynconfig.Part{Kind: dynconfig.Named, Name: *c.Name}
		}
		var dst *dynconfig.Part
		switch c.Type {
		case dynconfig.EntityUser:
			dst = &ent.User
		case dynconfig.EntityClientID:
			dst = &ent.ClientID
		case "ip":
			return fmt.Errorf("%w: ip quotas (connection_creation_rate) are not supported", kerr.InvalidRequest)
		default:
			return fmt.Errorf("%w: unknown entity type %q", kerr.InvalidRequest, c.Type)
		}
		if dst.Kind != dynconfig.Absent {
			return fmt.Errorf("%w: duplicate entity type %s", kerr.InvalidRequest, c.Type)
		}
		*dst = p
	}
	ops := make([]dynconfig.QuotaOp, 0, len(e.Ops))
	for _, o := range e.Ops {
		ops = append(ops, dynconfig.QuotaOp{Key: o.Key, Value: o.Value, Remove: o.Remove})
	}
	err := s.dyn.AlterQuotas(ctx, ent, ops, validateOnly)
	if err == nil && !validateOnly {
		s.logger.Info("altered client quotas", "entity", ent.String(), "ops", ops)
	}
	return err
}
