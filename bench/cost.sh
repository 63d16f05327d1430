#!/usr/bin/env bash
# bench/cost.sh: the cost report (issue #24, Cost). Starts versitygw (an
# S3-compatible server; without it, a local-directory bucket) and a private
# PostgreSQL, then runs `sluice bench cost`: agents in 3 zones, each behind
# counting proxies (S3 requests, metadata store bytes, zone peer cache
# bytes), producers and consumers in every zone moving BYTES, then SETTLE
# more seconds of compaction. One JSON line per round goes to
# $OUT/cost.jsonl; a table of medians is printed at the end.
#
#   BYTES=1073741824       bytes produced (and consumed) per round
#   RATE_BYTES=0           bytes/s over all producers (0: as fast as possible)
#   ZONES=a,b,c AGENTS_PER_ZONE=1
#   ROUNDS=1
#   SETTLE=90s             how long compaction runs after the data is read
#   BUCKET=s3              s3 (versitygw) or file
#   PRICES=bench/prices-aws-us-east-1.json
#   BIN=""                 a sluice binary to use instead of building one
#   COST_FLAGS=""          extra `sluice bench cost` flags
#
# Not part of `make test`: run it with `make bench-cost`.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
BYTES=${BYTES:-1073741824}
RATE_BYTES=${RATE_BYTES:-0}
ZONES=${ZONES:-a,b,c}
AGENTS_PER_ZONE=${AGENTS_PER_ZONE:-1}
ROUNDS=${ROUNDS:-1}
SETTLE=${SETTLE:-90s}
BUCKET=${BUCKET:-s3}
PRICES=${PRICES:-bench/prices-aws-us-east-1.json}
COST_FLAGS=${COST_FLAGS:-}
OUT=${OUT:-bench-out/cost-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/cost.jsonl
: >"$RESULTS"
if [[ -n ${BIN:-} ]]; then
	SLUICE=$BIN
else
	echo "cost: building into $OUT/bin" >&2
	go build -o "$OUT/bin/sluice" ./cmd/sluice
	SLUICE=$OUT/bin/sluice
fi

S3_PID="" S3_DIR=""
stop_s3() {
	[[ -n $S3_PID ]] || return 0
	kill "$S3_PID" 2>/dev/null || true
	wait "$S3_PID" 2>/dev/null || true
	S3_PID=""
	rm -rf "$S3_DIR"
}
trap 'stop_pg; stop_s3' EXIT

export AWS_ACCESS_KEY_ID=sluicebench AWS_SECRET_ACCESS_KEY=sluicebenchsecret0123456789
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
if [[ $BUCKET == s3 && ! -x $VERSITYGW ]]; then
	echo "cost: versitygw not found (scripts/install-test-deps.sh installs it); using a local-directory bucket" >&2
	BUCKET=file
fi

# start_s3 starts versitygw (in this shell, so the EXIT trap stops it).
S3_PORT=""
start_s3() {
	S3_DIR=$OUT/s3
	mkdir -p "$S3_DIR"
	S3_PORT=$(free_port)
	ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		"$VERSITYGW" --port "127.0.0.1:$S3_PORT" posix "$S3_DIR" >"$OUT/versitygw.log" 2>&1 &
	S3_PID=$!
	wait_port "$S3_PORT"
}
if [[ $BUCKET == s3 ]]; then start_s3; fi

# bucket_url ROUND creates a fresh bucket and prints its URL.
bucket_url() {
	if [[ $BUCKET == file ]]; then
		rm -rf "$OUT/bucket-$1"
		mkdir -p "$OUT/bucket-$1"
		echo "file://$OUT/bucket-$1"
		return
	fi
	curl -sSf -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$S3_PORT/cost$1" >/dev/null
	echo "s3://cost$1?region=$AWS_REGION&endpoint=http://127.0.0.1:$S3_PORT&use_path_style=true"
}

for round in $(seq "$ROUNDS"); do
	start_pg
	url=$(bucket_url "$round")
	echo "cost: round $round, $BUCKET bucket (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	# shellcheck disable=SC2086
	"$SLUICE" bench cost --bucket-url "$url" \
		--metadata-url "postgres://postgres@127.0.0.1:$PG_PORT/sluice?sslmode=disable" \
		--sluice-bin "$SLUICE" --zones "$ZONES" --agents-per-zone "$AGENTS_PER_ZONE" \
		--bytes "$BYTES" --rate-bytes "$RATE_BYTES" --settle "$SETTLE" --prices "$PRICES" \
		--log-dir "$OUT/logs-$round" $COST_FLAGS 2>>"$OUT/bench.log" | tee -a "$RESULTS" || echo "cost: round $round failed (see $OUT)" >&2
	stop_pg
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in runs if r.get("ok")]
if not ok:
    sys.exit("cost: no successful round")
def med(f):
    return statistics.median(f(r) for r in ok)
gib = 2**30
print(f"rounds: {len(ok)} of {len(runs)}; {ok[0]['agents']} agents in zones {','.join(ok[0]['zones'])}, {ok[0]['bucket']} bucket")
print("| per GiB | PUT-tier | GET-tier | cross-zone GiB | USD |")
print("|---|---|---|---|---|")
print(f"| produced | {med(lambda r: r['requests_per_gib_produced']['put_tier']):.1f} | {med(lambda r: r['requests_per_gib_produced']['get_tier']):.1f} "
      f"| {med(lambda r: (r['client_produce_cross_zone_bytes'] + r['peer_cross_zone_bytes'] + r['metadata_cross_zone_bytes']) / max(1, r['produced_bytes'])):.4f} "
      f"| {med(lambda r: r['cost_per_gib_produced']['total_usd']):.6f} |")
print(f"| consumed | {med(lambda r: r['requests_per_gib_consumed']['put_tier']):.1f} | {med(lambda r: r['requests_per_gib_consumed']['get_tier']):.1f} "
      f"| {med(lambda r: r['client_consume_cross_zone_bytes'] / max(1, r['consumed_bytes'])):.4f} "
      f"| {med(lambda r: r['cost_per_gib_consumed']['total_usd']):.6f} |")
print(f"write amplification {med(lambda r: r['write_amplification']):.3f}; stored/produced peak {med(lambda r: r['stored_peak_ratio']):.3f}, end {med(lambda r: r['stored_end_ratio']):.3f}")
print(f"flushes {med(lambda r: r['produce_flushes']):.0f} (design: window bound {med(lambda r: r['design']['puts_window_bound']):.0f}, size bound {med(lambda r: r['design']['puts_size_bound']):.0f}); "
      f"consume GETs {med(lambda r: r['consume_gets']):.0f} (design {med(lambda r: r['design']['consume_gets_low']):.0f}..{med(lambda r: r['design']['consume_gets_high']):.0f})")
print(f"cross-zone bytes: produce {med(lambda r: r['client_produce_cross_zone_bytes']):.0f}, consume {med(lambda r: r['client_consume_cross_zone_bytes']):.0f}, "
      f"agent peers {med(lambda r: r['peer_cross_zone_bytes']):.0f}, metadata store {med(lambda r: r['metadata_cross_zone_bytes']):.0f}")
PY
