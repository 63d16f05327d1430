#!/usr/bin/python3
"""confluent-kafka AdminClient against Sluice, driven by admin_test.go.

Usage: admin_confluent.py <bootstrap> <topic>. The topic exists with two
partitions. Prints one JSON object of observations; error fields hold the
Kafka error code the client reported (or null when there was none).
"""
import json
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
TIMEOUT = 20
out = {}


def topic_res(name=topic, **kw):
    return ConfigResource(ConfigResource.Type.TOPIC, name, **kw)


def describe(res):
    return next(iter(admin.describe_configs([res], request_timeout=TIMEOUT).values())).result(timeout=TIMEOUT)


def source(entry):
    return ConfigSource(entry.source).name


def error_code(futures):
    try:
        for f in futures.values():
            f.result(timeout=TIMEOUT)
    except KafkaException as e:
        return e.args[0].code()
    return None


def alter(res, validate_only=False):
    return error_code(admin.alter_configs([res], request_timeout=TIMEOUT, validate_only=validate_only))


def partitions():
    md = admin.list_topics(topic, timeout=TIMEOUT)
    return len(md.topics[topic].partitions)


e = describe(topic_res())["retention.ms"]
out["default_retention"] = e.value
out["default_retention_source"] = source(e)
out["default_retention_isdef"] = e.is_default

# AlterConfigs replaces the topic's whole set of configs.
out["alter1_error"] = alter(topic_res(set_config={"segment.ms": "5555"}))
out["alter2_error"] = alter(topic_res(set_config={"retention.ms": "1234"}))
configs = describe(topic_res())
out["altered_retention"] = configs["retention.ms"].value
out["altered_retention_source"] = source(configs["retention.ms"])
out["replaced_segment_ms"] = configs["segment.ms"].value

out["invalid_value_error"] = alter(topic_res(set_config={"retention.ms": "abc"}))
out["missing_topic_error"] = alter(topic_res("no-such-topic", set_config={"retention.ms": "1"}))
out["validate_only_error"] = alter(topic_res(set_config={"retention.ms": "999"}), validate_only=True)
out["validate_only_retention"] = describe(topic_res())["retention.ms"].value

b = describe(ConfigResource(ConfigResource.Type.BROKER, "1"))["auto.create.topics.enable"]
out["broker_auto_create"] = b.value
out["broker_auto_create_ro"] = b.is_read_only


def create_partitions(total, validate_only=False):
    return error_code(admin.create_partitions([NewPartitions(topic, total)], request_timeout=TIMEOUT, validate_only=validate_only))


out["decrease_error"] = create_partitions(1)
out["validate_only_create_error"] = create_partitions(4, validate_only=True)
out["validate_only_partitions"] = partitions()
out["increase_error"] = create_partitions(5)
out["increased_partitions"] = partitions()

print(json.dumps(out))
