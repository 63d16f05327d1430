package schemaregistry

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/internal/auth"
)

// Authenticator checks the HTTP basic credentials of a registry request.
type Authenticator interface {
	// CheckBasic returns nil for good credentials, an error wrapping
	// ErrUnauthorized for bad ones (401), and any other error when the
	// credentials cannot be checked (a 500 with Confluent's store error).
	CheckBasic(ctx context.Context, user, password string) error
}

// ErrUnauthorized is the error of wrong or unknown credentials.
var ErrUnauthorized = errors.New("schema registry: unauthorized")

// BasicAuth holds the users allowed on the registry listener. It is
// immutable after LoadBasicAuth.
type BasicAuth struct {
	users map[string]string // user → bcrypt hash or plain password
}

// LoadBasicAuth reads a credentials file: one "user:password" per line,
// the password either a bcrypt hash ($2a$, $2b$, $2y$) or plain text;
// blank lines and lines starting with # are skipped.
func LoadBasicAuth(path string) (*BasicAuth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schema registry basic auth: %w", err)
	}
	defer f.Close()
	a := &BasicAuth{users: map[string]string{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("schema registry basic auth: %s line %d: want user:password", path, n)
		}
		a.users[user] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("schema registry basic auth: %w", err)
	}
	if len(a.users) == 0 {
		return nil, fmt.Errorf("schema registry basic auth: %s has no users", path)
	}
	return a, nil
}

// CheckBasic implements Authenticator.
func (a *BasicAuth) CheckBasic(_ context.Context, user, pass string) error {
	want, ok := a.users[user]
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown user %q", ErrUnauthorized, user)
	case isBcrypt(want) && bcrypt.CompareHashAndPassword([]byte(want), []byte(pass)) == nil:
		return nil
	case !isBcrypt(want) && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1:
		return nil
	}
	return fmt.Errorf("%w: wrong password for %q", ErrUnauthorized, user)
}

// ScramAuth checks basic credentials against the cluster's SCRAM
// credential store, as SASL PLAIN does (auth.CheckPassword): a user logs
// in with the password of either of its SCRAM credentials. Users are
// managed with the Kafka AlterUserScramCredentials API (sluice users,
// kafka-configs.sh) and take effect on the next request.
type ScramAuth struct {
	Store auth.ScramStore
}

// CheckBasic implements Authenticator.
func (a ScramAuth) CheckBasic(ctx context.Context, user, pass string) error {
	err := auth.CheckPassword(ctx, a.Store, user, pass)
	if errors.Is(err, auth.ErrAuthFailed) {
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	return err
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// UserLister is an Authenticator that can tell whether it knows a user,
// for callers that authenticated the user another way.
type UserLister interface {
	// HasUser reports whether user is one of the Authenticator's users.
	HasUser(ctx context.Context, user string) (bool, error)
}

// AllowsUser is the registry's authorization for a user authenticated
// by someone else (the web console's login): the registry authorizes by
// authentication alone (every user it lets in reads and writes every
// subject), so with no Authenticator anyone is allowed, and otherwise
// the users it knows are. An Authenticator that cannot list its users
// allows no one this way. Anonymous (auth.Anonymous's name) is never a
// user.
func AllowsUser(ctx context.Context, a Authenticator, user string) (bool, error) {
	if a == nil {
		return true, nil
	}
	ul, ok := a.(UserLister)
	if !ok || user == "" || user == auth.Anonymous.Name {
		return false, nil
	}
	return ul.HasUser(ctx, user)
}

// HasUser implements UserLister.
func (a *BasicAuth) HasUser(_ context.Context, user string) (bool, error) {
	_, ok := a.users[user]
	return ok, nil
}

// HasUser implements UserLister: user has a SCRAM credential.
func (a ScramAuth) HasUser(ctx context.Context, user string) (bool, error) {
	cs, err := a.Store.ScramCredentials(ctx, []string{user})
	return len(cs) > 0, err
}
