"""Produces or consumes with kafka-python; see common.py.

kafka-python guesses the broker version from the ApiVersions answer
(api_version is left to auto-detection, which picks request versions Sluice
serves: Produce v3+, Fetch v4+, ListOffsets v1+). The detected version is
reported in an "info" line.
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common import Deadline, dec, emit, enc, headers_in, headers_out, request


def produce(req):
    codec = None if req["compression"] == "none" else req["compression"]
    # retries: kafka-python 2.0 does not retry by default; a test of an
    # outage asks for retries as a user who wants them would.
    p = KafkaProducer(bootstrap_servers=req["bootstrap"], acks="all", compression_type=codec,
                      linger_ms=5, retries=req.get("retries", 0), retry_backoff_ms=500)
    emit(kind="info", info=f"detected api_version {p.config['api_version']}")
    deadline = Deadline(req["timeout"])
    flush_every = req.get("flush_every") or 0
    sent = []
    for n, r in enumerate(req["records"], 1):
        # partition None: kafka-python's default partitioner, Java's murmur2.
        future = p.send(req["topic"], value=enc(r["value"]), key=enc(r["key"]),
                        partition=None if r["partition"] < 0 else r["partition"],
                        headers=headers_in(r["headers"]), timestamp_ms=r["timestamp"] or None)
        sent.append((r["i"], future))
        if flush_every and n % flush_every == 0:
            p.flush(deadline.left())
    p.flush(deadline.left())
    for i, future in sent:
        try:
            md = future.get(timeout=deadline.left())
            emit(kind="delivery", i=i, partition=md.partition, offset=md.offset, error=None)
        except Exception as e:
            emit(kind="delivery", i=i, partition=-1, offset=-1, error=repr(e))
    p.close(deadline.left())


def consume(req):
    # No group_id: partitions are assigned by hand and nothing is committed.
    c = KafkaConsumer(bootstrap_servers=req["bootstrap"], group_id=None, enable_auto_commit=False)
    emit(kind="info", info=f"detected api_version {c.config['api_version']}")
    tps = [TopicPartition(req["topic"], p) for p in range(req["partitions"])]
    c.assign(tps)
    lows, ends = c.beginning_offsets(tps), c.end_offsets(tps)
    for tp in tps:
        emit(kind="watermark", partition=tp.partition, low=lows[tp], high=ends[tp])
    c.seek_to_beginning(*tps)
    pending = {tp for tp in tps if ends[tp] > 0}
    deadline = Deadline(req["timeout"])
    while pending:
        deadline.check(lambda: f"partitions {sorted(tp.partition for tp in pending)} not read to their ends")
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                emit(kind="record", partition=m.partition, offset=m.offset, key=dec(m.key),
                     value=dec(m.value), headers=headers_out(m.headers), timestamp=m.timestamp)
                if m.offset + 1 >= ends[tp]:
                    pending.discard(tp)
    c.close()


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]](request())
