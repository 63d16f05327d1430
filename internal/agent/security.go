package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/metadata"
)

// ListenerConfig is one Kafka listener (--listener).
type ListenerConfig struct {
	// Name identifies the listener; clients are given the addresses of
	// the listener they came in on, so every agent of a cluster should
	// have the same listener names.
	Name string
	// Addr is the address to listen on; port 0 picks a free one.
	Addr string
	// Advertise is the host:port clients are told; "" means Addr (a
	// wildcard host becomes 127.0.0.1).
	Advertise string
	Protocol  auth.Protocol
}

// ParseListener parses name=NAME,addr=HOST:PORT,advertise=HOST:PORT,
// protocol=PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL (advertise optional;
// protocol defaults to PLAINTEXT, name to the protocol).
func ParseListener(spec string) (ListenerConfig, error) {
	var l ListenerConfig
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return l, fmt.Errorf("listener %q: %q is not key=value", spec, kv)
		}
		switch k {
		case "name":
			l.Name = v
		case "addr":
			l.Addr = v
		case "advertise":
			l.Advertise = v
		case "protocol":
			p, err := auth.ParseProtocol(strings.ToUpper(v))
			if err != nil {
				return l, fmt.Errorf("listener %q: %w", spec, err)
			}
			l.Protocol = p
		default:
			return l, fmt.Errorf("listener %q: unknown key %q (want name, addr, advertise, protocol)", spec, k)
		}
	}
	if l.Protocol == "" {
		l.Protocol = auth.Plaintext
	}
	if l.Name == "" {
		l.Name = string(l.Protocol)
	}
	if l.Addr == "" {
		return l, fmt.Errorf("listener %q: addr is required", spec)
	}
	if _, _, err := net.SplitHostPort(l.Addr); err != nil {
		return l, fmt.Errorf("listener %q: addr: %w", spec, err)
	}
	return l, nil
}

// SecurityConfig is TLS, SASL and the HTTP port's protection
// (docs/security.md).
type SecurityConfig struct {
	// TLS names the PEM files of SSL and SASL_SSL listeners (and of the
	// HTTP listener with HTTPTLS).
	TLS auth.TLSFiles
	// PrincipalMappingRules maps client certificate names to users
	// (Kafka's ssl.principal.mapping.rules; "" is DEFAULT).
	PrincipalMappingRules string
	// SASLMechanisms are the mechanisms SASL listeners offer; empty means
	// PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, plus OAUTHBEARER when a
	// JWKS is configured.
	SASLMechanisms []string
	// OAuth configures OAUTHBEARER.
	OAuth auth.OAuthConfig
	// HTTPTLS serves the HTTP listener over TLS with the TLS files.
	HTTPTLS bool
	// EnablePprof serves /debug/pprof on the HTTP listener.
	EnablePprof bool
	// ClusterSecret, shared by the agents of a cluster, authenticates
	// zone peer cache requests. Without it (and without mTLS on the HTTP
	// listener) the peer cache is refused on an agent whose Kafka
	// listeners are secured.
	ClusterSecret string
}

// clusterSecretHeader carries the cluster secret on zone peer requests.
const clusterSecretHeader = "X-Sluice-Cluster-Secret"

// kafkaListener is a bound Kafka listener.
type kafkaListener struct {
	cfg      ListenerConfig
	ln       net.Listener
	endpoint cluster.Endpoint
	serve    kafka.Listener
}

// listenerConfigs returns the configured listeners, or the one PLAINTEXT
// listener --kafka-addr and --advertise-addr describe.
func (cfg *Config) listenerConfigs() ([]ListenerConfig, error) {
	if len(cfg.Listeners) == 0 {
		return []ListenerConfig{{Name: "PLAINTEXT", Addr: cfg.KafkaAddr, Advertise: cfg.AdvertiseAddr, Protocol: auth.Plaintext}}, nil
	}
	seen := map[string]bool{}
	for _, l := range cfg.Listeners {
		if seen[l.Name] {
			return nil, fmt.Errorf("agent: listener name %s used twice", l.Name)
		}
		seen[l.Name] = true
	}
	return cfg.Listeners, nil
}

// scramStoreOf finds the SCRAM credential store behind the metadata
// store (through a sluice dev --agents Broadcast).
func scramStoreOf(s metadata.Store) auth.ScramStore {
	if b, ok := s.(*metadata.Broadcast); ok {
		s = b.Store
	}
	ss, _ := s.(auth.ScramStore)
	return ss
}

