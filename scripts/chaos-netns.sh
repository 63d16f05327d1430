#!/usr/bin/env bash
# chaos-netns.sh: the chaos run with network partitions (make chaos-netns).
# Each agent runs in a network namespace of its own; the test cuts links
# one way or both between an agent and PostgreSQL, the bucket, another
# agent or the clients (docs/reliability.md). Needs root; the test skips
# with a message otherwise. The namespaces and the bridge carry this
# script's id, so the trap removes them even when the test is killed
# (a go test timeout exits without running the test's own cleanups).
#
# Environment: DURATION (default 5m), CHAOS_TIMEOUT (default 60m),
# CHAOS_FAULTS (default "partition": the four partition kinds; "all" mixes
# them with every other fault), GO (default go), and the CHAOS_* variables
# of TestChaos.
set -u
cd "$(dirname "$0")/.."

# Names are <id>br, <id>v1, <id>a1: at most 15 characters for links.
id="slc$$"
cleanup() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${id}a"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	ip link del "${id}br" 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SLUICE_CHAOS=1 CHAOS_NETNS=1 CHAOS_NETNS_ID="$id" \
	CHAOS_FAULTS="${CHAOS_FAULTS:-partition}" CHAOS_DURATION="${DURATION:-5m}" \
	"${GO:-go}" test -count=1 -timeout "${CHAOS_TIMEOUT:-60m}" -run '^(TestPartitionNetwork|TestChaos)$' -v ./test/chaos
