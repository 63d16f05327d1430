package tableflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
)

// TestRESTCatalog drives the REST handler with iceberg-go's REST client:
// the read operations of its catalog conformance suite (list, load, the
// not-found errors), writes refused as unsupported, and a scan of an
// ingested table.
func TestRESTCatalog(t *testing.T) {
	e := newEnv(t, "orders")
	svc := start(t, e.config(ordersTable))
	e.produce("orders", 0, `{"id": 1, "item": "a"}`, `{"id": 2, "item": "b"}`)
	waitRows(t, svc, "shop.orders", 2)

	srv := httptest.NewServer(svc.RESTHandler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	cat, err := rest.NewCatalog(ctx, "sluice", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	nss, err := cat.ListNamespaces(ctx, nil)
	if err != nil || len(nss) != 1 || nss[0][0] != "shop" {
		t.Fatalf("ListNamespaces: %v %v", nss, err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, Ident("shop")); !ok || err != nil {
		t.Fatalf("CheckNamespaceExists(shop): %v %v", ok, err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, Ident("nope")); ok || err != nil {
		t.Fatalf("CheckNamespaceExists(nope): %v %v", ok, err)
	}
	var names []string
	for id, err := range cat.ListTables(ctx, Ident("shop")) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, id[len(id)-1])
	}
	if len(names) != 1 || names[0] != "orders" {
		t.Fatalf("ListTables: %v", names)
	}
	for _, err := range cat.ListTables(ctx, Ident("nope")) {
		if !errors.Is(err, catalog.ErrNoSuchNamespace) {
			t.Fatalf("ListTables(nope): %v", err)
		}
	}
	if _, err := cat.LoadTable(ctx, Ident("shop.missing")); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("LoadTable(missing): %v", err)
	}
	if _, err := cat.LoadTable(ctx, Ident("nope.missing")); !errors.Is(err, catalog.ErrNoSuchTable) && !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Fatalf("LoadTable(nope.missing): %v", err)
	}
	if ok, err := cat.CheckTableExists(ctx, Ident("shop.orders")); !ok || err != nil {
		t.Fatalf("CheckTableExists: %v %v", ok, err)
	}
	// Writes are not advertised, so iceberg-go refuses them itself; a
	// client that sends one anyway gets the protocol's ErrorModel.
	if err := cat.DropTable(ctx, Ident("shop.orders")); err == nil {
		t.Fatal("DropTable succeeded on a read-only catalog")
	}
	for _, req := range [][2]string{
		{"DELETE", "/v1/namespaces/shop/tables/orders"},
		{"POST", "/v1/namespaces"},
		{"POST", "/v1/namespaces/shop/tables/orders"},
		{"POST", "/v1/transactions/commit"},
	} {
		r, _ := http.NewRequestWithContext(ctx, req[0], srv.URL+req[1], strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Type string `json:"type"`
				Code int    `json:"code"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusNotImplemented || body.Error.Type != "UnsupportedOperationException" || body.Error.Code != 501 {
			t.Fatalf("%s %s: %s %+v %v, want 501 UnsupportedOperationException", req[0], req[1], resp.Status, body, err)
		}
	}
	tbl, err := cat.LoadTable(ctx, Ident("shop.orders"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := readRows(t, tbl); len(rows) != 2 || rows[1]["item"] != "b" {
		t.Fatalf("rows through the REST catalog: %v", rows)
	}
}
