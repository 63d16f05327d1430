// Package acl is Kafka's authorization model: ACL bindings (a resource
// pattern and an access control entry), the filters CreateAcls,
// DescribeAcls and DeleteAcls use, and the Authorizer every Kafka handler
// asks before acting. The rules follow Kafka's AclAuthorizer and
// StandardAuthorizer:
//
//   - A binding names a resource pattern (type, name, LITERAL or PREFIXED;
//     a LITERAL "*" matches every name of its type) and an entry
//     (principal or "User:*", host or "*", operation, ALLOW or DENY).
//   - DENY wins: one matching DENY refuses, whatever ALLOWs match.
//   - An ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE, and
//     an ALLOW of ALTER_CONFIGS also allows DESCRIBE_CONFIGS; ALL matches
//     every operation. Implication never applies to DENY.
//   - Super users are allowed everything. A resource no binding matches
//     at all is allowed only with allow.everyone.if.no.acl.found.
//
// Types are kmsg's enums, so the wire mapping is the identity.
package acl

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

// ClusterName is the name of the one CLUSTER resource, as in Kafka.
const ClusterName = "kafka-cluster"

// Wildcard is the LITERAL resource name and the host that match anything.
const Wildcard = "*"

// WildcardPrincipal matches every principal.
const WildcardPrincipal = "User:*"

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	// PatternType is LITERAL or PREFIXED.
	PatternType kmsg.ACLResourcePatternType
	// Principal is "Type:Name", or WildcardPrincipal.
	Principal string
	// Host is an IP address, or Wildcard.
	Host       string
	Operation  kmsg.ACLOperation
	Permission kmsg.ACLPermissionType
}

func (b Binding) String() string {
	return fmt.Sprintf("(%s %s %s: %s %s %s from %s)", b.PatternType, b.ResourceType, b.ResourceName,
		b.Principal, b.Permission, b.Operation, b.Host)
}

// ErrInvalid is returned (wrapped, with the reason) for a binding or a
// filter Kafka would refuse with INVALID_REQUEST.
var ErrInvalid = errors.New("acl: invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// supportedOps are the operations each resource type accepts, as
// Kafka's AclEntry.supportedOperations (ALL is accepted on every type).
var supportedOps = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeUser:            {kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens},
}

// SupportedOperations lists the operations resource type rt knows (the
// operations KIP-430's authorized-operations fields may report).
func SupportedOperations(rt kmsg.ACLResourceType) []kmsg.ACLOperation { return supportedOps[rt] }

// concreteOp reports whether op names one operation (or ALL), not a
// filter value.
func concreteOp(op kmsg.ACLOperation) bool {
	return op >= kmsg.ACLOperationAll && op <= kmsg.ACLOperationDescribeTokens
}

// Validate checks a binding to be created, with Kafka's rules.
func (b Binding) Validate() error {
	if _, ok := supportedOps[b.ResourceType]; !ok {
		return invalid("resource type %s", b.ResourceType)
	}
	if b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return invalid("pattern type %s: an ACL is LITERAL or PREFIXED", b.PatternType)
	}
	if b.ResourceName == "" {
		return invalid("empty resource name")
	}
	if b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName {
		return invalid("the only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if b.PatternType == kmsg.ACLResourcePatternTypePrefixed && b.ResourceName == Wildcard {
		// Kafka: a PREFIXED "*" would silently match only names starting
		// with '*'; the LITERAL "*" is what is meant.
		return invalid("a PREFIXED pattern cannot be %q; use LITERAL %q", Wildcard, Wildcard)
	}
	if _, err := auth.ParsePrincipal(b.Principal); err != nil {
		return invalid("%v", err)
	}
	if b.Host == "" || (b.Host != Wildcard && net.ParseIP(b.Host) == nil) {
		return invalid("host %q is neither an IP address nor %q", b.Host, Wildcard)
	}
	if !concreteOp(b.Operation) {
		return invalid("operation %s", b.Operation)
	}
	if b.Operation != kmsg.ACLOperationAll && !hasOp(supportedOps[b.ResourceType], b.Operation) {
		return invalid("operation %s does not apply to resource type %s", b.Operation, b.ResourceType)
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return invalid("permission %s", b.Permission)
	}
	return nil
}

func hasOp(ops []kmsg.ACLOperation, op kmsg.ACLOperation) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// Filter selects bindings for DescribeAcls and DeleteAcls. ANY (or a nil
// string) matches every value of a field. PatternType MATCH selects the
// bindings that would apply to the named resource: LITERAL equal to the
// name, LITERAL "*", and PREFIXED patterns the name starts with.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Validate checks a filter with Kafka's rules: no UNKNOWN values.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType == kmsg.ACLResourceTypeUnknown || (f.ResourceType != kmsg.ACLResourceTypeAny && supportedOps[f.ResourceType] == nil):
		return invalid("filter resource type %s", f.ResourceType)
	case f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return invalid("filter pattern type %s", f.PatternType)
	case f.Operation != kmsg.ACLOperationAny && !concreteOp(f.Operation):
		return invalid("filter operation %s", f.Operation)
	case f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow:
		return invalid("filter permission %s", f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !patternMatches(b, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != b.PatternType || (f.ResourceName != nil && *f.ResourceName != b.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != b.Permission {
		return false
	}
	return true
}

// patternMatches reports whether b's resource pattern applies to the
// resource named name (of b's type).
func patternMatches(b Binding, name string) bool {
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return b.ResourceName == name || b.ResourceName == Wildcard
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

// entryMatches reports whether b's principal and host apply to who.
func entryMatches(b Binding, principal, host string) bool {
	return (b.Principal == principal || b.Principal == WildcardPrincipal) &&
		(b.Host == Wildcard || b.Host == host)
}

// allowImplies reports whether an ALLOW of granted also allows op.
func allowImplies(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// denyMatches reports whether a DENY of denied refuses op: only the same
// operation or ALL.
func denyMatches(denied, op kmsg.ACLOperation) bool {
	return denied == op || denied == kmsg.ACLOperationAll
}

// Host returns the host part of a "host:port" remote address, for
// matching against bindings' hosts (the address itself if it has no port).
func Host(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return h
}

// Compare orders bindings by resource, then entry: the order stores list
// them in.
func Compare(x, y Binding) int {
	return cmp.Or(
		cmp.Compare(x.ResourceType, y.ResourceType),
		cmp.Compare(x.ResourceName, y.ResourceName),
		cmp.Compare(x.PatternType, y.PatternType),
		cmp.Compare(x.Principal, y.Principal),
		cmp.Compare(x.Host, y.Host),
		cmp.Compare(x.Operation, y.Operation),
		cmp.Compare(x.Permission, y.Permission),
	)
}
