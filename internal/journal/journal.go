// Package journal owns the names of the journal: the bucket objects that
// make a durable but not yet sequenced file findable (lightning topics
// and ripcord, see internal/produce).
//
// A lightning flush writes its data file straight into the journal, and
// that object is the file the metadata store records; nothing else is
// written for it, and nothing is deleted once it is sequenced:
//
//	journal/<agent>/<generation>/<sequence>-<name>
//
// agent is the writing agent's journal name (node-<id>), generation its
// process start (hex, fixed width, so a restarted agent's files sort
// after its previous ones), sequence the file's position in that
// process's commit order (hex, fixed width) and name the file's own
// time-ordered name (no '/' and no '!'). The metadata store keeps, per
// agent and generation, how far the generation has been sequenced (a
// metadata.JournalMark, advanced in the commit of each file), so recovery
// tells sequenced files from the rest without their file records, which
// retention and compaction delete later.
//
// A classic flush that ripcord journals (its file already under files/)
// gets an entry instead: an empty object in the same directory whose name
// carries the file's key, '/' written as '!',
//
//	journal/<agent>/<generation>/<sequence>-<file key with '/' as '!'>
//
// deleted once the file is committed.
//
// A process that journals registers its generation with a marker,
//
//	journal-open/<agent>/<generation>
//
// written before its first journaled acknowledgement (and again whenever
// it cannot be sure it still holds its journal lease) and deleted when
// the process stops with nothing left to sequence or when recovery has
// sequenced the generation. Recovery lists the markers, a small prefix,
// and then only the generations they name: it never lists every
// sequenced file.
//
// Earlier agents (up to 2026-12-06) wrote only entries, in two layouts:
// the flat one above, with the marker at journal/<agent>/<generation>/open,
// and before it one directory tree per entry,
//
//	journal/<agent>/<generation>-<sequence>/<file key>
//
// Parse and ParseMarker still read both, so that what an older agent left
// is recovered by a newer one. Every layout orders an agent's files by
// (generation, sequence); callers sort by those fields rather than rely
// on listing order across layouts.
package journal

import (
	"fmt"
	"strconv"
	"strings"
)

// Prefix is where every journaled file and entry lives.
const Prefix = "journal/"

// MarkerPrefix is where generation markers live.
const MarkerPrefix = "journal-open/"

// legacyMarkerName is the last element of an older agent's marker key.
const legacyMarkerName = "open"

// Entry is a parsed journal key: a journaled data file or an entry naming
// one.
type Entry struct {
	// Key is the object's own key.
	Key string
	// Agent is the journal name of the agent that wrote it.
	Agent string
	// Generation and Sequence order an agent's files.
	Generation, Sequence uint64
	// File is the key of the data file: Key itself for a journaled data
	// file, the named file (files/…) for an entry.
	File string
}

// Resident reports whether the object is the data file itself rather
// than an entry naming one.
func (e Entry) Resident() bool { return e.File == e.Key }

// Marker is a parsed generation marker key.
type Marker struct {
	Key        string
	Agent      string
	Generation uint64
}

// FileKey returns the key of a journaled data file named name, written by
// agent in generation gen as its seq-th flush. name must not contain '/'
// or '!', nor agent '/'; FileKey panics otherwise, as the key could not be
// read back.
func FileKey(agent string, gen, seq uint64, name string) string {
	if name == "" || strings.ContainsAny(name, "/!") || strings.Contains(agent, "/") {
		panic(fmt.Sprintf("journal: cannot name a file %q for agent %q", name, agent))
	}
	return fmt.Sprintf("%s%s/%016x/%016x-%s", Prefix, agent, gen, seq, name)
}

// Key returns the entry key for file (a files/… key), written by agent in
// generation gen as its seq-th flush. file must contain '/' but not '!',
// agent not '/'; Key panics otherwise, as the name could not be read back.
func Key(agent string, gen, seq uint64, file string) string {
	if !strings.Contains(file, "/") || strings.Contains(file, "!") || strings.Contains(agent, "/") {
		panic(fmt.Sprintf("journal: cannot name an entry for agent %q, file %q", agent, file))
	}
	return fmt.Sprintf("%s%s/%016x/%016x-%s", Prefix, agent, gen, seq, strings.ReplaceAll(file, "/", "!"))
}

// LegacyKey returns the key an agent before the flat layout gave the
// entry (tests write such entries to check they are still recovered).
func LegacyKey(agent string, gen, seq uint64, file string) string {
	return fmt.Sprintf("%s%s/%016x-%016x/%s", Prefix, agent, gen, seq, file)
}

// MarkerKey returns the key of the marker of agent's generation gen.
func MarkerKey(agent string, gen uint64) string {
	return fmt.Sprintf("%s%s/%016x", MarkerPrefix, agent, gen)
}

// LegacyMarkerKey returns the key an older agent gave its marker.
func LegacyMarkerKey(agent string, gen uint64) string {
	return fmt.Sprintf("%s%s/%016x/%s", Prefix, agent, gen, legacyMarkerName)
}

// AgentMarkerPrefix is the prefix of agent's markers.
func AgentMarkerPrefix(agent string) string { return MarkerPrefix + agent + "/" }

// GenerationPrefix is the prefix of every file and entry of agent's
// generation gen, in either layout.
func GenerationPrefix(agent string, gen uint64) string {
	return fmt.Sprintf("%s%s/%016x", Prefix, agent, gen)
}

// Parse reads a journal key of any layout; ok is false for keys that are
// neither files nor entries (markers included).
func Parse(key string) (e Entry, ok bool) {
	agent, rest, ok := cutAgent(key, Prefix)
	if !ok {
		return e, false
	}
	dir, name, found := strings.Cut(rest, "/")
	if !found || name == "" {
		return e, false
	}
	if len(dir) == 33 && dir[16] == '-' {
		// The earliest layout: <generation>-<sequence>/<file key>.
		gen, ok1 := parseHex16(dir[:16])
		seq, ok2 := parseHex16(dir[17:])
		if !ok1 || !ok2 {
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
	e = Entry{Key: key, Agent: agent, Generation: gen, Sequence: seq, File: key}
	if strings.Contains(name[17:], "!") {
		e.File = strings.ReplaceAll(name[17:], "!", "/")
	}
	return e, true
}

// ParseMarker reads a generation marker key of either layout; ok is false
// for other keys.
func ParseMarker(key string) (m Marker, ok bool) {
	if agent, rest, ok := cutAgent(key, MarkerPrefix); ok {
		gen, ok := parseHex16(rest)
		if !ok {
			return m, false
		}
		return Marker{Key: key, Agent: agent, Generation: gen}, true
	}
	agent, rest, ok := cutAgent(key, Prefix)
	if !ok {
		return m, false
	}
	dir, name, found := strings.Cut(rest, "/")
	if !found || name != legacyMarkerName {
		return m, false
	}
	gen, ok := parseHex16(dir)
	if !ok {
		return m, false
	}
	return Marker{Key: key, Agent: agent, Generation: gen}, true
}

// cutAgent splits <prefix><agent>/<rest>.
func cutAgent(key, prefix string) (agent, rest string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	agent, rest, found = strings.Cut(rest, "/")
	if !found || agent == "" {
		return "", "", false
	}
	return agent, rest, true
}

// parseHex16 reads 16 lowercase hex digits, as the key functions write
// them (so that one number has one spelling).
func parseHex16(s string) (uint64, bool) {
	if len(s) != 16 || strings.ContainsFunc(s, func(r rune) bool { return r >= 'A' && r <= 'F' }) {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}
