package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/xdg-go/scram"
)

func storeWith(t *testing.T, user, password string, mechs ...ScramMechanism) *MemScramStore {
	t.Helper()
	s := NewMemScramStore()
	for _, m := range mechs {
		c, err := NewScramCredential(user, m, password, MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		s.UpsertScramCredential(context.Background(), c)
	}
	return s
}

// runScram plays a client conversation against a server session and
// returns the session and the first error.
func runScram(t *testing.T, m ScramMechanism, store ScramStore, user, password, authzID string) (Session, error) {
	t.Helper()
	hg := scram.SHA256
	if m == ScramSHA512 {
		hg = scram.SHA512
	}
	client, err := hg.NewClient(user, password, authzID)
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	sess := NewScram(m, store).Start()
	ctx := context.Background()
	msg, _ := conv.Step("")
	for i := 0; i < 3; i++ {
		challenge, done, err := sess.Step(ctx, []byte(msg))
		if err != nil {
			return sess, err
		}
		if done {
			if _, err := conv.Step(string(challenge)); err != nil || !conv.Valid() {
				t.Fatalf("client rejects the server's signature: %v", err)
			}
			return sess, nil
		}
		if msg, err = conv.Step(string(challenge)); err != nil {
			t.Fatalf("client step: %v", err)
		}
	}
	t.Fatal("exchange did not finish in two steps")
	return nil, nil
}

func TestScram(t *testing.T) {
	for _, m := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		t.Run(m.String(), func(t *testing.T) {
			store := storeWith(t, "a,b=c", "pw", m) // a name RFC 5802 escapes
			sess, err := runScram(t, m, store, "a,b=c", "pw", "")
			if err != nil || sess.Principal() != User("a,b=c") || !sess.Expiry().IsZero() {
				t.Fatalf("good password: %v, %v", sess.Principal(), err)
			}
			if _, err := runScram(t, m, store, "a,b=c", "bad", ""); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("wrong password: %v, want ErrAuthFailed", err)
			}
			if _, err := runScram(t, m, store, "nobody", "pw", ""); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("unknown user: %v, want ErrAuthFailed", err)
			}
			if _, err := runScram(t, m, store, "a,b=c", "pw", "someone-else"); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("authzid of another user: %v, want ErrAuthFailed", err)
			}
		})
	}
	// The other mechanism's credential does not log in.
	if _, err := runScram(t, ScramSHA512, storeWith(t, "u", "pw", ScramSHA256), "u", "pw", ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("SHA-512 with only a SHA-256 credential: %v", err)
	}
	// Messages out of order or malformed.
	ctx := context.Background()
	sess := NewScram(ScramSHA256, storeWith(t, "u", "pw", ScramSHA256)).Start()
	if _, _, err := sess.Step(ctx, []byte("c=biws,r=abc,p=xyz")); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("client-final first: %v", err)
	}
	if _, _, err := sess.Step(ctx, []byte("n,,n=u,r=abc")); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("after a failure: %v", err)
	}
	// A store failure is not the client's fault.
	broken := NewScram(ScramSHA256, failingStore{}).Start()
	if _, _, err := broken.Step(ctx, []byte("n,,n=u,r=abc")); err == nil || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("store failure: %v, want an error that is not ErrAuthFailed", err)
	}
}

type failingStore struct{ ScramStore }

func (failingStore) ScramCredential(context.Context, string, ScramMechanism) (ScramCredential, error) {
	return ScramCredential{}, errors.New("store down")
}

func TestPlain(t *testing.T) {
	ctx := context.Background()
	store := storeWith(t, "alice", "pw", ScramSHA256)
	for _, tc := range []struct {
		msg  string
		ok   bool
		name string
	}{
		{"\x00alice\x00pw", true, "no authzid"},
		{"alice\x00alice\x00pw", true, "authzid = user"},
		{"bob\x00alice\x00pw", false, "authzid of another user"},
		{"\x00alice\x00wrong", false, "wrong password"},
		{"\x00bob\x00pw", false, "unknown user"},
		{"\x00alice", false, "no password"},
		{"\x00\x00pw", false, "empty user"},
		{"\x00alice\x00pw\x00", false, "extra field"},
	} {
		sess := NewPlain(store).Start()
		_, done, err := sess.Step(ctx, []byte(tc.msg))
		if tc.ok != (done && err == nil) {
			t.Errorf("%s: done=%v err=%v", tc.name, done, err)
		}
		if !tc.ok && !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: err %v is not ErrAuthFailed", tc.name, err)
		}
		if tc.ok && sess.Principal() != User("alice") {
			t.Errorf("%s: principal %v", tc.name, sess.Principal())
		}
	}
}

