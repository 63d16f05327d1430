package e2e

// Security end to end: TLS, mTLS and SASL (PLAIN, SCRAM-SHA-256/512,
// OAUTHBEARER) on the listeners of one `sluice dev`, with franz-go, kcat,
// confluent-kafka and kafka-python (librdkafka and pure Python), kafkajs
// and sarama; bad input of every kind refused while the agent stays up;
// the HTTP port's protections. Certificates and JWTs are made here.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
)

// testPKI is a CA, an agent certificate for 127.0.0.1 and localhost, a
// client certificate it signed, and one from a CA the agent does not trust.
type testPKI struct {
	dir                                  string
	ca, cert, key, clientCert, clientKey string
	rogueCert, rogueKey                  string
	pool                                 *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir}
	caCert, caKey, caPEM := makeCA(t, "sluice-test-ca")
	p.ca = writePEM(t, dir, "ca.pem", caPEM)
	p.pool = x509.NewCertPool()
	p.pool.AppendCertsFromPEM(caPEM)
	c, k := issueCert(t, caCert, caKey, pkix.Name{CommonName: "agent"}, 2)
	p.cert, p.key = writePEM(t, dir, "agent.pem", c), writePEM(t, dir, "agent-key.pem", k)
	c, k = issueCert(t, caCert, caKey, pkix.Name{CommonName: "app-client", Organization: []string{"Example"}}, 3)
	p.clientCert, p.clientKey = writePEM(t, dir, "client.pem", c), writePEM(t, dir, "client-key.pem", k)
	rogueCA, rogueKey, _ := makeCA(t, "rogue-ca")
	c, k = issueCert(t, rogueCA, rogueKey, pkix.Name{CommonName: "intruder"}, 4)
	p.rogueCert, p.rogueKey = writePEM(t, dir, "rogue.pem", c), writePEM(t, dir, "rogue-key.pem", k)
	return p
}

func makeCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func issueCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writePEM(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secureAgent is a `sluice dev` with four listeners: PLAINTEXT (the
// harness's KafkaAddr), SSL (client certificates requested), SASL_SSL and
// SASL_PLAINTEXT; user alice (password alice-pw) created in the store
// before it started; OAUTHBEARER tokens signed by jwtKey.
type secureAgent struct {
	*Agent
	pki                     *testPKI
	ssl, saslSSL, saslPlain string
	jwtKey, forger          *rsa.PrivateKey
}

const (
	secIssuer   = "https://idp.test"
	secAudience = "sluice"
	secSecret   = "peer-secret-for-tests"
)

func startSecureAgent(t *testing.T) *secureAgent {
	t.Helper()
	pki := newTestPKI(t)
	dataDir := t.TempDir()
	out, err := exec.Command(sluiceBin, "users", "create", "alice", "--password", "alice-pw", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("users create before the agent runs: %v\n%s", err, out)
	}
	jwtKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(jwtKey.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(jwtKey.E)).Bytes())}}})
	jwksPath := writePEM(t, pki.dir, "jwks.json", jwks)
	s := &secureAgent{pki: pki, ssl: freeAddr(t), saslSSL: freeAddr(t), saslPlain: freeAddr(t), jwtKey: jwtKey, forger: forger}
	// StartAgent passes --kafka-addr; the PLAINTEXT listener here uses it.
	kafkaAddr := freeAddr(t)
	s.Agent = StartAgent(t, dataDir,
		"--listener", "name=PLAINTEXT,addr="+kafkaAddr+",protocol=PLAINTEXT",
		"--listener", "name=SSL,addr="+s.ssl+",protocol=SSL",
		"--listener", "name=SASL_SSL,addr="+s.saslSSL+",protocol=SASL_SSL",
		"--listener", "name=SASL_PLAINTEXT,addr="+s.saslPlain+",protocol=SASL_PLAINTEXT",
		"--tls-cert", pki.cert, "--tls-key", pki.key, "--tls-client-ca", pki.ca, "--tls-client-auth", "request",
		"--ssl-principal-mapping-rules", "RULE:^CN=([^,]*),O=Example$/$1/L,DEFAULT",
		"--oauth-jwks-file", jwksPath, "--oauth-issuer", secIssuer, "--oauth-audience", secAudience,
		"--auth-failure-delay", "100ms", "--cluster-secret", secSecret, "--sasl-max-reauth", "1h")
	s.Agent.KafkaAddr = kafkaAddr
	return s
}

