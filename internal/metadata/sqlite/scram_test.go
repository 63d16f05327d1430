package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/auth/authtest"
)

func TestScramStore(t *testing.T) {
	authtest.ScramStore(t, func(t *testing.T) auth.ScramStore {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
