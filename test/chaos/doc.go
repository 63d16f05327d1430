// Package chaos runs a Jepsen-style workload against a real Sluice cluster
// (three `sluice agent` processes on PostgreSQL and versitygw, all on
// loopback) while injecting faults, records every client's history and
// checks it with package history. The run is a Go test gated by
// SLUICE_CHAOS=1 (`make chaos` sets it); see docs/reliability.md.
package chaos
