// Package storetest is the acceptance suite every dynconfig.Store passes
// (MemStore, and the sqlite and postgres metadata stores).
package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

// Run runs the suite against a fresh, empty store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) dynconfig.Store) {
	ctx := context.Background()
	t.Run("EmptyAtVersionZero", func(t *testing.T) {
		s := newStore(t)
		es, v, err := s.DynamicConfigs(ctx)
		if err != nil || len(es) != 0 || v != 0 {
			t.Fatalf("DynamicConfigs = %v, %d, %v; want empty at 0", es, v, err)
		}
	})
	t.Run("ChangeSetsRemovesAndBumps", func(t *testing.T) {
		s := newStore(t)
		set := func(scope, name, value string) dynconfig.Change {
			return dynconfig.Change{Entry: dynconfig.Entry{Scope: scope, Name: name, Value: value}}
		}
		if err := s.ChangeDynamicConfigs(ctx, 0, []dynconfig.Change{set("broker:", "message.max.bytes", "100"), set("broker:1", "log.retention.ms", "5"),
			set("quota:user=a", "producer_byte_rate", "1024")}); err != nil {
			t.Fatal(err)
		}
		es, v, err := s.DynamicConfigs(ctx)
		if err != nil || v != 1 {
			t.Fatalf("version %d, %v; want 1", v, err)
		}
		want := []dynconfig.Entry{{Scope: "broker:", Name: "message.max.bytes", Value: "100"}, {Scope: "broker:1", Name: "log.retention.ms", Value: "5"},
			{Scope: "quota:user=a", Name: "producer_byte_rate", Value: "1024"}}
		if len(es) != len(want) {
			t.Fatalf("entries %v, want %v", es, want)
		}
		for i := range want {
			if es[i] != want[i] {
				t.Fatalf("entries %v, want %v (sorted by scope and name)", es, want)
			}
		}
		// Overwrite one, remove one, remove an absent one.
		if err := s.ChangeDynamicConfigs(ctx, 1, []dynconfig.Change{set("broker:", "message.max.bytes", "200"),
			{Entry: dynconfig.Entry{Scope: "broker:1", Name: "log.retention.ms"}, Remove: true},
			{Entry: dynconfig.Entry{Scope: "broker:9", Name: "x"}, Remove: true}}); err != nil {
			t.Fatal(err)
		}
		es, v, _ = s.DynamicConfigs(ctx)
		if v != 2 || len(es) != 2 || es[0].Value != "200" || es[1].Scope != "quota:user=a" {
			t.Fatalf("after change: %v at %d", es, v)
		}
		if got, err := s.DynamicConfigVersion(ctx); err != nil || got != 2 {
			t.Fatalf("DynamicConfigVersion = %d, %v; want 2", got, err)
		}
	})
	t.Run("StaleVersionRefused", func(t *testing.T) {
		s := newStore(t)
		c := []dynconfig.Change{{Entry: dynconfig.Entry{Scope: "broker:", Name: "num.partitions", Value: "3"}}}
		if err := s.ChangeDynamicConfigs(ctx, 0, c); err != nil {
			t.Fatal(err)
		}
		err := s.ChangeDynamicConfigs(ctx, 0, []dynconfig.Change{{Entry: dynconfig.Entry{Scope: "broker:", Name: "num.partitions", Value: "4"}}})
		if !errors.Is(err, dynconfig.ErrVersionChanged) {
			t.Fatalf("change at a stale version: %v, want ErrVersionChanged", err)
		}
		es, v, _ := s.DynamicConfigs(ctx)
		if v != 1 || len(es) != 1 || es[0].Value != "3" {
			t.Fatalf("a refused change changed something: %v at %d", es, v)
		}
	})
}
