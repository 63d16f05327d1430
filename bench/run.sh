#!/usr/bin/env bash
# bench/run.sh: the standard Sluice workload against `sluice dev` (local
# bucket, fresh data dir) and against franz-go's in-memory kfake cluster in
# the same run, alternating A/B, then a summary with sluice/kfake ratios.
# Optional further baselines in the same rotation: klite (a Go broker with
# a local fsync'd WAL, KLITE_BIN) and another Sluice binary (BASE_BIN, e.g.
# main's, to measure a change), with sluice/<baseline> ratios.
#
# This is a benchmark, not a test: nothing in CI runs or times it.
#
# Knobs (environment; defaults are the standard workload):
#   RECORDS=500000 RECORD_SIZE=1024 PARTITIONS=8 PRODUCERS=4 LINGER=5ms
#   ACKS=all IDEMPOTENT=true E2E_RATE=2000 E2E_DURATION=30s ROUNDS=2
#   LATENCY_VARIANTS=""    extra sluice e2e runs per round, each
#                          BATCH_TIMEOUT:LINGER, e.g. "250ms:50ms 125ms:5ms"
#                          (tagged sluice-bt<BATCH_TIMEOUT>-l<LINGER>)
#   SLUICE_AGENT_FLAGS=""  extra flags for `sluice dev` (or `sluice agent`)
#   BUCKET=dir             dir: `sluice dev` on a local-directory bucket;
#                          s3: `sluice agent` on an S3 bucket served by
#                          versitygw (posix backend, fresh temp dir, loopback
#                          port, started per agent) with SQLite metadata
#   E2E=1                  0 skips the e2e latency runs (throughput only)
#   PPROF_SECONDS=0        >0: CPU profile of the agent during produce
#   KLITE_BIN=""           a klite binary (docs/performance.md says how to
#                          build it): adds target "klite", fresh data dir,
#                          on the same disk as the sluice data dirs
#   SLUICE_BIN=""          a sluice binary to run (agent and benchmark
#                          client) instead of building this tree
#   BASE_BIN=""            another sluice binary: adds target "sluice-base",
#                          run like "sluice" (produce, consume, 250ms e2e)
#   KFAKE=1                0 leaves kfake out
#   SETTLE=0               seconds to wait after each server stops, before
#                          the next starts: on a VM that hands freed memory
#                          back to its host (free page reporting, e.g.
#                          Firecracker), memory freed just before a run is
#                          ~10x cheaper to write than memory freed longer
#                          ago, so the target after a big free gets cheap
#                          page cache; SETTLE=10 gives every target the
#                          same, reported, memory (docs/performance.md)
#   WARMUP=0               rounds run first and left out of the results
#                          (warmup.jsonl): on a VM with free page
#                          reporting the first round after a quiet spell
#                          pays 2-3x the system time on every target
#   OUT=bench-out/<time>   where logs, JSON lines, profiles and the summary go
# Quick run: RECORDS=50000 E2E_DURATION=5s ROUNDS=1 bench/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-500000}
RECORD_SIZE=${RECORD_SIZE:-1024}
PARTITIONS=${PARTITIONS:-8}
PRODUCERS=${PRODUCERS:-4}
LINGER=${LINGER:-5ms}
ACKS=${ACKS:-all}
IDEMPOTENT=${IDEMPOTENT:-true}
E2E_RATE=${E2E_RATE:-2000}
E2E_DURATION=${E2E_DURATION:-30s}
ROUNDS=${ROUNDS:-2}
SLUICE_AGENT_FLAGS=${SLUICE_AGENT_FLAGS:-}
LATENCY_VARIANTS=${LATENCY_VARIANTS:-}
BUCKET=${BUCKET:-dir}
E2E=${E2E:-1}
PPROF_SECONDS=${PPROF_SECONDS:-0}
KLITE_BIN=${KLITE_BIN:-}
BASE_BIN=${BASE_BIN:-}
KFAKE=${KFAKE:-1}
SETTLE=${SETTLE:-0}
WARMUP=${WARMUP:-0}
OUT=${OUT:-bench-out/$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
echo "bench: building into $OUT/bin" >&2
if [[ -n ${SLUICE_BIN:-} ]]; then
	cp "$SLUICE_BIN" "$OUT/bin/sluice"
else
	go build -o "$OUT/bin/sluice" ./cmd/sluice
fi
go build -o "$OUT/bin/kfake" ./bench/kfake
SLUICE=$OUT/bin/sluice
if [[ -n $KLITE_BIN ]]; then
	[[ -x $KLITE_BIN ]] || { echo "bench: KLITE_BIN=$KLITE_BIN is not executable" >&2; exit 1; }
	KLITE_BIN=$(realpath "$KLITE_BIN")
fi
if [[ -n $BASE_BIN ]]; then
	[[ -x $BASE_BIN ]] || { echo "bench: BASE_BIN=$BASE_BIN is not executable" >&2; exit 1; }
	# A copy, so that rebuilding the original mid-run changes nothing.
	cp "$BASE_BIN" "$OUT/bin/sluice-base"
fi
case $BUCKET in
dir) ;;
s3)
	VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
	[[ -x $VERSITYGW ]] || { echo "bench: versitygw not found (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
	# The gateway's root credentials; the agent reads them from the standard
	# AWS environment.
	export AWS_ACCESS_KEY_ID=sluicebench AWS_SECRET_ACCESS_KEY=sluicebenchsecret0123456789
	export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
	;;
*) echo "bench: BUCKET must be dir or s3" >&2; exit 1 ;;
esac

