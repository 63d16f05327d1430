package schemaregistry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata/postgres"
	"github.com/sluicehq/sluice/internal/schemaregistry"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestConcurrentAgentsOnPostgres has many agents (separate stores on one
// PostgreSQL database) register the same and different schemas at once:
// the same schema must get one ID everywhere, different schemas different
// IDs, and every registration must become exactly one version.
func TestConcurrentAgentsOnPostgres(t *testing.T) {
	pg := testutil.StartPostgres(t)
	url := pg.NewDatabase(t)
	ctx := context.Background()
	const agents, perAgent = 8, 6
	regs := make([]*schemaregistry.Registry, agents)
	for i := range regs {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		regs[i] = schemaregistry.New(s, false)
	}
	if _, err := regs[0].SetConfig(ctx, "", "NONE"); err != nil {
		t.Fatal(err)
	}
	shared := schemaregistry.RegisterRequest{Schema: `{"type":"record","name":"Shared","fields":[{"name":"a","type":"string"}]}`}
	distinct := func(a, j int) schemaregistry.RegisterRequest {
		return schemaregistry.RegisterRequest{Schema: fmt.Sprintf(`{"type":"record","name":"R%d_%d","fields":[{"name":"a","type":"string"}]}`, a, j)}
	}
	type result struct {
		name string
		id   int64
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	errs := make(chan error, agents*perAgent*3)
	for a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range perAgent {
				for _, reg := range []struct {
					subject string
					req     schemaregistry.RegisterRequest
					name    string
				}{
					{"shared", shared, "shared"},
					{fmt.Sprintf("agent-%d", a), shared, "shared"},
					{"common", distinct(a, j), fmt.Sprintf("R%d_%d", a, j)},
				} {
					id, err := regs[a].Register(ctx, reg.subject, reg.req, false)
					if err != nil {
						errs <- fmt.Errorf("agent %d register %s in %s: %w", a, reg.name, reg.subject, err)
						continue
					}
					mu.Lock()
					results = append(results, result{reg.name, id})
					mu.Unlock()
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idOf := map[string]int64{}
	nameOf := map[int64]string{}
	for _, r := range results {
		if prev, ok := idOf[r.name]; ok && prev != r.id {
			t.Errorf("schema %s got IDs %d and %d", r.name, prev, r.id)
		}
		if prev, ok := nameOf[r.id]; ok && prev != r.name {
			t.Errorf("ID %d given to %s and %s", r.id, prev, r.name)
		}
		idOf[r.name], nameOf[r.id] = r.id, r.name
	}
	if want := 1 + agents*perAgent; len(idOf) != want {
		t.Errorf("%d distinct schemas registered, want %d", len(idOf), want)
	}
	versions, err := regs[0].Versions(ctx, "common", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != agents*perAgent {
		t.Errorf("common has %d versions, want %d", len(versions), agents*perAgent)
	}
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("common versions %v are not 1..%d", versions, len(versions))
		}
	}
	for _, subject := range []string{"shared", "agent-3"} {
		if v, err := regs[1].Versions(ctx, subject, false, false); err != nil || len(v) != 1 {
			t.Errorf("%s versions = %v, %v; want one", subject, v, err)
		}
	}
}
