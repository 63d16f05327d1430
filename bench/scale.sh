#!/usr/bin/env bash
# bench/scale.sh: the many-partitions benchmark (issue #24, Scale). For each
# round, partition count and metadata store it starts a fresh `sluice
# agent` (local-directory bucket) on a fresh SQLite file or PostgreSQL
# database, runs `sluice bench scale` against it (create TOPICS×10
# partitions, time Metadata for all topics, produce RATE records/s spread
# round-robin over every partition, time caught-up Fetches of 1,000
# partitions), and adds the agent's RSS and the store's size. One JSON line
# per run goes to $OUT/scale.jsonl; a table of medians is printed at the end.
#
#   SIZES="1000 10000"      total partitions (topics = size / PER_TOPIC)
#   PER_TOPIC=10            partitions per topic
#   STORES="sqlite postgres"
#   RATE=8000 DURATION=30s RECORD_SIZE=100
#   ROUNDS=2                rounds; in each, sizes and stores alternate
#   BIN=""                  a sluice binary to use instead of building one
#   AGENT_BIN=""            a sluice binary for the agent only (default: BIN),
#                           to compare agent builds under the same client
#   SLUICE_AGENT_FLAGS=""   extra `sluice agent` flags
#   PG_OPTS="-c fsync=on"   extra PostgreSQL server options
#   PPROF_SECONDS=0         >0: take a CPU profile of the agent during the load,
#   PPROF_DELAY=2           starting this many seconds into it
#
# PostgreSQL runs from /usr/lib/postgresql/*/bin (as user postgres when run
# as root). Not part of `make test`: run it with `make bench-scale`.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
SIZES=${SIZES:-1000 10000}
PER_TOPIC=${PER_TOPIC:-10}
STORES=${STORES:-sqlite postgres}
RATE=${RATE:-8000}
DURATION=${DURATION:-30s}
RECORD_SIZE=${RECORD_SIZE:-100}
ROUNDS=${ROUNDS:-2}
SLUICE_AGENT_FLAGS=${SLUICE_AGENT_FLAGS:-}
PG_OPTS=${PG_OPTS:-}
PPROF_SECONDS=${PPROF_SECONDS:-0}
PPROF_DELAY=${PPROF_DELAY:-2}
OUT=${OUT:-bench-out/scale-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/scale.jsonl
: >"$RESULTS"
if [[ -n ${BIN:-} ]]; then
	SLUICE=$BIN
else
	echo "scale: building into $OUT/bin" >&2
	go build -o "$OUT/bin/sluice" ./cmd/sluice
	SLUICE=$OUT/bin/sluice
fi
AGENT_BIN=${AGENT_BIN:-$SLUICE}

trap 'stop_agent; stop_pg' EXIT

AGENT_PID=""
stop_agent() {
	[[ -n $AGENT_PID ]] || return 0
	kill "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=""
}

# run_one STORE PARTITIONS ROUND
run_one() {
	local store=$1 size=$2 round=$3 dir meta port http load_start
	load_start=$(cut -d' ' -f1 /proc/loadavg)
	dir=$OUT/data-$store-$size-$round
	rm -rf "$dir"
	mkdir -p "$dir/bucket"
	if [[ $store == postgres ]]; then
		start_pg
		meta="postgres://postgres@127.0.0.1:$PG_PORT/sluice?sslmode=disable"
	else
		meta="sqlite://$dir/metadata.db"
	fi
	port=$(free_port)
	http=$(free_port)
	# shellcheck disable=SC2086
	"$AGENT_BIN" agent --bucket-url "file://$dir/bucket" --metadata-url "$meta" \
		--kafka-addr "127.0.0.1:$port" --http-addr "127.0.0.1:$http" --log-level warn \
		--enable-pprof --schema-registry-addr "" $SLUICE_AGENT_FLAGS >>"$OUT/agent-$store-$size-$round.log" 2>&1 &
	AGENT_PID=$!
	wait_port "$port"
	if ((PPROF_SECONDS > 0)); then
		# Profile the load: start once the bench has timed Metadata (the
		# line it prints next to bench.log), which follows the topics'
		# creation however long that took.
		local seen
		seen=$(grep -c '^metadata for all topics' "$OUT/bench.log" 2>/dev/null || true)
		(
			while (($(grep -c '^metadata for all topics' "$OUT/bench.log" 2>/dev/null || true) <= ${seen:-0})); do
				kill -0 "$AGENT_PID" 2>/dev/null || exit 0
				sleep 1
			done
			sleep "$PPROF_DELAY"
			curl -s -o "$OUT/cpu-$store-$size-$round.pprof" \
				"http://127.0.0.1:$http/debug/pprof/profile?seconds=$PPROF_SECONDS"
		) &
	fi
	local line
	line=$("$SLUICE" bench scale --brokers "127.0.0.1:$port" --topics $((size / PER_TOPIC)) \
		--partitions-per-topic "$PER_TOPIC" --rate "$RATE" --duration "$DURATION" \
		--record-size "$RECORD_SIZE" --metrics-url "http://127.0.0.1:$http/metrics" 2>>"$OUT/bench.log") || {
		echo "scale: $store $size round $round failed (see $OUT)" >&2
		line='{"ok":false}'
	}
	curl -s -o "$OUT/heap-$store-$size-$round.pprof" "http://127.0.0.1:$http/debug/pprof/heap" || true
	local rss hwm bytes
	rss=$(awk '/VmRSS/ {print $2*1024}' "/proc/$AGENT_PID/status")
	hwm=$(awk '/VmHWM/ {print $2*1024}' "/proc/$AGENT_PID/status")
	stop_agent
	if [[ $store == postgres ]]; then
		bytes=$(pg psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d sluice -Atc "SELECT pg_database_size('sluice')")
		stop_pg
	else
		bytes=$(cat "$dir"/metadata.db* | wc -c)
	fi
	rm -rf "$dir"
	# The 1-minute load average when the run started and when it ended:
	# on a shared machine, the figure to read every other one with.
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(store=sys.argv[2], round=int(sys.argv[3]), agent_vmrss_bytes=int(sys.argv[4]), agent_vmhwm_bytes=int(sys.argv[5]), store_bytes=int(sys.argv[6]), load_start=float(sys.argv[7]), load_end=float(sys.argv[8])); print(json.dumps(d))' \
		"$line" "$store" "$round" "$rss" "$hwm" "$bytes" "$load_start" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"
}

for round in $(seq "$ROUNDS"); do
	for size in $SIZES; do
		for store in $STORES; do
			echo "scale: round $round, $size partitions, $store (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
			run_one "$store" "$size" "$round"
		done
	done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = sorted({(r["store"], r.get("partitions", 0)) for r in runs if r.get("ok")})
def med(rs, f):
    v = [x for x in (f(r) for r in rs) if x is not None]
    return statistics.median(v) if v else float("nan")
def g(*path):
    def f(r):
        for p in path:
            if not isinstance(r, dict) or p not in r:
                return None
            r = r[p]
        return r
    return f
print("| store | partitions | commit 1000+ p50 / p99 ms (n) | commit all p50 / p99 ms | records/s taken | agent CPU µs/record | Metadata during load: n, total s | Metadata all p50 ms | fetch 1,000 caught-up p50 ms | agent RSS MiB | store MiB | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
def mdtotal(r):
    q = r.get("metadata_during_load")
    return q["count"] * q["mean_ms"] / 1000 if q else None
for store, parts in keys:
    rs = [r for r in runs if r.get("ok") and r["store"] == store and r["partitions"] == parts]
    print(f"| {store} | {parts:,} | {med(rs, g('commits','1000+','p50_ms')):.1f} / {med(rs, g('commits','1000+','p99_ms')):.1f} ({med(rs, g('commits','1000+','count')):.0f}) "
          f"| {med(rs, g('commits','all','p50_ms')):.1f} / {med(rs, g('commits','all','p99_ms')):.1f} | {med(rs, g('records_per_s')):,.0f} "
          f"| {med(rs, g('agent_cpu_us_per_record')):.0f} | {med(rs, g('metadata_during_load','count')):.0f}, {med(rs, mdtotal):.1f} "
          f"| {med(rs, g('metadata_all','p50_ms')):.1f} | {med(rs, g('fetch_caught_up','p50_ms')):.1f} "
          f"| {med(rs, g('agent_vmrss_bytes'))/2**20:.0f} | {med(rs, g('store_bytes'))/2**20:.1f} "
          f"| {min(r.get('load_start', 0) for r in rs):.0f}-{max(r.get('load_end', 0) for r in rs):.0f} |")
EOF