func TestSASLRegistry(t *testing.T) {
	s, err := NewSASL(NewPlain(nil), NewScram(ScramSHA512, nil))
	if err != nil || strings.Join(s.Mechanisms(), ",") != "PLAIN,SCRAM-SHA-512" {
		t.Fatalf("mechanisms %v, %v", s.Mechanisms(), err)
	}
	if _, ok := s.Mechanism("plain"); ok {
		t.Fatal("mechanism names are case-sensitive, as in Kafka")
	}
	if _, err := NewSASL(NewPlain(nil), NewPlain(nil)); err == nil {
		t.Fatal("duplicate mechanism accepted")
	}
}

// Principal mapping rules with Kafka's documented examples.
func TestPrincipalMapping(t *testing.T) {
	for _, tc := range []struct {
		rules, dn, want string
		err             bool
	}{
		{"", "CN=kafka-client,OU=eng,O=ex", "CN=kafka-client,OU=eng,O=ex", false},
		{"DEFAULT", "CN=a", "CN=a", false},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=svc,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "svc", false},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=adminUser,OU=Admin,O=Unknown", "CN=adminUser,OU=Admin,O=Unknown", false},
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L`, "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Palo Alto,ST=CA,C=US", "duke@javasoft", false},
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1/U`, "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Palo Alto,ST=CA,C=US", "DUKE", false},
		{`RULE:^CN=([^,]*)$/x\/$1/`, "CN=a", "x/a", false},
		{`RULE:^CN=only$/o/`, "CN=other", "", true},
	} {
		m, err := ParsePrincipalMapping(tc.rules)
		if err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		got, err := m.Map(tc.dn)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("rules %q on %q = %q, %v; want %q (error %v)", tc.rules, tc.dn, got, err, tc.want, tc.err)
		}
	}
	for _, bad := range []string{"RULE:x", "NOPE", "RULE:(/x/", "DEFAULT,RULE:a/b/Q"} {
		if _, err := ParsePrincipalMapping(bad); err == nil {
			t.Errorf("rules %q accepted", bad)
		}
	}
}

// jwksFor writes a JWKS file holding pub under kid.
func jwksFor(t *testing.T, path string, keys map[string]any) {
	t.Helper()
	var out []map[string]string
	for kid, k := range keys {
		switch pub := k.(type) {
		case *rsa.PublicKey:
			out = append(out, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())})
		case *ecdsa.PublicKey:
			out = append(out, map[string]string{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
				"x": b64(pub.X.FillBytes(make([]byte, 32))), "y": b64(pub.Y.FillBytes(make([]byte, 32)))})
		}
	}
	raw, _ := json.Marshal(map[string]any{"keys": out})
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(token string) []byte { return []byte("n,,\x01auth=Bearer " + token + "\x01\x01") }

func TestOAuthBearer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwksFor(t, path, map[string]any{"rsa1": &rsaKey.PublicKey, "ec1": &ecKey.PublicKey})
	o, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSFile: path, Issuer: "https://idp", Audience: "sluice", PrincipalClaim: "preferred_username"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u-123", "preferred_username": "alice", "iss": "https://idp", "aud": "sluice",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"RS256", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil))), true},
		{"ES256", bearer(sign(t, jwt.SigningMethodES256, ecKey, "ec1", claims(nil))), true},
		{"authzid matches", []byte("n,a=alice,\x01auth=Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil)) + "\x01\x01"), true},
		{"authzid differs", []byte("n,a=bob,\x01auth=Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil)) + "\x01\x01"), false},
		{"expired", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }))), false},
		{"no exp", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "exp") }))), false},
		{"not yet valid", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }))), false},
		{"wrong issuer", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil" }))), false},
		{"wrong audience", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { c["aud"] = "other" }))), false},
		{"no principal claim", bearer(sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "preferred_username") }))), false},
		{"forged signature", bearer(sign(t, jwt.SigningMethodRS256, forger, "rsa1", claims(nil))), false},
		{"unknown kid", bearer(sign(t, jwt.SigningMethodRS256, forger, "nope", claims(nil))), false},
		{"alg none", bearer(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", claims(nil))), false},
		{"HS256 keyed with the public key", bearer(sign(t, jwt.SigningMethodHS256, rsaKey.PublicKey.N.Bytes(), "rsa1", claims(nil))), false},
		{"not a JWT", bearer("abc.def.ghi"), false},
		{"malformed framing", []byte("auth=Bearer x"), false},
	} {
		sess := o.Start()
		_, done, err := sess.Step(context.Background(), tc.msg)
		if tc.ok != (done && err == nil) {
			t.Errorf("%s: done=%v err=%v", tc.name, done, err)
			continue
		}
		if !tc.ok && !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: %v is not ErrAuthFailed", tc.name, err)
		}
		if tc.ok && (sess.Principal() != User("alice") || sess.Expiry().Unix() != now.Add(time.Hour).Unix()) {
			t.Errorf("%s: principal %v expiry %v", tc.name, sess.Principal(), sess.Expiry())
		}
	}

	// A rotated JWKS file is picked up without a restart.
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwksFor(t, path, map[string]any{"rsa2": &newKey.PublicKey})
	later := time.Now().Add(time.Minute)
	os.Chtimes(path, later, later)
	o.file.mu.Lock()
	o.file.checkEvery = 0 // rather than wait out the once-a-second check
	o.file.mu.Unlock()
	if _, _, err := o.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, newKey, "rsa2", claims(nil))); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if _, _, err := o.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil))); err == nil {
		t.Fatal("token of a key removed from the JWKS still accepted")
	}
}

