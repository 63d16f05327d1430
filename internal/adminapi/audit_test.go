package adminapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/auth"
)

// calls is an Auditor that keeps what it is told. mu guards got.
type calls struct {
	mu  sync.Mutex
	got []adminapi.Call
}

func (c *calls) Audit(_ context.Context, call adminapi.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, call)
}

func (c *calls) take() []adminapi.Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

// deleteOnly is a Kafka request path that answers DeleteTopics: topic
// "gone" is unknown, any other is deleted.
type deleteOnly struct{}

func (deleteOnly) Authorize(auth.Principal, string, kmsg.ACLOperation, kmsg.ACLResourceType, string) bool {
	return true
}

func (deleteOnly) Do(_ context.Context, _ auth.Principal, _ string, msg kmsg.Request) (kmsg.Response, error) {
	req, ok := msg.(*kmsg.DeleteTopicsRequest)
	if !ok {
		return nil, errors.New("not served")
	}
	resp := kmsg.NewPtrDeleteTopicsResponse()
	rt := kmsg.NewDeleteTopicsResponseTopic()
	rt.Topic = req.Topics[0].Topic
	if *rt.Topic == "gone" {
		rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
	}
	resp.Topics = append(resp.Topics, rt)
	return resp, nil
}

// TestAuditedCalls: every mutating call is reported once with who, from
// where, what and how it ended, refusals included; reads are not.
func TestAuditedCalls(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		rec := &calls{}
		alice := auth.Principal{Type: auth.UserType, Name: "alice"}
		api := adminapi.New(adminapi.Config{Kafka: deleteOnly{}, ReadOnly: readOnly, Auditor: rec,
			Authenticate: func(r *http.Request) (auth.Principal, error) {
				if r.Header.Get("X-User") != "alice" {
					return auth.Principal{}, errors.New("who are you")
				}
				return alice, nil
			}})
		mux := http.NewServeMux()
		api.Register(mux)
		srv := httptest.NewServer(mux)
		do := func(method, path, user string) int {
			req, err := http.NewRequest(method, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-User", user)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		type want struct {
			principal auth.Principal
			status    int
			code      string
		}
		for _, c := range []struct {
			method, path, user string
			want               want
		}{
			{"DELETE", "/api/v1/topics/orders", "alice", want{alice, 200, ""}},
			{"DELETE", "/api/v1/topics/gone", "alice", want{alice, 404, "UNKNOWN_TOPIC_OR_PARTITION"}},
			{"DELETE", "/api/v1/topics/orders", "mallory", want{auth.Principal{}, 401, "UNAUTHENTICATED"}},
		} {
			if readOnly && c.want.status != 401 {
				c.want.status, c.want.code = 403, "READ_ONLY"
			}
			if got := do(c.method, c.path, c.user); got != c.want.status {
				t.Fatalf("read-only %v: %s %s: status %d", readOnly, c.method, c.path, got)
			}
			got := rec.take()
			if len(got) != 1 {
				t.Fatalf("read-only %v: %s %s: %d calls audited", readOnly, c.method, c.path, len(got))
			}
			a := got[0]
			if a.Principal != c.want.principal || a.HTTPStatus != c.want.status || a.Code != c.want.code || a.HTTPMethod != c.method ||
				a.Path != c.path || a.Route != "DELETE /api/v1/topics/{name}" || a.ResourceType != "topic" || a.Resource == "" || a.RemoteAddr == "" {
				t.Errorf("read-only %v: %s %s as %s: audited %+v", readOnly, c.method, c.path, c.user, a)
			}
		}
		// A read is not audited.
		if got := do("GET", "/api/v1/agent", "alice"); got != 200 {
			t.Fatalf("GET /api/v1/agent: %d", got)
		}
		if got := rec.take(); len(got) != 0 {
			t.Errorf("read audited: %+v", got)
		}
		srv.Close()
	}
}
