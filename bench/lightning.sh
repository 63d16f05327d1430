#!/usr/bin/env bash
# bench/lightning.sh: produce latency of a lightning topic against a classic
# topic on one agent, in the same run, alternating, ROUNDS times each;
# prints every run's p50/p99, the load average when it started, the
# bucket's PUT p99 during it (from the agent's
# sluice_bucket_request_seconds{op="put"}, interpolated within its
# doubling buckets, so roughly) and the medians. docs/performance.md
# quotes its output.
#
# BUCKET=dir (default) runs `sluice dev` (local-directory bucket, SQLite);
# BUCKET=s3 runs versitygw (posix backend, loopback) and `sluice agent` on
# it with SQLite metadata.
#
# This is a benchmark, not a test: nothing in CI runs or times it.
#
# Knobs (environment):
#   ROUNDS=5 RECORDS=20000 RECORD_SIZE=1024 PARTITIONS=8 PRODUCERS=4
#   RATE=2000 (records/s over all producers: latency, not throughput)
#   BATCH_TIMEOUT=5ms LINGER=0s SLUICE_AGENT_FLAGS="" BUCKET=dir
#   SLUICE_BIN (use this binary instead of building one)
#   MAX_INFLIGHT=0 (the client's produce requests in flight per broker;
#   0: franz-go's default, 1 without idempotence)
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
BUCKET=${BUCKET:-dir}
MAX_INFLIGHT=${MAX_INFLIGHT:-0}

work=$(mktemp -d)
pid=""
s3pid=""
cleanup() {
	for p in $pid $s3pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
sluice=${SLUICE_BIN:-$work/sluice}
[[ -n ${SLUICE_BIN:-} ]] || go build -o "$sluice" ./cmd/sluice
kport=$(free_port)
hport=$(free_port)
case $BUCKET in
dir)
	# shellcheck disable=SC2086
	"$sluice" dev --data-dir "$work/data" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
		--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
	pid=$!
	;;
s3)
	versitygw=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
	export AWS_ACCESS_KEY_ID=sluicebench AWS_SECRET_ACCESS_KEY=sluicebenchsecret0123456789
	export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
	s3port=$(free_port)
	mkdir -p "$work/s3"
	ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		"$versitygw" --port "127.0.0.1:$s3port" posix "$work/s3" >"$work/versitygw.log" 2>&1 &
	s3pid=$!
	wait_port "$s3port"
	# versitygw wants the payload hash header (here: SHA-256 of nothing).
	curl -sSf -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$s3port/bench" >/dev/null
	# shellcheck disable=SC2086
	"$sluice" agent --bucket-url "s3://bench?region=$AWS_REGION&endpoint=http://127.0.0.1:$s3port&use_path_style=true" \
		--metadata-url "sqlite://$work/metadata.db" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
		--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
	pid=$!
	;;
*) echo "lightning: BUCKET must be dir or s3" >&2; exit 1 ;;
esac
wait_port "$kport"

metrics() { curl -sf "http://127.0.0.1:$hport/metrics" | grep -E '^sluice_(bucket_request|produce_ack)_seconds_bucket' || true; }

results=$work/results.jsonl
for round in $(seq "$ROUNDS"); do
	for type in classic lightning; do
		metrics >"$work/before"
		load=$(cut -d' ' -f1 /proc/loadavg)
		"$sluice" bench produce --brokers "127.0.0.1:$kport" -q --topic "bench-$type" --topic-type "$type" \
			--idempotent=false --records "$RECORDS" --record-size "$RECORD_SIZE" --partitions "$PARTITIONS" \
			--producers "$PRODUCERS" --rate "$RATE" --linger "$LINGER" --max-inflight "$MAX_INFLIGHT" >"$work/run.json"
		metrics >"$work/after"
		python3 - "$type" "$round" "$load" "$work/before" "$work/after" "$work/run.json" >>"$results" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[6]))
r["type"], r["round"], r["load"] = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def hist(path, series):
    h = {}
    for line in open(path):
        m = re.search(r'le="([^"]+)"\} (\S+)', line)
        if m and series in line:
            h[float(m.group(1))] = float(m.group(2))
    return h