SERVER_PID=""
S3_PID=""
cleanup() {
	local pid
	for pid in $SERVER_PID $S3_PID; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source bench/lib.sh

# start_s3 NAME DIR: starts versitygw over DIR/s3 on a free port, creates
# the bucket "bench", sets S3_PID and BUCKET_URL.
start_s3() {
	local name=$1 dir=$2 port
	port=$(free_port)
	mkdir -p "$dir/s3"
	ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		"$VERSITYGW" --port "127.0.0.1:$port" posix "$dir/s3" >>"$OUT/$name-versitygw.log" 2>&1 &
	S3_PID=$!
	wait_port "$port"
	# versitygw wants the payload hash header (here: SHA-256 of nothing).
	curl -sSf -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$port/bench" >/dev/null || return 1
	BUCKET_URL="s3://bench?region=$AWS_REGION&endpoint=http://127.0.0.1:$port&use_path_style=true"
}

# start_server NAME [agent flags...]: starts sluice dev (or, with BUCKET=s3,
# versitygw and sluice agent), kfake or klite, sets SERVER_PID, BROKER and
# HTTP_PORT. Names starting with sluice-base run BASE_BIN, other sluice*
# names this tree's binary.
start_server() {
	local name=$1
	shift
	local port
	port=$(free_port)
	BROKER=127.0.0.1:$port
	HTTP_PORT=""
	local SLUICE=$SLUICE
	if [[ $name == sluice-base* ]]; then SLUICE=$OUT/bin/sluice-base; fi
	if [[ $name == klite* ]]; then
		local dir=$OUT/data-$name-$RANDOM
		rm -rf "$dir"
		# klite's defaults otherwise: WAL fsync'd every 2ms before acks.
		"$KLITE_BIN" --listen "$BROKER" --data-dir "$dir" --default-partitions "$PARTITIONS" \
			--auto-create-topics --log-level warn >>"$OUT/$name.log" 2>&1 &
	elif [[ $name == sluice* ]]; then
		HTTP_PORT=$(free_port)
		local dir=$OUT/data-$name-$RANDOM
		rm -rf "$dir"
		if [[ $BUCKET == s3 ]]; then
			start_s3 "$name" "$dir" || return 1
			# shellcheck disable=SC2086
			"$SLUICE" agent --bucket-url "$BUCKET_URL" --metadata-url "sqlite://$dir/metadata.db" \
				--kafka-addr "$BROKER" --http-addr "127.0.0.1:$HTTP_PORT" --log-level warn \
				--default-partitions "$PARTITIONS" $SLUICE_AGENT_FLAGS "$@" >>"$OUT/$name.log" 2>&1 &
		else
			# shellcheck disable=SC2086
			# --batch-timeout 250ms: the standard workload measures the agent's
			# object-storage default, not dev's 5ms; variants override it.
			"$SLUICE" dev --data-dir "$dir" --kafka-addr "$BROKER" --http-addr "127.0.0.1:$HTTP_PORT" \
				--log-level warn --batch-timeout 250ms $SLUICE_AGENT_FLAGS "$@" >>"$OUT/$name.log" 2>&1 &
		fi
	else
		"$OUT/bin/kfake" --port "$port" --default-partitions "$PARTITIONS" >>"$OUT/$name.log" 2>&1 &
	fi
	SERVER_PID=$!
	wait_port "$port"
}

stop_server() {
	# Peak resident set size of the server process (VmHWM), in MiB.
	local hwm
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
	echo "{\"mode\":\"rss\",\"target\":\"$1\",\"round\":$2,\"peak_rss_mib\":$hwm}" >>"$RESULTS"
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	if [[ -n $S3_PID ]]; then
		hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$S3_PID/status" 2>/dev/null || echo 0)
		echo "{\"mode\":\"rss\",\"target\":\"versitygw-$1\",\"round\":$2,\"peak_rss_mib\":$hwm}" >>"$RESULTS"
		kill "$S3_PID"
		wait "$S3_PID" 2>/dev/null || true
		S3_PID=""
	fi
	# Data dirs hold every produced byte: drop them unless KEEP_DATA=1.
	if [[ ${KEEP_DATA:-0} != 1 ]]; then rm -rf "$OUT"/data-*; fi
	if [[ $SETTLE != 0 ]]; then sleep "$SETTLE"; fi
}

# reported_kib prints how much freed memory the kernel has handed back to
# the hypervisor so far (free page reporting), or 0 where it does not.
REPORTED=/sys/module/page_reporting/parameters/reported_kib
reported_kib() {
	cat "$REPORTED" 2>/dev/null || echo 0
}

# server_cpu prints the server's user and system CPU seconds so far.
server_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f %.2f", $14/hz, $15/hz}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo "0 0"
}

