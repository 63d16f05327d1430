package query

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Path is where the agent serves queries (POST).
const Path = "/api/v1/events/query"

// Request is the JSON body of POST /api/v1/events/query.
type Request struct {
	// Query is the query text (docs/events.md).
	Query string `json:"query"`
	// Since and Until, when set, replace the query's bounds: a duration
	// before now ("1h") or an RFC 3339 time.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// Limit, when positive, replaces the query's limit.
	Limit int `json:"limit,omitempty"`
	// PageToken continues a list from the previous answer's
	// next_page_token.
	PageToken string `json:"page_token,omitempty"`
}

// ErrorBody is the JSON of an error answer. Code is one of
// invalid_request, syntax_error (with Position, 1-based), invalid_query,
// too_many_queries, internal.
type ErrorBody struct {
	Code     string `json:"error_code"`
	Message  string `json:"message"`
	Position int    `json:"position,omitempty"`
}

// maxRequestBody bounds a query request's body.
const maxRequestBody = 64 << 10

// Handler serves POST /api/v1/events/query: 200 with a Result, 400 for a
// malformed request or query (syntax errors carry the position), 429 when
// too many queries run, 500 for a failed read.
func Handler(e *Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, ErrorBody{Code: "invalid_request", Message: "request body: " + err.Error()})
			return
		}
		q, err := Parse(req.Query)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				writeJSON(w, http.StatusBadRequest, ErrorBody{Code: "syntax_error", Message: err.Error(), Position: se.Pos + 1})
				return
			}
			writeJSON(w, http.StatusBadRequest, ErrorBody{Code: "invalid_query", Message: err.Error()})
			return
		}
		o := Options{Limit: req.Limit, PageToken: req.PageToken}
		for _, b := range []struct {
			s   string
			dst **TimeSpec
			n   string
		}{{req.Since, &o.Since, "since"}, {req.Until, &o.Until, "until"}} {
			if b.s == "" {
				continue
			}
			ts, err := ParseTimeSpec(b.s)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, ErrorBody{Code: "invalid_request", Message: b.n + ": " + err.Error()})
				return
			}
			*b.dst = &ts
		}
		res, err := e.Run(r.Context(), q, o)
		switch {
		case errors.Is(err, ErrBusy):
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, ErrorBody{Code: "too_many_queries", Message: err.Error()})
			return
		case errors.Is(err, ErrInvalid):
			writeJSON(w, http.StatusBadRequest, ErrorBody{Code: "invalid_query", Message: err.Error()})
			return
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, ErrorBody{Code: "internal", Message: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}
