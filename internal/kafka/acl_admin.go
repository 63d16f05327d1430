package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

// securityDisabledMessage answers the ACL APIs under --acl-mode off, as a
// Kafka broker without an authorizer answers SECURITY_DISABLED.
var securityDisabledMessage = "ACLs are disabled on this cluster (--acl-mode off)"

// aclAdminRefusal is what an ACL admin request gets before it is looked
// at: CLUSTER_AUTHORIZATION_FAILED without op on the cluster,
// SECURITY_DISABLED while ACLs are off; code 0 lets it through.
func (s *Server) aclAdminRefusal(req *request, op kmsg.ACLOperation) (code int16, msg *string) {
	if !s.authorizeCluster(req, op) {
		return kerr.ClusterAuthorizationFailed.Code, nil
	}
	if s.authz.Mode() == acl.ModeOff {
		return kerr.SecurityDisabled.Code, &securityDisabledMessage
	}
	return 0, nil
}

// aclErrorCode maps an authorizer error to its Kafka code: INVALID_REQUEST
// for a binding or filter Kafka would refuse.
func aclErrorCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	if errors.Is(err, acl.ErrInvalid) {
		return kerr.InvalidRequest.Code, &msg
	}
	return errorCode(err), &msg
}

// aclPattern is the pattern type of a v0 request, which has none:
// LITERAL, as Kafka reads it.
func aclPattern(version int16, pt kmsg.ACLResourcePatternType) kmsg.ACLResourcePatternType {
	if version == 0 {
		return kmsg.ACLResourcePatternTypeLiteral
	}
	return pt
}
