package cluster

import (
	"fmt"
	"strings"
)

// Role names an agent's role (--roles).
const (
	// RoleProxy serves Kafka clients, the HTTP API and the zone peer
	// cache; only proxy agents are advertised in Metadata and own
	// coordinators.
	RoleProxy = "proxy"
	// RoleJobs runs the leased background jobs: retention, compaction,
	// file deletion and the orphan sweep.
	RoleJobs = "jobs"
	// RoleTableflow runs the Tableflow service in the agent's process.
	RoleTableflow = "tableflow"
)

// Roles is the set of roles an agent has.
type Roles struct {
	Proxy, Jobs, Tableflow bool
}

// DefaultRoles are an agent's roles when --roles is not given.
var DefaultRoles = Roles{Proxy: true, Jobs: true}

// ParseRoles parses a comma-separated role list ("proxy,jobs"). Unknown
// names and an empty list are errors.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case RoleProxy:
			r.Proxy = true
		case RoleJobs:
			r.Jobs = true
		case RoleTableflow:
			r.Tableflow = true
		case "":
		default:
			return Roles{}, fmt.Errorf("cluster: unknown role %q: want a comma-separated list of %s, %s and %s", strings.TrimSpace(name), RoleProxy, RoleJobs, RoleTableflow)
		}
	}
	if r == (Roles{}) {
		return Roles{}, fmt.Errorf("cluster: no roles given: want a comma-separated list of %s, %s and %s", RoleProxy, RoleJobs, RoleTableflow)
	}
	return r, nil
}

// registeredRoles reads the roles an agent registered; "" (or anything
// unreadable) is an agent older than roles, which has proxy and jobs.
func registeredRoles(s string) Roles {
	if s == "" {
		return DefaultRoles
	}
	r, err := ParseRoles(s)
	if err != nil {
		return DefaultRoles
	}
	return r
}

// String writes the roles as ParseRoles reads them.
func (r Roles) String() string {
	var names []string
	if r.Proxy {
		names = append(names, RoleProxy)
	}
	if r.Jobs {
		names = append(names, RoleJobs)
	}
	if r.Tableflow {
		names = append(names, RoleTableflow)
	}
	return strings.Join(names, ",")
}
