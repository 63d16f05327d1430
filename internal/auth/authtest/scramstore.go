// Package authtest is the acceptance suite every auth.ScramStore passes:
// the in-memory store and the metadata store's SQLite and PostgreSQL
// backends.
package authtest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/auth"
)

// ScramStore runs the suite against a fresh, empty store from open.
func ScramStore(t *testing.T, open func(t *testing.T) auth.ScramStore) {
	ctx := context.Background()
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		if _, err := s.ScramCredential(ctx, "alice", auth.ScramSHA256); !errors.Is(err, auth.ErrNoCredential) {
			t.Fatalf("missing credential: err = %v, want ErrNoCredential", err)
		}
		c, err := auth.NewScramCredential("alice", auth.ScramSHA256, "pw1", auth.MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertScramCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.ScramCredential(ctx, "alice", auth.ScramSHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got.User != "alice" || got.Mechanism != auth.ScramSHA256 || got.Iterations != c.Iterations ||
			!bytes.Equal(got.Salt, c.Salt) || !bytes.Equal(got.StoredKey, c.StoredKey) || !bytes.Equal(got.ServerKey, c.ServerKey) {
			t.Fatalf("read back %+v, want %+v", got, c)
		}
		if !got.CheckPassword("pw1") || got.CheckPassword("pw2") {
			t.Fatal("the stored credential does not check its password")
		}
		if _, err := s.ScramCredential(ctx, "alice", auth.ScramSHA512); !errors.Is(err, auth.ErrNoCredential) {
			t.Fatalf("other mechanism: err = %v, want ErrNoCredential", err)
		}
	})
	t.Run("UpsertReplaces", func(t *testing.T) {
		s := open(t)
		c1, _ := auth.NewScramCredential("bob", auth.ScramSHA512, "old", auth.MinScramIterations)
		c2, _ := auth.NewScramCredential("bob", auth.ScramSHA512, "new", auth.MinScramIterations+1)
		for _, c := range []auth.ScramCredential{c1, c2} {
			if err := s.UpsertScramCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ScramCredential(ctx, "bob", auth.ScramSHA512)
		if err != nil || got.Iterations != c2.Iterations || !got.CheckPassword("new") {
			t.Fatalf("after replacing: %+v, %v", got, err)
		}
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		s := open(t)
		for _, k := range []struct {
			user string
			m    auth.ScramMechanism
		}{{"zed", auth.ScramSHA256}, {"amy", auth.ScramSHA512}, {"amy", auth.ScramSHA256}} {
			c, _ := auth.NewScramCredential(k.user, k.m, "pw", auth.MinScramIterations)
			if err := s.UpsertScramCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ScramCredentials(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].User != "amy" || all[0].Mechanism != auth.ScramSHA256 || all[1].Mechanism != auth.ScramSHA512 || all[2].User != "zed" {
			t.Fatalf("list = %+v, want amy/256, amy/512, zed/256", all)
		}
		some, err := s.ScramCredentials(ctx, []string{"zed", "nobody"})
		if err != nil || len(some) != 1 || some[0].User != "zed" {
			t.Fatalf("list zed = %+v, %v", some, err)
		}
		if err := s.DeleteScramCredential(ctx, "amy", auth.ScramSHA256); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteScramCredential(ctx, "amy", auth.ScramSHA256); !errors.Is(err, auth.ErrNoCredential) {
			t.Fatalf("deleting twice: err = %v, want ErrNoCredential", err)
		}
		if rest, _ := s.ScramCredentials(ctx, []string{"amy"}); len(rest) != 1 || rest[0].Mechanism != auth.ScramSHA512 {
			t.Fatalf("after delete: %+v", rest)
		}
	})
}
