package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"testing"
	"time"
)

// handshake connects a client trusting roots to a server configured by
// srv and returns the certificate the server presented.
func handshake(t *testing.T, srv *tls.Config, roots *x509.CertPool, clientCert *tls.Certificate) (*x509.Certificate, error) {
	t.Helper()
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srvErr := make(chan error, 1)
	go func() { srvErr <- tls.Server(a, srv).HandshakeContext(ctx) }()
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	c := tls.Client(b, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		b.Close()
		<-srvErr
		return nil, err
	}
	if err := <-srvErr; err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestTLSReloaderRotatesCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	c1, k1 := ca.issue(t, pkix.Name{CommonName: "agent-1"}, 10)
	certPath := writeFile(t, dir, "cert.pem", c1)
	keyPath := writeFile(t, dir, "key.pem", k1)
	r, err := NewTLSReloader(TLSFiles{CertFile: certPath, KeyFile: keyPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.checkEvery = 0
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	got, err := handshake(t, r.ServerConfig(), roots, nil)
	if err != nil || got.Subject.CommonName != "agent-1" {
		t.Fatalf("first handshake: %v, %v", got, err)
	}
	// A half-written key keeps the old pair in service.
	writeFile(t, dir, "key.pem", []byte("garbage"))
	if got, err := handshake(t, r.ServerConfig(), roots, nil); err != nil || got.Subject.CommonName != "agent-1" {
		t.Fatalf("during a broken rewrite: %v, %v", got, err)
	}
	c2, k2 := ca.issue(t, pkix.Name{CommonName: "agent-2"}, 11)
	writeFile(t, dir, "cert.pem", c2)
	writeFile(t, dir, "key.pem", k2)
	later := time.Now().Add(time.Minute)
	os.Chtimes(certPath, later, later)
	os.Chtimes(keyPath, later, later)
	if got, err := handshake(t, r.ServerConfig(), roots, nil); err != nil || got.Subject.CommonName != "agent-2" {
		t.Fatalf("after rotation: %v, %v; want agent-2 without a restart", got, err)
	}
}

func TestTLSClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	sc, sk := ca.issue(t, pkix.Name{CommonName: "agent"}, 2)
	r, err := NewTLSReloader(TLSFiles{CertFile: writeFile(t, dir, "c.pem", sc), KeyFile: writeFile(t, dir, "k.pem", sk),
		ClientCAFile: writeFile(t, dir, "ca.pem", ca.pem), ClientAuth: ClientAuthRequire}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	cc, ck := ca.issue(t, pkix.Name{CommonName: "client"}, 3)
	good, _ := tls.X509KeyPair(cc, ck)
	if _, err := handshake(t, r.ServerConfig(), roots, &good); err != nil {
		t.Fatalf("trusted client certificate refused: %v", err)
	}
	oc, ok := other.issue(t, pkix.Name{CommonName: "intruder"}, 4)
	bad, _ := tls.X509KeyPair(oc, ok)
	if _, err := handshake(t, r.ServerConfig(), roots, &bad); err == nil {
		t.Fatal("certificate of an untrusted CA accepted")
	}
	if _, err := handshake(t, r.ServerConfig(), roots, nil); err == nil {
		t.Fatal("client without a certificate accepted under require")
	}
	if _, err := NewTLSReloader(TLSFiles{CertFile: "c", KeyFile: "k", ClientAuth: ClientAuthRequire}, nil); err == nil {
		t.Fatal("require without a client CA accepted")
	}
	old := &tls.Config{MaxVersion: tls.VersionTLS11, RootCAs: roots, ServerName: "localhost"}
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	go tls.Server(a, r.ServerConfig()).Handshake()
	if err := tls.Client(b, old).Handshake(); err == nil {
		t.Fatal("TLS 1.1 accepted; the minimum is 1.2")
	}
}

// tcpPair returns the two ends of a loopback TCP connection (buffered,
// unlike net.Pipe, so a side's alert never waits for the other to read).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	return a, b
}
