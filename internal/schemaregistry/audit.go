package schemaregistry

import (
	"context"
	"net/http"
)

// Auditor records the registry's writes: registering a schema, deleting a
// subject or a version, changing or deleting a compatibility config or a
// mode, deleting a context. The agent's implementation turns them into
// audit events (docs/events.md); the registry knows nothing of events.
// Audit is called once per write request, after its answer is decided,
// whatever the outcome; it must not block.
type Auditor interface {
	Audit(ctx context.Context, w Write)
}

// Write actions.
const (
	ActionRegister      = "register"
	ActionDelete        = "delete"
	ActionConfig        = "config"
	ActionMode          = "mode"
	ActionDeleteContext = "delete_context"
)

// Write is one write request and its outcome.
type Write struct {
	// Action is one of the Action constants.
	Action string
	// User is the HTTP basic user the request authenticated as; empty
	// when the registry has no authentication (or it failed: see
	// HTTPStatus 401).
	User       string
	RemoteAddr string
	HTTPMethod string
	// Path is the request's path (after a /contexts/{context} prefix);
	// Subject the subject it names, qualified with its context, or the
	// config or mode key ("" for the global one); Context the context a
	// delete_context names.
	Path    string
	Subject string
	Context string
	// Request holds what was asked beyond the path (permanent,
	// normalize, force) and Result the answer on success (the schema ID,
	// the versions deleted, the config or mode set).
	Request map[string]any
	Result  any
	// HTTPStatus is the answer's status; ErrorCode and Error Confluent's
	// error code and message on a failure (0 and "" on success).
	HTTPStatus int
	ErrorCode  int
	Error      string
}

// audit reports one write to the configured Auditor.
func (s *server) audit(r *http.Request, action string, status int, out any, e *Error) {
	if s.cfg.Auditor == nil || action == "" {
		return
	}
	w := Write{Action: action, RemoteAddr: r.RemoteAddr, HTTPMethod: r.Method, Path: r.URL.Path, HTTPStatus: status}
	if s.cfg.Auth != nil && status != http.StatusUnauthorized {
		w.User, _, _ = r.BasicAuth()
	}
	switch action {
	case ActionDeleteContext:
		w.Context = r.PathValue("context")
	case ActionConfig, ActionMode:
		w.Subject = settingKey(r)
	default:
		w.Subject = subject(r)
	}
	req := map[string]any{}
	for _, name := range []string{"permanent", "normalize", "force"} {
		if r.URL.Query().Has(name) {
			req[name] = boolParam(r, name)
		}
	}
	if v := r.PathValue("version"); v != "" {
		req["version"] = v
	}
	if len(req) > 0 {
		w.Request = req
	}
	if e != nil {
		w.ErrorCode, w.Error = e.Code, e.Message
	} else {
		w.Result = out
	}
	s.cfg.Auditor.Audit(r.Context(), w)
}
