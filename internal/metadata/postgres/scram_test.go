package postgres

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/auth/authtest"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestScramStore(t *testing.T) {
	pg := testutil.StartPostgres(t)
	authtest.ScramStore(t, func(t *testing.T) auth.ScramStore {
		s, err := Open(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
