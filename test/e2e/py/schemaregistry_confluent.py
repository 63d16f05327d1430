"""confluent-kafka's schema registry client and serializers against Sluice.

Run as `schemaregistry_confluent.py BOOTSTRAP REGISTRY_URL TOPIC_PREFIX`
by schemaregistry_test.go. For JSON Schema and Protobuf it produces
records with the serializer (which registers the schema under
<topic>-value), consumes them back with the deserializer, and checks they
are equal; then it exercises a few registry client calls. It prints one
JSON line {"kind": "ok", ...} per step and exits non-zero on any failure.
"""
import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def emit(**fields):
    print(json.dumps(fields), flush=True)


def round_trip(bootstrap, topic, serialize, deserialize, values):
    producer = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        producer.produce(topic, value=serialize(v, SerializationContext(topic, MessageField.VALUE)))
    if producer.flush(30) != 0:
        raise SystemExit("produce did not finish")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-g",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    for _ in range(300):
        if len(got) == len(values):
            break
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise SystemExit("consume: %s" % m.error())
        got.append(deserialize(m.value(), SerializationContext(topic, MessageField.VALUE)))
    consumer.close()
    return got


def order_class():
    fdp = descriptor_pb2.FileDescriptorProto(name="sluice_order.proto", package="sluicetest", syntax="proto3")
    msg = fdp.message_type.add(name="Order")
    F = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="id")
    msg.field.add(name="qty", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL, json_name="qty")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("sluicetest.Order"))


def main():
    bootstrap, url, prefix = sys.argv[1:4]
    client = SchemaRegistryClient({"url": url})

    # JSON Schema.
    schema = json.dumps({"title": "Person", "type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
                         "required": ["name"]})
    topic = prefix + "-json"
    ser = JSONSerializer(schema, client, lambda v, ctx: v)
    de = JSONDeserializer(schema, lambda v, ctx: v)
    values = [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    got = round_trip(bootstrap, topic, ser, de, values)
    if got != values:
        raise SystemExit("json round trip: got %r, want %r" % (got, values))
    latest = client.get_latest_version(topic + "-value")
    if latest.schema.schema_type != "JSON":
        raise SystemExit("json: latest version type %r" % latest.schema.schema_type)
    emit(kind="ok", step="json", id=latest.schema_id)

    # Protobuf.
    Order = order_class()
    topic = prefix + "-proto"
    ser = ProtobufSerializer(Order, client)
    de = ProtobufDeserializer(Order)
    values = [Order(id="o-1", qty=2), Order(id="o-2", qty=5)]
    got = round_trip(bootstrap, topic, ser, de, values)
    if got != values:
        raise SystemExit("protobuf round trip: got %r, want %r" % (got, values))
    latest = client.get_latest_version(topic + "-value")
    if latest.schema.schema_type != "PROTOBUF":
        raise SystemExit("protobuf: latest version type %r" % latest.schema.schema_type)
    emit(kind="ok", step="protobuf", id=latest.schema_id)

    # Registry calls.
    subjects = client.get_subjects()
    if sorted(subjects) != sorted([prefix + "-json-value", prefix + "-proto-value"]):
        raise SystemExit("subjects %r" % subjects)
    s = Schema(json.dumps({"type": "object", "properties": {"x": {"type": "string"}}}), "JSON")
    sid = client.register_schema("py-extra", s)
    if client.get_schema(sid).schema_type != "JSON":
        raise SystemExit("get_schema type")
    if client.lookup_schema("py-extra", s).version != 1:
        raise SystemExit("lookup_schema")
    client.set_compatibility("py-extra", "FULL")
    if client.get_compatibility("py-extra") != "FULL":
        raise SystemExit("compatibility")
    if not client.test_compatibility("py-extra", s):
        raise SystemExit("test_compatibility")
    if client.get_versions("py-extra") != [1]:
        raise SystemExit("get_versions")
    if client.delete_version("py-extra", 1) != 1:
        raise SystemExit("delete_version")
    client.register_schema("py-extra2", s)
    if client.delete_subject("py-extra2", permanent=True) != [1]:
        raise SystemExit("delete_subject")
    emit(kind="ok", step="client", id=sid)


if __name__ == "__main__":
    main()
