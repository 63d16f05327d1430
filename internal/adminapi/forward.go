package adminapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

// A consumer group is answered by the agent that coordinates it. An agent
// asked about a group another agent coordinates forwards the request to
// that agent's HTTP listener (the address it advertises for the zone peer
// cache), once: a forwarded request carries forwardedHeader and is never
// forwarded again.

const forwardedHeader = "X-Sluice-Forwarded-By"

// isNotCoordinator reports whether err is the Kafka handler's
// NOT_COORDINATOR.
func isNotCoordinator(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "NOT_COORDINATOR"
}

// coordinatorAddr returns the HTTP address of the agent coordinating
// group (FindCoordinator, then the agent's registration).
func (a *API) coordinatorAddr(ctx context.Context, p auth.Principal, group string) (int32, string, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorType = group, 0
	resp, err := a.do(ctx, p, 3, req)
	if err != nil {
		return 0, "", err
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if err := kafkaError(r.ErrorCode, r.ErrorMessage); err != nil {
		return 0, "", err
	}
	agents, err := a.cfg.Store.LiveAgents(ctx, a.cfg.AgentTTL)
	if err != nil {
		return 0, "", err
	}
	for _, ag := range agents {
		if ag.NodeID == r.NodeID && ag.PeerAddr != "" {
			return ag.NodeID, ag.PeerAddr, nil
		}
	}
	return r.NodeID, "", &Error{Status: http.StatusServiceUnavailable, Code: "NOT_COORDINATOR",
		Message: fmt.Sprintf("group %q is coordinated by agent %d, which advertises no HTTP address (--peer-cache); ask that agent", group, r.NodeID)}
}

// forward sends r (with body) to the group's coordinator and copies its
// answer to w.
func (a *API) forward(w http.ResponseWriter, r *http.Request, p auth.Principal, group string, body []byte) error {
	node, addr, err := a.coordinatorAddr(r.Context(), p, group)
	if err != nil {
		return err
	}
	if node == a.cfg.NodeID {
		return &Error{Status: http.StatusServiceUnavailable, Code: "NOT_COORDINATOR", Message: "the group's coordinator is moving; retry"}
	}
	out, err := a.peerRequest(r.Context(), r.Method, addr, r.URL.RequestURI(), bytes.NewReader(body), p, r)
	if err != nil {
		return err
	}
	if v := r.Header.Get("Content-Type"); v != "" {
		out.Header.Set("Content-Type", v)
	}
	resp, err := a.cfg.Peer.client().Do(out)
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Code: "NOT_COORDINATOR", Message: fmt.Sprintf("group %q is coordinated by agent %d, which did not answer: %v", group, node, err)}
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
	return nil
}

// GroupAnywhere is Group, asked of the coordinating agent when it is
// another one, acting as p; from is the request p made (its credentials
// are passed on when the agents share no cluster secret).
func (a *API) GroupAnywhere(ctx context.Context, p auth.Principal, id string, from *http.Request) (Group, error) {
	g, err := a.Group(ctx, p, id)
	if !isNotCoordinator(err) {
		return g, err
	}
	node, addr, err := a.coordinatorAddr(ctx, p, id)
	if err != nil {
		return Group{}, err
	}
	if node == a.cfg.NodeID {
		return a.Group(ctx, p, id)
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	req, err := a.peerRequest(ctx, http.MethodGet, addr, "/api/v1/groups/"+pathEscape(id), nil, p, from)
	if err != nil {
		return Group{}, err
	}
	resp, err := a.cfg.Peer.client().Do(req)
	if err != nil {
		return Group{}, &Error{Status: http.StatusBadGateway, Code: "NOT_COORDINATOR", Message: fmt.Sprintf("group %q is coordinated by agent %d, which did not answer: %v", id, node, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if err := decodeJSON(resp.Body, e); err != nil || e.Code == "" {
			return Group{}, fmt.Errorf("agent %d answered %s", node, resp.Status)
		}
		return Group{}, e
	}
	if err := decodeJSON(resp.Body, &g); err != nil {
		return Group{}, err
	}
	return g, nil
}
