#!/usr/bin/env bash
# bench/s3stall.sh: backpressure on a stalled S3. Starts versitygw and one
# `sluice agent` on it (as `BUCKET=s3 bench/run.sh` does), runs the standard
# produce, stops versitygw with SIGSTOP STALL_AFTER seconds in for
# STALL_SECONDS, and samples the agent's VmRSS and
# sluice_produce_buffered_bytes every 250ms. The produce must still end
# with every record acknowledged exactly once.
#
# This is an experiment, not a test: nothing in CI runs it.
#
# Knobs: RECORDS=500000 STALL_AFTER=1.5 STALL_SECONDS=6
#   SLUICE_AGENT_FLAGS=""  extra agent flags (e.g. --bucket-timeout 2s)
#   OUT=bench-out/stall-<time>
set -euo pipefail

cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-500000}
STALL_AFTER=${STALL_AFTER:-1.5}
STALL_SECONDS=${STALL_SECONDS:-6}
SLUICE_AGENT_FLAGS=${SLUICE_AGENT_FLAGS:-}
OUT=${OUT:-bench-out/stall-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
go build -o "$OUT/bin/sluice" ./cmd/sluice
SLUICE=$OUT/bin/sluice
VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
[[ -x $VERSITYGW ]] || { echo "s3stall: versitygw not found (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=sluicebench AWS_SECRET_ACCESS_KEY=sluicebenchsecret0123456789
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

# shellcheck source=bench/lib.sh
source bench/lib.sh

S3_PID="" AGENT_PID="" BENCH_PID=""
cleanup() {
	local pid
	[[ -n $S3_PID ]] && kill -CONT "$S3_PID" 2>/dev/null || true
	for pid in $BENCH_PID $AGENT_PID $S3_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$OUT/data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT/data/s3"
s3port=$(free_port) kport=$(free_port) hport=$(free_port)
ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
	"$VERSITYGW" --port "127.0.0.1:$s3port" posix "$OUT/data/s3" >"$OUT/versitygw.log" 2>&1 &
S3_PID=$!
wait_port "$s3port"
curl -sSf -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$s3port/bench" >/dev/null
# shellcheck disable=SC2086
"$SLUICE" agent --bucket-url "s3://bench?region=$AWS_REGION&endpoint=http://127.0.0.1:$s3port&use_path_style=true" \
	--metadata-url "sqlite://$OUT/data/metadata.db" --kafka-addr "127.0.0.1:$kport" \
	--http-addr "127.0.0.1:$hport" --log-level warn $SLUICE_AGENT_FLAGS >"$OUT/agent.log" 2>&1 &
AGENT_PID=$!
wait_port "$kport"

metric() { curl -s "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
sample() {
	echo "{\"t\":\"$1\",\"rss_mib\":$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$AGENT_PID/status"),\"buffered_bytes\":$(metric sluice_produce_buffered_bytes),\"committed_bytes\":$(metric sluice_produce_bytes_total)}"
}

"$SLUICE" bench produce --brokers "127.0.0.1:$kport" -t stall --partitions 8 --producers 4 \
	--record-size 1024 --linger 5ms --records "$RECORDS" >"$OUT/produce.json" 2>"$OUT/progress.log" &
BENCH_PID=$!
sleep "$STALL_AFTER"
kill -STOP "$S3_PID"
echo "s3stall: versitygw stopped for ${STALL_SECONDS}s" >&2
end=$(($(date +%s%N) + ${STALL_SECONDS%.*} * 1000000000))
while (($(date +%s%N) < end)); do
	sample stalled | tee -a "$OUT/samples.jsonl"
	sleep 0.25
done
kill -CONT "$S3_PID"
echo "s3stall: versitygw resumed" >&2
status=0
wait "$BENCH_PID" || status=1
BENCH_PID=""
sample after | tee -a "$OUT/samples.jsonl"
jq -c '{mb_per_s, records, produce_errors, duplicates, missing, ok}' "$OUT/produce.json"
echo "flush errors: $(metric sluice_produce_flush_errors_total), flushes: $(metric sluice_produce_flushes_total)"
echo "agent peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$AGENT_PID/status")"
jq -s '"while stalled: max buffered \(map(select(.t=="stalled").buffered_bytes) | max) bytes, RSS \(map(select(.t=="stalled").rss_mib) | min)-\(map(select(.t=="stalled").rss_mib) | max) MiB"' -r "$OUT/samples.jsonl"
exit $status