def quantile(series, q):
    """(count, q-quantile in ms) of what series observed during the run."""
    before, after = hist(sys.argv[4], series), hist(sys.argv[5], series)
    cum = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = cum[-1][1] if cum else 0
    if total <= 0:
        return 0, None
    rank, lo, below = q * total, 0.0, 0.0
    for le, c in cum:
        if c >= rank:
            hi = le if le != float("inf") else lo
            return total, 1000 * (lo + (hi - lo) * (rank - below) / max(c - below, 1e-9))
        lo, below = le, c
r["bucket_puts"], r["bucket_put_p99_ms"] = quantile('sluice_bucket_request_seconds_bucket{op="put"', 0.99)
path = "journaled" if r["type"] == "lightning" else "classic"
r["agent_acks"], r["agent_ack_p99_ms"] = quantile(f'sluice_produce_ack_seconds_bucket{{path="{path}"', 0.99)
r["agent_ack_p50_ms"] = quantile(f'sluice_produce_ack_seconds_bucket{{path="{path}"', 0.5)[1]
ops = {}
for op in ("put", "get", "delete", "list", "head"):
    n, p50 = quantile(f'sluice_bucket_request_seconds_bucket{{op="{op}"', 0.5)
    if n:
        ops[op] = [int(n), round(p50, 1), round(quantile(f'sluice_bucket_request_seconds_bucket{{op="{op}"', 0.99)[1], 1)]
r["bucket_ops"] = ops
print(json.dumps(r))
PY
	done
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def ms(v):
    return "-" if v is None else f"{v:.1f}"
print("round  type       p50_ms   p99_ms  records/s  load  bucket_put_p99  agent_ack_p50/p99 (seal to ack, ms)")
for r in runs:
    l = r["produce_latency"]
    print(f'{r["round"]:5}  {r["type"]:9} {l["p50_ms"]:8.2f} {l["p99_ms"]:8.2f} {r["records_per_s"]:10.0f} {r["load"]:5.1f} {ms(r["bucket_put_p99_ms"]):>14}  {ms(r["agent_ack_p50_ms"])} / {ms(r["agent_ack_p99_ms"])}')
    print("       bucket requests during the run (count, p50 ms, p99 ms): " +
          "  ".join(f"{op} {v[0]} {v[1]} {v[2]}" for op, v in r.get("bucket_ops", {}).items()))
med = {}
for t in ("classic", "lightning"):
    rs = [r for r in runs if r["type"] == t]
    ls = [r["produce_latency"] for r in rs]
    def mid(key):
        v = [r[key] for r in rs if r[key] is not None]
        return statistics.median(v) if v else float("nan")
    med[t] = (statistics.median(l["p50_ms"] for l in ls), statistics.median(l["p99_ms"] for l in ls), mid("agent_ack_p99_ms"))
    print(f'median {t:9} p50 {med[t][0]:.2f} ms  p99 {med[t][1]:.2f} ms  bucket PUT p99 {mid("bucket_put_p99_ms"):.1f} ms'
          f'  agent seal-to-ack p50 {mid("agent_ack_p50_ms"):.1f} p99 {med[t][2]:.1f} ms')
ratios = sorted(rl["produce_latency"]["p99_ms"] / rc["produce_latency"]["p99_ms"]
                for rc in runs if rc["type"] == "classic"
                for rl in runs if rl["type"] == "lightning" and rl["round"] == rc["round"])
print(f'lightning/classic: p50 {med["lightning"][0]/med["classic"][0]:.2f}  p99 {med["lightning"][1]/med["classic"][1]:.2f}'
      f'  (same-round p99 ratios {", ".join(f"{x:.2f}" for x in ratios)}); agent seal-to-ack p99 {med["lightning"][2]/med["classic"][2]:.2f}')
print(f'load average {min(r["load"] for r in runs):.1f}-{max(r["load"] for r in runs):.1f}')
PY
