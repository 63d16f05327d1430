package kafka

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cluster"
)

// saslServer is a test server with a second, SASL_PLAINTEXT listener
// offering PLAIN and both SCRAMs over the server's own store, which holds
// alice (password "alice-secret", both SCRAMs).
type saslServer struct {
	*testServer
	saslAddr string
}

func startSASLServer(t *testing.T, cfg Config, extra ...auth.Mechanism) *saslServer {
	t.Helper()
	return startSASLServerDeps(t, cfg, nil, extra...)
}

// startSASLServerDeps is startSASLServer with edit applied to the
// server's dependencies.
func startSASLServerDeps(t *testing.T, cfg Config, edit func(*Deps), extra ...auth.Mechanism) *saslServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	saslPort := int32(ln.Addr().(*net.TCPAddr).Port)
	if cfg.AuthFailureDelay == 0 {
		cfg.AuthFailureDelay = 10 * time.Millisecond
	}
	var store auth.ScramStore
	ts := startServerDeps(t, cfg, nil, func(d *Deps) {
		store = d.Log.(auth.ScramStore)
		d.Scram = store
		self := d.Membership.Self()
		self.Listeners = []cluster.Endpoint{{Name: "PLAINTEXT", Host: self.Host, Port: self.Port}, {Name: "SASL", Host: "127.0.0.1", Port: saslPort}}
		d.Membership = cluster.Single{Broker: self}
		if edit != nil {
			edit(d)
		}
	})
	for _, m := range []auth.ScramMechanism{auth.ScramSHA256, auth.ScramSHA512} {
		c, err := auth.NewScramCredential("alice", m, "alice-secret", auth.MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.UpsertScramCredential(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	mechs, err := auth.NewSASL(append([]auth.Mechanism{auth.NewPlain(store), auth.NewScram(auth.ScramSHA256, store), auth.NewScram(auth.ScramSHA512, store)}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.ServeListener(context.Background(), ln, Listener{Name: "SASL", Protocol: auth.SASLPlaintext, SASL: mechs})
	return &saslServer{testServer: ts, saslAddr: ln.Addr().String()}
}

func (ss *saslServer) dialSASL(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ss.saslAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func TestSASLFranzClients(t *testing.T) {
	ss := startSASLServer(t, Config{})
	ss.createTopic("t", 1, nil)
	alice := func(ctx context.Context) (scram.Auth, error) {
		return scram.Auth{User: "alice", Pass: "alice-secret"}, nil
	}
	for name, mech := range map[string]kgo.Opt{
		"PLAIN":         kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()),
		"SCRAM-SHA-256": kgo.SASL(scram.Sha256(alice)),
		"SCRAM-SHA-512": kgo.SASL(scram.Sha512(alice)),
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(ss.saslAddr), mech, kgo.DefaultProduceTopic("t"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatalf("produce over SASL %s: %v", name, err)
			}
		})
	}
	before := testutil.ToFloat64(ss.srv.metrics.authentications.WithLabelValues("SCRAM-SHA-256", "failure"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(ss.saslAddr), kgo.SASL(scram.Auth{User: "alice", Pass: "wrong"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: Ping = %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if got := testutil.ToFloat64(ss.srv.metrics.authentications.WithLabelValues("SCRAM-SHA-256", "failure")); got <= before {
		t.Fatalf("failed authentications counted %v, want more than %v", got, before)
	}
}

// TestSASLStateMachine drives the SASL exchange by hand: each out-of-order
// step gets Kafka's answer (an error, a closed connection), and the agent
// keeps serving.
func TestSASLStateMachine(t *testing.T) {
	ss := startSASLServer(t, Config{})
	handshake := func(rc *rawConn, version int16, mech string) *kmsg.SASLHandshakeResponse {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = version, mech
		return rc.roundTrip(req).(*kmsg.SASLHandshakeResponse)
	}
	authenticate := func(rc *rawConn, version int16, msg []byte) *kmsg.SASLAuthenticateResponse {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = version, msg
		return rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
	}
	plainMsg := func(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }
	metadataReq := func() *kmsg.MetadataRequest {
		m := kmsg.NewPtrMetadataRequest()
		m.Version = 1
		return m
	}

	t.Run("RequestBeforeAuthenticationCloses", func(t *testing.T) {
		rc := ss.dialSASL(t)
		rc.apiVersions() // allowed before authentication
		rc.send(metadataReq())
		rc.expectClosed()
	})
	t.Run("AuthenticateBeforeHandshake", func(t *testing.T) {
		rc := ss.dialSASL(t)
		if r := authenticate(rc, 1, plainMsg("alice", "alice-secret")); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
		}
		rc.expectClosed()
	})
	t.Run("UnknownMechanism", func(t *testing.T) {
		rc := ss.dialSASL(t)
		r := handshake(rc, 1, "GSSAPI")
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 3 || r.SupportedMechanisms[0] != "PLAIN" {
			t.Fatalf("handshake GSSAPI = %+v, want UNSUPPORTED_SASL_MECHANISM listing PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", r)
		}
		rc.expectClosed()
	})
	t.Run("HandshakeTwice", func(t *testing.T) {
		rc := ss.dialSASL(t)
		if r := handshake(rc, 1, "PLAIN"); r.ErrorCode != 0 {
			t.Fatalf("handshake: %d", r.ErrorCode)
		}
		rc.send(metadataReq()) // only SaslAuthenticate may follow
		rc.expectClosed()
	})
	t.Run("WrongPassword", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 1, "PLAIN")
		r := authenticate(rc, 1, plainMsg("alice", "nope"))
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil {
			t.Fatalf("wrong password: %+v, want SASL_AUTHENTICATION_FAILED with a message", r)
		}
		rc.expectClosed()
	})
	t.Run("MalformedPlain", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 1, "PLAIN")
		if r := authenticate(rc, 1, []byte("no-nuls-here")); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("malformed PLAIN: %d", r.ErrorCode)
		}
		rc.expectClosed()
	})
	t.Run("PlainV1ThenServes", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 1, "PLAIN")
		r := authenticate(rc, 1, plainMsg("alice", "alice-secret"))
		if r.ErrorCode != 0 || r.SessionLifetimeMillis != 0 {
			t.Fatalf("PLAIN: %+v, want success without a session lifetime", r)
		}
		md := rc.roundTrip(metadataReq()).(*kmsg.MetadataResponse)
		if len(md.Brokers) != 1 || md.Brokers[0].Host+":"+itoa(md.Brokers[0].Port) != ss.saslAddr {
			t.Fatalf("Metadata on the SASL listener lists %+v, want the SASL address %s", md.Brokers, ss.saslAddr)
		}
		if r := handshake(rc, 0, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("v0 handshake after authentication: %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
		}
	})
	t.Run("PlaintextListenerAnswersIllegalState", func(t *testing.T) {
		rc := ss.dial()
		if r := handshake(rc, 1, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake on PLAINTEXT: %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
		}
		md := rc.roundTrip(metadataReq()).(*kmsg.MetadataResponse)
		if md.Brokers[0].Host+":"+itoa(md.Brokers[0].Port) != ss.addr {
			t.Fatalf("Metadata on PLAINTEXT lists %+v, want %s", md.Brokers, ss.addr)
		}
	})
	t.Run("RawPlainV0", func(t *testing.T) {
		rc := ss.dialSASL(t)
		if r := handshake(rc, 0, "PLAIN"); r.ErrorCode != 0 {
			t.Fatalf("v0 handshake: %d", r.ErrorCode)
		}
		if got := rawExchange(rc, plainMsg("alice", "alice-secret")); len(got) != 0 {
			t.Fatalf("PLAIN raw answer %q, want empty", got)
		}
		rc.roundTrip(metadataReq())
	})
	t.Run("RawPlainV0WrongPassword", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 0, "PLAIN")
		rawWrite(rc, plainMsg("alice", "bad"))
		rc.expectClosed()
	})
	t.Run("RawScramV0", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 0, "SCRAM-SHA-512")
		client, err := xscram.SHA512.NewClient("alice", "alice-secret", "")
		if err != nil {
			t.Fatal(err)
		}
		conv := client.NewConversation()
		first, _ := conv.Step("")
		serverFirst := rawExchange(rc, []byte(first))
		final, err := conv.Step(string(serverFirst))
		if err != nil {
			t.Fatal(err)
		}
		serverFinal := rawExchange(rc, []byte(final))
		if _, err := conv.Step(string(serverFinal)); err != nil || !conv.Valid() {
			t.Fatalf("server signature not accepted: %v", err)
		}
		rc.roundTrip(metadataReq())
	})
	t.Run("ScramUnknownUser", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, 1, "SCRAM-SHA-256")
		client, _ := xscram.SHA256.NewClient("mallory", "x", "")
		first, _ := client.NewConversation().Step("")
		if r := authenticate(rc, 1, []byte(first)); r.ErrorCode != kerr.SaslAuthenticationFailed.Code || *r.ErrorMessage != authFailedMessage("SCRAM-SHA-256") {
			t.Fatalf("unknown user: %+v", r)
		}
		rc.expectClosed()
	})
	rc := ss.dial()
	rc.apiVersions() // the agent still serves
}

