package tableflow

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// RESTHandler serves the read side of the Iceberg REST catalog protocol
// over the store, so Spark, Trino, DuckDB, PyIceberg and iceberg-go can
// attach to the tables tableflow maintains:
//
//	GET  /v1/config
//	GET  /v1/namespaces
//	GET  /v1/namespaces/{ns}             HEAD too
//	GET  /v1/namespaces/{ns}/tables
//	GET  /v1/namespaces/{ns}/tables/{t}  HEAD too
//
// Writes (create, commit, drop, rename, register, metrics reports) are not
// offered: tableflow owns the tables, and they are answered 501
// UnsupportedOperationException. Errors use the protocol's ErrorModel.
func RESTHandler(store Store, wh *Warehouse) http.Handler {
	h := &restHandler{store: store, wh: wh}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/config", h.config)
	mux.HandleFunc("GET /v1/namespaces", h.namespaces)
	mux.HandleFunc("GET /v1/namespaces/{ns}", h.namespace)
	mux.HandleFunc("HEAD /v1/namespaces/{ns}", h.namespace)
	mux.HandleFunc("GET /v1/namespaces/{ns}/tables", h.tables)
	mux.HandleFunc("GET /v1/namespaces/{ns}/tables/{table}", h.loadTable)
	mux.HandleFunc("HEAD /v1/namespaces/{ns}/tables/{table}", h.loadTable)
	// The protocol's writes get an ErrorModel typed
	// UnsupportedOperationException rather than the mux's plain-text 405,
	// so a client that tries one reports why. The status is 501, which
	// Java's, PyIceberg's and iceberg-go's clients all read as "not
	// supported"; the spec's 406 reaches the last two as a generic error.
	for _, route := range []string{
		"POST /v1/namespaces",
		"DELETE /v1/namespaces/{ns}",
		"POST /v1/namespaces/{ns}/properties",
		"POST /v1/namespaces/{ns}/tables",
		"POST /v1/namespaces/{ns}/register",
		"POST /v1/namespaces/{ns}/tables/{table}",
		"DELETE /v1/namespaces/{ns}/tables/{table}",
		"POST /v1/namespaces/{ns}/tables/{table}/metrics",
		"POST /v1/tables/rename",
		"POST /v1/transactions/commit",
	} {
		mux.HandleFunc(route, unsupported)
	}
	return mux
}

// unsupported answers a write: tableflow owns its tables.
func unsupported(w http.ResponseWriter, r *http.Request) {
	restError(w, http.StatusNotImplemented, "UnsupportedOperationException",
		r.Method+" "+r.URL.Path+": this catalog is read-only; tableflow writes its tables")
}

type restHandler struct {
	store Store
	wh    *Warehouse
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func restError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (h *restHandler) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"defaults":  map[string]string{},
		"overrides": map[string]string{},
		"endpoints": []string{
			"GET /v1/{prefix}/namespaces",
			"GET /v1/{prefix}/namespaces/{namespace}",
			"HEAD /v1/{prefix}/namespaces/{namespace}",
			"GET /v1/{prefix}/namespaces/{namespace}/tables",
			"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
			"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
		},
	})
}

// namespaceSet lists the namespaces of the stored tables.
func (h *restHandler) namespaceSet(r *http.Request) (map[string][]string, error) {
	states, err := h.store.List(r.Context())
	if err != nil {
		return nil, err
	}
	ns := map[string][]string{}
	for _, st := range states {
		i := strings.LastIndexByte(st.Name, '.')
		ns[st.Name[:i]] = append(ns[st.Name[:i]], st.Name[i+1:])
	}
	return ns, nil
}

// nsParam decodes a namespace path parameter (levels joined by 0x1F).
func nsParam(r *http.Request) string { return strings.ReplaceAll(r.PathValue("ns"), "\x1f", ".") }

func (h *restHandler) namespaces(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("parent") != "" {
		writeJSON(w, http.StatusOK, map[string]any{"namespaces": [][]string{}})
		return
	}
	set, err := h.namespaceSet(r)
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	out := [][]string{}
	for ns := range set {
		out = append(out, strings.Split(ns, "."))
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

func (h *restHandler) namespace(w http.ResponseWriter, r *http.Request) {
	set, err := h.namespaceSet(r)
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	ns := nsParam(r)
	if _, ok := set[ns]; !ok {
		restError(w, http.StatusNotFound, "NoSuchNamespaceException", "namespace does not exist: "+ns)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": strings.Split(ns, "."), "properties": map[string]string{}})
}

func (h *restHandler) tables(w http.ResponseWriter, r *http.Request) {
	set, err := h.namespaceSet(r)
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	ns := nsParam(r)
	names, ok := set[ns]
	if !ok {
		restError(w, http.StatusNotFound, "NoSuchNamespaceException", "namespace does not exist: "+ns)
		return
	}
	ids := []map[string]any{}
	for _, n := range names {
		ids = append(ids, map[string]any{"namespace": strings.Split(ns, "."), "name": n})
	}
	writeJSON(w, http.StatusOK, map[string]any{"identifiers": ids})
}

func (h *restHandler) loadTable(w http.ResponseWriter, r *http.Request) {
	name := nsParam(r) + "." + r.PathValue("table")
	st, err := h.store.Load(r.Context(), name)
	if errors.Is(err, ErrNoTable) {
		restError(w, http.StatusNotFound, "NoSuchTableException", "table does not exist: "+name)
		return
	}
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f, err := h.wh.fs.Open(st.MetadataLocation)
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		restError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"metadata-location": st.MetadataLocation,
		"metadata":          json.RawMessage(raw),
		"config":            map[string]string{},
	})
}

// RESTHandler serves the service's tables over the Iceberg REST protocol.
func (s *Service) RESTHandler() http.Handler { return RESTHandler(s.store, s.wh) }
