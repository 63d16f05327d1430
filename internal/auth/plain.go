package auth

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// Plain is the PLAIN mechanism (RFC 4616) checked against the SCRAM
// store: a user may log in with PLAIN using the password of either of its
// SCRAM credentials (SCRAM-SHA-512 tried first). The password travels in
// clear, so PLAIN belongs on SASL_SSL listeners.
type Plain struct {
	store ScramStore
}

// NewPlain returns PLAIN over store.
func NewPlain(store ScramStore) *Plain { return &Plain{store: store} }

// Name implements Mechanism.
func (p *Plain) Name() string { return MechPlain }

// Start implements Mechanism.
func (p *Plain) Start() Session { return &plainSession{store: p.store} }

type plainSession struct {
	store ScramStore
	user  string
	done  bool
}

// maxPlainMessage bounds the one PLAIN message (authzid, user, password).
const maxPlainMessage = 4 << 10

// ParsePlain splits a PLAIN message, authzid NUL authcid NUL passwd.
func ParsePlain(msg []byte) (authzID, user, password string, err error) {
	if len(msg) > maxPlainMessage {
		return "", "", "", ErrBadMessage
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", ErrBadMessage
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// Step implements Session.
func (s *plainSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, failed("PLAIN: unexpected message after the exchange")
	}
	s.done = true
	authzID, user, password, err := ParsePlain(msg)
	if err != nil {
		return nil, false, failed("PLAIN: %v", err)
	}
	if authzID != "" && authzID != user {
		return nil, false, failed("PLAIN: authorization ID %q is not the user name", authzID)
	}
	s.user = user // the claimed user, for the failure's audit record
	if err := CheckPassword(ctx, s.store, user, password); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// CheckPassword checks a clear-text password against the user's SCRAM
// credentials in store (SCRAM-SHA-512 tried first, then SCRAM-SHA-256):
// nil if either matches, an error wrapping ErrAuthFailed for an unknown
// user or a wrong password, another error when the store cannot answer.
// It is the one password check of PLAIN, of the schema registry's basic
// auth and of the console's login.
func CheckPassword(ctx context.Context, store ScramStore, user, password string) error {
	found := false
	for _, m := range []ScramMechanism{ScramSHA512, ScramSHA256} {
		c, err := store.ScramCredential(ctx, user, m)
		if errors.Is(err, ErrNoCredential) {
			continue
		}
		if err != nil {
			return err
		}
		found = true
		if c.CheckPassword(password) {
			return nil
		}
	}
	if !found {
		return failed("password check: unknown user %q", user)
	}
	return failed("password check: wrong password for %q", user)
}

// Principal implements Session.
func (s *plainSession) Principal() Principal { return User(s.user) }

// Expiry implements Session.
func (s *plainSession) Expiry() time.Time { return time.Time{} }
