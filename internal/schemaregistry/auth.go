package schemaregistry

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

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

func (a *BasicAuth) check(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	want, ok := a.users[user]
	if !ok {
		return false
	}
	if isBcrypt(want) {
		return bcrypt.CompareHashAndPassword([]byte(want), []byte(pass)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}
