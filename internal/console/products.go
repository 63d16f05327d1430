package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/query"
)

// Pages of the products around the core: ACLs, SCRAM users and ACL
// denials (internal/acl, internal/auth through the Kafka API's requests),
// the schema registry (internal/schemaregistry, called in-process) and
// the events explorer (internal/query). A product the agent does not run
// (ACLs off, no registry) shows its page with the API's refusal in it,
// not an error page, so the navigation never leads to a dead end.

// apiError is err's API error, or nil when err is not one.
func apiError(err error) *adminapi.Error {
	var e *adminapi.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// soft renders the refusals a page shows inline (the product is off or
// the principal may not see it) and fails the page on any other error.
func (c *Console) soft(w http.ResponseWriter, r *http.Request, err error) (string, bool) {
	if err == nil {
		return "", true
	}
	if e := apiError(err); e != nil && (e.Status < 500 || e.Status == http.StatusNotImplemented) {
		return e.Error(), true
	}
	c.fail(w, r, err)
	return "", false
}

func (c *Console) acls(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	f := adminapi.ACLFilter{ResourceType: v.Get("resource_type"), ResourceName: v.Get("resource_name"), PatternType: v.Get("pattern_type"),
		Principal: v.Get("principal"), Operation: v.Get("operation"), Permission: v.Get("permission")}
	if f.ResourceName != "" && f.PatternType == "" {
		f.PatternType = "MATCH" // the bindings that apply to the name
	}
	list, err := c.api.ACLs(r.Context(), p, f)
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	c.render(w, r, "acls", "ACLs", "acls", map[string]any{"Filter": f, "List": list, "Error": msg})
}

func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	list, err := c.api.Users(r.Context(), p)
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	c.render(w, r, "users", "SCRAM users", "acls", map[string]any{"List": list, "Error": msg})
}

func (c *Console) denials(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	since := sinceParam(r)
	d, err := c.api.ACLDenials(r.Context(), p, since)
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	c.render(w, r, "denials", "ACL denials", "acls", map[string]any{"Since": since, "Denials": d, "Error": msg,
		"Query": adminapi.DenialsQuery, "Recent": eventRows(d.Recent)})
}

// sinceParam is ?since=, 1h by default.
func sinceParam(r *http.Request) string {
	if s := r.URL.Query().Get("since"); s != "" {
		return s
	}
	return "1h"
}

// eventRow is one event of a list, its CloudEvent laid out for reading.
type eventRow struct {
	query.Event
	Type, Subject string
	Data          map[string]any
	Pretty        string
}

func eventRows(res *query.Result) []eventRow {
	if res == nil {
		return nil
	}
	out := make([]eventRow, 0, len(res.Events))
	for _, e := range res.Events {
		row := eventRow{Event: e}
		var ce struct {
			Type    string         `json:"type"`
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		if json.Unmarshal(e.Event, &ce) == nil {
			row.Type, row.Subject, row.Data = ce.Type, ce.Subject, ce.Data
		}
		var buf bytes.Buffer
		if json.Indent(&buf, e.Event, "", "  ") == nil {
			row.Pretty = buf.String()
		} else {
			row.Pretty = string(e.Event)
		}
		out = append(out, row)
	}
	return out
}

// defaultEventsQuery is the explorer's query before one is typed.
const defaultEventsQuery = "from audit"

func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	if _, set := r.URL.Query()["q"]; !set {
		q = defaultEventsQuery
	}
	since := sinceParam(r)
	ans, err := c.api.QueryEvents(r.Context(), p, adminapi.EventsQuery{Text: q, Since: since, Timeline: true})
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	data := map[string]any{"Q": q, "Since": since, "Error": msg, "Answer": ans}
	if ans.Result != nil {
		data["Rows"] = eventRows(ans.Result)
		tl := ans.Timeline
		if ans.Result.Kind == "timeline" {
			tl = ans.Result
		}
		data["Chart"] = timelineChart(tl)
	}
	c.render(w, r, "events", "Events", "events", data)
}

func (c *Console) subjects(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	q := listQuery(r)
	pg, err := c.api.Subjects(r.Context(), p, q)
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	c.render(w, r, "subjects", "Schema registry", "schemas", map[string]any{"Q": q.Q, "Page": pg, "First": q.PageToken == "", "Error": msg})
}

func (c *Console) subject(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	d, err := c.api.Subject(r.Context(), p, r.PathValue("subject"), r.URL.Query().Get("version"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "subject", "Subject "+d.Subject, "schemas", d)
}

func (c *Console) diff(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	subject := r.PathValue("subject")
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if to == "" {
		to = "latest"
	}
	if from == "" {
		// The version before the one shown.
		d, err := c.api.Subject(r.Context(), p, subject, to)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		from = "1"
		for _, v := range d.Versions {
			if v < d.Version.Version {
				from = strconv.Itoa(v)
			}
		}
	}
	d, err := c.api.DiffVersions(r.Context(), p, subject, from, to)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	all, err := c.api.Subject(r.Context(), p, subject, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "diff", "Subject "+subject+": diff", "schemas", map[string]any{"Diff": d, "Versions": all.Versions})
}

// tables lists the tableflow role's tables; without the role the page
// says so.
func (c *Console) tables(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.principal(w, r); !ok {
		return
	}
	q := listQuery(r)
	pg, err := c.api.ListTables(r.Context(), q)
	msg, ok := c.soft(w, r, err)
	if !ok {
		return
	}
	c.render(w, r, "tables", "Tables", "tables", map[string]any{"Q": q.Q, "Page": pg, "First": q.PageToken == "", "Error": msg})
}

func (c *Console) table(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.principal(w, r); !ok {
		return
	}
	d, err := c.api.Table(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "table", "Table "+d.Name, "tables", d)
}
