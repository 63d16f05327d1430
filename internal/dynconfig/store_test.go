package dynconfig_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/dynconfig/storetest"
)

func TestMemStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) dynconfig.Store { return dynconfig.NewMemStore() })
}
