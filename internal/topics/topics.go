// Package topics holds the rules for topics that do not depend on storage:
// legal names, the topic configs Sluice knows with their defaults and
// validators, and a bounded-staleness cache of topic definitions.
package topics

import (
	"errors"
	"fmt"
	"regexp"
)

// MaxNameLength is Kafka's limit on topic name length.
const MaxNameLength = 249

var legalName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ErrInvalidName is returned by ValidateName.
var ErrInvalidName = errors.New("invalid topic name")

// ValidateName applies Kafka's topic name rules.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the empty string is not allowed", ErrInvalidName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidName, name)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalidName, name, MaxNameLength)
	case !legalName.MatchString(name):
		return fmt.Errorf("%w: %q contains characters other than ASCII alphanumerics, '.', '_' and '-'", ErrInvalidName, name)
	}
	return nil
}
