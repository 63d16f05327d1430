package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// ScramMechanism is a SCRAM variant, numbered as Kafka's
// DescribeUserScramCredentials and AlterUserScramCredentials do.
type ScramMechanism int8

const (
	ScramUnknown ScramMechanism = 0
	ScramSHA256  ScramMechanism = 1
	ScramSHA512  ScramMechanism = 2
)

// Iteration bounds Kafka enforces on SCRAM credentials.
const (
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 8192
)

// ParseScramMechanism maps a mechanism name to its number.
func ParseScramMechanism(name string) (ScramMechanism, error) {
	switch name {
	case MechScramSHA256:
		return ScramSHA256, nil
	case MechScramSHA512:
		return ScramSHA512, nil
	}
	return ScramUnknown, fmt.Errorf("auth: unknown SCRAM mechanism %q (want %s or %s)", name, MechScramSHA256, MechScramSHA512)
}

func (m ScramMechanism) String() string {
	switch m {
	case ScramSHA256:
		return MechScramSHA256
	case ScramSHA512:
		return MechScramSHA512
	}
	return fmt.Sprintf("SCRAM-UNKNOWN(%d)", int8(m))
}

// Valid reports whether m is a known mechanism.
func (m ScramMechanism) Valid() bool { return m == ScramSHA256 || m == ScramSHA512 }

func (m ScramMechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

// ScramCredential is what the store keeps for one user and mechanism
// (RFC 5802 section 3): never the password, only the salt, the iteration
// count and the two keys derived from the salted password.
type ScramCredential struct {
	User       string
	Mechanism  ScramMechanism
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// SaltPassword is RFC 5802's Hi(password, salt, i): PBKDF2 with the
// mechanism's HMAC.
func SaltPassword(m ScramMechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := m.hash()
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// NewScramCredential derives a credential from a password with a fresh
// random salt.
func NewScramCredential(user string, m ScramMechanism, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := SaltPassword(m, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredentialFromSalted(user, m, salt, iterations, salted), nil
}

// ScramCredentialFromSalted derives the stored and server keys from a
// salted password (what AlterUserScramCredentials carries).
func ScramCredentialFromSalted(user string, m ScramMechanism, salt []byte, iterations int, salted []byte) ScramCredential {
	h := m.hash()
	clientKey := hmacSum(h, salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{User: user, Mechanism: m, Salt: salt, Iterations: iterations,
		StoredKey: stored.Sum(nil), ServerKey: hmacSum(h, salted, "Server Key")}
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// CheckPassword reports whether password is the one c was derived from.
func (c ScramCredential) CheckPassword(password string) bool {
	salted, err := SaltPassword(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	d := ScramCredentialFromSalted(c.User, c.Mechanism, c.Salt, c.Iterations, salted)
	return hmac.Equal(d.StoredKey, c.StoredKey)
}

// ErrNoCredential is returned for a user and mechanism with no credential.
var ErrNoCredential = errors.New("auth: no such SCRAM credential")

// ScramStore keeps SCRAM credentials (the metadata store's SQLite and
// PostgreSQL backends, MemScramStore in tests). All methods are safe for
// concurrent use and take effect for every agent sharing the store at
// once.
type ScramStore interface {
	// ScramCredential returns user's credential for m, or ErrNoCredential.
	ScramCredential(ctx context.Context, user string, m ScramMechanism) (ScramCredential, error)
	// ScramCredentials returns the credentials of users (every user when
	// users is nil), sorted by user then mechanism.
	ScramCredentials(ctx context.Context, users []string) ([]ScramCredential, error)
	// UpsertScramCredential creates or replaces c.
	UpsertScramCredential(ctx context.Context, c ScramCredential) error
	// DeleteScramCredential deletes user's credential for m, or returns
	// ErrNoCredential when there is none.
	DeleteScramCredential(ctx context.Context, user string, m ScramMechanism) error
}
