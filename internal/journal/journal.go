// Package journal owns the names of journal entries: the bucket objects
// that make a durable but not yet sequenced file findable (lightning topics
// and ripcord, see internal/produce).
//
// An entry is an empty object whose key says everything recovery needs:
//
//	journal/<agent>/<generation>/<sequence>-<file key, '/' written as '!'>
//
// agent is the writing agent's journal name (node-<id>), generation its
// process start (hex, fixed width, so a restarted agent's entries sort
// after its previous ones), sequence the file's position in that process's
// commit order (hex, fixed width) and the rest the data file's own key
// (files/…) flattened into one name. Every entry of a process therefore
// sits in one directory of a local-directory bucket, which exists from the
// process's first entry on: the process keeps it with a marker object,
//
//	journal/<agent>/<generation>/open
//
// written before its first entry and deleted when it stops (or, after a
// crash, by whoever recovers its entries). An entry costs the file's own
// fsync and its directory's, not a new directory tree.
//
// Earlier agents (up to 2026-12-06) wrote one directory tree per entry,
//
//	journal/<agent>/<generation>-<sequence>/<file key>
//
// which Parse still reads, so that entries left by an older agent are
// recovered by a newer one. Both layouts order an agent's entries by
// (generation, sequence); callers sort by those fields rather than rely on
// listing order across layouts.
package journal

import (
	"fmt"
	"strconv"
	"strings"
)

// Prefix is where every journal entry lives.
const Prefix = "journal/"

// markerName is the last element of a generation's marker key.
const markerName = "open"

// Entry is a parsed journal entry key.
type Entry struct {
	// Key is the entry object's own key.
	Key string
	// Agent is the journal name of the agent that wrote it.
	Agent string
	// Generation and Sequence order an agent's entries.
	Generation, Sequence uint64
	// File is the key of the data file the entry stands for.
	File string
}

// Marker is a parsed generation marker key.
type Marker struct {
	Key        string
	Agent      string
	Generation uint64
}

// Key returns the entry key for file, written by agent in generation gen
// as its seq-th flush. agent must not contain '/', and file must not
// contain '!' (data file keys never do: see produce's newKey); Key panics
// otherwise, as the name could not be read back.
func Key(agent string, gen, seq uint64, file string) string {
	if strings.Contains(file, "!") || strings.Contains(agent, "/") {
		panic(fmt.Sprintf("journal: cannot name an entry for agent %q, file %q", agent, file))
	}
	return fmt.Sprintf("%s%s/%016x/%016x-%s", Prefix, agent, gen, seq, strings.ReplaceAll(file, "/", "!"))
}

// LegacyKey returns the key an agent before the flat layout gave the
// entry (tests write such entries to check they are still recovered).
func LegacyKey(agent string, gen, seq uint64, file string) string {
	return fmt.Sprintf("%s%s/%016x-%016x/%s", Prefix, agent, gen, seq, file)
}

// MarkerKey returns the key of the marker that keeps generation gen's
// directory of agent's journal while the process runs.
func MarkerKey(agent string, gen uint64) string {
	return fmt.Sprintf("%s%s/%016x/%s", Prefix, agent, gen, markerName)
}

// AgentPrefix is the prefix of agent's entries.
func AgentPrefix(agent string) string { return Prefix + agent + "/" }

// Parse reads an entry key of either layout; ok is false for keys that
// are not entries (markers included).
func Parse(key string) (e Entry, ok bool) {
	agent, rest, ok := cutAgent(key)
	if !ok {
		return e, false
	}
	dir, name, found := strings.Cut(rest, "/")
	if !found || name == "" {
		return e, false
	}
	if len(dir) == 33 && dir[16] == '-' {
		// The earlier agents' layout: <generation>-<sequence>/<file key>.
		gen, err1 := strconv.ParseUint(dir[:16], 16, 64)
		seq, err2 := strconv.ParseUint(dir[17:], 16, 64)
		if err1 != nil || err2 != nil {
			return e, false
		}
		return Entry{Key: key, Agent: agent, Generation: gen, Sequence: seq, File: name}, true
	}
	gen, ok := parseHex16(dir)
	if !ok || len(name) < 18 || name[16] != '-' || strings.Contains(name, "/") {
		return e, false
	}
	seq, ok := parseHex16(name[:16])
	if !ok {
		return e, false
	}
	return Entry{Key: key, Agent: agent, Generation: gen, Sequence: seq, File: strings.ReplaceAll(name[17:], "!", "/")}, true
}

// ParseMarker reads a generation marker key; ok is false for other keys.
func ParseMarker(key string) (m Marker, ok bool) {
	agent, rest, ok := cutAgent(key)
	if !ok {
		return m, false
	}
	dir, name, found := strings.Cut(rest, "/")
	if !found || name != markerName {
		return m, false
	}
	gen, ok := parseHex16(dir)
	if !ok {
		return m, false
	}
	return Marker{Key: key, Agent: agent, Generation: gen}, true
}

// cutAgent splits journal/<agent>/<rest>.
func cutAgent(key string) (agent, rest string, ok bool) {
	rest, found := strings.CutPrefix(key, Prefix)
	if !found {
		return "", "", false
	}
	agent, rest, found = strings.Cut(rest, "/")
	if !found || agent == "" {
		return "", "", false
	}
	return agent, rest, true
}

func parseHex16(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}
