package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/produce"
)

// ErrHandlerFailed is returned by Do when the request's handler panicked
// (logged and counted as for a connection).
var ErrHandlerFailed = errors.New("kafka: request handler failed")

// Do answers one request in-process, through the handler a request read
// from a connection authenticated as p would reach: the same validation,
// limits, authorization and audit records. The admin API and
// the console act on the cluster this way, so a change made there is the
// change a Kafka client would have made. msg's version (SetVersion) must
// be one the agent serves. Do returns nil for a produce with acks=0.
// Blocking handlers (a produce waiting for its flush, a fetch long poll)
// end with ctx.
func (s *Server) Do(ctx context.Context, p auth.Principal, clientID string, msg kmsg.Request) (kmsg.Response, error) {
	key, v := msg.Key(), msg.GetVersion()
	r, ok := supported[key]
	if !ok || key == apiVersionsKey {
		return nil, fmt.Errorf("kafka: %s is not served in-process", kmsg.NameForKey(key))
	}
	if v < r.min || v > r.max {
		return nil, fmt.Errorf("kafka: %s version %d outside the served %d-%d", kmsg.NameForKey(key), v, r.min, r.max)
	}
	src := produce.NewSource()
	defer s.producer.Forget(src)
	req := &request{key: key, version: v, clientID: clientID, remote: "in-process", principal: p, msg: msg, received: time.Now(), source: src}
	rep := s.recovered(req, func() reply { return s.dispatch(ctx, req) })
	if rep.wait != nil && !rep.failed {
		rep = s.recovered(req, func() reply { return reply{resp: rep.wait(), none: rep.none} })
	}
	s.metrics.observe(req, time.Since(req.received))
	if rep.resp != nil && !rep.failed {
		// Audited as a connection's request is: the console's and the
		// admin API's changes leave the same records.
		s.audit(ctx, req, rep.resp)
	}
	switch {
	case rep.failed:
		return nil, ErrHandlerFailed
	case rep.none:
		return nil, nil
	}
	if e, ok := rep.resp.(encoder); ok {
		// A response that finishes itself while encoding (a fetch's
		// shared cache blocks get their offsets then) is encoded and
		// read back, so the caller sees what a client would.
		body, err := e.appendBody(nil)
		if err != nil {
			return nil, fmt.Errorf("kafka: encode %s response: %w", kmsg.NameForKey(key), err)
		}
		out := msg.ResponseKind()
		out.SetVersion(v)
		if err := out.ReadFrom(body); err != nil {
			return nil, fmt.Errorf("kafka: decode %s response: %w", kmsg.NameForKey(key), err)
		}
		return out, nil
	}
	return rep.resp, nil
}

// Authorize is the Kafka API's authorization of one action of p made
// in-process, for the admin API's reads that no Kafka request carries
// (event queries): the same decision, shadow-mode handling and ACL
// decision event as a request of p's would get.
func (s *Server) Authorize(p auth.Principal, clientID string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	req := &request{clientID: clientID, remote: "in-process", principal: p}
	return s.authorize(req, op, rt, name)
}
