"""Consumes as a member of a consumer group with kafka-python, for
groups_clients_test.go; output lines as in common.py.

Request: bootstrap, topic, group, expect (records to read, then stop) and
timeout (seconds). Auto-commit is off; each batch is committed
synchronously with KafkaConsumer.commit().
"""
import sys

from kafka import KafkaConsumer

from common import Deadline, dec, emit, headers_out, request


def consume(req):
    c = KafkaConsumer(req["topic"], bootstrap_servers=req["bootstrap"], group_id=req["group"],
                      client_id="groups-kafka-python", auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500)
    emit(kind="info", info=f"detected api_version {c.config['api_version']}")
    deadline = Deadline(req["timeout"])
    got = 0
    while got < req["expect"]:
        deadline.check(lambda: f"read {got} of {req['expect']} records")
        batch = 0
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                emit(kind="record", partition=m.partition, offset=m.offset, key=dec(m.key),
                     value=dec(m.value), headers=headers_out(m.headers), timestamp=m.timestamp)
                got += 1
                batch += 1
        if batch:
            c.commit()
    c.close()


if __name__ == "__main__":
    {"consume": consume}[sys.argv[1]](request())
