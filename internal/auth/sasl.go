package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SASL mechanism names, as clients and SaslHandshake spell them.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
	MechOAuthBearer = "OAUTHBEARER"
)

// ErrAuthFailed is the error of every authentication that fails because
// of what the client sent (a wrong password, an unknown user, a bad
// token). Its message never says which, so clients cannot probe for user
// names; the cause is in the wrapped error, for the agent's log only.
var ErrAuthFailed = errors.New("auth: authentication failed")

// ErrBadMessage is returned for a SASL message that does not parse.
var ErrBadMessage = errors.New("auth: malformed SASL message")

// Session is one SASL exchange on one connection. The Kafka connection
// loop calls Step with each client message, in order, from one goroutine;
// a Session is not safe for concurrent use.
type Session interface {
	// Step consumes the client's next message and returns the server's
	// answer. done reports the exchange complete and successful: then
	// Principal and Expiry are valid. An error ends the exchange; the
	// client gets a failure (errors wrapping ErrAuthFailed are the
	// client's fault, others the agent's, e.g. the store is down).
	Step(ctx context.Context, msg []byte) (challenge []byte, done bool, err error)
	// Principal is who authenticated. After a failure it names the user
	// the client claimed when the mechanism got that far (PLAIN, SCRAM
	// after client-first), for the audit record; it is empty otherwise.
	Principal() Principal
	// Expiry is when the credential stops being valid (an OAUTHBEARER
	// token's exp), or the zero time when it does not expire.
	Expiry() time.Time
}

// Mechanism starts sessions of one SASL mechanism.
type Mechanism interface {
	Name() string
	Start() Session
}

// SASL is the set of mechanisms a listener offers.
type SASL struct {
	mechs []Mechanism
}

// NewSASL returns the set of mechs, in the order given (the order
// SaslHandshake lists them). Duplicate names are an error.
func NewSASL(mechs ...Mechanism) (*SASL, error) {
	seen := map[string]bool{}
	for _, m := range mechs {
		if seen[m.Name()] {
			return nil, fmt.Errorf("auth: SASL mechanism %s configured twice", m.Name())
		}
		seen[m.Name()] = true
	}
	return &SASL{mechs: slices.Clone(mechs)}, nil
}

// Mechanisms lists the enabled mechanism names.
func (s *SASL) Mechanisms() []string {
	names := make([]string, len(s.mechs))
	for i, m := range s.mechs {
		names[i] = m.Name()
	}
	return names
}

// Mechanism returns the mechanism called name (exact match, as Kafka).
func (s *SASL) Mechanism(name string) (Mechanism, bool) {
	for _, m := range s.mechs {
		if m.Name() == name {
			return m, true
		}
	}
	return nil, false
}

// failed wraps cause as an authentication failure.
func failed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAuthFailed, fmt.Sprintf(format, args...))
}
