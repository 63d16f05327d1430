#!/usr/bin/env bash
# bench/lightning.sh: produce latency of a lightning topic against a classic
# topic on one agent, in the same run, alternating, ROUNDS times each;
# prints every run's client p50/p99 per record (from its Produce call: what
# the application sees) and per produce request (write to response: the
# broker's share; the difference is the records' wait in the client, of
# which the requests' wait for their write is shown apart), the
# load average when it started, the bucket's PUT p99 during it (from the
# agent's sluice_bucket_request_seconds{op="put"}, interpolated within its
# doubling buckets, so roughly) and the medians. docs/performance.md
# quotes its output.
#
# BUCKET=dir (default) runs `sluice dev` (local-directory bucket, SQLite);
# BUCKET=s3 runs versitygw (posix backend, loopback) and `sluice agent` on
# it with SQLite metadata. METADATA=postgres (either bucket) runs `sluice
# agent` with a throwaway PostgreSQL server configured as production runs
# one (fsync on) as its metadata store instead, as a cluster has;
# STORE_RTT=2ms adds that round trip between the agent and PostgreSQL
# (bench/delayproxy), as a store in another zone or a managed service has.
#
# This is a benchmark, not a test: nothing in CI runs or times it.
#
# Knobs (environment):
#   ROUNDS=5 RECORDS=20000 RECORD_SIZE=1024 PARTITIONS=8 PRODUCERS=4
#   RATE=2000 (records/s over all producers: latency, not throughput)
#   BATCH_TIMEOUT=5ms LINGER=0s SLUICE_AGENT_FLAGS="" BUCKET=dir
#   METADATA=sqlite (or postgres) STORE_RTT="" (with postgres: e.g. 2ms)
#   SLUICE_BIN (run the agent from this binary instead of building one)
#   BENCH_BIN (run `sluice bench` from this binary; default: the one
#   built from this tree, so that two agents are measured by one client)
#   MAX_INFLIGHT=0 (the client's produce requests in flight per broker;
#   0: franz-go's default, 1 without idempotence; a list such as "1 5"
#   runs both topic types with each value every round)
#   LABEL=run RESULTS=file: append each run's JSON line, tagged with
#   LABEL, to file and summarise every line in it, so that invocations
#   with different binaries alternate into one table:
#     for r in 1 2 3; do for b in base new; do
#       LABEL=$b SLUICE_BIN=/tmp/$b ROUNDS=1 RESULTS=/tmp/l.jsonl bench/lightning.sh
#     done; done
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
LABEL=${LABEL:-run}
METADATA=${METADATA:-sqlite}
STORE_RTT=${STORE_RTT:-}

work=$(mktemp -d)
pid=""
s3pid=""
cleanup() {
	for p in $pid $s3pid ${dppid:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_pg
	[[ -n ${KEEP:-} ]] && cp "$work/agent.log" /tmp/lightning-agent.log
	rm -rf "$work"
}
trap cleanup EXIT
sluice=${SLUICE_BIN:-$work/sluice}
benchbin=${BENCH_BIN:-$work/sluice}
if [[ -z ${SLUICE_BIN:-} || -z ${BENCH_BIN:-} ]]; then go build -o "$work/sluice" ./cmd/sluice; fi
results=${RESULTS:-$work/results.jsonl}
runid=$(date +%s%N)
kport=$(free_port)
hport=$(free_port)
metadata_url="sqlite://$work/metadata.db"
case $METADATA in
sqlite) ;;
postgres)
	start_pg
	store_addr=127.0.0.1:$PG_PORT
	if [[ -n $STORE_RTT ]]; then
		go build -o "$work/delayproxy" ./bench/delayproxy
		"$work/delayproxy" --target "$store_addr" --rtt "$STORE_RTT" >"$work/delayproxy.addr" &
		dppid=$!
		while [[ ! -s $work/delayproxy.addr ]]; do sleep 0.05; done
		store_addr=$(head -1 "$work/delayproxy.addr")
	fi
	metadata_url="postgres://postgres@$store_addr/sluice?sslmode=disable"
	;;
*) echo "lightning: METADATA must be sqlite or postgres" >&2; exit 1 ;;
esac
case $BUCKET in
dir)
	if [[ $METADATA == postgres ]]; then
		mkdir -p "$work/bucket"
		# shellcheck disable=SC2086
		"$sluice" agent --bucket-url "file://$work/bucket" --metadata-url "$metadata_url" \
			--kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
			--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
	else
		# shellcheck disable=SC2086
		"$sluice" dev --data-dir "$work/data" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
			--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
	fi
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
		--metadata-url "$metadata_url" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
		--batch-timeout "$BATCH_TIMEOUT" --log-level warn $SLUICE_AGENT_FLAGS >"$work/agent.log" 2>&1 &
	pid=$!
	;;
*) echo "lightning: BUCKET must be dir or s3" >&2; exit 1 ;;
esac
wait_port "$kport"

metrics() { curl -sf "http://127.0.0.1:$hport/metrics" | grep -E '^sluice_(bucket_request|produce_ack)_seconds_bucket' || true; }

