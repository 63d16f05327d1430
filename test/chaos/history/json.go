package history

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the history, so a run's findings can be checked again
// (ReadJSON, then Check) and examined after the cluster is gone.
func (h *History) WriteJSON(w io.Writer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	enc := json.NewEncoder(w)
	return enc.Encode(h)
}

// ReadJSON reads a history written by WriteJSON.
func ReadJSON(r io.Reader) (*History, error) {
	h := New()
	if err := json.NewDecoder(r).Decode(h); err != nil {
		return nil, err
	}
	return h, nil
}
