package postgres

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/dynconfig/storetest"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestDynamicConfigStore(t *testing.T) {
	pg := testutil.StartPostgres(t)
	storetest.Run(t, func(t *testing.T) dynconfig.Store {
		s, err := Open(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
