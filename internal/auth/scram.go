package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/xdg-go/scram"
)

// Scram is the SCRAM-SHA-256 or SCRAM-SHA-512 mechanism (RFC 5802, RFC
// 7677) over a ScramStore. The RFC message parsing and proof checking are
// github.com/xdg-go/scram's; this adds the store lookup, the SASL name
// decoding Kafka applies to user names, and Kafka's rule that an authzid,
// when sent, must equal the user name. Channel binding is not offered
// (SCRAM-SHA-*-PLUS is not a Kafka mechanism).
type Scram struct {
	mech  ScramMechanism
	store ScramStore
}

// NewScram returns the mechanism m over store.
func NewScram(m ScramMechanism, store ScramStore) *Scram { return &Scram{mech: m, store: store} }

// Name implements Mechanism.
func (s *Scram) Name() string { return s.mech.String() }

// Start implements Mechanism.
func (s *Scram) Start() Session {
	ss := &scramSession{mech: s.mech, store: s.store}
	hg := scram.SHA256
	if s.mech == ScramSHA512 {
		hg = scram.SHA512
	}
	srv, err := hg.NewServer(ss.lookup)
	if err != nil { // only for a nil hash function
		panic(err)
	}
	ss.conv = srv.NewConversation()
	return ss
}

// scramSession is one exchange: client-first → server-first, then
// client-final → server-final.
type scramSession struct {
	mech  ScramMechanism
	store ScramStore
	conv  *scram.ServerConversation
	// ctx is the context of the Step in progress, for lookup: the
	// library's credential callback takes none.
	ctx   context.Context
	user  string
	steps int
	// lookupErr is a store failure (not a missing user) seen by lookup.
	lookupErr error
}

// maxScramMessage bounds a client message; real ones are under 1 KiB.
const maxScramMessage = 8 << 10

func (ss *scramSession) lookup(name string) (scram.StoredCredentials, error) {
	user := DecodeSaslName(name)
	c, err := ss.store.ScramCredential(ss.ctx, user, ss.mech)
	if err != nil {
		if !errors.Is(err, ErrNoCredential) {
			ss.lookupErr = err
		}
		return scram.StoredCredentials{}, err
	}
	ss.user = user
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
}

// DecodeSaslName undoes RFC 5802's escaping of ',' and '=' in a name.
func DecodeSaslName(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(s)
}

// Step implements Session.
func (ss *scramSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	ss.steps++
	if ss.steps > 2 || ss.conv.Done() {
		return nil, false, failed("%s: unexpected message after the exchange", ss.mech)
	}
	if len(msg) > maxScramMessage {
		return nil, false, failed("%s: message of %d bytes", ss.mech, len(msg))
	}
	ss.ctx = ctx
	defer func() { ss.ctx = nil }()
	resp, err := ss.conv.Step(string(msg))
	if ss.lookupErr != nil {
		return nil, false, ss.lookupErr
	}
	if err != nil {
		return nil, false, failed("%s: %v", ss.mech, err)
	}
	if ss.steps == 1 {
		if a := ss.conv.AuthzID(); a != "" && DecodeSaslName(a) != ss.user {
			return nil, false, failed("%s: authorization ID %q is not the user name", ss.mech, a)
		}
		return []byte(resp), false, nil
	}
	if !ss.conv.Valid() {
		return nil, false, failed("%s: invalid proof", ss.mech)
	}
	return []byte(resp), true, nil
}

// Principal implements Session.
func (ss *scramSession) Principal() Principal { return User(ss.user) }

// Expiry implements Session: SCRAM credentials do not expire.
func (ss *scramSession) Expiry() time.Time { return time.Time{} }
