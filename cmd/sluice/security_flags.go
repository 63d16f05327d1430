package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
)

// listenerFlag collects --listener values into the agent's listeners.
// One value may hold several listeners separated by ';' (for
// SLUICE_LISTENER, which can be given only once).
type listenerFlag struct{ cfg *agent.Config }

func (l listenerFlag) String() string {
	parts := make([]string, len(l.cfg.Listeners))
	for i, c := range l.cfg.Listeners {
		parts[i] = "name=" + c.Name + ",addr=" + c.Addr + ",advertise=" + c.Advertise + ",protocol=" + string(c.Protocol)
	}
	return strings.Join(parts, ";")
}

func (l listenerFlag) Set(v string) error {
	for _, spec := range strings.Split(v, ";") {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		c, err := agent.ParseListener(spec)
		if err != nil {
			return err
		}
		l.cfg.Listeners = append(l.cfg.Listeners, c)
	}
	return nil
}

func (l listenerFlag) Type() string { return "listener" }

// addSecurityFlags registers the TLS, SASL and HTTP-port flags of the
// agent-running commands (docs/security.md).
func addSecurityFlags(cmd *cobra.Command, cfg *agent.Config) {
	f := cmd.Flags()
	sec := &cfg.Security
	f.Var(listenerFlag{cfg}, "listener", "a Kafka listener, repeatable: name=NAME,addr=HOST:PORT[,advertise=HOST:PORT],protocol=PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL (replaces --kafka-addr and --advertise-addr)")
	f.StringVar(&sec.TLS.CertFile, "tls-cert", "", "PEM certificate chain of SSL and SASL_SSL listeners (and of --http-tls); re-read when it changes")
	f.StringVar(&sec.TLS.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&sec.TLS.ClientCAFile, "tls-client-ca", "", "PEM CAs client certificates must chain to (mTLS)")
	f.StringVar((*string)(&sec.TLS.ClientAuth), "tls-client-auth", "none", "client certificates on SSL listeners: none, request or require (ssl.client.auth)")
	f.StringVar(&sec.PrincipalMappingRules, "ssl-principal-mapping-rules", "DEFAULT", "how client certificate names become users: RULE:pattern/replacement/[LU],…,DEFAULT (ssl.principal.mapping.rules)")
	f.StringSliceVar(&sec.SASLMechanisms, "sasl-mechanisms", nil, "mechanisms SASL listeners offer (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512, plus OAUTHBEARER with a JWKS)")
	f.StringVar(&sec.OAuth.JWKSFile, "oauth-jwks-file", "", "JSON Web Key Set file OAUTHBEARER tokens are verified with; re-read when it changes")
	f.StringVar(&sec.OAuth.JWKSURL, "oauth-jwks-url", "", "JSON Web Key Set URL OAUTHBEARER tokens are verified with; refreshed in the background")
	f.StringVar(&sec.OAuth.Issuer, "oauth-issuer", "", "required iss of OAUTHBEARER tokens (empty: not checked)")
	f.StringVar(&sec.OAuth.Audience, "oauth-audience", "", "required aud of OAUTHBEARER tokens (empty: not checked)")
	f.StringVar(&sec.OAuth.PrincipalClaim, "oauth-principal-claim", "sub", "token claim holding the user name")
	f.DurationVar(&sec.OAuth.ClockSkew, "oauth-clock-skew", 30*time.Second, "leeway on the exp, nbf and iat of OAUTHBEARER tokens")
	f.DurationVar(&cfg.Kafka.AuthFailureDelay, "auth-failure-delay", time.Second, "delay before a failed SASL authentication is answered and its connection closed (connection.failed.authentication.delay.ms)")
	f.DurationVar(&cfg.Kafka.MaxReauth, "sasl-max-reauth", 0, "longest SASL session before a client must re-authenticate (connections.max.reauth.ms; 0: only token expiry bounds it)")
	f.BoolVar(&sec.HTTPTLS, "http-tls", false, "serve the HTTP listener over TLS with --tls-cert and --tls-key")
	f.BoolVar(&sec.EnablePprof, "enable-pprof", false, "serve Go profiles at /debug/pprof on the HTTP listener")
	f.StringVar(&sec.ClusterSecret, "cluster-secret", "", "secret shared by a cluster's agents that zone peer cache requests must carry (use SLUICE_CLUSTER_SECRET to keep it off the command line)")
}
