package dynconfig

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Entity types and quota keys of KIP-546, as kadm and kafka-configs name
// them.
const (
	EntityUser     = "user"
	EntityClientID = "client-id"

	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
)

// quotaKeys are the keys a user and/or client-id entity may carry; true
// for those whose values are whole numbers.
var quotaKeys = map[string]bool{ProducerByteRate: true, ConsumerByteRate: true, RequestPercentage: false, ControllerMutationRate: false}

// PartKind is whether an entity has a component of one type, and which.
type PartKind int8

const (
	Absent PartKind = iota
	Named
	Default
)

// Part is one component of a quota entity.
type Part struct {
	Kind PartKind
	Name string // for Named
}

// Entity is a quota entity: a user, a client ID, or both, each named or
// the default. It is comparable.
type Entity struct {
	User, ClientID Part
}

// ErrInvalidQuota marks a quota entity or value Kafka refuses with
// INVALID_REQUEST.
var ErrInvalidQuota = errors.New("invalid client quota")

// Valid reports whether e names at least one component.
func (e Entity) Valid() bool { return e.User.Kind != Absent || e.ClientID.Kind != Absent }

func (p Part) String(typ string) string {
	switch p.Kind {
	case Named:
		return typ + "=" + url.QueryEscape(p.Name)
	case Default:
		return typ + "=<default>"
	}
	return ""
}

// key is the entity's store scope: "quota:user=…|client-id=…" with names
// query-escaped and <default> for defaults (unambiguous: '<' is escaped).
func (e Entity) key() string {
	var parts []string
	if s := e.User.String(EntityUser); s != "" {
		parts = append(parts, s)
	}
	if s := e.ClientID.String(EntityClientID); s != "" {
		parts = append(parts, s)
	}
	return "quota:" + strings.Join(parts, "|")
}

func (e Entity) String() string { return strings.TrimPrefix(e.key(), "quota:") }

// parseEntity reads key's encoding back.
func parseEntity(scope string) (Entity, bool) {
	rest, ok := strings.CutPrefix(scope, "quota:")
	if !ok {
		return Entity{}, false
	}
	var e Entity
	for item := range strings.SplitSeq(rest, "|") {
		typ, val, ok := strings.Cut(item, "=")
		if !ok {
			return Entity{}, false
		}
		p := Part{Kind: Default}
		if val != "<default>" {
			name, err := url.QueryUnescape(val)
			if err != nil {
				return Entity{}, false
			}
			p = Part{Kind: Named, Name: name}
		}
		switch typ {
		case EntityUser:
			e.User = p
		case EntityClientID:
			e.ClientID = p
		default:
			return Entity{}, false
		}
	}
	return e, e.Valid()
}

// ValidateQuota checks one quota key and value of an entity (INVALID_REQUEST
// in Kafka when it fails).
func ValidateQuota(key string, value float64) error {
	whole, ok := quotaKeys[key]
	if !ok {
		return fmt.Errorf("%w: unknown quota key %s for user and client-id entities", ErrInvalidQuota, key)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) || value <= 0 {
		return fmt.Errorf("%w: quota %s must be positive, got %v", ErrInvalidQuota, key, value)
	}
	if whole && value != math.Trunc(value) {
		return fmt.Errorf("%w: quota %s must be a whole number, got %v", ErrInvalidQuota, key, value)
	}
	return nil
}

// Quotas returns every entity's quotas, copies.
func (s *Snapshot) Quotas() map[Entity]map[string]float64 {
	out := map[Entity]map[string]float64{}
	if s == nil {
		return out
	}
	for e, q := range s.quotas {
		c := make(map[string]float64, len(q))
		for k, v := range q {
			c[k] = v
		}
		out[e] = c
	}
	return out
}

// QuotaFor finds the quota on key that applies to a connection of user
// with clientID, by KIP-257's precedence: user and client ID, user and
// default client, user, default user and client ID, default user and
// default client, default user, client ID, default client. The first
// entity that sets key wins. bucket is the entity whose usage is
// measured against the quota: the matched entity with its defaults
// replaced by the connection's names, so each user (or client) under a
// default quota has a quota of its own, and clients of a user quota share
// it. ok is false when no quota applies.
func (s *Snapshot) QuotaFor(user, clientID, key string) (limit float64, bucket Entity, ok bool) {
	if s == nil || len(s.quotas) == 0 {
		return 0, Entity{}, false
	}
	u, c := Part{Kind: Named, Name: user}, Part{Kind: Named, Name: clientID}
	d, a := Part{Kind: Default}, Part{}
	for _, e := range [...]Entity{{u, c}, {u, d}, {u, a}, {d, c}, {d, d}, {d, a}, {a, c}, {a, d}} {
		if v, found := s.quotas[e][key]; found {
			b := e
			if b.User.Kind == Default {
				b.User = u
			}
			if b.ClientID.Kind == Default {
				b.ClientID = c
			}
			return v, b, true
		}
	}
	return 0, Entity{}, false
}

// formatQuota renders a quota value for the store.
func formatQuota(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
