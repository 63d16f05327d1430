package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
)

// SessionCookie is the console's session cookie.
const SessionCookie = "sluice_session"

// ErrNoCredentials is Login.Authenticate's error for a request that
// carries neither basic auth nor a live session cookie.
var ErrNoCredentials = errors.New("log in: send HTTP basic auth or a session cookie from /login")

// LoginConfig configures Login.
type LoginConfig struct {
	// Check returns nil when password is user's (auth.CheckPassword over
	// the cluster's SCRAM store, as SASL PLAIN checks it), an
	// auth.ErrAuthFailed error when it is not.
	Check func(ctx context.Context, user, password string) error
	// FailureDelay is how long a failed login waits before its answer
	// (--auth-failure-delay, as for SASL); 0 or less does not wait.
	FailureDelay time.Duration
	// SessionTTL is how long a console session lives (default 12h).
	SessionTTL time.Duration
}

// Login authenticates console and admin API requests against the
// cluster's credentials: HTTP basic auth for scripts, and for the
// browser a session cookie that LogIn sets after checking a password.
// Sessions live in this agent's memory: they end when it restarts and
// are not valid on other agents.
type Login struct {
	cfg LoginConfig
	now func() time.Time

	mu       sync.Mutex // guards sessions
	sessions map[string]session
}

type session struct {
	principal auth.Principal
	expires   time.Time
}

// NewLogin returns a Login.
func NewLogin(cfg LoginConfig) *Login {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	return &Login{cfg: cfg, now: time.Now, sessions: map[string]session{}}
}

// Authenticate is the Config.Authenticate hook: a request's basic auth
// credentials are checked (a failure is slowed by FailureDelay), else its
// session cookie must name a live session.
func (l *Login) Authenticate(r *http.Request) (auth.Principal, error) {
	if user, password, ok := r.BasicAuth(); ok {
		return l.check(r.Context(), user, password)
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		if p, ok := l.session(c.Value); ok {
			return p, nil
		}
		return auth.Principal{}, errors.New("the session expired; log in again at /login")
	}
	return auth.Principal{}, ErrNoCredentials
}

// LogIn checks user's password and, when it is right, sets a new
// session's cookie on w (Secure when r came over TLS).
func (l *Login) LogIn(w http.ResponseWriter, r *http.Request, user, password string) (auth.Principal, error) {
	p, err := l.check(r.Context(), user, password)
	if err != nil {
		return p, err
	}
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := l.now()
	l.mu.Lock()
	for k, s := range l.sessions { // drop expired sessions as new ones come
		if !now.Before(s.expires) {
			delete(l.sessions, k)
		}
	}
	l.sessions[id] = session{principal: p, expires: now.Add(l.cfg.SessionTTL)}
	l.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: int(l.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return p, nil
}

// LogOut ends r's session, if any, and clears its cookie.
func (l *Login) LogOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		l.mu.Lock()
		delete(l.sessions, c.Value)
		l.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (l *Login) session(id string) (auth.Principal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sessions[id]
	if !ok {
		return auth.Principal{}, false
	}
	if !l.now().Before(s.expires) {
		delete(l.sessions, id)
		return auth.Principal{}, false
	}
	return s.principal, true
}

// check checks a password, slowing a failure by FailureDelay (or until
// ctx ends) so guessing gets one try per delay per connection, as SASL.
func (l *Login) check(ctx context.Context, user, password string) (auth.Principal, error) {
	err := l.cfg.Check(ctx, user, password)
	if err == nil {
		return auth.User(user), nil
	}
	if errors.Is(err, auth.ErrAuthFailed) && l.cfg.FailureDelay > 0 {
		t := time.NewTimer(l.cfg.FailureDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if errors.Is(err, auth.ErrAuthFailed) {
		// One message whatever the cause, as SASL: no user probing.
		return auth.Principal{}, errors.New("authentication failed: wrong user name or password")
	}
	return auth.Principal{}, err
}
