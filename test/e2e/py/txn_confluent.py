"""Transactions with confluent-kafka (librdkafka); see common.py.

produce: runs req["transactions"] transactions of req["per_txn"] records
each on req["topic"] with transactional.id req["txn_id"], committing those
whose index is not in req["abort"] and aborting the others; emits one
{"kind": "delivery", ...} per record (value in "info" of a following
{"kind": "info"}) and {"kind": "info", "info": "commit <i>"/"abort <i>"}.

consume: reads req["topic"] from the start with isolation.level
req["isolation"] until it has req["want"] records, then for two more
seconds, emitting {"kind": "record", ...} lines.
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from common import Deadline, dec, emit, request


def produce(req):
    p = Producer({
        "bootstrap.servers": req["bootstrap"],
        "transactional.id": req["txn_id"],
        "linger.ms": 5,
    })
    deadline = Deadline(req["timeout"])
    p.init_transactions(deadline.left())
    abort = set(req["abort"])
    for t in range(req["transactions"]):
        p.begin_transaction()
        for n in range(req["per_txn"]):
            value = f"py-t{t}-r{n}"

            def on_delivery(err, msg, value=value):
                emit(kind="delivery", i=t, partition=msg.partition(), offset=msg.offset(),
                     value=value, error=None if err is None else str(err))
            p.produce(req["topic"], value=value.encode(), partition=n % req["partitions"], on_delivery=on_delivery)
        p.flush(deadline.left())
        if t in abort:
            p.abort_transaction(deadline.left())
            emit(kind="info", info=f"abort {t}")
        else:
            p.commit_transaction(deadline.left())
            emit(kind="info", info=f"commit {t}")


def consume(req):
    c = Consumer({
        "bootstrap.servers": req["bootstrap"],
        "group.id": "unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": req["isolation"],
    })
    topic = req["topic"]
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(req["partitions"])])
    deadline = Deadline(req["timeout"])
    got = 0
    quiet_until = None
    while True:
        if got >= req["want"] and quiet_until is None:
            quiet_until = time.monotonic() + 2
        if quiet_until is not None and time.monotonic() > quiet_until:
            break
        deadline.check(lambda: f"read {got} of {req['want']} records")
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            sys.exit(f"consume error: {m.error()}")
        got += 1
        emit(kind="record", partition=m.partition(), offset=m.offset(), value=dec(m.value()))
    c.close()


if __name__ == "__main__":
    {"produce": produce, "consume": consume}[sys.argv[1]](request())
