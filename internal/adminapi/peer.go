package adminapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/auth"
)

// Agents call each other's HTTP listeners (at the address each
// advertises for the zone peer cache) to forward a group's requests to
// its coordinator and to ask for each other's summary and version. Under
// --console-auth scram the caller's principal must travel with such a
// request: a console session lives in one agent's memory, so the peer
// would not know its cookie. With a cluster secret (Peer.Verify) the
// calling agent names the principal it authenticated in principalHeader
// and proves it is an agent of the cluster with the secret; the peer
// acts as that principal. Without one, only a request's basic auth
// credentials can be passed on, and a session-cookie request for a group
// of another agent is refused with a message saying so.

// principalHeader names the principal a verified peer acts for.
const principalHeader = "X-Sluice-Principal"

// Peer is how this agent calls other agents and tells their calls apart.
type Peer struct {
	// Scheme is "http" (default) or "https" (--http-tls).
	Scheme string
	// Client sends the calls (nil: http.DefaultClient).
	Client *http.Client
	// Header is set on every call (the cluster secret).
	Header http.Header
	// Verify reports whether r carries the cluster's secret. Nil: no
	// secret is configured, and no principal a request names is trusted.
	Verify func(r *http.Request) bool
}

func (p Peer) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return http.DefaultClient
}

// errNoPeerAuth refuses to forward a console session to another agent
// without a cluster secret.
var errNoPeerAuth = errors.New("this agent has no --cluster-secret to vouch to the other agent for your console session (sessions live in one agent); set --cluster-secret on every agent, open the console on the coordinating agent, or call the API with basic auth")

// peerPrincipal returns the principal a verified peer names, ok false
// when r names none; an error when it names one without the secret.
func (a *API) peerPrincipal(r *http.Request) (auth.Principal, bool, error) {
	v := r.Header.Get(principalHeader)
	if v == "" {
		return auth.Principal{}, false, nil
	}
	if a.cfg.Peer.Verify == nil || !a.cfg.Peer.Verify(r) {
		return auth.Principal{}, true, errors.New("the request names a principal but does not carry the cluster secret")
	}
	p, err := auth.ParsePrincipal(v)
	return p, true, err
}

// peerRequest builds a call to another agent's listener at addr acting
// as p. With the cluster secret it carries the secret and p; without,
// the credentials of from (the request being passed on, if any): its
// basic auth, or, with no login configured, nothing (the peer acts as
// the anonymous principal as this agent did). A session cookie cannot be
// passed on: errNoPeerAuth.
func (a *API) peerRequest(ctx context.Context, method, addr, uri string, body io.Reader, p auth.Principal, from *http.Request) (*http.Request, error) {
	scheme := a.cfg.Peer.Scheme
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+addr+uri, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range a.cfg.Peer.Header {
		req.Header[k] = vs
	}
	req.Header.Set(forwardedHeader, strconv.Itoa(int(a.cfg.NodeID)))
	switch {
	case a.cfg.Peer.Verify != nil:
		req.Header.Set(principalHeader, p.String())
	case from != nil:
		if v := from.Header.Get("Authorization"); v != "" {
			req.Header.Set("Authorization", v)
		} else if a.cfg.Login != nil {
			return nil, &Error{Status: http.StatusServiceUnavailable, Code: "NOT_COORDINATOR", Message: errNoPeerAuth.Error()}
		}
	}
	return req, nil
}
