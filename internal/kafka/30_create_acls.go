package kafka

// CreateAcls (key 30), versions 0-3.
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per creation
// otherwise). Each creation is validated as Kafka does (INVALID_REQUEST
// with the reason: UNKNOWN or ANY values, a MATCH or ANY pattern, an
// empty name, a CLUSTER not named kafka-cluster, a principal not of the
// form Type:Name, a host that is neither an IP nor "*", an operation the
// resource type does not have); valid ones are stored together, and
// creating one that exists succeeds. Under --acl-mode off every creation
// gets SECURITY_DISABLED, as from a Kafka broker without an authorizer.
// v0 creations are LITERAL.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

func (s *Server) handleCreateACLs(ctx context.Context, req *request, m *kmsg.CreateACLsRequest) kmsg.Response {
	resp := kmsg.NewPtrCreateACLsResponse()
	resp.Version = req.version
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(m.Creations))
	fail := func(code int16, msg *string) kmsg.Response {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
			s.metrics.errorCode(req.key, code)
		}
		return resp
	}
	if code, msg := s.aclAdminRefusal(req, kmsg.ACLOperationAlter); code != 0 {
		return fail(code, msg)
	}
	bs := make([]acl.Binding, len(m.Creations))
	for i, c := range m.Creations {
		bs[i] = acl.Binding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: aclPattern(req.version, c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
	}
	errs, err := s.authz.Create(ctx, bs)
	if err != nil {
		s.logger.Warn("create acls", "err", err)
		return fail(aclErrorCode(err))
	}
	for i, err := range errs {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrorCode(err)
		if err != nil {
			s.metrics.errorCode(req.key, resp.Results[i].ErrorCode)
		} else {
			s.logger.Info("acl created", "acl", bs[i].String(), "by", req.principal.String())
		}
	}
	return resp
}
