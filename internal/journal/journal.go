// Package journal owns the names of journal entries: the bucket objects
// that make a durable but not yet sequenced file findable (lightning topics
// and ripcord, see internal/produce).
//
// An entry is an empty object whose key says everything recovery needs:
//
//	journal/<agent>/<generation>-<sequence>/<file key>
//
// agent is the writing agent's journal name (node-<id>), generation its
// process start (hex, fixed width, so a restarted agent's entries sort
// after its previous ones), sequence the file's position in that process's
// commit order (hex, fixed width) and the rest the data file's own key
// (files/…). Listing journal/<agent>/ therefore returns one agent's
// entries in the order they must be sequenced.
package journal

import (
	"fmt"
	"strconv"
	"strings"
)

// Prefix is where every journal entry lives.
const Prefix = "journal/"

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

// Key returns the entry key for file, written by agent in generation gen
// as its seq-th flush. agent must not contain '/'.
func Key(agent string, gen, seq uint64, file string) string {
	return fmt.Sprintf("%s%s/%016x-%016x/%s", Prefix, agent, gen, seq, file)
}

// AgentPrefix is the prefix of agent's entries.
func AgentPrefix(agent string) string { return Prefix + agent + "/" }

// Parse reads an entry key; ok is false for keys that are not entries.
func Parse(key string) (e Entry, ok bool) {
	rest, found := strings.CutPrefix(key, Prefix)
	if !found {
		return e, false
	}
	agent, rest, found := strings.Cut(rest, "/")
	if !found || agent == "" {
		return e, false
	}
	order, file, found := strings.Cut(rest, "/")
	if !found || file == "" || len(order) != 33 || order[16] != '-' {
		return e, false
	}
	gen, err1 := strconv.ParseUint(order[:16], 16, 64)
	seq, err2 := strconv.ParseUint(order[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return e, false
	}
	return Entry{Key: key, Agent: agent, Generation: gen, Sequence: seq, File: file}, true
}
