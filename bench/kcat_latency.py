#!/usr/bin/python3
"""bench/kcat_latency.py BROKERS TOPIC: produce latency through librdkafka
driven by kcat (`kcat -P`), not by a Python binding: the same load as
bench/rdkafka_latency.py (RATE records/s of SIZE bytes for DURATION s,
round-robin over PARTITIONS partitions, acks=all, idempotent unless
IDEMPOTENT=false, LINGER_MS, CONF="key=value,..." for further -X settings,
DRAIN: seconds kcat gets after the last record, 60; records still
unacknowledged then count as slower than any, null in the output).

This script writes the records into kcat's stdin on schedule, noting when
each was written, and reads librdkafka's own debug log (debug=msg,protocol),
whose "MessageSet with N message(s) ... delivered" lines say when the
acknowledgement of each partition's next N records reached the library. The latency of a
record is that time minus the time it was written: kcat's read, librdkafka's
queueing and the request round trip, with no delivery-report callback in
between. Records are keyed so that the default partitioner (CRC32 of the
key) sends record n to partition n % PARTITIONS. Prints one JSON line
(ms; the log has millisecond resolution). Needs /usr/bin/python3 with
Debian's python3-confluent-kafka (to create the topic) and kcat."""
import json, os, re, subprocess, sys, tempfile, time, zlib
from confluent_kafka.admin import AdminClient, NewTopic

brokers, topic = sys.argv[1], sys.argv[2]
env = os.environ.get
rate, dur, size = int(env("RATE", 2000)), float(env("DURATION", 30)), int(env("SIZE", 1024))
parts = int(env("PARTITIONS", 8))
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, parts, 1)])[topic].result()

# One key per partition: the consistent_random partitioner maps a key to
# crc32(key) % partitions.
keys = {}
i = 0
while len(keys) < parts:
    k = "k%d" % i
    keys.setdefault(zlib.crc32(k.encode()) % parts, k)
    i += 1
lines = [("%s:%s\n" % (keys[p], "x" * size)).encode() for p in range(parts)]

cmd = ["kcat", "-P", "-b", brokers, "-t", topic, "-K:", "-X", "acks=all",
       "-X", "enable.idempotence=" + env("IDEMPOTENT", "true"),
       "-X", "linger.ms=" + env("LINGER_MS", "5"), "-X", "compression.type=none",
       "-X", "debug=msg,protocol"]
for kv in filter(None, env("CONF", "").split(",")):
    cmd += ["-X", kv]
# kcat's log goes to a file, read afterwards: a pipe this script drained
# while feeding kcat would slow librdkafka's threads, which write the log
# synchronously.
log = tempfile.TemporaryFile()
kc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=log, bufsize=0)
pat = re.compile(r"^%7\|(\d+\.\d+)\|MSGSET\|.*: (\S+) \[(\d+)\]: MessageSet with (\d+) message\(s\) \(MsgId (\d+),.*delivered")

def parse(data):
    """The deliveries (time, partition, first msgid, count) in data, and how
    many produce requests were sent. Other errors and warnings are passed
    on to stderr."""
    delivered, requests = [], 0
    for line in data.decode(errors="replace").splitlines():
        m = pat.match(line)
        if m and m.group(2) == topic:
            delivered.append((float(m.group(1)), int(m.group(3)), int(m.group(5)), int(m.group(4))))
        elif "Sent ProduceRequest" in line:
            requests += 1
        elif line.startswith("%") and not line.startswith("%7"):
            sys.stderr.write(line + "\n")
    return delivered, requests

# Warm up: one record acknowledged before the clock starts (connection,
# metadata, producer ID), as a long-running producer has.
kc.stdin.write(("%s:warm-up\n" % keys[0]).encode())
deadline = time.time() + 30
while time.time() < deadline:
    log.seek(0)
    if parse(log.read())[0]:
        break
    time.sleep(0.05)
log.seek(0, os.SEEK_END)
warm = log.tell()
counts = [0] * parts

written = []
start = time.time(); n = 0; lag = 0.0
while True:
    now = time.time()
    if now - start >= dur:
        break
    due = int((now - start) * rate)
    if due > n:
        lag = max(lag, (now - start) - n / rate)
        chunk = b"".join(lines[j % parts] for j in range(n, due))
        kc.stdin.write(chunk)
        at = time.time()
        written.extend([at] * (due - n))
        n = due
    time.sleep(0.001)
kc.stdin.close()
try:
    kc.wait(float(env("DRAIN", 60)))
except subprocess.TimeoutExpired:
    kc.kill()
    kc.wait()
log.seek(warm)
delivered, requests = parse(log.read())

# Each partition's records are acknowledged in order (one connection, no
# retries: errors would show in the log), so the k-th record acknowledged
# on partition p is record k * PARTITIONS + p.
lat, byp = [], [[] for _ in range(parts)]
for at, p, first, cnt in delivered:
    for _ in range(cnt):
        j = counts[p] * parts + p
        counts[p] += 1
        if j < len(written):
            lat.append((at - written[j]) * 1000)
            byp[p].append(lat[-1])
for xs in byp:
    xs.sort()
acked = len(lat)
# Records not acknowledged within DRAIN s of the end count as slower than
# any (null in the output).
lat.sort()
lat += [float("inf")] * (n - acked)
def q(f):
    v = lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("inf")
    return round(v, 1) if v != float("inf") else None
print(json.dumps({"client": "kcat (librdkafka debug log)", "idempotent": env("IDEMPOTENT", "true"), "conf": env("CONF", ""),
                  "sent": n, "acked": acked, "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": q(1), "lag_ms": round(lag * 1000, 1),
                  "produce_requests_per_s": round(requests / dur, 1),
                  "p99_by_partition_ms": [round(xs[int(0.99 * len(xs))]) if xs else None for xs in byp]}))
