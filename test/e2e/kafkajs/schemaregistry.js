'use strict'
// schemaregistry: @kafkajs/confluent-schema-registry against Sluice's
// registry (cfg.registry) for Avro, Protobuf and JSON Schema: register the
// schema under <topic>-value, encode records, produce them with kafkajs to
// <cfg.topic>-<type>, consume them back, decode and compare; decoding by
// the ID in each record fetches the schema from the registry again
// (a fresh client). Reports {"kind":"roundtrip","type":..,"id":..,"n":..}
// per type and {"kind":"done"}.
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
const { emit, kafka, main, waitUntil } = require('./lib')

const schemas = {
  AVRO: {
    type: SchemaType.AVRO,
    schema: JSON.stringify({ type: 'record', name: 'Order', namespace: 'shop', fields: [{ name: 'id', type: 'string' }, { name: 'qty', type: 'int' }] }),
  },
  PROTOBUF: {
    type: SchemaType.PROTOBUF,
    schema: 'syntax = "proto3";\npackage shop;\nmessage Order {\n  string id = 1;\n  int32 qty = 2;\n}\n',
  },
  JSON: {
    type: SchemaType.JSON,
    schema: JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', title: 'Order', type: 'object', properties: { id: { type: 'string' }, qty: { type: 'integer' } }, required: ['id'] }),
  },
}

main(async cfg => {
  const k = kafka(cfg, 'kafkajs-schemaregistry')
  const producer = k.producer()
  await producer.connect()
  for (const [name, s] of Object.entries(schemas)) {
    const topic = `${cfg.topic}-${name.toLowerCase()}`
    const registry = new SchemaRegistry({ host: cfg.registry })
    const { id } = await registry.register(s, { subject: `${topic}-value` })
    const values = [{ id: 'o-1', qty: 1 }, { id: 'o-2', qty: 7 }]
    const messages = []
    for (const v of values) messages.push({ value: await registry.encode(id, v) })
    await producer.send({ topic, messages })

    const reader = new SchemaRegistry({ host: cfg.registry })
    const got = []
    const c = k.consumer({ groupId: `${topic}-g`, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning: true })
    await c.run({ eachMessage: async ({ message }) => { got.push(await reader.decode(message.value)) } })
    await waitUntil(`${values.length} ${name} records`, 30000, () => got.length >= values.length)
    await c.disconnect()
    const norm = x => JSON.stringify({ id: x.id, qty: x.qty })
    if (got.map(norm).join() !== values.map(norm).join()) {
      throw new Error(`${name} round trip: got ${JSON.stringify(got)}, want ${JSON.stringify(values)}`)
    }
    if (await reader.getLatestSchemaId(`${topic}-value`) !== id) throw new Error(`${name}: latest ID is not ${id}`)
    emit({ kind: 'roundtrip', type: name, id, n: got.length })
  }
  await producer.disconnect()
  emit({ kind: 'done' })
}, 120000)