// securityFor builds what the listeners need: the TLS reloader (nil when
// no TLS is configured) and the SASL mechanisms (nil when no listener
// uses SASL). ctx bounds the first fetch of a JWKS URL and then its
// background refreshes.
func (a *Agent) securityFor(ctx context.Context, listeners []ListenerConfig, scram auth.ScramStore) (*auth.TLSReloader, *auth.SASL, *auth.PrincipalMapper, error) {
	sec := a.cfg.Security
	ca, err := auth.ParseClientAuth(string(sec.TLS.ClientAuth))
	if err != nil {
		return nil, nil, nil, err
	}
	sec.TLS.ClientAuth = ca
	var needTLS, needSASL bool
	for _, l := range listeners {
		needTLS = needTLS || l.Protocol.TLS()
		needSASL = needSASL || l.Protocol.SASL()
	}
	needTLS = needTLS || sec.HTTPTLS
	var reloader *auth.TLSReloader
	if needTLS || sec.TLS.Enabled() {
		if !sec.TLS.Enabled() {
			return nil, nil, nil, errors.New("agent: SSL and SASL_SSL listeners and --http-tls need --tls-cert and --tls-key")
		}
		reloader, err = auth.NewTLSReloader(sec.TLS, func(err error) {
			a.logger.Error("TLS files changed but do not load; keeping the previous certificate", "err", err)
		})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	mapper, err := auth.ParsePrincipalMapping(sec.PrincipalMappingRules)
	if err != nil {
		return nil, nil, nil, err
	}
	if !needSASL {
		return reloader, nil, mapper, nil
	}
	names := sec.SASLMechanisms
	oauthConfigured := sec.OAuth.JWKSFile != "" || sec.OAuth.JWKSURL != ""
	if len(names) == 0 {
		names = []string{auth.MechPlain, auth.MechScramSHA256, auth.MechScramSHA512}
		if oauthConfigured {
			names = append(names, auth.MechOAuthBearer)
		}
	}
	var mechs []auth.Mechanism
	for _, n := range names {
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case auth.MechPlain:
			if scram == nil {
				return nil, nil, nil, errors.New("agent: PLAIN needs the SCRAM credential store, which this metadata store lacks")
			}
			mechs = append(mechs, auth.NewPlain(scram))
		case auth.MechScramSHA256, auth.MechScramSHA512:
			if scram == nil {
				return nil, nil, nil, errors.New("agent: SCRAM needs the SCRAM credential store, which this metadata store lacks")
			}
			m, _ := auth.ParseScramMechanism(strings.ToUpper(strings.TrimSpace(n)))
			mechs = append(mechs, auth.NewScram(m, scram))
		case auth.MechOAuthBearer:
			if !oauthConfigured {
				return nil, nil, nil, errors.New("agent: OAUTHBEARER needs --oauth-jwks-file or --oauth-jwks-url")
			}
			o, err := auth.NewOAuthBearer(ctx, sec.OAuth)
			if err != nil {
				return nil, nil, nil, err
			}
			mechs = append(mechs, o)
		default:
			return nil, nil, nil, fmt.Errorf("agent: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", n)
		}
	}
	s, err := auth.NewSASL(mechs...)
	return reloader, s, mapper, err
}

// bindListeners opens every Kafka listener and works out what it
// advertises.
func (a *Agent) bindListeners(ctx context.Context, configs []ListenerConfig, scram auth.ScramStore) error {
	reloader, sasl, mapper, err := a.securityFor(ctx, configs, scram)
	if err != nil {
		return err
	}
	a.tls = reloader
	for _, lc := range configs {
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			return fmt.Errorf("agent: kafka listener %s: %w", lc.Name, err)
		}
		kl := &kafkaListener{cfg: lc, ln: ln}
		a.listeners = append(a.listeners, kl)
		b, err := brokerFor(0, lc.Advertise, ln.Addr())
		if err != nil {
			return err
		}
		kl.endpoint = cluster.Endpoint{Name: lc.Name, Host: b.Host, Port: b.Port}
		kl.serve = kafka.Listener{Name: lc.Name, Protocol: lc.Protocol, Mapper: mapper}
		if lc.Protocol.TLS() {
			kl.serve.TLS = reloader.ServerConfig()
		}
		if lc.Protocol.SASL() {
			kl.serve.SASL = sasl
		}
	}
	return nil
}

// secured reports whether any Kafka listener uses TLS or SASL.
func (a *Agent) secured() bool {
	for _, l := range a.listeners {
		if l.cfg.Protocol != auth.Plaintext {
			return true
		}
	}
	return false
}

// peerAuthConfigured reports whether zone peers authenticate each other:
// a cluster secret, or mTLS on the HTTP listener.
func (a *Agent) peerAuthConfigured() bool {
	return a.cfg.Security.ClusterSecret != "" || a.peerMTLS()
}

func (a *Agent) peerMTLS() bool {
	return a.cfg.Security.HTTPTLS && a.cfg.Security.TLS.ClientCAFile != ""
}

// requirePeer guards the zone peer cache endpoint: a request must carry
// the cluster secret or, on an mTLS HTTP listener, a verified client
// certificate. With neither configured (an unsecured agent) it is open.
func (a *Agent) requirePeer(h http.Handler) http.Handler {
	secret := []byte(a.cfg.Security.ClusterSecret)
	if !a.peerAuthConfigured() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(secret) > 0 && subtle.ConstantTimeCompare([]byte(r.Header.Get(clusterSecretHeader)), secret) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if a.peerMTLS() && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			h.ServeHTTP(w, r)
			return
		}
		a.peerRefused.Inc()
		a.logger.Warn("zone peer request refused: no cluster secret or client certificate", "remote", r.RemoteAddr)
		http.Error(w, "forbidden: zone peer requests need the cluster secret or a client certificate", http.StatusForbidden)
	})
}

// peerTransport is how this agent calls its zone peers: the cluster
// secret on every request, and TLS (presenting its own certificate,
// verifying theirs against the client CA) when the HTTP listener is TLS.
func (a *Agent) peerTransport() (scheme string, tlsCfg *tls.Config, header http.Header) {
	scheme = "http"
	if a.cfg.Security.ClusterSecret != "" {
		header = http.Header{clusterSecretHeader: []string{a.cfg.Security.ClusterSecret}}
	}
	if a.cfg.Security.HTTPTLS && a.tls != nil {
		scheme = "https"
		var roots *x509.CertPool
		if a.peerMTLS() {
			roots = a.tls.RootCAs()
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, GetClientCertificate: a.tls.ClientCertificate}
	}
	return scheme, tlsCfg, header
}

// httpTLSConfig is the HTTP listener's TLS: the agent's certificate, and
// client certificates asked for (never required: scrapers and probes have
// none) when a client CA is configured.
func (a *Agent) httpTLSConfig() *tls.Config {
	return a.tls.ServerConfigClientAuth(tls.VerifyClientCertIfGiven)
}

// serveTimeout bounds reading a request's headers on the HTTP listener.
const serveTimeout = 10 * time.Second
