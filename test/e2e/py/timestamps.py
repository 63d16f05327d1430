#!/usr/bin/python3
"""Timestamps as confluent-kafka (librdkafka) and kafka-python see them,
driven by timestamps_test.go.

Usage: timestamps.py confluent|kafka-python produce|consume, with one JSON
request on stdin: {"bootstrap", "topic", "timestamps": [ms, ...]} to
produce one record per timestamp (value "r<i>") to partition 0, or
{"bootstrap", "topic", "count"} to read partition 0 from the beginning.
Prints one JSON line per record:

  produce: {"i", "error": <Kafka error code or null>, "offset", "type", "ts"}
  consume: {"offset", "value", "type", "ts"}

"type" is the timestamp type the client reports: 0 none, 1 CreateTime,
2 LogAppendTime (librdkafka's numbering; kafka-python's 0/1 is mapped).
"""
import sys

from common import Deadline, emit, request

TIMEOUT = 30


def confluent_produce(req):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": req["bootstrap"], "acks": "all", "linger.ms": 5,
                  "message.send.max.retries": 0})

    def report(i):
        def on_delivery(err, msg):
            typ, ts = msg.timestamp()
            emit(i=i, error=None if err is None else err.code(), offset=msg.offset(), type=typ, ts=ts)
        return on_delivery

    for i, ts in enumerate(req["timestamps"]):
        p.produce(req["topic"], value=b"r%d" % i, partition=0, timestamp=ts, on_delivery=report(i))
        p.flush(TIMEOUT)  # one request per record, so each is judged alone


def confluent_consume(req):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": req["bootstrap"], "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(req["topic"], 0, OFFSET_BEGINNING)])
    deadline = Deadline(TIMEOUT)
    got = 0
    while got < req["count"]:
        deadline.check(lambda: f"read {got} of {req['count']} records")
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        typ, ts = m.timestamp()
        emit(offset=m.offset(), value=m.value().decode(), type=typ, ts=ts)
        got += 1
    c.close()


def kafka_python_produce(req):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    p = KafkaProducer(bootstrap_servers=req["bootstrap"], acks="all", retries=0)
    for i, ts in enumerate(req["timestamps"]):
        try:
            md = p.send(req["topic"], value=b"r%d" % i, partition=0, timestamp_ms=ts).get(TIMEOUT)
            # kafka-python reports the broker's log_append_time as the
            # timestamp when it is set, without a type.
            emit(i=i, error=None, offset=md.offset, type=None, ts=md.timestamp)
        except KafkaError as e:
            emit(i=i, error=getattr(e, "errno", -1), offset=-1, type=None, ts=None)
    p.close()


def kafka_python_consume(req):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=req["bootstrap"], enable_auto_commit=False)
    tp = TopicPartition(req["topic"], 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    deadline = Deadline(TIMEOUT)
    got = 0
    while got < req["count"]:
        deadline.check(lambda: f"read {got} of {req['count']} records")
        for recs in c.poll(timeout_ms=500).values():
            for r in recs:
                emit(offset=r.offset, value=r.value.decode(), type=r.timestamp_type + 1, ts=r.timestamp)
                got += 1
    c.close()


if __name__ == "__main__":
    client, mode = sys.argv[1], sys.argv[2]
    {
        ("confluent", "produce"): confluent_produce,
        ("confluent", "consume"): confluent_consume,
        ("kafka-python", "produce"): kafka_python_produce,
        ("kafka-python", "consume"): kafka_python_consume,
    }[(client, mode)](request())
