package acl_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/acl/acltest"
)

func TestMemStore(t *testing.T) { acltest.Run(t, acl.NewMemStore()) }
