package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/tableflow"
)

// unlistedSelf is the registry entry of an agent without the proxy role,
// which has no Kafka listener: its address is the advertised one, else
// its HTTP listener's, else the host name (port 0). Clients never see it;
// the address names it in logs and derives its node ID.
func unlistedSelf(cfg Config, httpLn net.Listener) (cluster.Broker, error) {
	switch {
	case cfg.AdvertiseAddr != "":
		return brokerFor(cfg.NodeID, cfg.AdvertiseAddr, &net.TCPAddr{})
	case httpLn != nil:
		return brokerFor(cfg.NodeID, "", httpLn.Addr())
	}
	host, err := os.Hostname()
	if err != nil {
		return cluster.Broker{}, fmt.Errorf("agent: an agent without the proxy role, --advertise-addr and --http-addr needs a host name: %w", err)
	}
	// The process ID tells apart two such agents on one host.
	return brokerFor(cfg.NodeID, net.JoinHostPort(host, strconv.Itoa(1+os.Getpid()%65535)), &net.TCPAddr{})
}

// openTableflow opens the tableflow role's service: the Tableflow service
// of cfg.TableflowConfig, as `sluice tableflow` runs it, its metrics on the
// agent's /metrics and its Iceberg REST catalog under /v1/ on the agent's
// HTTP listener. Its tables' state (tableflow_* tables, through its own
// connection) lives in the agent's metadata store unless the config names
// another metadata_url; its warehouse is the config's. runTableflow
// starts it.
func (a *Agent) openTableflow(ctx context.Context) error {
	tcfg, err := tableflow.LoadConfigInheriting(a.cfg.TableflowConfig, a.cfg.MetadataURL)
	if err != nil {
		return fmt.Errorf("agent: tableflow role: %w", err)
	}
	svc, err := tableflow.New(ctx, tcfg, tableflow.Options{Metrics: tableflow.NewMetrics(a.metrics), Logger: a.logger.With("component", "tableflow")})
	if err != nil {
		return fmt.Errorf("agent: tableflow role: %w", err)
	}
	a.tableflow, a.tableflowCfg = svc, tcfg
	a.logger.Info("tableflow role", "config", a.cfg.TableflowConfig, "tables", len(tcfg.Tables))
	return nil
}

// runTableflow runs the tableflow service until serveCtx ends;
// stopTableflow waits for it.
func (a *Agent) runTableflow(serveCtx context.Context) {
	a.tableflowDone = make(chan struct{})
	go func() {
		defer close(a.tableflowDone)
		if err := a.tableflow.Run(serveCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.logger.Error("tableflow stopped", "err", err)
		}
	}()
}

// stopTableflow waits for the tableflow service (ended with the serving
// context) and closes its store and warehouse.
func (a *Agent) stopTableflow() {
	if a.tableflow == nil {
		return
	}
	<-a.tableflowDone
	if err := a.tableflow.Close(); err != nil {
		a.logger.Warn("tableflow close", "err", err)
	}
}
