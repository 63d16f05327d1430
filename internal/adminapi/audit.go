package adminapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/auth"
)

// Auditor records the API's mutating calls (every route that read-only
// mode refuses). The agent's implementation turns them into audit events
// (docs/events.md); the API knows nothing of events. Audit is called once
// per call, after its answer is written, whatever the outcome; it must not
// block. A call forwarded to a group's coordinator is recorded by the agent
// that received it, with the coordinator's answer, and not again by the
// coordinator.
type Auditor interface {
	Audit(ctx context.Context, c Call)
}

// Call is one mutating call and its outcome.
type Call struct {
	// Principal is who the call acted as; zero when authentication
	// failed (HTTPStatus 401).
	Principal  auth.Principal
	RemoteAddr string
	HTTPMethod string
	// Route is the endpoint's pattern ("DELETE /api/v1/topics/{name}"),
	// Path the request's path.
	Route string
	Path  string
	// ResourceType is "topic" or "group" and Resource its name, from the
	// path; both empty for routes that name none (creating a topic names
	// it in the body).
	ResourceType string
	Resource     string
	// HTTPStatus is the answer's status; Code and Error the API error's
	// code and message on a failure (empty on success).
	HTTPStatus int
	Code       string
	Error      string
}

// statusRecorder remembers the status a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush passes flushes through, for handlers that stream.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// audit reports one mutating call to the configured Auditor.
func (a *API) audit(r *http.Request, rt route, p auth.Principal, status int, apiErr *Error) {
	if a.cfg.Auditor == nil || !rt.write || r.Header.Get(forwardedHeader) != "" {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	c := Call{Principal: p, RemoteAddr: r.RemoteAddr, HTTPMethod: r.Method, Route: rt.pattern, Path: r.URL.Path, HTTPStatus: status}
	switch {
	case strings.Contains(rt.pattern, "/topics/{name}"):
		c.ResourceType, c.Resource = "topic", r.PathValue("name")
	case strings.Contains(rt.pattern, "/groups/{id}"):
		c.ResourceType, c.Resource = "group", r.PathValue("id")
	case strings.HasSuffix(rt.pattern, "/topics"):
		c.ResourceType = "topic"
	}
	if apiErr != nil {
		c.Code, c.Error = apiErr.Code, apiErr.Message
	}
	a.cfg.Auditor.Audit(r.Context(), c)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
