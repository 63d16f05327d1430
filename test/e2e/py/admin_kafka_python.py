#!/usr/bin/python3
"""kafka-python's KafkaAdminClient against Sluice, driven by admin_test.go.

Usage: admin_kafka_python.py <bootstrap> <topic>. The topic exists with two
partitions. Prints one JSON object of observations; error fields hold the
Kafka error code of the response (0 for none).
"""
import json
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions
from kafka.errors import KafkaError

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
out = {"api_version": ".".join(map(str, admin.config["api_version"]))}


def describe(name=topic):
    """(error code, {config name: value}) of one topic."""
    resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])[0]
    code, _msg, _typ, _name, entries = resp.resources[0][:5]
    return code, {e[0]: e[1] for e in entries}


def alter(configs, name=topic):
    resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)])
    return resp.resources[0][0]


def create_partitions(total, name=topic, validate_only=False):
    try:
        admin.create_partitions({name: NewPartitions(total_count=total)}, validate_only=validate_only)
    except KafkaError as e:
        return getattr(e, "errno", -1)
    return 0


code, configs = describe()
out["describe_error"] = code
out["default_retention"] = configs.get("retention.ms")
out["default_min_isr"] = configs.get("min.insync.replicas")

# Configs without meaning here are accepted and reported back.
NO_EFFECT = {
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "true",
    "segment.bytes": "104857600",
    "segment.ms": "3600000",
    "flush.messages": "1000",
    "flush.ms": "1000",
    "index.interval.bytes": "8192",
    "preallocate": "true",
    "leader.replication.throttled.replicas": "*",
    "retention.ms": "1234",
}
out["no_effect_error"] = alter(NO_EFFECT)
_, configs = describe()
out["no_effect_echo"] = {k: configs.get(k) for k in NO_EFFECT}

out["invalid_min_isr_error"] = alter({"min.insync.replicas": "0"})
out["invalid_segment_bytes_error"] = alter({"segment.bytes": "10"})
out["invalid_timestamp_type_error"] = alter({"message.timestamp.type": "Sometime"})
out["unknown_config_error"] = alter({"no.such.config": "1"})
out["missing_topic_alter_error"] = alter({"retention.ms": "1"}, name="no-such-topic")
out["missing_topic_describe_error"] = describe("no-such-topic")[0]
_, configs = describe()
out["after_errors_min_isr"] = configs.get("min.insync.replicas")

out["decrease_error"] = create_partitions(1)
out["same_count_error"] = create_partitions(2)
out["missing_topic_partitions_error"] = create_partitions(3, name="no-such-topic")
out["validate_only_error"] = create_partitions(4, validate_only=True)
out["increase_error"] = create_partitions(3)

admin.close()
print(json.dumps(out))
