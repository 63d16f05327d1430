// Package auth identifies who is at the other end of a connection: the
// principal a TLS client certificate or a SASL exchange establishes, as
// Kafka's KafkaPrincipal does. Authorization (what a principal may do) is
// internal/acl's.
package auth

import (
	"fmt"
	"strings"
)

// Principal is an authenticated identity, written "Type:Name" as in Kafka
// ("User:alice", "User:CN=client,O=example"). The zero Principal is no one.
type Principal struct {
	Type string
	Name string
}

// UserType is the principal type of every authenticated client.
const UserType = "User"

// Anonymous is the principal of a connection that did not authenticate
// (a PLAINTEXT or SSL-without-client-certificate listener), as in Kafka.
var Anonymous = Principal{Type: UserType, Name: "ANONYMOUS"}

// User returns the User principal named name.
func User(name string) Principal { return Principal{Type: UserType, Name: name} }

func (p Principal) String() string { return p.Type + ":" + p.Name }

// ParsePrincipal parses "Type:Name". The name may itself hold colons (a
// distinguished name does not, but a user name may); only the first one
// separates.
func ParsePrincipal(s string) (Principal, error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || typ == "" || name == "" {
		return Principal{}, fmt.Errorf("principal %q is not of the form Type:Name", s)
	}
	return Principal{Type: typ, Name: name}, nil
}