func TestParseOAuthBearer(t *testing.T) {
	for _, tc := range []struct {
		msg, authz, token string
		ext               map[string]string
		ok                bool
	}{
		{"n,,\x01auth=Bearer tok\x01\x01", "", "tok", nil, true},
		{"n,a=u,\x01auth=Bearer tok\x01x=1\x01\x01", "u", "tok", map[string]string{"x": "1"}, true},
		{"n,,\x01auth=bearer tok\x01\x01", "", "tok", nil, true},
		{"n,,\x01auth=Basic tok\x01\x01", "", "", nil, false},
		{"n,,\x01auth=Bearer tok\x01", "", "", nil, false},
		{"n,,\x01x=1\x01\x01", "", "", nil, false},
		{"p,,\x01auth=Bearer tok\x01\x01", "", "", nil, false},
		{"", "", "", nil, false},
		{"\x01", "", "", nil, false},
	} {
		authz, token, ext, err := ParseOAuthBearer([]byte(tc.msg))
		if (err == nil) != tc.ok || authz != tc.authz || token != tc.token {
			t.Errorf("%q: %q %q %v %v", tc.msg, authz, token, ext, err)
		}
		for k, v := range tc.ext {
			if ext[k] != v {
				t.Errorf("%q: extension %s = %q, want %q", tc.msg, k, ext[k], v)
			}
		}
	}
}

// TestScramLibrdkafkaNonce: librdkafka repeats its own nonce in front of
// the server's in client-final; Kafka accepts any nonce that ends with the
// server's, and so must we. A nonce that does not end with it fails.
func TestScramLibrdkafkaNonce(t *testing.T) {
	ctx := context.Background()
	store := storeWith(t, "u", "pw", ScramSHA256)
	for _, tc := range []struct {
		name   string
		prefix func(cnonce string) string
		ok     bool
	}{
		{"exact", func(string) string { return "" }, true},
		{"client nonce repeated (librdkafka)", func(c string) string { return c }, true},
		{"server nonce altered", nil, false},
	} {
		sess := NewScram(ScramSHA256, store).Start()
		cnonce := "clientnonce123"
		bare := "n=u,r=" + cnonce
		sf, _, err := sess.Step(ctx, []byte("n,,"+bare))
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Split(string(sf), ",")
		snonce := strings.TrimPrefix(fields[0], "r=")
		salt, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fields[1], "s="))
		nonce := snonce + "x"
		if tc.prefix != nil {
			nonce = tc.prefix(cnonce) + snonce
		}
		withoutProof := "c=biws,r=" + nonce
		salted, _ := SaltPassword(ScramSHA256, "pw", salt, MinScramIterations)
		h := ScramSHA256.hash()
		clientKey := hmacSum(h, salted, "Client Key")
		sk := h()
		sk.Write(clientKey)
		sig := hmacSum(h, sk.Sum(nil), bare+","+string(sf)+","+withoutProof)
		for i := range sig {
			sig[i] ^= clientKey[i]
		}
		_, done, err := sess.Step(ctx, []byte(withoutProof+",p="+base64.StdEncoding.EncodeToString(sig)))
		if tc.ok != (done && err == nil) {
			t.Errorf("%s: done=%v err=%v", tc.name, done, err)
		}
	}
}
