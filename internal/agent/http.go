package agent

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/query"
)

// httpHandler serves the agent's operational endpoints:
//
//	/healthz       liveness: 200 while the process serves HTTP
//	/readyz        readiness: 200 when the bucket and the metadata store
//	               both work, 503 otherwise; JSON with each one's state
//	/metrics       Prometheus metrics
//	/debug/pprof/  Go profiles (only with --enable-pprof)
//	/internal/cache/v1/range  cached file blocks for zone peers (--peer-cache;
//	               needs the cluster secret or a client certificate when
//	               either is configured, see requirePeer)
//	/api/v1/…      the JSON admin API (docs/api.md)
//	POST /api/v1/events/query  event queries (internal/query, docs/events.md)
//	/, /topics, /groups …  the web console (docs/console.md)
//	/v1/…          the Iceberg REST catalog (tableflow role)
//
// An agent without the proxy role serves only the health endpoints,
// /metrics, pprof and the catalog.
//
// /healthz, /readyz and /metrics are open to anyone who reaches the port;
// so, unless --console-auth scram, are the console and the admin API (keep
// the port on a private network, or --console-read-only).
func (a *Agent) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.health.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{Registry: a.metrics}))
	if a.tableflow != nil {
		mux.Handle("/v1/", a.tableflow.RESTHandler())
	}
	if a.cfg.Security.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if !a.cfg.Roles.Proxy {
		// Only proxies serve the APIs and the zone peer cache.
		return mux
	}
	if a.cfg.Cache.Peers {
		mux.Handle("GET "+cache.PeerPath, a.requirePeer(cache.PeerHandler(a.cache)))
	}
	mux.Handle("POST "+query.Path, a.admin.GuardQuery(query.Handler(a.query)))
	a.admin.Register(mux)
	a.console.Register(mux)
	return mux
}
