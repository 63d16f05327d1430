package kafka

// SaslHandshake (key 17), versions 0-1.
//
// Picks the SASL mechanism of a SASL_PLAINTEXT or SASL_SSL listener's
// connection; the response lists the listener's enabled mechanisms. v1
// continues with SaslAuthenticate requests; v0 with the exchange's
// messages as bare size-prefixed frames (the flow of clients older than
// Kafka 1.0). An unknown mechanism gets UNSUPPORTED_SASL_MECHANISM and the
// connection is closed, as Kafka does. On a listener without SASL, or
// while an exchange is in progress, the answer is ILLEGAL_SASL_STATE (the
// latter closes the connection). A v1 handshake on an authenticated
// connection starts a re-authentication (KIP-368), which must use the
// same mechanism and end with the same principal.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

func (s *Server) handleSaslHandshake(ctx context.Context, req *request, m *kmsg.SASLHandshakeRequest) reply {
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.Version = req.version
	ca := req.conn
	if ca == nil || !ca.listener.Protocol.SASL() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return ready(resp)
	}
	resp.SupportedMechanisms = ca.listener.SASL.Mechanisms()
	if ca.session != nil || (ca.authenticated && req.version == 0) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return reply{resp: resp, closeConn: true}
	}
	mech, ok := ca.listener.SASL.Mechanism(m.Mechanism)
	if !ok {
		s.metrics.authentications.WithLabelValues("unsupported", "failure").Inc()
		s.logger.Warn("authentication failed: unsupported SASL mechanism", "mechanism", m.Mechanism, "listener", ca.listener.Name, "remote", req.remote)
		s.auditAuth(ca.listener.Name, req.remote, m.Mechanism, auth.Principal{}, errors.New("unsupported SASL mechanism"))
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return s.slowed(ctx, resp, false)
	}
	if ca.authenticated && ca.mech != nil && mech.Name() != ca.mech.Name() {
		s.logger.Warn("re-authentication with another mechanism refused", "mechanism", m.Mechanism, "was", ca.mech.Name(), "remote", req.remote)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return reply{resp: resp, closeConn: true}
	}
	ca.mech, ca.session, ca.raw = mech, mech.Start(), req.version == 0
	return ready(resp)
}
