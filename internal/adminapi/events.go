package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/query"
)

// Events runs event queries (the agent's query.Engine), which read the
// events topics through the agent's own read path.
type Events interface {
	Run(ctx context.Context, q *query.Query, o query.Options) (*query.Result, error)
}

// EventsQuery is one query of the events explorer.
type EventsQuery struct {
	// Text is the query (docs/events.md).
	Text string
	// Since replaces the query's own since when set ("1h", RFC 3339).
	Since string
	// Timeline adds a second run of the same filter counted per bucket,
	// for the explorer's chart, when the query lists events.
	Timeline bool
}

// EventsAnswer is a query's result and, for a list, its timeline.
type EventsAnswer struct {
	Result   *query.Result `json:"result"`
	Timeline *query.Result `json:"timeline,omitempty"`
}

// timelineBuckets is about how many buckets the explorer's chart has.
const timelineBuckets = 30

// QueryEvents parses and runs q. A query that does not parse is 400
// BAD_REQUEST with the parser's message (which names the position).
func (a *API) QueryEvents(ctx context.Context, p auth.Principal, q EventsQuery) (EventsAnswer, error) {
	if a.cfg.Events == nil {
		return EventsAnswer{}, &Error{Status: http.StatusNotImplemented, Code: "NOT_AVAILABLE", Message: "this agent runs no event queries"}
	}
	parsed, err := query.Parse(q.Text)
	if err != nil {
		return EventsAnswer{}, badRequest("%v", err)
	}
	if err := a.AuthorizeQuery(p, parsed); err != nil {
		return EventsAnswer{}, err
	}
	var o query.Options
	if q.Since != "" {
		ts, err := query.ParseTimeSpec(q.Since)
		if err != nil {
			return EventsAnswer{}, badRequest("since: %v", err)
		}
		o.Since = &ts
	}
	o.Now = time.Now()
	res, err := a.runQuery(ctx, parsed, o)
	if err != nil {
		return EventsAnswer{}, err
	}
	out := EventsAnswer{Result: res}
	if q.Timeline && res.Kind == "events" {
		tq := *parsed
		tq.Sort, tq.Limit = query.SortDefault, 0
		tq.Timeline = max(res.Until.Sub(res.Since)/timelineBuckets, time.Second).Round(time.Second)
		if out.Timeline, err = a.runQuery(ctx, &tq, o); err != nil {
			return EventsAnswer{}, err
		}
	}
	return out, nil
}

// AuthorizeQuery checks that p may read every events topic q reads (its
// from streams, or every stream): READ on each topic, as a Kafka
// consumer of it needs (READ implies DESCRIBE), asked of the Kafka API's
// authorizer (Kafka.Authorize) with its shadow mode and ACL decision
// events. A refusal is 403 TOPIC_AUTHORIZATION_FAILED naming the topic.
func (a *API) AuthorizeQuery(p auth.Principal, q *query.Query) error {
	from := q.From
	if len(from) == 0 {
		for _, s := range events.Streams {
			from = append(from, string(s))
		}
	}
	for _, name := range from {
		st, ok := events.ParseStream(name)
		if !ok {
			continue // the engine refuses it
		}
		if !a.cfg.Kafka.Authorize(p, clientID, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, st.Topic()) {
			return &Error{Status: http.StatusForbidden, Code: "TOPIC_AUTHORIZATION_FAILED",
				Message: fmt.Sprintf("%s may not READ topic %s, which the query reads (stream %s)", p, st.Topic(), st)}
		}
	}
	return nil
}

func (a *API) runQuery(ctx context.Context, q *query.Query, o query.Options) (*query.Result, error) {
	res, err := a.cfg.Events.Run(ctx, q, o)
	switch {
	case errors.Is(err, query.ErrBusy):
		return nil, &Error{Status: http.StatusTooManyRequests, Code: "TOO_MANY_QUERIES", Message: err.Error()}
	case errors.Is(err, query.ErrInvalid):
		return nil, badRequest("%v", err)
	}
	return res, err
}

// DenialsQuery lists ACL denials and shadow-mode would-be denials, newest
// first, from the ACL decisions stream.
const DenialsQuery = `from acl data.allowed == false`

// DenialGroupsQuery counts them per principal, operation and resource.
const DenialGroupsQuery = `from acl data.allowed == false group by data.principal, data.operation, data.resource_type, data.resource`

// Denials is the answer of GET /api/v1/acl-denials.
type Denials struct {
	// Groups counts denials per principal, operation and resource, most
	// first; Recent lists the latest ones.
	Groups *query.Result `json:"groups"`
	Recent *query.Result `json:"recent"`
}

// ACLDenials reads the ACL decisions stream for denials since since
// (default 1h).
func (a *API) ACLDenials(ctx context.Context, p auth.Principal, since string) (Denials, error) {
	g, err := a.QueryEvents(ctx, p, EventsQuery{Text: DenialGroupsQuery + " limit 100", Since: since})
	if err != nil {
		return Denials{}, err
	}
	r, err := a.QueryEvents(ctx, p, EventsQuery{Text: DenialsQuery + " limit 50", Since: since})
	if err != nil {
		return Denials{}, err
	}
	return Denials{Groups: g.Result, Recent: r.Result}, nil
}

func (a *API) serveDenials(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := a.ACLDenials(r.Context(), p, r.URL.Query().Get("since"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// serveEvents answers GET /api/v1/events?q=&since=: the explorer's query
// with its timeline (POST /api/v1/events/query is the engine's own
// endpoint, with paging).
func (a *API) serveEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ans, err := a.QueryEvents(r.Context(), p, EventsQuery{Text: r.URL.Query().Get("q"), Since: r.URL.Query().Get("since"), Timeline: true})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// maxQueryBody bounds the query engine's request bodies read here.
const maxQueryBody = 1 << 20

// GuardQuery guards the query engine's own endpoint (POST
// /api/v1/events/query, internal/query's handler h) as the API's own
// routes are: the request must log in (401 UNAUTHENTICATED), and its
// principal must be allowed to read every topic its query reads (403,
// AuthorizeQuery). A body h would refuse anyway (bad JSON, a query that
// does not parse) goes on to h, which answers it.
func (a *API) GuardQuery(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Principal(r)
		if err != nil {
			if a.cfg.Login != nil {
				w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
			}
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED", Message: err.Error()})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
		if err != nil {
			writeError(w, badRequest("reading the body: %v", err))
			return
		}
		var req struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(body, &req) == nil {
			if q, err := query.Parse(req.Query); err == nil {
				if err := a.AuthorizeQuery(p, q); err != nil {
					writeError(w, err.(*Error))
					return
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}
