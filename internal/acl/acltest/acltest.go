// Package acltest is the acceptance suite every acl.Store backend passes.
package acltest

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

// Run checks store's contract: bindings round-trip exactly, adding an
// existing binding and removing a missing one change nothing, and the
// version grows with every change and only then. The store must start
// without ACLs.
func Run(t *testing.T, store acl.Store) {
	ctx := context.Background()
	bs, v0, err := store.ACLs(ctx)
	if err != nil || len(bs) != 0 {
		t.Fatalf("fresh store: %v, %v", bs, err)
	}
	a := acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	b := a
	b.PatternType, b.ResourceName, b.Principal, b.Host = kmsg.ACLResourcePatternTypePrefixed, "ord", "User:CN=bob,O=x:y", "10.0.0.1"
	c := a
	c.Permission = kmsg.ACLPermissionTypeDeny
	if err := store.AddACLs(ctx, []acl.Binding{a, b}); err != nil {
		t.Fatal(err)
	}
	v1, err := store.ACLVersion(ctx)
	if err != nil || v1 <= v0 {
		t.Fatalf("version after add = %d, %v; was %d", v1, err, v0)
	}
	// Adding what exists is a no-op and does not move the version.
	if err := store.AddACLs(ctx, []acl.Binding{a}); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.ACLVersion(ctx); v != v1 {
		t.Fatalf("version moved on a no-op add: %d → %d", v1, v)
	}
	if err := store.AddACLs(ctx, []acl.Binding{c, a}); err != nil {
		t.Fatal(err)
	}
	got, v2, err := store.ACLs(ctx)
	if err != nil || v2 <= v1 {
		t.Fatalf("ACLs: version %d (was %d), %v", v2, v1, err)
	}
	want := []acl.Binding{a, b, c}
	slices.SortFunc(want, acl.Compare)
	slices.SortFunc(got, acl.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("ACLs = %v, want %v", got, want)
	}
	if err := store.RemoveACLs(ctx, []acl.Binding{a, a}); err != nil {
		t.Fatal(err)
	}
	v3, _ := store.ACLVersion(ctx)
	if v3 <= v2 {
		t.Fatalf("version after remove = %d, was %d", v3, v2)
	}
	if err := store.RemoveACLs(ctx, []acl.Binding{a}); err != nil {
		t.Fatal(err)
	}
	if v, _ := store.ACLVersion(ctx); v != v3 {
		t.Fatalf("version moved on a no-op remove: %d → %d", v3, v)
	}
	got, _, _ = store.ACLs(ctx)
	want = []acl.Binding{b, c}
	slices.SortFunc(want, acl.Compare)
	slices.SortFunc(got, acl.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("after remove ACLs = %v, want %v", got, want)
	}
}
