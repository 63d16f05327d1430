package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/events"
)

// Listener is how the connections accepted on one socket are secured
// (Kafka's listener with its security protocol).
type Listener struct {
	// Name is the listener name clients' advertised addresses are looked
	// up by (cluster.Broker.On); "" means PLAINTEXT.
	Name     string
	Protocol auth.Protocol
	// TLS is the server configuration of SSL and SASL_SSL listeners.
	TLS *tls.Config
	// SASL holds the mechanisms of SASL_PLAINTEXT and SASL_SSL listeners.
	SASL *auth.SASL
	// Mapper names SSL clients by their certificate; nil means DEFAULT
	// (User:<DN>).
	Mapper *auth.PrincipalMapper
}

// tlsHandshakeTimeout bounds a TLS handshake; a client that opens a TLS
// port and sends nothing is dropped after it.
const tlsHandshakeTimeout = 10 * time.Second

// secureConn runs the TLS handshake of a TLS listener's connection and
// returns the connection to speak Kafka on and the principal its
// certificate establishes (auth.Anonymous without one). An error closes
// the connection: the handshake failed (plaintext bytes on a TLS port, an
// untrusted certificate) or no mapping rule names the certificate.
func (s *Server) secureConn(ctx context.Context, c net.Conn, l *Listener) (net.Conn, auth.Principal, error) {
	if !l.Protocol.TLS() {
		return c, auth.Anonymous, nil
	}
	tc := tls.Server(c, l.TLS)
	hsCtx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hsCtx); err != nil {
		s.metrics.tlsFailures.WithLabelValues(l.Name).Inc()
		s.logger.Info("TLS handshake failed", "listener", l.Name, "remote", c.RemoteAddr().String(), "err", err)
		return nil, auth.Principal{}, err
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return tc, auth.Anonymous, nil
	}
	mapper := l.Mapper
	if mapper == nil {
		mapper, _ = auth.ParsePrincipalMapping("")
	}
	p, err := mapper.CertificatePrincipal(certs[0])
	if err != nil {
		s.metrics.tlsFailures.WithLabelValues(l.Name).Inc()
		s.logger.Warn("client certificate refused", "listener", l.Name, "remote", c.RemoteAddr().String(), "subject", auth.SubjectDN(certs[0]), "err", err)
		s.auditAuth(l.Name, c.RemoteAddr().String(), "TLS", auth.Principal{}, err)
		return nil, auth.Principal{}, err
	}
	s.logger.Debug("TLS client authenticated", "principal", p.String(), "listener", l.Name, "remote", c.RemoteAddr().String())
	s.auditAuth(l.Name, c.RemoteAddr().String(), "TLS", p, nil)
	return tc, p, nil
}

// connAuth is one connection's authentication state. Only the
// connection's read loop reads or writes it (SaslHandshake and
// SaslAuthenticate are answered on the read loop), so it has no lock;
// requests carry a copy of the principal.
type connAuth struct {
	listener *Listener
	// principal is who the connection is: the TLS certificate's (or
	// ANONYMOUS) until SASL authentication replaces it.
	principal auth.Principal
	// authenticated is true once SASL succeeded (always on a listener
	// without SASL).
	authenticated bool
	// mech is the mechanism SaslHandshake chose; session is the exchange
	// in progress (nil when none is).
	mech    auth.Mechanism
	session auth.Session
	// raw is set by a v0 SaslHandshake: the exchange's messages come as
	// bare size-prefixed frames, not SaslAuthenticate requests.
	raw bool
	// reauth is set when the client authenticated with SaslAuthenticate
	// v1+, and so can re-authenticate (KIP-368); expiry is then when its
	// session ends (zero: never). A request other than SaslHandshake
	// after expiry closes the connection.
	reauth bool
	expiry time.Time
}

func newConnAuth(l *Listener, p auth.Principal) *connAuth {
	return &connAuth{listener: l, principal: p, authenticated: !l.Protocol.SASL()}
}

// errNotAuthenticated closes a SASL listener's connection that sends
// something other than the SASL exchange before or instead of it.
var errNotAuthenticated = errors.New("request before SASL authentication")

