package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// PrincipalMapper turns a client certificate's distinguished name into a
// user name with Kafka's ssl.principal.mapping.rules: a list of
// RULE:pattern/replacement/[LU] and DEFAULT, tried in order; the first
// rule whose pattern matches the whole DN gives the name (replacement may
// use $1…; L or U lower- or upper-cases it), DEFAULT gives the DN itself.
// A DN no rule matches is refused.
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	def         bool
	pattern     *regexp.Regexp
	replacement string
	caseFold    byte // 0, 'L' or 'U'
}

// ruleRE finds one rule; a '/' inside pattern or replacement is written
// "\/", as in Kafka.
var ruleRE = regexp.MustCompile(`^\s*(?:(DEFAULT)|RULE:((?:\\/|[^/])*)/((?:\\/|[^/])*)/([LU])?)\s*(?:,|$)`)

// ParsePrincipalMapping parses rules; "" means DEFAULT.
func ParsePrincipalMapping(rules string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{}
	rest := strings.TrimSpace(rules)
	if rest == "" {
		rest = "DEFAULT"
	}
	for rest != "" {
		loc := ruleRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			return nil, fmt.Errorf("auth: principal mapping rule at %q: want RULE:pattern/replacement/[LU] or DEFAULT", rest)
		}
		sub := func(i int) string {
			if loc[2*i] < 0 {
				return ""
			}
			return rest[loc[2*i]:loc[2*i+1]]
		}
		if sub(1) == "DEFAULT" {
			m.rules = append(m.rules, mappingRule{def: true})
		} else {
			pat := strings.ReplaceAll(sub(2), `\/`, "/")
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, fmt.Errorf("auth: principal mapping pattern %q: %w", pat, err)
			}
			r := mappingRule{pattern: re, replacement: strings.ReplaceAll(sub(3), `\/`, "/")}
			if f := sub(4); f != "" {
				r.caseFold = f[0]
			}
			m.rules = append(m.rules, r)
		}
		rest = strings.TrimSpace(rest[loc[1]:])
	}
	return m, nil
}

// ErrNoMappingRule is returned for a DN no rule matches.
var ErrNoMappingRule = errors.New("auth: no principal mapping rule matches the certificate's name")

// Map returns the user name for dn.
func (m *PrincipalMapper) Map(dn string) (string, error) {
	for _, r := range m.rules {
		if r.def {
			return dn, nil
		}
		if !r.pattern.MatchString(dn) {
			continue
		}
		name := r.pattern.ReplaceAllString(dn, r.replacement)
		switch r.caseFold {
		case 'L':
			name = strings.ToLower(name)
		case 'U':
			name = strings.ToUpper(name)
		}
		if name == "" {
			continue
		}
		return name, nil
	}
	return "", ErrNoMappingRule
}

// CertificatePrincipal is the principal of a verified client certificate:
// User:<mapped subject DN>.
func (m *PrincipalMapper) CertificatePrincipal(cert *x509.Certificate) (Principal, error) {
	name, err := m.Map(SubjectDN(cert))
	if err != nil {
		return Principal{}, err
	}
	return User(name), nil
}

// SubjectDN renders a certificate's subject as RFC 2253 does (and Java's
// X500Principal.getName(), so Kafka's mapping rules apply unchanged): the
// RDNs in reverse of their order in the certificate, "CN=…,OU=…,O=…".
func SubjectDN(cert *x509.Certificate) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) != 0 {
		return cert.Subject.String()
	}
	return seq.String()
}