for round in $(seq "$ROUNDS"); do
	for inflight in $MAX_INFLIGHT; do
	for type in classic lightning; do
		metrics >"$work/before"
		load=$(cut -d' ' -f1 /proc/loadavg)
		"$benchbin" bench produce --brokers "127.0.0.1:$kport" -q --topic "bench-$type" --topic-type "$type" \
			--idempotent=false --records "$RECORDS" --record-size "$RECORD_SIZE" --partitions "$PARTITIONS" \
			--producers "$PRODUCERS" --rate "$RATE" --linger "$LINGER" --max-inflight "$inflight" >"$work/run.json"
		metrics >"$work/after"
		python3 - "$type" "$runid-$round" "$load" "$work/before" "$work/after" "$work/run.json" "$LABEL" "$inflight" "$BUCKET" "$METADATA${STORE_RTT:+ rtt $STORE_RTT}" >>"$results" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[6]))
r["type"], r["round"], r["load"] = sys.argv[1], sys.argv[2], float(sys.argv[3])
r["label"], r["max_inflight"], r["bucket"], r["metadata"] = sys.argv[7], int(sys.argv[8]), sys.argv[9], sys.argv[10]
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
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def ms(v):
    return "-" if v is None else f"{v:.1f}"
def req(r, k, what="produce_request_latency"):
    return (r.get(what) or {}).get(k)
print("label     inflight type       p50_ms   p99_ms  req_p50  req_p99  wait_p99  load  bucket_put_p99  agent_ack_p50/p99 (seal to ack, ms)")
for r in runs:
    l = r["produce_latency"]
    print(f'{r.get("label", "run"):9} {r.get("max_inflight", 0):8} {r["type"]:9} {l["p50_ms"]:8.2f} {l["p99_ms"]:8.2f} {ms(req(r, "p50_ms")):>8} {ms(req(r, "p99_ms")):>8}'
          f' {ms(req(r, "p99_ms", "produce_request_write_wait")):>9}'
          f' {r["load"]:5.1f} {ms(r["bucket_put_p99_ms"]):>14}  {ms(r["agent_ack_p50_ms"])} / {ms(r["agent_ack_p99_ms"])}')
    print("       bucket requests during the run (count, p50 ms, p99 ms): " +
          "  ".join(f"{op} {v[0]} {v[1]} {v[2]}" for op, v in r.get("bucket_ops", {}).items()))
def mid(rs, f):
    v = [f(r) for r in rs]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else float("nan")
groups = sorted({(r.get("label", "run"), r.get("max_inflight", 0)) for r in runs})
for label, inflight in groups:
    g = [r for r in runs if r.get("label", "run") == label and r.get("max_inflight", 0) == inflight]
    med = {}
    for t in ("classic", "lightning"):
        rs = [r for r in g if r["type"] == t]
        if not rs:
            continue
        med[t] = {k: mid(rs, f) for k, f in {
            "p50": lambda r: r["produce_latency"]["p50_ms"], "p99": lambda r: r["produce_latency"]["p99_ms"],
            "req50": lambda r: req(r, "p50_ms"), "req99": lambda r: req(r, "p99_ms"),
            "wait99": lambda r: req(r, "p99_ms", "produce_request_write_wait"),
            "reqgap": lambda r: req(r, "p99_ms") - r["bucket_put_p99_ms"] if req(r, "p99_ms") is not None and r["bucket_put_p99_ms"] is not None else None,
            "put99": lambda r: r["bucket_put_p99_ms"], "ack50": lambda r: r["agent_ack_p50_ms"], "ack99": lambda r: r["agent_ack_p99_ms"],
            "gap": lambda r: r["produce_latency"]["p99_ms"] - r["bucket_put_p99_ms"] if r["bucket_put_p99_ms"] is not None else None,
        }.items()}
        m = med[t]
        print(f'median {label} inflight {inflight} {t:9} ({len(rs)} runs) p50 {m["p50"]:.2f} p99 {m["p99"]:.2f} ms'
              f'  request p50 {m["req50"]:.2f} p99 {m["req99"]:.2f} ms (write wait p99 {m["wait99"]:.2f})  bucket PUT p99 {m["put99"]:.1f} ms'
              f'  agent seal-to-ack p50 {m["ack50"]:.1f} p99 {m["ack99"]:.1f} ms  (p99 - PUT p99 per run, medians: record {m["gap"]:+.1f} ms, request {m["reqgap"]:+.1f} ms)')
    if len(med) == 2:
        ratios = sorted(rl["produce_latency"]["p99_ms"] / rc["produce_latency"]["p99_ms"]
                        for rc in g if rc["type"] == "classic"
                        for rl in g if rl["type"] == "lightning" and rl["round"] == rc["round"])
        print(f'  {label} inflight {inflight} lightning/classic: p50 {med["lightning"]["p50"]/med["classic"]["p50"]:.2f}'
              f'  p99 {med["lightning"]["p99"]/med["classic"]["p99"]:.2f}'
              f'  (same-round p99 ratios {", ".join(f"{x:.2f}" for x in ratios)}); agent seal-to-ack p99 {med["lightning"]["ack99"]/med["classic"]["ack99"]:.2f}')
print(f'load average {min(r["load"] for r in runs):.1f}-{max(r["load"] for r in runs):.1f}')
PY
