#!/usr/bin/python3
"""confluent-kafka AdminClient and the topic configs that have no meaning in
Sluice, driven by admin_configs_test.go.

Usage: admin_configs_confluent.py <bootstrap>. Creates topic "tf" with
configs a Terraform-style tool sets, alters and describes them, and tries
invalid values. Prints one JSON object; error fields hold the Kafka error
code the client reported (or null when there was none).
"""
import json
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
TIMEOUT = 20
out = {}

CREATE = {
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "false",
    "segment.bytes": "536870912",
    "segment.ms": "86400000",
    "segment.index.bytes": "1048576",
    "flush.messages": "10000",
    "preallocate": "false",
    "file.delete.delay.ms": "30000",
    "compression.zstd.level": "6",
    "remote.storage.enable": "true",
    "local.retention.ms": "3600000",
    "follower.replication.throttled.replicas": "0:1,1:2",
}


def error_code(futures):
    try:
        for f in futures.values():
            f.result(timeout=TIMEOUT)
    except KafkaException as e:
        return e.args[0].code()
    return None


def describe(name="tf"):
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return next(iter(admin.describe_configs([res], request_timeout=TIMEOUT).values())).result(timeout=TIMEOUT)


out["create_error"] = error_code(admin.create_topics([NewTopic("tf", 2, 3, config=CREATE)], request_timeout=TIMEOUT))
configs = describe()
out["created_echo"] = {k: configs[k].value for k in CREATE}
out["created_sources"] = sorted({ConfigSource(configs[k].source).name for k in CREATE})


def alter(configs, name="tf"):
    res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=configs)
    return error_code(admin.alter_configs([res], request_timeout=TIMEOUT))


# AlterConfigs replaces the whole set: keep CREATE and change two.
out["alter_error"] = alter({**CREATE, "min.insync.replicas": "3", "index.interval.bytes": "1024"})
configs = describe()
out["altered_min_isr"] = configs["min.insync.replicas"].value
out["altered_index_interval"] = configs["index.interval.bytes"].value

out["invalid_min_isr_error"] = alter({"min.insync.replicas": "0"})
out["invalid_throttled_error"] = alter({"leader.replication.throttled.replicas": "all"})
out["invalid_zstd_level_error"] = alter({"compression.zstd.level": "99"})
out["lag_conflict_error"] = alter({"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "10"})
out["missing_topic_error"] = alter({"min.insync.replicas": "2"}, name="no-such-topic")
out["invalid_create_error"] = error_code(admin.create_topics([NewTopic("tf-bad", 1, 1, config={"segment.bytes": "10"})], request_timeout=TIMEOUT))
out["after_errors_min_isr"] = describe()["min.insync.replicas"].value

print(json.dumps(out))
