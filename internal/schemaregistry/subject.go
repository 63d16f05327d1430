package schemaregistry

import (
	"strings"
	"unicode"
)

// Contexts. A subject may carry a context as a prefix, ":.name:subject"
// (Confluent's qualified subject); ":.:subject" is the default context,
// the same as "subject". Contexts here are only subject prefixes: schema
// IDs are global across contexts (Confluent numbers IDs per context), and
// config and mode fall back from the subject to its context
// (":.name:") and then to the global value.

// defaultContext is the name of the default context in GET /contexts.
const defaultContext = "."

// qualify normalizes a subject: the default-context prefix ":.:" is
// dropped.
func qualify(subject string) string {
	return strings.TrimPrefix(subject, ":.:")
}

// contextOf returns the context prefix of subject (":.name:"), or "" for
// the default context.
func contextOf(subject string) string {
	if !strings.HasPrefix(subject, ":.") {
		return ""
	}
	i := strings.Index(subject[2:], ":")
	if i < 0 {
		return ""
	}
	return subject[:i+3]
}

// contextName returns the context's name as GET /contexts lists it
// (".name"), from a prefix ":.name:".
func contextName(prefix string) string {
	if prefix == "" {
		return defaultContext
	}
	return strings.TrimSuffix(strings.TrimPrefix(prefix, ":"), ":")
}

// inContext qualifies subject with the context a /contexts/{ctx}/… path
// named, unless it already names one.
func inContext(ctxName, subject string) string {
	if ctxName == "" || ctxName == defaultContext || strings.HasPrefix(subject, ":.") {
		return qualify(subject)
	}
	if !strings.HasPrefix(ctxName, ".") {
		ctxName = "." + ctxName
	}
	return ":" + ctxName + ":" + subject
}

// maxSubjectLen bounds subject names (Kafka topic names are at most 249
// characters; strategies append record names).
const maxSubjectLen = 1024

// validSubject is Confluent's rule: not empty, no control characters, not
// one of its reserved names.
func validSubject(s string) bool {
	if s == "" || len(s) > maxSubjectLen || s == "__GLOBAL" || s == "__EMPTY" {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}
