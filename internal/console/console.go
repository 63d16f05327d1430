// Package console serves Sluice's web console from every agent: pages
// rendered on the server with html/template (embedded in the binary, no
// build step) and a little JavaScript that calls the JSON admin API
// (internal/adminapi) for changes and the message browser. Pages render
// from the same adminapi methods the /api/v1/ endpoints answer with, so
// lists are searched and paged on the server and a cluster with
// thousands of topics loads as fast as one with ten. Charts are SVG drawn
// on the server.
package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// StaticPrefix is where the console's CSS and JavaScript are served.
const StaticPrefix = "/console/static/"

// Console serves the pages.
type Console struct {
	api   *adminapi.API
	pages map[string]*template.Template
}

// New returns the console over api.
func New(api *adminapi.API) *Console {
	c := &Console{api: api, pages: map[string]*template.Template{}}
	for _, name := range []string{"overview", "topics", "topic", "groups", "group", "error", "login",
		"acls", "users", "denials", "events", "subjects", "subject", "diff", "tables", "table"} {
		c.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
	}
	return c
}

// Routes lists the console's pages.
var routes = []string{
	"GET /{$}",
	"GET /topics",
	"GET /topics/{name}",
	"GET /groups",
	"GET /groups/{id}",
	"GET /acls",
	"GET /users",
	"GET /acls/denials",
	"GET /events",
	"GET /schemas",
	"GET /schemas/{subject}",
	"GET /schemas/{subject}/diff",
	"GET /tables",
	"GET /tables/{name}",
}

// Register adds the pages and static assets to mux.
func (c *Console) Register(mux *http.ServeMux) {
	handlers := []http.HandlerFunc{c.overview, c.topics, c.topic, c.groups, c.group,
		c.acls, c.users, c.denials, c.events, c.subjects, c.subject, c.diff, c.tables, c.table}
	for i, pattern := range routes {
		mux.HandleFunc(pattern, handlers[i])
	}
	if c.api.Login() != nil {
		mux.HandleFunc("GET /login", c.loginForm)
		mux.HandleFunc("POST /login", c.logIn)
		mux.HandleFunc("POST /logout", c.logOut)
	}
	sub, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+StaticPrefix, http.StripPrefix(StaticPrefix, http.FileServerFS(sub)))
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	ReadOnly bool
	// Login is set when pages need a login (a log-out button shows).
	Login bool
	// Tables is set when the agent runs the tableflow role (the nav
	// marks the Tables page otherwise).
	Tables bool
	Data   any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name, title, nav string, data any) {
	c.renderStatus(w, http.StatusOK, name, title, nav, data)
}

func (c *Console) renderStatus(w http.ResponseWriter, status int, name, title, nav string, data any) {
	var buf bytes.Buffer
	err := c.pages[name].Execute(&buf, page{Title: title, Nav: nav, ReadOnly: c.api.ReadOnly(), Login: c.api.Login() != nil, Tables: c.api.HasTables(), Data: data})
	if err != nil {
		slog.Warn("console: render failed", "page", name, "err", err)
		http.Error(w, "render failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// fail renders an error page with the API error's status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var e *adminapi.Error
	if errors.As(err, &e) {
		status = e.Status
	}
	c.renderStatus(w, status, "error", "Error", "", map[string]any{"Status": status, "Error": err.Error()})
}

// principal runs the login hook for a page.
func (c *Console) principal(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	p, err := c.api.Principal(r)
	if err != nil && c.api.Login() != nil {
		// The browser logs in with the form and comes back here.
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return p, false
	}
	if err != nil {
		c.fail(w, r, &adminapi.Error{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED", Message: err.Error()})
		return p, false
	}
	return p, true
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.principal(w, r); !ok {
		return
	}
	cl, err := c.api.Cluster(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sum := c.api.ClusterSummary(r.Context())
	c.render(w, r, "overview", "Overview", "overview", map[string]any{
		"Cluster":    cl,
		"Summary":    sum,
		"Throughput": throughputChart(sum),
		"Latency":    latencyChart(sum),
	})
}

func listQuery(r *http.Request) adminapi.ListQuery {
	return adminapi.ListQuery{Q: r.URL.Query().Get("q"), PageToken: r.URL.Query().Get("page_token"), Limit: adminapi.DefaultLimit}
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.principal(w, r); !ok {
		return
	}
	q := listQuery(r)
	pg, err := c.api.Topics(r.Context(), q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "topics", "Topics", "topics", map[string]any{"Q": q.Q, "Page": pg, "First": q.PageToken == ""})
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.principal(w, r); !ok {
		return
	}
	t, err := c.api.Topic(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "topic", "Topic "+t.Name, "topics", t)
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	q := listQuery(r)
	pg, err := c.api.Groups(r.Context(), p, q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "groups", "Consumer groups", "groups", map[string]any{"Q": q.Q, "Page": pg, "First": q.PageToken == ""})
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	p, ok := c.principal(w, r)
	if !ok {
		return
	}
	g, err := c.api.GroupAnywhere(r.Context(), p, r.PathValue("id"), r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "group", "Group "+g.GroupID, "groups", map[string]any{"Group": g, "Lag": lagChart(g)})
}

var funcs = template.FuncMap{
	"list": func(s ...string) []string { return s },
	"rate": func(v float64) string {
		if v > 0 && v < 1024 {
			return fmt.Sprintf("%.1f B/s", v)
		}
		return humanBytes(int64(v)) + "/s"
	},
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"operations": func() []string {
		return []string{"ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"}
	},
	"bytes":    humanBytes,
	"bytesf":   func(f float64) string { return humanBytes(int64(f)) },
	"pathesc":  url.PathEscape,
	"duration": func(sec int64) string { return (time.Duration(sec) * time.Second).String() },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Truncate(time.Second).String() + " ago"
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"join": func(ps []int32) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = fmt.Sprint(p)
		}
		return strings.Join(s, ",")
	},
	"derefInt": func(p *int64) int64 { return *p },
	"offsets": func(m map[string]int64) string {
		ps := make([]int, 0, len(m))
		for k := range m {
			if p, err := strconv.Atoi(k); err == nil {
				ps = append(ps, p)
			}
		}
		sort.Ints(ps)
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = fmt.Sprintf("%d: %d", p, m[strconv.Itoa(p)])
		}
		return strings.Join(out, ", ")
	},
	"deref": func(p *int64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprint(*p)
	},
	"seq": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	},
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// loginForm renders the login form.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "login", "Log in", "", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// logIn checks the form's user name and password against the cluster's
// credentials and, when right, sets the session cookie and redirects to
// the page asked for; otherwise the form comes back with 401.
func (c *Console) logIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, &adminapi.Error{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: err.Error()})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	user := r.PostForm.Get("user")
	if _, err := c.api.Login().LogIn(w, r, user, r.PostForm.Get("password")); err != nil {
		c.renderStatus(w, http.StatusUnauthorized, "login", "Log in", "", map[string]any{"Next": next, "User": user, "Error": err.Error()})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logOut ends the session and shows the login form.
func (c *Console) logOut(w http.ResponseWriter, r *http.Request) {
	c.api.Login().LogOut(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a login's redirect on this site: a path, never another
// host ("//host" or "/\\host").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
