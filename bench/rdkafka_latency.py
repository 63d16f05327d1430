#!/usr/bin/python3
"""bench/rdkafka_latency.py BROKERS TOPIC: produce latency through librdkafka
(Debian's python3-confluent-kafka: run it with /usr/bin/python3), RATE
records/s of SIZE bytes for DURATION s over PARTITIONS partitions (assigned
round-robin), acks=all, idempotent unless IDEMPOTENT=false; prints one JSON
line with delivery-report latency percentiles (ms). One record is produced
and acknowledged before the clock starts (connection, metadata, producer
ID), so the figures are those of a running producer.

More environment: LINGER_MS (5), DRAIN (60: seconds given to deliver the
rest after the last record; records still unacknowledged then count as
slower than any, null in the output), CONF="key=value,..." (further librdkafka
settings, e.g. max.in.flight.requests.per.connection=5), STATS=1 (adds
librdkafka's own per-second statistics of the partition leader: int_latency,
the time a record waits in the client before it is put into a request;
outbuf_latency; rtt, request sent to response received; the requests
waiting for a response; all as the median over the seconds of the run of
each second's p50 / p99, and the largest p99). lag_ms is how far the
driver's produce loop fell behind the schedule at worst."""
import json, os, sys, time
from confluent_kafka import Producer, version, libversion
from confluent_kafka.admin import AdminClient, NewTopic

brokers, topic = sys.argv[1], sys.argv[2]
env = os.environ.get
rate, dur, size = int(env("RATE", 2000)), float(env("DURATION", 30)), int(env("SIZE", 1024))
parts = int(env("PARTITIONS", 8))
idem = env("IDEMPOTENT", "true")
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, parts, 1)])[topic].result()
conf = {"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": idem,
        "linger.ms": int(env("LINGER_MS", 5)), "compression.type": "none"}
for kv in filter(None, env("CONF", "").split(",")):
    k, v = kv.split("=", 1)
    conf[k] = v
stats = []
if env("STATS"):
    conf["statistics.interval.ms"] = 1000
    conf["stats_cb"] = lambda s: stats.append(json.loads(s))
p = Producer(conf)
# Warm up: connect, learn the leaders and (idempotent) get a producer ID
# before the clock starts, as a long-running producer has.
p.produce(topic, b"warm-up", partition=0)
p.flush(30)
lat, errs = [], 0
def dr(err, msg, t0):
    global errs
    if err: errs += 1
    else: lat.append((time.monotonic() - t0) * 1000)
payload = os.urandom(size)
start = time.monotonic(); n = 0; lag = 0.0
while True:
    now = time.monotonic()
    if now - start >= dur: break
    due = int((now - start) * rate)
    if due > n:
        lag = max(lag, (now - start) - n / rate)
    while n < due:
        t0 = time.monotonic()
        p.produce(topic, payload, partition=n % parts, on_delivery=lambda e, m, t0=t0: dr(e, m, t0))
        n += 1
    p.poll(0.001)
p.flush(float(env("DRAIN", 60)))
acked = len(lat)
# Records not acknowledged within DRAIN s of the end count as slower than
# any (null in the output).
lat.sort()
lat += [float("inf")] * (n - acked - errs)
def q(f):
    v = lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("inf")
    return round(v, 1) if v != float("inf") else None
out = {"client": "librdkafka " + libversion()[0] + " (confluent-kafka-python " + version()[0] + ")",
       "idempotent": idem, "conf": env("CONF", ""), "sent": n, "acked": acked, "errors": errs,
       "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": q(1),
       "lag_ms": round(lag * 1000, 1)}
if stats:
    def med(xs):
        xs = sorted(xs)
        return round(xs[len(xs) // 2], 1) if xs else None
    # The leader's broker entry (nodeid >= 0) in the seconds it sent requests.
    per = {"int_latency": ([], []), "outbuf_latency": ([], []), "rtt": ([], [])}
    waitresp, reqs = [], 0
    for s in stats:
        for b in s["brokers"].values():
            if b.get("nodeid", -1) < 0 or not b.get("rtt", {}).get("cnt"):
                continue
            for k, (p50s, p99s) in per.items():
                p50s.append(b[k]["p50"] / 1000); p99s.append(b[k]["p99"] / 1000)
            waitresp.append(b["waitresp_cnt"])
        reqs = sum(b.get("req", {}).get("Produce", 0) for b in s["brokers"].values())
    for k, (p50s, p99s) in per.items():
        out[k + "_ms"] = {"p50": med(p50s), "p99": med(p99s), "max_p99": round(max(p99s), 1) if p99s else None}
    out["waitresp_cnt_median"] = med(waitresp)
    out["produce_requests_per_s"] = round(reqs / dur, 1)
print(json.dumps(out))
