package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// The CLI calls an agent's HTTP listener (the admin API, docs/api.md)
// where that is simpler than the Kafka protocol. With --console-auth
// scram on the agent, the calls log in with HTTP basic auth as
// SLUICE_API_USER with SLUICE_API_PASSWORD (from the environment, never
// the command line).

// setAPIAuth adds basic auth from the environment, when set.
func setAPIAuth(req *http.Request) {
	if user := os.Getenv("SLUICE_API_USER"); user != "" {
		req.SetBasicAuth(user, os.Getenv("SLUICE_API_PASSWORD"))
	}
}

// apiGet GETs path from the agent at addr and decodes the JSON answer
// into v; an error answer becomes an error with the API's code and
// message.
func apiGet(ctx context.Context, addr, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	setAPIAuth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Error string }
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			return fmt.Errorf("%s: %s", e.Code, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, v)
}