# bench TARGET ROUND MODE [flags...]: one `sluice bench` run, tagged, with
# the server's user and system CPU seconds over the run.
bench() {
	local target=$1 round=$2 mode=$3
	shift 3
	echo "bench: round $round $target $mode" >&2
	local line u0 s0 u1 s1 r0
	read -r u0 s0 < <(server_cpu)
	r0=$(reported_kib)
	if ! line=$("$SLUICE" bench "$mode" --brokers "$BROKER" --partitions "$PARTITIONS" \
		--producers "$PRODUCERS" --record-size "$RECORD_SIZE" --linger "$LINGER" --acks "$ACKS" \
		--idempotent="$IDEMPOTENT" "$@" 2>>"$OUT/progress.log"); then
		echo "bench: $target $mode FAILED: $line" >&2
		echo "$line" | jq -c --arg t "$target" --argjson r "$round" '. + {target: $t, round: $r}' >>"$RESULTS" || true
		return 1
	fi
	read -r u1 s1 < <(server_cpu)
	line=$(echo "$line" | jq -c --arg t "$target" --argjson r "$round" \
		--argjson u "$(awk -v a="$u1" -v b="$u0" 'BEGIN {printf "%.2f", a - b}')" \
		--argjson s "$(awk -v a="$s1" -v b="$s0" 'BEGIN {printf "%.2f", a - b}')" \
		--argjson rep "$(( ($(reported_kib) - r0) / 1024 ))" \
		'. + {target: $t, round: $r, server_user_s: $u, server_sys_s: $s, reported_mib: $rep}')
	echo "$line" >>"$RESULTS"
	echo "$line" | jq -c '{mode, records, mb_per_s, records_per_s, p99_produce: .produce_latency.p99_ms, p99_e2e: .e2e_latency.p99_ms, server_user_s, server_sys_s, ok}' >&2
}

