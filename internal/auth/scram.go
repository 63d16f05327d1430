package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scram is the SCRAM-SHA-256 or SCRAM-SHA-512 mechanism (RFC 5802, RFC
// 7677) over a ScramStore, checking what Kafka's ScramSaslServer checks:
// no extensions, no channel binding (SCRAM-*-PLUS is not a Kafka
// mechanism), an authzid only when it names the user, and a client-final
// nonce that ends with the server-first nonce. (Kafka accepts a longer one
// there, and librdkafka sends its own nonce again in front, so a strict
// equality check, as in github.com/xdg-go/scram, refuses every librdkafka
// client; that is why this is not that library.)
type Scram struct {
	mech  ScramMechanism
	store ScramStore
}

// NewScram returns the mechanism m over store.
func NewScram(m ScramMechanism, store ScramStore) *Scram { return &Scram{mech: m, store: store} }

// Name implements Mechanism.
func (s *Scram) Name() string { return s.mech.String() }

// Start implements Mechanism.
func (s *Scram) Start() Session { return &scramSession{mech: s.mech, store: s.store} }

// scramSession is one exchange: client-first → server-first, then
// client-final → server-final.
type scramSession struct {
	mech  ScramMechanism
	store ScramStore
	steps int
	// Set by the first step.
	user        string
	gs2Header   string
	clientFirst string // client-first-message-bare
	serverFirst string
	nonce       string // the server-first nonce
	cred        ScramCredential
	done        bool
}

// maxScramMessage bounds a client message; real ones are under 1 KiB.
const maxScramMessage = 8 << 10

// DecodeSaslName undoes RFC 5802's escaping of ',' and '=' in a name.
func DecodeSaslName(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(s)
}

// ScramClientFirst is a parsed client-first-message.
type ScramClientFirst struct {
	GS2Header string // "n,," or "n,a=…," (or "y,,")
	AuthzID   string
	User      string // decoded
	Nonce     string
	Bare      string // client-first-message-bare, as sent
}

// ParseScramClientFirst parses gs2-header client-first-message-bare.
func ParseScramClientFirst(msg string) (ScramClientFirst, error) {
	var m ScramClientFirst
	if len(msg) > maxScramMessage {
		return m, ErrBadMessage
	}
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 {
		return m, ErrBadMessage
	}
	switch {
	case parts[0] == "n", parts[0] == "y":
	case strings.HasPrefix(parts[0], "p="):
		return m, fmt.Errorf("%w: channel binding is not supported", ErrBadMessage)
	default:
		return m, ErrBadMessage
	}
	if parts[1] != "" {
		a, ok := strings.CutPrefix(parts[1], "a=")
		if !ok {
			return m, ErrBadMessage
		}
		m.AuthzID = DecodeSaslName(a)
	}
	m.GS2Header = parts[0] + "," + parts[1] + ","
	m.Bare = parts[2]
	fields := strings.Split(m.Bare, ",")
	if len(fields) < 2 {
		return m, ErrBadMessage
	}
	user, ok := strings.CutPrefix(fields[0], "n=")
	if !ok || user == "" {
		return m, ErrBadMessage
	}
	nonce, ok := strings.CutPrefix(fields[1], "r=")
	if !ok || nonce == "" || !printable(nonce) {
		return m, ErrBadMessage
	}
	for _, f := range fields[2:] {
		if !strings.Contains(f, "=") || strings.HasPrefix(f, "m=") {
			return m, fmt.Errorf("%w: unsupported extension", ErrBadMessage)
		}
		// Other extensions (Kafka's tokenauth=…) are ignored.
	}
	m.User, m.Nonce = DecodeSaslName(user), nonce
	return m, nil
}

// ScramClientFinal is a parsed client-final-message.
type ScramClientFinal struct {
	ChannelBinding []byte // decoded c=
	Nonce          string
	Proof          []byte
	WithoutProof   string
}

// ParseScramClientFinal parses c=…,r=…[,ext…],p=….
func ParseScramClientFinal(msg string) (ScramClientFinal, error) {
	var m ScramClientFinal
	if len(msg) > maxScramMessage {
		return m, ErrBadMessage
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return m, ErrBadMessage
	}
	m.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return m, ErrBadMessage
	}
	m.Proof = proof
	fields := strings.Split(m.WithoutProof, ",")
	if len(fields) < 2 {
		return m, ErrBadMessage
	}
	c, ok := strings.CutPrefix(fields[0], "c=")
	if !ok {
		return m, ErrBadMessage
	}
	if m.ChannelBinding, err = base64.StdEncoding.DecodeString(c); err != nil {
		return m, ErrBadMessage
	}
	if m.Nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || m.Nonce == "" {
		return m, ErrBadMessage
	}
	return m, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// Step implements Session.
func (ss *scramSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	ss.steps++
	switch {
	case ss.done || ss.steps > 2:
		return nil, false, failed("%s: unexpected message after the exchange", ss.mech)
	case ss.steps == 1:
		return ss.first(ctx, string(msg))
	}
	out, err := ss.final(string(msg))
	ss.done = true
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func (ss *scramSession) first(ctx context.Context, msg string) ([]byte, bool, error) {
	ss.done = true // until this step succeeds
	m, err := ParseScramClientFirst(msg)
	if err != nil {
		return nil, false, failed("%s: client-first: %v", ss.mech, err)
	}
	if m.AuthzID != "" && m.AuthzID != m.User {
		return nil, false, failed("%s: authorization ID %q is not the user name", ss.mech, m.AuthzID)
	}
	c, err := ss.store.ScramCredential(ctx, m.User, ss.mech)
	if errors.Is(err, ErrNoCredential) {
		return nil, false, failed("%s: unknown user %q", ss.mech, m.User)
	}
	if err != nil {
		return nil, false, err
	}
	ss.user, ss.gs2Header, ss.clientFirst, ss.cred = m.User, m.GS2Header, m.Bare, c
	ss.nonce = m.Nonce + alnumNonce()
	ss.serverFirst = "r=" + ss.nonce + ",s=" + base64.StdEncoding.EncodeToString(c.Salt) + ",i=" + strconv.Itoa(c.Iterations)
	ss.done = false
	return []byte(ss.serverFirst), false, nil
}

func (ss *scramSession) final(msg string) ([]byte, error) {
	m, err := ParseScramClientFinal(msg)
	if err != nil {
		return nil, failed("%s: client-final: %v", ss.mech, err)
	}
	if subtle.ConstantTimeCompare(m.ChannelBinding, []byte(ss.gs2Header)) != 1 {
		return nil, failed("%s: channel binding does not match the GS2 header", ss.mech)
	}
	if !strings.HasSuffix(m.Nonce, ss.nonce) {
		return nil, failed("%s: client-final nonce does not end with the server nonce", ss.mech)
	}
	h := ss.mech.hash()
	authMessage := ss.clientFirst + "," + ss.serverFirst + "," + m.WithoutProof
	sig := hmacSum(h, ss.cred.StoredKey, authMessage)
	if len(m.Proof) != len(sig) {
		return nil, failed("%s: invalid proof", ss.mech)
	}
	clientKey := make([]byte, len(sig))
	for i := range sig {
		clientKey[i] = m.Proof[i] ^ sig[i]
	}
	stored := h()
	stored.Write(clientKey)
	if !hmac.Equal(stored.Sum(nil), ss.cred.StoredKey) {
		return nil, failed("%s: invalid proof (wrong password)", ss.mech)
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(h, ss.cred.ServerKey, authMessage))), nil
}

// alnumNonce is the server's nonce part: 32 random letters and digits, as
// Kafka's.
func alnumNonce() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [32]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b[:])
}

// Principal implements Session.
func (ss *scramSession) Principal() Principal { return User(ss.user) }

// Expiry implements Session: SCRAM credentials do not expire.
func (ss *scramSession) Expiry() time.Time { return time.Time{} }