// token signs a JWT for sub expiring in ttl (negative: already expired).
func (s *secureAgent) token(t *testing.T, key *rsa.PrivateKey, sub string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "iss": secIssuer, "aud": secAudience,
		"iat": now.Add(-2 * time.Minute).Unix(), "exp": now.Add(ttl).Unix()})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (s *secureAgent) tlsConfig(withClientCert bool, certFile, keyFile string) *tls.Config {
	cfg := &tls.Config{RootCAs: s.pki.pool, MinVersion: tls.VersionTLS12}
	if withClientCert {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			s.t.Fatal(err)
		}
		// Always present it, even when the server's acceptable CAs do
		// not list its issuer (Go's client would then send none).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return cfg
}

// produceOne produces a record through a new client with opts and
// returns the error; the client's metadata must point at addr only.
func produceOne(t *testing.T, addr, topic string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordRetries(2),
		kgo.RequestRetries(2), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	defer func() { t.Logf("produce through %s took %v", addr, time.Since(start)) }()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		return err
	}
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, b := range md.Brokers {
		if got := net.JoinHostPort(b.Host, fmt.Sprint(b.Port)); got != addr {
			t.Errorf("Metadata on the listener at %s advertises %s", addr, got)
		}
	}
	return nil
}

// requestOnce sends one Metadata request through a new client that does
// not retry, and returns its error.
func requestOnce(t *testing.T, addr string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

type namedMech struct {
	sasl.Mechanism
	name string
}

func (m namedMech) Name() string { return m.name }

func TestSecurityFranzGo(t *testing.T) {
	t.Parallel()
	s := startSecureAgent(t)
	s.CreateTopic("sec", 1)
	alice := scram.Auth{User: "alice", Pass: "alice-pw"}
	ok := []struct {
		name string
		addr string
		opts []kgo.Opt
	}{
		{"SSL", s.ssl, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", ""))}},
		{"mTLS", s.ssl, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(true, s.pki.clientCert, s.pki.clientKey))}},
		{"SASL_SSL/PLAIN", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism())}},
		{"SASL_SSL/SCRAM-SHA-256", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(alice.AsSha256Mechanism())}},
		{"SASL_SSL/SCRAM-SHA-512", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(alice.AsSha512Mechanism())}},
		{"SASL_SSL/OAUTHBEARER", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(oauth.Auth{Token: s.token(t, s.jwtKey, "svc-etl", time.Hour)}.AsMechanism())}},
		{"SASL_PLAINTEXT/SCRAM-SHA-512", s.saslPlain, []kgo.Opt{kgo.SASL(alice.AsSha512Mechanism())}},
	}
	for _, tc := range ok {
		if err := produceOne(t, tc.addr, "sec", tc.opts...); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	waitLog(t, s.Agent, "principal=User:app-client")
	waitLog(t, s.Agent, "principal=User:svc-etl")

	refused := []struct {
		name string
		addr string
		opts []kgo.Opt
		want error // nil: any error
	}{
		{"wrong password", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism())}, kerr.SaslAuthenticationFailed},
		{"unknown user", s.saslPlain, []kgo.Opt{kgo.SASL(plain.Auth{User: "mallory", Pass: "x"}.AsMechanism())}, kerr.SaslAuthenticationFailed},
		{"unknown mechanism", s.saslPlain, []kgo.Opt{kgo.SASL(namedMech{plain.Auth{User: "a", Pass: "b"}.AsMechanism(), "GSSAPI"})}, kerr.UnsupportedSaslMechanism},
		{"expired JWT", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(oauth.Auth{Token: s.token(t, s.jwtKey, "svc", -time.Hour)}.AsMechanism())}, kerr.SaslAuthenticationFailed},
		{"forged JWT", s.saslSSL, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(false, "", "")), kgo.SASL(oauth.Auth{Token: s.token(t, s.forger, "svc", time.Hour)}.AsMechanism())}, kerr.SaslAuthenticationFailed},
		{"untrusted client certificate", s.ssl, []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(true, s.pki.rogueCert, s.pki.rogueKey))}, nil},
		{"no SASL on a SASL listener", s.saslPlain, nil, nil},
		{"plaintext client on a TLS listener", s.ssl, nil, nil},
	}
	for _, tc := range refused {
		err := requestOnce(t, tc.addr, tc.opts...)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want refused (%v)", tc.name, err, tc.want)
		}
	}

	// Bytes of the wrong kind: plaintext Kafka on a TLS port, Kafka
	// before SASL, and a bare frame of garbage; each connection closed.
	for _, addr := range []string{s.ssl, s.saslSSL, s.saslPlain} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 1
		c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1))
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: a plaintext Metadata request left the connection open", addr)
		}
		// A TLS port may send an alert record (type 21) before closing;
		// nothing may answer in Kafka.
		if len(got) > 0 && (addr == s.saslPlain || got[0] != 21) {
			t.Errorf("%s answered a plaintext Metadata request before authentication: % x", addr, got[:min(len(got), 16)])
		}
	}

	// Users created through the agent, over SASL_SSL as alice.
	out, err := exec.Command(sluiceBin, "users", "create", "bob", "--mechanism", "SCRAM-SHA-512", "--password", "bob-pw",
		"--brokers", s.saslSSL, "--tls-ca", s.pki.ca, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "alice", "--sasl-password", "alice-pw").CombinedOutput()
	if err != nil {
		t.Fatalf("users create through the agent: %v\n%s", err, out)
	}
	if err := produceOne(t, s.saslPlain, "sec", kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism())); err != nil {
		t.Fatalf("bob, created through the agent: %v", err)
	}
	out, err = exec.Command(sluiceBin, "users", "list", "--brokers", s.KafkaAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bob    SCRAM-SHA-512  8192") || !strings.Contains(string(out), "alice  SCRAM-SHA-256") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if out, err := exec.Command(sluiceBin, "users", "delete", "bob", "--brokers", s.KafkaAddr).CombinedOutput(); err != nil {
		t.Fatalf("users delete: %v\n%s", err, out)
	}
	if err := requestOnce(t, s.saslPlain, kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob after delete: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// The agent is still up, and counted the failures.
	if err := produceOne(t, s.KafkaAddr, "sec"); err != nil {
		t.Fatalf("PLAINTEXT after the bad input: %v", err)
	}
	metrics := httpGet(t, "http://"+s.HTTPAddr+"/metrics", nil, 200)
	for _, m := range []string{`sluice_sasl_authentications_total{mechanism="SCRAM-SHA-256",result="failure"}`, `sluice_sasl_authentications_total{mechanism="unsupported",result="failure"}`,
		`sluice_sasl_authentications_total{mechanism="OAUTHBEARER",result="success"}`, `sluice_tls_handshake_failures_total{listener="SSL"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if !strings.Contains(s.logs.String(), "authentication failed") {
		t.Error("failed authentications are not logged")
	}
}

// TestSecurityHTTPPort: pprof off by default, the zone peer endpoint
// behind the cluster secret, /metrics and /healthz open.
func TestSecurityHTTPPort(t *testing.T) {
	t.Parallel()
	s := startSecureAgent(t)
	base := "http://" + s.HTTPAddr
	httpGet(t, base+"/debug/pprof/", nil, 404)
	httpGet(t, base+"/internal/cache/v1/range?key=x&size=1&off=0&len=1", nil, 403)
	httpGet(t, base+"/internal/cache/v1/range?key=x&size=1&off=0&len=1", http.Header{"X-Sluice-Cluster-Secret": {"wrong"}}, 403)
	// With the secret the request gets past the guard (and fails on its
	// made-up key, not on authentication).
	if body := httpGetStatus(t, base+"/internal/cache/v1/range?key=x&size=1&off=0&len=1", http.Header{"X-Sluice-Cluster-Secret": {secSecret}}); body == 403 {
		t.Fatal("the cluster secret is refused")
	}
	httpGet(t, base+"/healthz", nil, 200)
	httpGet(t, base+"/metrics", nil, 200)

	// --http-tls with --enable-pprof on an agent of its own.
	pki := newTestPKI(t)
	a := startAgentTLSHTTP(t, pki)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}, Timeout: 10 * time.Second}
	resp, err := cl.Get("https://" + a.HTTPAddr + "/debug/pprof/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https pprof: %v %v", resp, err)
	}
	resp.Body.Close()
}

// startAgentTLSHTTP runs an agent whose HTTP port is TLS; the harness's
// health wait is plain HTTP, so this one waits itself.
func startAgentTLSHTTP(t *testing.T, pki *testPKI) *Agent {
	t.Helper()
	a := &Agent{t: t, DataDir: t.TempDir(), KafkaAddr: freeAddr(t), HTTPAddr: freeAddr(t)}
	args := []string{"dev", "--data-dir", a.DataDir, "--kafka-addr", a.KafkaAddr, "--http-addr", a.HTTPAddr,
		"--http-tls", "--tls-cert", pki.cert, "--tls-key", pki.key, "--enable-pprof"}
	a.cmd = exec.Command(sluiceBin, args...)
	a.logs = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.exited = make(chan struct{})
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.Stop)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}, Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := cl.Get("https://" + a.HTTPAddr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		select {
		case <-a.exited:
			t.Fatalf("agent exited:\n%s", a.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("agent with --http-tls never healthy:\n%s", a.logs.String())
	return nil
}

func httpGetStatus(t *testing.T, url string, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpGet(t *testing.T, url string, h http.Header, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d\n%s", url, resp.StatusCode, want, body)
	}
	return string(body)
}

// waitLog waits until the agent's log holds s.
func waitLog(t *testing.T, a *Agent, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("agent log never showed %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecurityLibrdkafka: kcat and confluent-kafka (librdkafka) over
// SASL_SSL with SCRAM and PLAIN, and mTLS; a wrong password fails.
func TestSecurityLibrdkafka(t *testing.T) {
	t.Parallel()
	cliRequireKcat(t)
	s := startSecureAgent(t)
	s.CreateTopic("rdk", 1)
	kcat := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "kcat", args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	sslArgs := []string{"-X", "ssl.ca.location=" + s.pki.ca}
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		args := append([]string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=alice", "-X", "sasl.password=alice-pw"}, sslArgs...)
		if out, err := kcat("kcat-"+mech+"\n", append(args, "-P", "-t", "rdk")...); err != nil {
			t.Fatalf("kcat produce over SASL_SSL %s: %v\n%s\nagent log:\n%s", mech, err, out, s.logs.String())
		}
	}
	out, err := kcat("", "-b", s.ssl, "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+s.pki.ca,
		"-X", "ssl.certificate.location="+s.pki.clientCert, "-X", "ssl.key.location="+s.pki.clientKey,
		"-C", "-t", "rdk", "-o", "beginning", "-e", "-f", "%s\n")
	if err != nil || !strings.Contains(out, "kcat-SCRAM-SHA-256") || !strings.Contains(out, "kcat-PLAIN") {
		t.Fatalf("kcat consume over mTLS: %v\n%s", err, out)
	}
	if out, err := kcat("", "-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
		"-X", "sasl.username=alice", "-X", "sasl.password=wrong", "-X", "ssl.ca.location="+s.pki.ca, "-L", "-m", "5"); err == nil {
		t.Fatalf("kcat with a wrong password listed metadata:\n%s", out)
	}

	script := `
import json, sys
from confluent_kafka import Producer
cfg = json.loads(sys.argv[1])
errs = []
p = Producer(cfg["conf"])
p.produce("rdk", b"confluent-" + cfg["tag"].encode(), callback=lambda err, msg: errs.append(str(err)) if err else None)
left = p.flush(20)
print(json.dumps({"left": left, "errors": errs}))
sys.exit(1 if left or errs else 0)
`
	for tag, conf := range map[string]map[string]string{
		"scram": {"bootstrap.servers": s.saslSSL, "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
			"sasl.username": "alice", "sasl.password": "alice-pw", "ssl.ca.location": s.pki.ca},
		"plain": {"bootstrap.servers": s.saslSSL, "security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
			"sasl.username": "alice", "sasl.password": "alice-pw", "ssl.ca.location": s.pki.ca},
		"mtls": {"bootstrap.servers": s.ssl, "security.protocol": "SSL", "ssl.ca.location": s.pki.ca,
			"ssl.certificate.location": s.pki.clientCert, "ssl.key.location": s.pki.clientKey},
	} {
		arg, _ := json.Marshal(map[string]any{"conf": conf, "tag": tag})
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		out, err := exec.CommandContext(ctx, cliPython, "-c", script, string(arg)).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("confluent-kafka %s: %v\n%s", tag, err, out)
		}
	}
}

// TestSecurityOtherClients: kafka-python (SASL_SSL SCRAM, SASL_PLAINTEXT
// PLAIN with its raw v0 frames where it uses them), kafkajs (SCRAM, PLAIN,
// OAUTHBEARER over SASL_SSL) and sarama (PLAIN over the v0 handshake's
// raw frames, SCRAM-SHA-512 over v1).
func TestSecurityOtherClients(t *testing.T) {
	t.Parallel()
	s := startSecureAgent(t)
	s.CreateTopic("other", 1)

	script := `
import json, sys
from kafka import KafkaProducer
cfg = json.loads(sys.argv[1])
p = KafkaProducer(**cfg)
md = p.send("other", b"kafka-python").get(timeout=20)
p.close()
print(json.dumps({"offset": md.offset}))
`
	for name, cfg := range map[string]map[string]any{
		"SASL_SSL SCRAM-SHA-512": {"bootstrap_servers": s.saslSSL, "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
			"sasl_plain_username": "alice", "sasl_plain_password": "alice-pw", "ssl_cafile": s.pki.ca},
		"SASL_PLAINTEXT PLAIN": {"bootstrap_servers": s.saslPlain, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
			"sasl_plain_username": "alice", "sasl_plain_password": "alice-pw"},
	} {
		arg, _ := json.Marshal(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		out, err := exec.CommandContext(ctx, cliPython, "-c", script, string(arg)).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("kafka-python %s: %v\n%s", name, err, out)
		}
	}

	node := requireKafkajs(t)
	for _, mech := range []string{"scram-sha-256", "plain", "oauthbearer"} {
		arg, _ := json.Marshal(map[string]any{"broker": s.saslSSL, "topic": "other", "ca": s.pki.ca, "mechanism": mech,
			"user": "alice", "password": "alice-pw", "token": s.token(t, s.jwtKey, "js-app", time.Hour)})
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		cmd := exec.CommandContext(ctx, node, "secure.js", string(arg))
		cmd.Dir = kafkajsDir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !bytes.Contains(out, []byte(`"kind":"done"`)) {
			t.Errorf("kafkajs %s: %v\n%s", mech, err, out)
		}
	}
	arg, _ := json.Marshal(map[string]any{"broker": s.saslSSL, "topic": "other", "ca": s.pki.ca, "mechanism": "scram-sha-512", "user": "alice", "password": "bad"})
	cmd := exec.Command(node, "secure.js", string(arg))
	cmd.Dir = kafkajsDir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("kafkajs with a wrong password succeeded:\n%s", out)
	}

	for name, edit := range map[string]func(*sarama.Config){
		"PLAIN v0 raw frames": func(c *sarama.Config) {
			c.Net.SASL.Mechanism, c.Net.SASL.Version = sarama.SASLTypePlaintext, sarama.SASLHandshakeV0
			c.ApiVersionsRequest = false // sarama's rule for the v0 flow
		},
		"SCRAM-SHA-512 v1": func(c *sarama.Config) {
			c.Net.SASL.Mechanism, c.Net.SASL.Version = sarama.SASLTypeSCRAMSHA512, sarama.SASLHandshakeV1
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: xscram.SHA512} }
		},
	} {
		c := sarama.NewConfig()
		c.Version = sarama.V2_8_0_0
		c.Producer.Return.Successes = true
		c.Net.SASL.Enable, c.Net.SASL.User, c.Net.SASL.Password = true, "alice", "alice-pw"
		edit(c)
		p, err := sarama.NewSyncProducer([]string{s.saslPlain}, c)
		if err != nil {
			t.Errorf("sarama %s: %v", name, err)
			continue
		}
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "other", Value: sarama.StringEncoder("sarama")}); err != nil {
			t.Errorf("sarama %s: send: %v", name, err)
		}
		p.Close()
	}
	if !strings.Contains(s.logs.String(), "principal=User:js-app") {
		t.Error("kafkajs OAUTHBEARER principal not logged")
	}
}

// xdgSCRAM adapts github.com/xdg-go/scram to sarama's SCRAMClient.
type xdgSCRAM struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authz string) error {
	c, err := x.hash.NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

// TestSecurityClusterListeners: agents of a cluster each register all
// their listeners; a client on the SASL listener of one agent is sent to
// every agent's SASL address, one on PLAINTEXT to PLAINTEXT addresses. The
// first user is created in PostgreSQL before any agent runs.
func TestSecurityClusterListeners(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{})
	out, err := exec.Command(sluiceBin, "users", "create", "alice", "--password", "alice-pw", "--metadata-url", c.MetadataURL).CombinedOutput()
	if err != nil {
		t.Fatalf("users create in PostgreSQL: %v\n%s", err, out)
	}
	plainAddrs, saslAddrs := map[string]bool{}, map[string]bool{}
	var agents []*ClusterAgent
	for i := 0; i < 2; i++ {
		p, s := freeAddr(t), freeAddr(t)
		plainAddrs[p], saslAddrs[s] = true, true
		a := c.AddAgent("", "--listener", "name=PLAINTEXT,addr="+p+",protocol=PLAINTEXT",
			"--listener", "name=SASL_PLAINTEXT,addr="+s+",protocol=SASL_PLAINTEXT", "--cluster-secret", secSecret)
		a.KafkaAddr = p
		agents = append(agents, a)
	}
	ctx := testContext(t, 30*time.Second)
	check := func(addr string, want map[string]bool, opts ...kgo.Opt) {
		t.Helper()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for {
			md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("metadata through %s: %v", addr, err)
			}
			got := map[string]bool{}
			for _, b := range md.Brokers {
				got[net.JoinHostPort(b.Host, fmt.Sprint(b.Port))] = true
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("Metadata through %s lists %v, want %v", addr, got, want)
			case <-time.After(100 * time.Millisecond):
			}
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = "some-group"
		resp, err := fc.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || !want[net.JoinHostPort(resp.Host, fmt.Sprint(resp.Port))] {
			t.Fatalf("FindCoordinator through %s: %+v, %v; want one of %v", addr, resp, err, want)
		}
	}
	alice := kgo.SASL(scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism())
	for _, a := range agents {
		check(a.KafkaAddr, plainAddrs)
	}
	for s := range saslAddrs {
		check(s, saslAddrs, alice)
	}
}
