package postgres

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/acl/acltest"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestACLStore(t *testing.T) {
	pg := testutil.StartPostgres(t)
	s, err := Open(context.Background(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acltest.Run(t, s)
}
