#!/usr/bin/env bash
# bench/lightning.sh: produce latency of a lightning topic against a classic
# topic on one `sluice dev` (local-directory bucket, SQLite), in the same
# run, alternating, ROUNDS times each; prints every run's p50/p99 and the
# medians. docs/performance.md quotes its output.
#
# This is a benchmark, not a test: nothing in CI runs or times it.
#
# Knobs (environment):
#   ROUNDS=5 RECORDS=20000 RECORD_SIZE=1024 PARTITIONS=8 PRODUCERS=4
#   RATE=2000 (records/s over all producers: latency, not throughput)
#   BATCH_TIMEOUT=5ms LINGER=0s SLUICE_AGENT_FLAGS=""
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-5}
RECORDS=${RECORDS:-20000}
RECORD_SIZE=${RECORD_SIZE:-1024}
PARTITIONS=${PARTITIONS:-8}
PRODUCERS=${PRODUCERS:-4}
RATE=${RATE:-2000}
BATCH_TIMEOUT=${BATCH_TIMEOUT:-5ms}
LINGER=${LINGER:-0s}
SLUICE_AGENT_FLAGS=${SLUICE_AGENT_FLAGS:-}

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/sluice" ./cmd/sluice
kport=$(free_port)
hport=$(free_port)
# shellcheck disable=SC2086
"$work/sluice" dev --data-dir "$work/data" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
	--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
pid=$!
wait_port "$kport"

results=$work/results.jsonl
for round in $(seq "$ROUNDS"); do
	for type in classic lightning; do
		"$work/sluice" bench produce --brokers "127.0.0.1:$kport" -q --topic "bench-$type" --topic-type "$type" \
			--idempotent=false --records "$RECORDS" --record-size "$RECORD_SIZE" --partitions "$PARTITIONS" \
			--producers "$PRODUCERS" --rate "$RATE" --linger "$LINGER" |
			python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["type"]=sys.argv[1]; r["round"]=int(sys.argv[2]); print(json.dumps(r))' "$type" "$round" >>"$results"
	done
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("round  type       p50_ms   p99_ms  records/s")
for r in runs:
    l = r["produce_latency"]
    print(f'{r["round"]:5}  {r["type"]:9} {l["p50_ms"]:8.2f} {l["p99_ms"]:8.2f} {r["records_per_s"]:10.0f}')
med = {}
for t in ("classic", "lightning"):
    ls = [r["produce_latency"] for r in runs if r["type"] == t]
    med[t] = (statistics.median(l["p50_ms"] for l in ls), statistics.median(l["p99_ms"] for l in ls))
    print(f'median {t:9} p50 {med[t][0]:.2f} ms  p99 {med[t][1]:.2f} ms')
print(f'lightning/classic: p50 {med["lightning"][0]/med["classic"][0]:.2f}  p99 {med["lightning"][1]/med["classic"][1]:.2f}')
PY
