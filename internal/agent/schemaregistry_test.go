package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/produce"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns their paths and the certificate pool.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSchemaRegistryListener starts an agent serving the registry over
// TLS with basic auth in read-only mode.
func TestSchemaRegistryListener(t *testing.T) {
	dir := t.TempDir()
	bucket, meta, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := writeTestCert(t, dir)
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("admin:pw\n"), 0o600)
	a, err := Start(context.Background(), Config{
		BucketURL: bucket, MetadataURL: meta, KafkaAddr: "127.0.0.1:0", NodeID: 1,
		Produce: produce.Config{BatchTimeout: 5 * time.Millisecond},
		SchemaRegistry: SchemaRegistryConfig{Addr: "127.0.0.1:0", Mode: "readonly", BasicAuthFile: users,
			TLSCertFile: certFile, TLSKeyFile: keyFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(method, path, user string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+a.SchemaRegistryAddr()+path, strings.NewReader(`{"schema":"\"string\""}`))
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := get("GET", "/subjects", ""); st != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", st)
	}
	if st, body := get("GET", "/mode", "admin"); st != 200 || !strings.Contains(body, "READONLY") {
		t.Fatalf("GET /mode: %d %s", st, body)
	}
	if st, body := get("POST", "/subjects/s/versions", "admin"); st != 422 || !strings.Contains(body, "42205") {
		t.Fatalf("register on a read-only agent: %d %s", st, body)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + a.SchemaRegistryAddr() + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}

	// A taken address is an error when asked for explicitly, a warning
	// for the default.
	_, err = Start(context.Background(), Config{BucketURL: bucket, MetadataURL: meta, KafkaAddr: "127.0.0.1:0", NodeID: 2,
		SchemaRegistry: SchemaRegistryConfig{Addr: a.SchemaRegistryAddr()}})
	if err == nil || !strings.Contains(err.Error(), "schema registry listener") {
		t.Fatalf("second agent on the same registry address: %v", err)
	}
	b, err := Start(context.Background(), Config{BucketURL: bucket, MetadataURL: meta, KafkaAddr: "127.0.0.1:0", NodeID: 2,
		SchemaRegistry: SchemaRegistryConfig{Addr: a.SchemaRegistryAddr(), Optional: true}})
	if err != nil {
		t.Fatalf("second agent with the registry address optional: %v", err)
	}
	if b.SchemaRegistryAddr() != "" {
		t.Errorf("second agent serves the registry on %s", b.SchemaRegistryAddr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("second agent Close: %v", err)
	}
}

// TestSchemaRegistryScramAuth: with --schema-registry-basic-auth scram the
// registry's users are the cluster's SCRAM users; wrong and missing
// credentials get Confluent's 401 after the auth failure delay.
func TestSchemaRegistryScramAuth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket, meta, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenMetadata(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	users, ok := store.(interface {
		UpsertScramCredential(context.Context, auth.ScramCredential) error
	})
	if !ok {
		t.Fatalf("%T keeps no SCRAM credentials", store)
	}
	cred, err := auth.NewScramCredential("alice", auth.ScramSHA256, "s3cret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := users.UpsertScramCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	const delay = 100 * time.Millisecond
	a, err := Start(ctx, Config{
		BucketURL: bucket, Store: store, KafkaAddr: "127.0.0.1:0", NodeID: 1,
		Kafka:          kafka.Config{AuthFailureDelay: delay},
		SchemaRegistry: SchemaRegistryConfig{Addr: "127.0.0.1:0", BasicAuth: "scram"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	cl := &http.Client{Timeout: 10 * time.Second}
	register := func(user, pass string) (int, string, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+a.SchemaRegistryAddr()+"/subjects/s-value/versions", strings.NewReader(`{"schema":"\"string\""}`))
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		start := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	if st, body, _ := register("alice", "s3cret"); st != 200 || !strings.Contains(body, `"id"`) {
		t.Fatalf("register as alice: %d %s", st, body)
	}
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "nope"},
		{"unknown user", "mallory", "s3cret"},
		{"no credentials", "", ""},
	} {
		st, body, took := register(tc.user, tc.pass)
		if st != http.StatusUnauthorized || strings.TrimSpace(body) != `{"error_code":401,"message":"Unauthorized"}` {
			t.Errorf("%s: %d %s, want 401 with Confluent's body", tc.name, st, body)
		}
		if took < delay {
			t.Errorf("%s: answered in %v, before the auth failure delay %v", tc.name, took, delay)
		}
	}
	// Nothing but alice's registration was stored.
	req, _ := http.NewRequest("GET", "http://"+a.SchemaRegistryAddr()+"/subjects/s-value/versions", nil)
	req.SetBasicAuth("alice", "s3cret")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "[1]" {
		t.Errorf("versions of s-value: %d %s, want [1]", resp.StatusCode, b)
	}

	for _, cfg := range []SchemaRegistryConfig{
		{BasicAuth: "scram", BasicAuthFile: "users"},
		{BasicAuth: "none", BasicAuthFile: "users"},
		{BasicAuth: "file"},
		{BasicAuth: "ldap"},
	} {
		if _, err := schemaRegistryAuth(cfg, store); err == nil {
			t.Errorf("basic auth %q with file %q accepted", cfg.BasicAuth, cfg.BasicAuthFile)
		}
	}
}