// admit says whether a request with API key may be served in the
// connection's current state; an error closes the connection, as Kafka
// does.
func (ca *connAuth) admit(key int16, now time.Time) error {
	if !ca.listener.Protocol.SASL() {
		return nil
	}
	switch {
	case ca.session != nil:
		if key != saslAuthenticateKey {
			return fmt.Errorf("%w: %s during the SASL exchange", errNotAuthenticated, kmsg.NameForKey(key))
		}
	case !ca.authenticated:
		if key != apiVersionsKey && key != saslHandshakeKey && key != saslAuthenticateKey {
			return fmt.Errorf("%w: %s", errNotAuthenticated, kmsg.NameForKey(key))
		}
	case ca.reauth && !ca.expiry.IsZero() && now.After(ca.expiry):
		if key != saslHandshakeKey {
			return fmt.Errorf("SASL session expired at %s without re-authentication (%s)", ca.expiry.Format(time.RFC3339), kmsg.NameForKey(key))
		}
	}
	return nil
}

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// authFailedMessage is the message clients get for every failed
// authentication (Kafka's wording), whatever the cause.
func authFailedMessage(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

// saslStep feeds one client message to the exchange in progress. On
// success it returns the challenge and whether authentication completed
// (the connection's principal is then set); on failure it logs, counts,
// ends the exchange and returns the error.
func (s *Server) saslStep(ctx context.Context, ca *connAuth, remote string, msg []byte, version int16) (challenge []byte, done bool, lifetime time.Duration, err error) {
	mech := ca.mech.Name()
	challenge, done, err = ca.session.Step(ctx, msg)
	if err == nil && done {
		p := ca.session.Principal()
		if ca.authenticated && p != ca.principal {
			err = fmt.Errorf("%w: re-authentication as %s on a connection of %s", auth.ErrAuthFailed, p, ca.principal)
		} else {
			now := time.Now()
			lifetime = s.cfg.MaxReauth
			if exp := ca.session.Expiry(); !exp.IsZero() && (lifetime <= 0 || exp.Sub(now) < lifetime) {
				lifetime = max(exp.Sub(now), time.Millisecond)
			}
			ca.principal, ca.authenticated, ca.session, ca.raw = p, true, nil, false
			ca.reauth = version >= 1
			ca.expiry = time.Time{}
			if ca.reauth && lifetime > 0 {
				ca.expiry = now.Add(lifetime)
			}
			s.metrics.authentications.WithLabelValues(mech, "success").Inc()
			s.auditAuth(ca.listener.Name, remote, mech, p, nil)
			s.logger.Debug("authenticated", "principal", p.String(), "mechanism", mech, "listener", ca.listener.Name, "remote", remote, "session", lifetime)
			return challenge, true, lifetime, nil
		}
	}
	if err == nil {
		return challenge, false, 0, nil
	}
	s.auditAuth(ca.listener.Name, remote, mech, ca.session.Principal(), err)
	ca.session = nil
	s.metrics.authentications.WithLabelValues(mech, "failure").Inc()
	if errors.Is(err, auth.ErrAuthFailed) {
		s.logger.Warn("authentication failed", "mechanism", mech, "listener", ca.listener.Name, "remote", remote, "err", err)
	} else {
		s.logger.Error("authentication could not be completed", "mechanism", mech, "listener", ca.listener.Name, "remote", remote, "err", err)
	}
	return nil, false, 0, err
}

// auditAuth records one authentication (SASL, or a TLS client
// certificate: mechanism "TLS"), successful (err nil) or not, in the audit
// stream. On a failure p is the user the client claimed
// when the mechanism got that far (PLAIN, SCRAM's client-first), else
// empty; err is the cause as logged, which holds no secret (the
// mechanisms never put passwords, proofs or tokens in their errors).
func (s *Server) auditAuth(listener, remote, mech string, p auth.Principal, err error) {
	if s.events == nil {
		return
	}
	d := events.AuthData{Mechanism: mech, Listener: listener, RemoteAddr: remote, Status: "SUCCESS"}
	if p.Name != "" {
		d.Principal = p.String()
	}
	typ := events.TypeAuthSuccess
	if err != nil {
		typ, d.Status, d.Error = events.TypeAuthFailure, "FAILURE", err.Error()
	}
	s.events.Emit(context.Background(), events.Event{Type: typ, Subject: d.Principal, Data: d})
}

// slowed delays a failed authentication's answer by AuthFailureDelay (on
// the answer's own goroutine, so the connection's reader is not held),
// then closes the connection, as Kafka's
// connection.failed.authentication.delay.ms does: password guessing gets
// one try per delay per connection.
func (s *Server) slowed(ctx context.Context, resp kmsg.Response, raw bool) reply {
	return reply{wait: func() kmsg.Response {
		t := time.NewTimer(s.cfg.AuthFailureDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return resp
	}, none: raw, closeConn: true}
}

// saslRawToken answers one bare SASL frame of the v0 flow: the challenge
// goes back as a bare frame; a failure closes the connection (after the
// delay) with no answer, as Kafka does.
func (s *Server) saslRawToken(ctx context.Context, ca *connAuth, remote string, token []byte) reply {
	challenge, _, _, err := s.saslStep(ctx, ca, remote, token, 0)
	if err != nil {
		return s.slowed(ctx, nil, true)
	}
	return reply{raw: true, rawBytes: challenge}
}

// brokersFor returns the brokers to show req's client, each with the
// address of the listener the client came in on (see cluster.Broker.On),
// never empty.
func (s *Server) brokersFor(req *request) []cluster.Broker {
	bs := cluster.OnListener(s.members.Brokers(req.clientID), req.listener)
	if len(bs) == 0 {
		self, _ := s.members.Self().On(req.listener)
		bs = []cluster.Broker{self}
	}
	return bs
}