// TestSASLReauthentication checks KIP-368: with a bounded session the
// response carries its lifetime, a request after it expires closes the
// connection, and re-authenticating in time keeps the connection.
func TestSASLReauthentication(t *testing.T) {
	const lifetime = 300 * time.Millisecond
	ss := startSASLServer(t, Config{MaxReauth: lifetime})
	login := func(rc *rawConn) {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: %d", r.ErrorCode)
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, []byte("\x00alice\x00alice-secret")
		r := rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > lifetime.Milliseconds() {
			t.Fatalf("authenticate: %+v, want success with a lifetime of at most %v", r, lifetime)
		}
	}
	rc := ss.dialSASL(t)
	login(rc)
	rc.apiVersions()
	// Waiting on the clock itself: the session must have expired.
	time.Sleep(lifetime + 50*time.Millisecond)
	login(rc) // re-authentication after expiry is still allowed
	rc.apiVersions()
	time.Sleep(lifetime + 50*time.Millisecond)
	rc.send(kmsg.NewPtrApiVersionsRequest())
	rc.expectClosed()
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// rawWrite sends a bare v0 SASL frame.
func rawWrite(rc *rawConn, msg []byte) {
	rc.t.Helper()
	rc.write(binary.BigEndian.AppendUint32(nil, uint32(len(msg))))
	rc.write(msg)
}

// rawExchange sends a bare v0 SASL frame and reads the bare answer.
func rawExchange(rc *rawConn, msg []byte) []byte {
	rc.t.Helper()
	rawWrite(rc, msg)
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.br, size[:]); err != nil {
		rc.t.Fatalf("raw SASL answer: %v", err)
	}
	out := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.br, out); err != nil {
		rc.t.Fatalf("raw SASL answer: %v", err)
	}
	return out
}

// TestSASLOAuthSessionLifetime: an OAUTHBEARER session lasts until the
// token's exp; the response says so (v1+), and the first request after
// it, other than a re-authentication, closes the connection.
func TestSASLOAuthSessionLifetime(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := auth.NewOAuthBearer(context.Background(), auth.OAuthConfig{JWKSFile: path})
	if err != nil {
		t.Fatal(err)
	}
	ss := startSASLServer(t, Config{}, o)
	const ttl = 2 * time.Second
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "svc", "exp": time.Now().Add(ttl).Unix()})
	tok.Header["kid"] = "k"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	rc := ss.dialSASL(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
	if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %d", r.ErrorCode)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("n,,\x01auth=Bearer "+signed+"\x01\x01")
	r := rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > ttl.Milliseconds() {
		t.Fatalf("authenticate: %+v, want a lifetime of at most %v (the token's exp)", r, ttl)
	}
	rc.apiVersions()
	// Waiting on the clock itself: the token (exp has second precision)
	// must have expired.
	time.Sleep(time.Duration(r.SessionLifetimeMillis)*time.Millisecond + 50*time.Millisecond)
	rc.send(kmsg.NewPtrApiVersionsRequest())
	rc.expectClosed()
}
