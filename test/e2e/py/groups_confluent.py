"""Consumes as a member of a consumer group with confluent-kafka
(librdkafka), for groups_clients_test.go; output lines as in common.py.

Request: bootstrap, topic, group, expect (records to read, then stop),
commit and timeout (seconds). commit "manual" disables auto-commit and
commits synchronously after each batch (consumer.commit(asynchronous=False));
"auto" leaves committing to librdkafka: every 200ms, and once more in
close().
"""
import sys

from confluent_kafka import Consumer, KafkaError

from common import Deadline, dec, emit, headers_out, request


def consume(req):
    manual = req["commit"] == "manual"
    c = Consumer({
        "bootstrap.servers": req["bootstrap"],
        "group.id": req["group"],
        "client.id": "groups-confluent-" + req["commit"],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": not manual,
        "auto.commit.interval.ms": 200,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    })

    def on_assign(consumer, partitions):
        emit(kind="info", info="assigned " + ",".join(str(p.partition) for p in partitions))

    c.subscribe([req["topic"]], on_assign=on_assign)
    deadline = Deadline(req["timeout"])
    got = 0
    while got < req["expect"]:
        deadline.check(lambda: f"read {got} of {req['expect']} records")
        batch = 0
        for m in c.consume(num_messages=100, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                sys.exit(f"consume error: {m.error()}")
            emit(kind="record", partition=m.partition(), offset=m.offset(), key=dec(m.key()),
                 value=dec(m.value()), headers=headers_out(m.headers()), timestamp=m.timestamp()[1])
            got += 1
            batch += 1
        if manual and batch:
            for tp in c.commit(asynchronous=False):
                if tp.error:
                    sys.exit(f"commit of partition {tp.partition} failed: {tp.error}")
    c.close()


if __name__ == "__main__":
    {"consume": consume}[sys.argv[1]](request())
