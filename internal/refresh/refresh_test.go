package refresh

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestEveryWarnsOncePerOutage: a run of failures is reported once, and
// a failure after a success is reported again.
func TestEveryWarnsOncePerOutage(t *testing.T) {
	results := []error{nil, errors.New("a"), errors.New("b"), nil, errors.New("c")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex // guards calls, warned
	calls := 0
	var warned []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, time.Second, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if calls >= len(results) {
				cancel()
				return nil
			}
			calls++
			return results[calls-1]
		}, func(err error) {
			mu.Lock()
			warned = append(warned, err.Error())
			mu.Unlock()
		})
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(warned) != 2 || warned[0] != "a" || warned[1] != "c" {
		t.Fatalf("warned %q, want [a c]", warned)
	}
}

func TestIfChanged(t *testing.T) {
	loads := 0
	load := func(context.Context) error { loads++; return nil }
	v := func(context.Context) (int64, error) { return 7, nil }
	if err := IfChanged(context.Background(), v, 7, load); err != nil || loads != 0 {
		t.Fatalf("same version: err %v, %d loads", err, loads)
	}
	if err := IfChanged(context.Background(), v, 6, load); err != nil || loads != 1 {
		t.Fatalf("new version: err %v, %d loads", err, loads)
	}
	boom := errors.New("store down")
	if err := IfChanged(context.Background(), func(context.Context) (int64, error) { return 0, boom }, 6, load); !errors.Is(err, boom) || loads != 1 {
		t.Fatalf("failing store: err %v, %d loads", err, loads)
	}
}
