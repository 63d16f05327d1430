package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/dynconfig/storetest"
)

func TestDynamicConfigStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dynconfig.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
