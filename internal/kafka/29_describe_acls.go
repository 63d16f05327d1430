package kafka

// DescribeAcls (key 29), versions 0-3.
//
// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).
// The filter selects bindings as Kafka's AclBindingFilter does: ANY and
// null match everything, MATCH selects the LITERAL, wildcard and PREFIXED
// bindings that apply to the named resource; UNKNOWN values are
// INVALID_REQUEST. Bindings are grouped by resource pattern and read from
// the metadata store, so they include changes made through other agents at
// once. Under --acl-mode off the answer is SECURITY_DISABLED. A v0 filter
// is LITERAL.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

func (s *Server) handleDescribeACLs(ctx context.Context, req *request, m *kmsg.DescribeACLsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeACLsResponse()
	resp.Version = req.version
	fail := func(code int16, msg *string) kmsg.Response {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		s.metrics.errorCode(req.key, code)
		return resp
	}
	if code, msg := s.aclAdminRefusal(req, kmsg.ACLOperationDescribe); code != 0 {
		return fail(code, msg)
	}
	bs, err := s.authz.Describe(ctx, acl.Filter{ResourceType: m.ResourceType, ResourceName: m.ResourceName,
		PatternType: aclPattern(req.version, m.ResourcePatternType), Principal: m.Principal, Host: m.Host,
		Operation: m.Operation, Permission: m.PermissionType})
	if err != nil {
		return fail(aclErrorCode(err))
	}
	// Bindings come sorted by resource pattern: group consecutive ones.
	for _, b := range bs {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != b.ResourceType || resp.Resources[n-1].ResourceName != b.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != b.PatternType {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			resp.Resources = append(resp.Resources, r)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp
}
