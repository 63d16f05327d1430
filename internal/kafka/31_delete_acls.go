package kafka

// DeleteAcls (key 31), versions 0-3.
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per filter
// otherwise). Each filter deletes the bindings it selects (see
// DescribeAcls for matching) and reports them; a filter with UNKNOWN
// values gets INVALID_REQUEST and deletes nothing. Under --acl-mode off
// every filter gets SECURITY_DISABLED. A v0 filter is LITERAL.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

func (s *Server) handleDeleteACLs(ctx context.Context, req *request, m *kmsg.DeleteACLsRequest) kmsg.Response {
	resp := kmsg.NewPtrDeleteACLsResponse()
	resp.Version = req.version
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(m.Filters))
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
	fs := make([]acl.Filter, len(m.Filters))
	for i, f := range m.Filters {
		fs[i] = acl.Filter{ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: aclPattern(req.version, f.ResourcePatternType),
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType}
	}
	deleted, errs, err := s.authz.Delete(ctx, fs)
	if err != nil {
		s.logger.Warn("delete acls", "err", err)
		return fail(aclErrorCode(err))
	}
	for i := range fs {
		r := &resp.Results[i]
		r.ErrorCode, r.ErrorMessage = aclErrorCode(errs[i])
		if errs[i] != nil {
			s.metrics.errorCode(req.key, r.ErrorCode)
			continue
		}
		for _, b := range deleted[i] {
			ma := kmsg.NewDeleteACLsResponseResultMatchingACL()
			ma.ResourceType, ma.ResourceName, ma.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			ma.Principal, ma.Host, ma.Operation, ma.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			r.MatchingACLs = append(r.MatchingACLs, ma)
			s.logger.Info("acl deleted", "acl", b.String(), "by", req.principal.String())
		}
	}
	return resp
}
