package tableflow

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// testStore is the acceptance suite every Store backend passes.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("commit", func(t *testing.T) {
		s := open(t)
		if _, err := s.Load(ctx, "a.t"); !errors.Is(err, ErrNoTable) {
			t.Fatalf("Load of a missing table: %v", err)
		}
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Next: "m0"}); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("commit without the lease: %v", err)
		}
		if ok, err := s.AcquireLease(ctx, "a.t", "w1", time.Minute); !ok || err != nil {
			t.Fatalf("AcquireLease: %v %v", ok, err)
		}
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Next: "m0"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Next: "m0"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("second create: %v", err)
		}
		want := map[int32]int64{0: 10, 3: 7}
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Prev: "m0", Next: "m1", Offsets: want}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Prev: "m0", Next: "m2", Offsets: map[int32]int64{0: 99}}); !errors.Is(err, ErrConflict) {
			t.Fatalf("commit on a stale location: %v", err)
		}
		// nil offsets keep the stored ones.
		if err := s.Commit(ctx, Commit{Name: "a.t", Owner: "w1", Prev: "m1", Next: "m2"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Load(ctx, "a.t")
		if err != nil || st.MetadataLocation != "m2" || !reflect.DeepEqual(st.Offsets, want) {
			t.Fatalf("Load: %+v %v", st, err)
		}
		all, err := s.List(ctx)
		if err != nil || len(all) != 1 || all[0].Name != "a.t" {
			t.Fatalf("List: %+v %v", all, err)
		}
	})
	t.Run("lease", func(t *testing.T) {
		s := open(t)
		if ok, _ := s.AcquireLease(ctx, "b.t", "w1", 300*time.Millisecond); !ok {
			t.Fatal("w1 did not get a free lease")
		}
		if ok, _ := s.AcquireLease(ctx, "b.t", "w2", time.Minute); ok {
			t.Fatal("w2 took a held lease")
		}
		if ok, _ := s.AcquireLease(ctx, "b.t", "w1", 300*time.Millisecond); !ok {
			t.Fatal("w1 could not renew")
		}
		if err := s.Commit(ctx, Commit{Name: "b.t", Owner: "w1", Next: "m0"}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if ok, _ := s.AcquireLease(ctx, "b.t", "w2", time.Minute); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("w2 never got the expired lease")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The old owner is fenced off.
		if err := s.Commit(ctx, Commit{Name: "b.t", Owner: "w1", Prev: "m0", Next: "m1"}); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("commit by the previous owner: %v", err)
		}
		if err := s.ReleaseLease(ctx, "b.t", "w1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.AcquireLease(ctx, "b.t", "w3", time.Minute); ok {
			t.Fatal("a release by a non-owner freed the lease")
		}
		if err := s.ReleaseLease(ctx, "b.t", "w2"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.AcquireLease(ctx, "b.t", "w3", time.Minute); !ok {
			t.Fatal("a released lease was not free")
		}
	})
}

func TestStoreSQLite(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		s, err := OpenStore(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "tf.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestStorePostgres(t *testing.T) {
	pg := testutil.StartPostgres(t)
	testStore(t, func(t *testing.T) Store {
		s, err := OpenStore(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
