"""Produces or consumes with confluent-kafka (librdkafka); see common.py."""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from common import Deadline, dec, emit, enc, headers_in, headers_out, request


def produce(req):
    p = Producer({
        "bootstrap.servers": req["bootstrap"],
        "compression.codec": req["compression"],
        # Java's key hash, so the test can predict where keyed records go.
        "partitioner": "murmur2_random",
        "enable.idempotence": False,  # Sluice has no InitProducerId yet
        "acks": "all",
        "linger.ms": 5,
    })

    def report(i):
        def on_delivery(err, msg):
            emit(kind="delivery", i=i, partition=msg.partition(), offset=msg.offset(),
                 error=None if err is None else str(err))
        return on_delivery

    deadline = Deadline(req["timeout"])
    flush_every = req.get("flush_every") or 0
    for n, r in enumerate(req["records"], 1):
        while True:
            try:
                p.produce(req["topic"], value=enc(r["value"]), key=enc(r["key"]),
                          partition=r["partition"], headers=headers_in(r["headers"]),
                          timestamp=r["timestamp"], on_delivery=report(r["i"]))
                break
            except BufferError:  # local queue full: serve delivery reports
                p.poll(0.1)
                deadline.check(lambda: "local queue stayed full")
        p.poll(0)
        if flush_every and n % flush_every == 0:
            p.flush(deadline.left())
    left = p.flush(deadline.left())
    if left:
        sys.exit(f"{left} messages still undelivered")


def consume(req):
    c = Consumer({
        "bootstrap.servers": req["bootstrap"],
        # The client insists on a group ID, but with assign() and no commits
        # it never talks to a group coordinator (Sluice has none yet).
        "group.id": "unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    })
    topic = req["topic"]
    ends = {}
    for p in range(req["partitions"]):
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        emit(kind="watermark", partition=p, low=low, high=high)
        ends[p] = high
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    pending = {p for p, high in ends.items() if high > 0}
    deadline = Deadline(req["timeout"])
    while pending:
        deadline.check(lambda: f"partitions {sorted(pending)} not read to their ends {ends}")
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            sys.exit(f"consume error: {m.error()}")
        emit(kind="record", partition=m.partition(), offset=m.offset(), key=dec(m.key()),
             value=dec(m.value()), headers=headers_out(m.headers()), timestamp=m.timestamp()[1])
        if m.offset() + 1 >= ends[m.partition()]:
            pending.discard(m.partition())
    c.close()


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]](request())
