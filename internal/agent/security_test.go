package agent

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/auth"
)

func TestParseListener(t *testing.T) {
	l, err := ParseListener("name=EXT,addr=0.0.0.0:9094,advertise=kafka.example.com:9094,protocol=sasl_ssl")
	if err != nil || l != (ListenerConfig{Name: "EXT", Addr: "0.0.0.0:9094", Advertise: "kafka.example.com:9094", Protocol: auth.SASLSSL}) {
		t.Fatalf("ParseListener = %+v, %v", l, err)
	}
	if l, err := ParseListener("addr=:9093,protocol=SSL"); err != nil || l.Name != "SSL" {
		t.Fatalf("name defaults to the protocol: %+v, %v", l, err)
	}
	for _, bad := range []string{"name=A", "addr=nohost", "addr=:1,protocol=TLS", "addr=:1,color=red", "addr"} {
		if _, err := ParseListener(bad); err == nil {
			t.Errorf("ParseListener(%q) accepted", bad)
		}
	}
	cfg := Config{Listeners: []ListenerConfig{{Name: "A", Addr: ":1"}, {Name: "A", Addr: ":2"}}}
	if _, err := cfg.listenerConfigs(); err == nil {
		t.Error("two listeners of one name accepted")
	}
}

// TestRequirePeer: the zone peer endpoint answers the cluster secret or a
// verified client certificate, nothing else; unguarded only when neither
// is configured.
func TestRequirePeer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") })
	newAgent := func(sec SecurityConfig) *Agent {
		return &Agent{cfg: Config{Security: sec}, logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			peerRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})}
	}
	status := func(h http.Handler, edit func(*http.Request)) int {
		r := httptest.NewRequest(http.MethodGet, "/internal/cache/v1/range", nil)
		if edit != nil {
			edit(r)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	open := newAgent(SecurityConfig{}).requirePeer(ok)
	if status(open, nil) != 200 {
		t.Fatal("unsecured agent guards its peer endpoint")
	}
	secret := newAgent(SecurityConfig{ClusterSecret: "s3"}).requirePeer(ok)
	if status(secret, nil) != 403 || status(secret, func(r *http.Request) { r.Header.Set(clusterSecretHeader, "s4") }) != 403 {
		t.Fatal("wrong or missing secret accepted")
	}
	if status(secret, func(r *http.Request) { r.Header.Set(clusterSecretHeader, "s3") }) != 200 {
		t.Fatal("the secret is refused")
	}
	verified := func(r *http.Request) {
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	}
	mtls := newAgent(SecurityConfig{HTTPTLS: true, TLS: auth.TLSFiles{ClientCAFile: "ca.pem"}}).requirePeer(ok)
	if status(mtls, verified) != 200 || status(mtls, nil) != 403 || status(mtls, func(r *http.Request) { r.TLS = &tls.ConnectionState{} }) != 403 {
		t.Fatal("mTLS guard wrong")
	}
	// A secret alone does not make client certificates count.
	if status(secret, verified) != 403 {
		t.Fatal("a client certificate passed where only the secret is configured")
	}
}
