#!/usr/bin/python3
"""kafka-python KafkaAdminClient ACL administration, driven by acl_test.go.
(Debian's confluent-kafka 1.7 has no ACL admin API; it arrived in 1.9.)

Usage: acls_kafka_python.py <bootstrap>. Creates ACLs (a literal topic ACL,
a prefixed group ACL, a deny from one host), describes them with filters
(ANY, MATCH), tries an invalid binding, deletes one filter's worth and
describes again. Prints one JSON object; error fields hold the Kafka error
code (or null).
"""
import json
import sys

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                         ResourcePattern, ResourcePatternFilter, ResourceType)

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=20000)
out = {}


def fmt(a):
    p = a.resource_pattern
    return "%s %s %s %s %s %s %s" % (p.resource_type.name, p.resource_name, p.pattern_type.name, a.principal, a.host,
                                     a.operation.name, a.permission_type.name)


acls = [
    ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
        ResourcePattern(ResourceType.TOPIC, "py-orders", ACLResourcePatternType.LITERAL)),
    ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
        ResourcePattern(ResourceType.GROUP, "py-", ACLResourcePatternType.PREFIXED)),
    ACL("User:mallory", "10.0.0.1", ACLOperation.ALL, ACLPermissionType.DENY,
        ResourcePattern(ResourceType.TOPIC, "py-orders", ACLResourcePatternType.LITERAL)),
]
res = admin.create_acls(acls)
out["created"] = sorted(fmt(a) for a in res["succeeded"])
out["create_failed"] = [str(e) for _, e in res["failed"]]

# The CLUSTER resource must be named kafka-cluster: INVALID_REQUEST.
bad = ACL("User:alice", "*", ACLOperation.ALTER, ACLPermissionType.ALLOW,
          ResourcePattern(ResourceType.CLUSTER, "not-the-cluster", ACLResourcePatternType.LITERAL))
res = admin.create_acls([bad])
out["invalid_errors"] = [e.errno for _, e in res["failed"]]


def describe(f):
    found, err = admin.describe_acls(f)
    return sorted(fmt(a) for a in found)


any_filter = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                       ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
out["all"] = describe(any_filter)
out["match_group"] = describe(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                        ResourcePatternFilter(ResourceType.GROUP, "py-consumers",
                                                              ACLResourcePatternType.MATCH)))
deny_filter = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.DENY,
                        ResourcePatternFilter(ResourceType.TOPIC, "py-orders", ACLResourcePatternType.LITERAL))
deleted = []
for _, matches, err in admin.delete_acls([deny_filter]):
    deleted += [fmt(a) for a, _ in matches]
out["deleted"] = deleted
out["after_delete"] = describe(any_filter)
print(json.dumps(out))
