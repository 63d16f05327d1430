package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzPeerHandler sends arbitrary query strings to the peer endpoint: it
// must answer 200 only with exactly the asked bytes, otherwise a client
// error, and never panic or read outside the file.
func FuzzPeerHandler(f *testing.F) {
	f.Add("key=files/a&size=100&off=0&len=100")
	f.Add("key=files/a&size=100&off=90&len=20")
	f.Add("key=../a&size=1&off=0&len=1")
	f.Add("key=files/a&size=-5&off=-1&len=3")
	f.Add("key=files/a&size=100&off=9223372036854775807&len=9223372036854775807")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, query string) {
		src := newMemSource()
		src.add("files/a", 100)
		c := New(src, Config{Size: 1000, BlockSize: 32}, nil)
		defer c.Close()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		PeerHandler(c).ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			q := req.URL.Query()
			if q.Get("key") != "files/a" || q.Get("size") != "100" {
				t.Fatalf("200 for %q", query)
			}
			if rec.Body.Len() == 0 || rec.Body.Len() > 100 {
				t.Fatalf("200 with %d bytes for %q", rec.Body.Len(), query)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusBadGateway:
		default:
			t.Fatalf("status %d for %q", rec.Code, query)
		}
	})
}
