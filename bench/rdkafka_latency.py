#!/usr/bin/python3
"""bench/rdkafka_latency.py BROKERS TOPIC: produce latency through librdkafka
(Debian's python3-confluent-kafka), RATE records/s of
SIZE bytes for DURATION s, acks=all, idempotent; prints one JSON line with
delivery-report latency percentiles (ms)."""
import json, os, sys, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

brokers, topic = sys.argv[1], sys.argv[2]
rate, dur, size = int(os.environ.get("RATE", 2000)), float(os.environ.get("DURATION", 30)), int(os.environ.get("SIZE", 1024))
idem = os.environ.get("IDEMPOTENT", "true")
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 8, 1)])[topic].result()
p = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": idem,
              "linger.ms": int(os.environ.get("LINGER_MS", 5)), "compression.type": "none"})
lat, errs = [], 0
def dr(err, msg, t0):
    global errs
    if err: errs += 1
    else: lat.append((time.monotonic() - t0) * 1000)
payload = os.urandom(size)
start = time.monotonic(); n = 0
while True:
    now = time.monotonic()
    if now - start >= dur: break
    due = int((now - start) * rate)
    while n < due:
        t0 = time.monotonic()
        p.produce(topic, payload, partition=n % 8, on_delivery=lambda e, m, t0=t0: dr(e, m, t0))
        n += 1
    p.poll(0.001)
p.flush(60)
lat.sort()
q = lambda f: round(lat[min(len(lat) - 1, int(f * len(lat)))], 1) if lat else None
print(json.dumps({"client": "librdkafka " + __import__("confluent_kafka").libversion()[0], "idempotent": idem, "sent": n, "acked": len(lat), "errors": errs,
                  "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": round(lat[-1], 1) if lat else None}))
