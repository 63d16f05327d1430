package auth

import (
	"context"
	"errors"
	"testing"
)

// FuzzScramServer feeds arbitrary client messages to a SCRAM server
// session: it must never panic, and it authenticates no one without the
// password.
func FuzzScramServer(f *testing.F) {
	f.Add([]byte("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), []byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add([]byte("n,a=user,n=user,r=abc"), []byte("c=eSws,r=abc,p=AAAA"))
	f.Add([]byte("y,,n=us=2Cer,r=x"), []byte(""))
	f.Add([]byte("p=tls-unique,,n=user,r=x"), []byte("c=,r=,p="))
	store := NewMemScramStore()
	c, _ := NewScramCredential("user", ScramSHA256, "pencil", MinScramIterations)
	store.UpsertScramCredential(context.Background(), c)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		sess := NewScram(ScramSHA256, store).Start()
		if _, done, err := sess.Step(context.Background(), first); err != nil || done {
			if done {
				t.Fatal("authenticated on the first message")
			}
			return
		}
		_, done, err := sess.Step(context.Background(), final)
		if done && err == nil {
			t.Fatalf("authenticated with client-final %q", final)
		}
		if err != nil && !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("error %v is not ErrAuthFailed", err)
		}
	})
}

// FuzzParsePlain checks the PLAIN parser never panics and round-trips.
func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("a\x00b\x00c\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		authz, user, pass, err := ParsePlain(msg)
		if err != nil {
			return
		}
		if got := authz + "\x00" + user + "\x00" + pass; got != string(msg) {
			t.Fatalf("parsed %q as %q %q %q", msg, authz, user, pass)
		}
	})
}

// FuzzParseOAuthBearer checks the RFC 7628 parser never panics and never
// returns an empty token without an error.
func FuzzParseOAuthBearer(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer tok\x01\x01"))
	f.Add([]byte("n,a=u,\x01auth=Bearer tok\x01k=v\x01\x01"))
	f.Add([]byte("\x01\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, token, _, err := ParseOAuthBearer(msg)
		if err == nil && token == "" {
			t.Fatalf("%q: no token and no error", msg)
		}
	})
}

// FuzzPrincipalMapping checks rule parsing and mapping never panic.
func FuzzPrincipalMapping(f *testing.F) {
	f.Add(`RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L,DEFAULT`, "CN=a,OU=b")
	f.Add(`RULE:\/x/y/`, "CN=/x")
	f.Fuzz(func(t *testing.T, rules, dn string) {
		m, err := ParsePrincipalMapping(rules)
		if err != nil {
			return
		}
		m.Map(dn)
	})
}
