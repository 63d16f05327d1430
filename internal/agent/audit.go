package agent

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// registryAuditor turns the schema registry's writes into audit events
// (docs/events.md). It reads a.events when called: the registry is built
// before the events writer, and serves only after it exists.
type registryAuditor struct{ a *Agent }

// registryEventTypes maps the registry's write actions to event types.
var registryEventTypes = map[string]string{
	schemaregistry.ActionRegister:      events.TypeSchemaRegistered,
	schemaregistry.ActionDelete:        events.TypeSchemaDeleted,
	schemaregistry.ActionConfig:        events.TypeSchemaConfigAltered,
	schemaregistry.ActionMode:          events.TypeSchemaModeAltered,
	schemaregistry.ActionDeleteContext: events.TypeSchemaContextDeleted,
}

func (r registryAuditor) Audit(ctx context.Context, w schemaregistry.Write) {
	if r.a.events == nil {
		return
	}
	principal := auth.Anonymous.String()
	if w.User != "" {
		principal = auth.Principal{Type: auth.UserType, Name: w.User}.String()
	}
	resourceType, resource := "subject", w.Subject
	switch {
	case w.Action == schemaregistry.ActionDeleteContext:
		resourceType, resource = "context", w.Context
	case (w.Action == schemaregistry.ActionConfig || w.Action == schemaregistry.ActionMode) && w.Subject == "":
		resourceType = "global"
	}
	req := map[string]any{}
	for k, v := range w.Request {
		req[k] = v
	}
	if w.Result != nil {
		req["result"] = w.Result
	}
	if len(req) == 0 {
		req = nil
	}
	d := events.AdminData{Method: "schema_registry." + w.Action, Principal: principal, RemoteAddr: w.RemoteAddr,
		ResourceType: resourceType, Resource: resource, Request: req, Status: "SUCCESS",
		HTTPMethod: w.HTTPMethod, Path: w.Path, HTTPStatus: w.HTTPStatus}
	if w.HTTPStatus >= http.StatusBadRequest {
		d.Status, d.Error = "FAILURE", strconv.Itoa(w.ErrorCode)+": "+w.Error
	}
	r.a.events.Emit(ctx, events.Event{Type: registryEventTypes[w.Action], Subject: resource, Data: d})
}

// adminAuditor turns the admin API's mutating calls into audit events.
type adminAuditor struct{ emit events.Emitter }

func (r adminAuditor) Audit(ctx context.Context, c adminapi.Call) {
	principal := ""
	if c.Principal != (auth.Principal{}) {
		principal = c.Principal.String()
	}
	d := events.AdminData{Method: "http." + c.Route, Principal: principal, RemoteAddr: c.RemoteAddr,
		ResourceType: c.ResourceType, Resource: c.Resource, Status: "SUCCESS",
		HTTPMethod: c.HTTPMethod, Path: c.Path, HTTPStatus: c.HTTPStatus}
	if c.HTTPStatus >= http.StatusBadRequest {
		d.Status, d.Error = "FAILURE", c.Code+": "+c.Error
	}
	subject := c.Resource
	if subject == "" {
		subject = c.Path
	}
	r.emit.Emit(ctx, events.Event{Type: events.TypeHTTPAdminCall, Subject: subject, Data: d})
}
