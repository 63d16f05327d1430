package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/events"
)

// Authorizer decides whether a request's principal may act on a resource
// (acl.Authorizer). It is asked by the handlers only, for client
// requests: coordinators, jobs and zone peers reach storage directly and
// never pass through it, so the agent's own work is never denied.
type Authorizer interface {
	// Mode is acl.ModeOff when no ACLs apply: the ACL APIs then answer
	// SECURITY_DISABLED.
	Mode() acl.Mode
	// Decide reports whether p, connected from host, may perform op on
	// the resource (served: always true outside enforce mode) and whether
	// the ACLs deny it (denied: in shadow mode too, a would-be denial).
	Decide(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) (served, denied bool)
	// Check is Authorize's decision without recording it, for a check
	// whose failure leads to another check rather than to a denial.
	Check(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
	// DecideByResourceType is Decide on some resource of type rt
	// (KIP-679).
	DecideByResourceType(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) (served, denied bool)
	// AuthorizedOperations is KIP-430's operations bit field.
	AuthorizedOperations(p auth.Principal, host string, rt kmsg.ACLResourceType, name string) int32
	// Create, Describe and Delete administer the bindings (CreateAcls,
	// DescribeAcls, DeleteAcls).
	Create(ctx context.Context, bs []acl.Binding) ([]error, error)
	Describe(ctx context.Context, f acl.Filter) ([]acl.Binding, error)
	Delete(ctx context.Context, fs []acl.Filter) ([][]acl.Binding, []error, error)
}

var _ Authorizer = (*acl.Authorizer)(nil)

// authorize asks the authorizer about req's principal and host, and
// records a denial (or a shadow-mode would-be denial; with
// ACLEventsAllowed, any decision) in the ACL event stream.
func (s *Server) authorize(req *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	served, denied := s.authz.Decide(req.principal, acl.Host(req.remote), op, rt, name)
	s.emitDecision(req, op, rt, name, denied)
	return served
}

// authorizeByResourceType is authorize on some resource of type rt
// (KIP-679).
func (s *Server) authorizeByResourceType(req *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	served, denied := s.authz.DecideByResourceType(req.principal, acl.Host(req.remote), op, rt)
	s.emitDecision(req, op, rt, acl.AnyResource, denied)
	return served
}

// emitDecision records one ACL decision as an io.sluice.acl.decision
// event (docs/events.md): every denial, allowed ones with
// ACLEventsAllowed, none in ModeOff (nothing is decided). Emit never blocks: under overload the event is
// dropped and counted, never the request slowed. The events writer's own
// produce goes straight to the write path (produce.Batcher), not through
// these handlers, so it is never authorized and cannot emit events
// about itself.
func (s *Server) emitDecision(req *request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string, denied bool) {
	mode := s.authz.Mode()
	if s.events == nil || mode == acl.ModeOff || (!denied && !s.cfg.ACLEventsAllowed) {
		return
	}
	p := req.principal
	if p == (auth.Principal{}) {
		p = auth.Anonymous
	}
	shadow := mode == acl.ModeShadow
	reason := "allowed"
	switch {
	case denied && shadow:
		reason = "would be denied (shadow mode: served)"
	case denied:
		reason = "denied"
	}
	listener := req.listener
	if listener == "" {
		listener = "PLAINTEXT"
	}
	s.events.Emit(context.Background(), events.Event{Type: events.TypeACLDecision, Subject: name, Data: events.ACLDecisionData{
		Principal: p.String(), Operation: op.String(), ResourceType: rt.String(), Resource: name,
		Listener: listener, RemoteAddr: req.remote, Allowed: !denied, Shadow: shadow, Reason: reason}})
}

// authorizeCluster is authorize on the one CLUSTER resource.
func (s *Server) authorizeCluster(req *request, op kmsg.ACLOperation) bool {
	return s.authorize(req, op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// authorizeTopic is authorize on a TOPIC.
func (s *Server) authorizeTopic(req *request, op kmsg.ACLOperation, topic string) bool {
	return s.authorize(req, op, kmsg.ACLResourceTypeTopic, topic)
}

// authorizeGroup is authorize on a GROUP.
func (s *Server) authorizeGroup(req *request, op kmsg.ACLOperation, group string) bool {
	return s.authorize(req, op, kmsg.ACLResourceTypeGroup, group)
}

// authorizeTxnID is authorize on a TRANSACTIONAL_ID.
func (s *Server) authorizeTxnID(req *request, op kmsg.ACLOperation, id string) bool {
	return s.authorize(req, op, kmsg.ACLResourceTypeTransactionalId, id)
}

// checkCluster is Check on the CLUSTER: true means every resource of the
// request is allowed without asking further.
func (s *Server) checkCluster(req *request, op kmsg.ACLOperation) bool {
	return s.authz.Check(req.principal, acl.Host(req.remote), op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// authorizedOps is KIP-430's field for one resource.
func (s *Server) authorizedOps(req *request, rt kmsg.ACLResourceType, name string) int32 {
	return s.authz.AuthorizedOperations(req.principal, acl.Host(req.remote), rt, name)
}
