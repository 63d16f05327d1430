package kafka

// SaslAuthenticate (key 36), versions 0-2.
//
// Carries one message of the SASL exchange SaslHandshake v1 started.
// The last one sets the connection's principal; from v1 the response
// holds the session lifetime (KIP-368): the smaller of the credential's
// expiry (an OAUTHBEARER token's exp) and --sasl-max-reauth, 0 when
// neither bounds it. A client that authenticated with v1+ and does not
// re-authenticate before its session ends has its connection closed at
// its next request. A failure gets SASL_AUTHENTICATION_FAILED, after
// --auth-failure-delay, with one message whatever the cause (the cause
// is logged with the client's address), and the connection is closed.
// Without a handshake first, or on a listener without SASL, the answer
// is ILLEGAL_SASL_STATE (the former closes the connection).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

func (s *Server) handleSaslAuthenticate(ctx context.Context, req *request, m *kmsg.SASLAuthenticateRequest) reply {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = req.version
	ca := req.conn
	if ca == nil || !ca.listener.Protocol.SASL() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return ready(resp)
	}
	if ca.session == nil || ca.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake v1 first")
		return reply{resp: resp, closeConn: true}
	}
	mech := ca.mech.Name()
	challenge, _, lifetime, err := s.saslStep(ctx, ca, req.remote, m.SASLAuthBytes, req.version)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := authFailedMessage(mech)
		if !errors.Is(err, auth.ErrAuthFailed) {
			msg = "Authentication with SASL mechanism " + mech + " could not be completed; try again"
		}
		resp.ErrorMessage = &msg
		return s.slowed(ctx, resp, false)
	}
	resp.SASLAuthBytes = challenge
	if req.version >= 1 {
		resp.SessionLifetimeMillis = lifetime.Milliseconds()
	}
	return ready(resp)
}
