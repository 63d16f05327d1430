package agent

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/tableflow"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/console"
)

// summaryInterval is how often the console's throughput summary samples
// the agent's metrics.
const summaryInterval = 5 * time.Second

// Values of --console-auth.
const (
	ConsoleAuthNone  = "none"
	ConsoleAuthScram = "scram"
)

// startConsole builds the admin API and the web console over the same
// request path the Kafka listener uses, and starts the summary sampler
// (stopped by ctx). With --console-auth scram, requests log in against
// scram and act as their user, so ACLs and audit records apply to them
// as to Kafka clients.
func (a *Agent) startConsole(ctx context.Context, nodeID int32, scram auth.ScramStore) {
	started := time.Now()
	a.summary = adminapi.NewSummary(a.metrics)
	var login *adminapi.Login
	if a.cfg.ConsoleAuth == ConsoleAuthScram {
		delay := a.cfg.Kafka.AuthFailureDelay // as the Kafka server reads it
		if delay == 0 {
			delay = time.Second
		}
		login = adminapi.NewLogin(adminapi.LoginConfig{
			Check: func(ctx context.Context, user, password string) error {
				return auth.CheckPassword(ctx, scram, user, password)
			},
			FailureDelay: delay,
		})
	} else if a.saslListener() {
		a.logger.Warn("Kafka listeners require SASL but the console and admin API let anyone reaching --http-addr act as the anonymous principal; set --console-auth scram")
	}
	var schemas adminapi.Schemas
	if a.schemaRegistry != nil {
		schemas = a.schemaRegistry
	}
	var tables adminapi.Tables
	if a.tableflow != nil {
		tables = consoleTables{cfg: a.tableflowCfg, cat: a.tableflow.Catalog()}
	}
	a.admin = adminapi.New(adminapi.Config{
		Peer:       a.consolePeer(),
		Tables:     tables,
		Events:     a.query,
		Schemas:    schemas,
		SchemaAuth: a.schemaAuth,
		Kafka:      a.server,
		Store:      a.store,
		Readiness:  a.readiness,
		NodeID:     nodeID,
		Zone:       a.cfg.Zone,
		StartedAt:  started,
		AgentTTL:   a.cfg.AgentTTL,
		ReadOnly:   a.cfg.ConsoleReadOnly,
		Summary:    a.summary,
		Logger:     a.logger,
		Login:      login,
		Auditor:    adminAuditor{a.events},
	})
	a.console = console.New(a.admin)
	a.summaryDone = make(chan struct{})
	go func() {
		defer close(a.summaryDone)
		a.summary.Run(ctx, summaryInterval)
	}()
}

// consolePeer is how the admin API calls the other agents: as the zone
// peer cache does (scheme, TLS, the cluster secret), and, with a cluster
// secret, trusting the principal a request carrying it names, so a
// console session on one agent acts on a group another coordinates.
func (a *Agent) consolePeer() adminapi.Peer {
	scheme, tlsCfg, header := a.peerTransport()
	p := adminapi.Peer{Scheme: scheme, Header: header}
	if tlsCfg != nil {
		p.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	}
	if secret := []byte(a.cfg.Security.ClusterSecret); len(secret) > 0 {
		p.Verify = func(r *http.Request) bool {
			return subtle.ConstantTimeCompare([]byte(r.Header.Get(clusterSecretHeader)), secret) == 1
		}
	}
	return p
}

// consoleTables shows the tableflow role's tables in the console: the
// tables of its config, loaded through its Iceberg catalog (what the REST
// catalog under /v1/ serves).
type consoleTables struct {
	cfg *tableflow.Config
	cat *tableflow.Catalog
}

func (t consoleTables) Sources() []adminapi.TableSource {
	out := make([]adminapi.TableSource, 0, len(t.cfg.Tables))
	for _, tc := range t.cfg.Tables {
		s := adminapi.TableSource{Name: tc.Name, SourceCluster: tc.SourceCluster, SourceTopic: tc.SourceTopic,
			Format: tc.Format, Subject: tc.Subject, PartitionBy: tc.PartitionBy}
		for _, c := range t.cfg.SourceClusters {
			if c.Name == tc.SourceCluster {
				s.Bootstrap = c.BootstrapServers
			}
		}
		out = append(out, s)
	}
	return out
}

func (t consoleTables) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	return t.cat.LoadTable(ctx, ident)
}

// readiness is the readiness checker's view, for the admin API.
func (a *Agent) readiness() adminapi.Readiness {
	bucket, store, ready := a.health.snapshot()
	conv := func(c componentState) adminapi.Component {
		return adminapi.Component{State: c.State, LastError: c.LastError, LastOKAt: c.LastOKAt}
	}
	return adminapi.Readiness{Ready: ready, Bucket: conv(bucket), Metadata: conv(store)}
}

// saslListener reports whether any Kafka listener requires SASL.
func (a *Agent) saslListener() bool {
	for _, l := range a.cfg.Listeners {
		if l.Protocol.SASL() {
			return true
		}
	}
	return false
}