# workload TARGET ROUND: produce, full consume, e2e at E2E_RATE (fresh
# server), and for sluice an e2e run with --batch-timeout 5ms.
workload() {
	local target=$1 round=$2
	start_server "$target"
	local pprof_pid=""
	if [[ $target == sluice* && $PPROF_SECONDS -gt 0 ]]; then
		curl -s -o "$OUT/cpu-produce-$target-$round.pprof" \
			"http://127.0.0.1:$HTTP_PORT/debug/pprof/profile?seconds=$PPROF_SECONDS" &
		pprof_pid=$!
	fi
	bench "$target" "$round" produce -t "tput-$round" --records "$RECORDS"
	[[ -n $pprof_pid ]] && wait "$pprof_pid"
	if [[ $target == sluice* && $PPROF_SECONDS -gt 0 ]]; then
		curl -s -o "$OUT/cpu-consume-$target-$round.pprof" \
			"http://127.0.0.1:$HTTP_PORT/debug/pprof/profile?seconds=$PPROF_SECONDS" &
		pprof_pid=$!
	fi
	bench "$target" "$round" consume -t "tput-$round" --records "$RECORDS"
	[[ -n $pprof_pid ]] && wait "$pprof_pid"
	if [[ $target == sluice* ]]; then
		curl -s -o "$OUT/heap-$target-$round.pprof" "http://127.0.0.1:$HTTP_PORT/debug/pprof/heap" || true
	fi
	stop_server "$target" "$round"

	[[ $E2E == 1 ]] || return 0
	start_server "$target"
	bench "$target" "$round" e2e -t "e2e-$round" --rate "$E2E_RATE" --duration "$E2E_DURATION" --records 0
	stop_server "$target-e2e" "$round"

	if [[ $target == sluice ]]; then
		start_server sluice-5ms --batch-timeout 5ms
		bench sluice-5ms "$round" e2e -t "e2e5-$round" --rate "$E2E_RATE" --duration "$E2E_DURATION" --records 0
		stop_server sluice-5ms "$round"
		local v bt linger name
		for v in $LATENCY_VARIANTS; do
			bt=${v%%:*} linger=${v#*:}
			name=sluice-bt$bt-l$linger
			start_server "$name" --batch-timeout "$bt"
			bench "$name" "$round" e2e -t "e2e-$name-$round" --rate "$E2E_RATE" --duration "$E2E_DURATION" --records 0 --linger "$linger"
			stop_server "$name" "$round"
		done
	fi
}

{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go: $(go version)"
	echo "latency variants: ${LATENCY_VARIANTS:-none}"
	echo "bucket: $BUCKET"
	echo "free page reporting: $([[ -r $REPORTED ]] && echo "on, order $(cat /sys/module/page_reporting/parameters/page_reporting_order)" || echo off), settle ${SETTLE}s"
	echo "targets: sluice${BASE_BIN:+ sluice-base ($BASE_BIN)}$([[ $KFAKE == 1 ]] && echo " kfake")${KLITE_BIN:+ klite ($KLITE_BIN)}"
	echo "workload: RECORDS=$RECORDS RECORD_SIZE=$RECORD_SIZE PARTITIONS=$PARTITIONS PRODUCERS=$PRODUCERS LINGER=$LINGER ACKS=$ACKS IDEMPOTENT=$IDEMPOTENT E2E_RATE=$E2E_RATE E2E_DURATION=$E2E_DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP"
} | tee "$OUT/env.txt" >&2

# Each round rotates the target order by one, so every target runs first,
# last and in between equally often.
targets=(sluice)
[[ -n $BASE_BIN ]] && targets+=(sluice-base)
[[ $KFAKE == 1 ]] && targets+=(kfake)
[[ -n $KLITE_BIN ]] && targets+=(klite)
status=0
for w in $(seq "$WARMUP"); do
	echo "warm-up round $w of $WARMUP (not counted)" | tee -a "$OUT/env.txt" >&2
	for target in "${targets[@]}"; do
		RESULTS=$OUT/warmup.jsonl workload "$target" 0 || status=1
	done
done
for round in $(seq "$ROUNDS"); do
	order=()
	for i in "${!targets[@]}"; do
		order+=("${targets[(i + round - 1) % ${#targets[@]}]}")
	done
	echo "load before round $round (${order[*]}): $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/env.txt" >&2
	for target in "${order[@]}"; do
		workload "$target" "$round" || status=1
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/env.txt" >&2

BUCKET=$BUCKET python3 bench/summarize.py "$RESULTS" | tee "$OUT/summary.txt"
exit $status
