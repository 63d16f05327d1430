'use strict'
// produce: sends cfg.n records to cfg.topic (partition i % cfg.partitions,
// key k<i % 7>, value <cfg.prefix>-<i>, headers i and kind) in batches of
// cfg.batch with acks cfg.acks, codec cfg.codec, idempotent when
// cfg.idempotent, and reports where each landed:
//   {"kind":"ack","i":0,"partition":0,"offset":"0"}
const { emit, kafka, main, codecs } = require('./lib')

main(async cfg => {
  const producer = kafka(cfg).producer({
    idempotent: !!cfg.idempotent,
    maxInFlightRequests: cfg.idempotent ? 1 : 5,
    allowAutoTopicCreation: false,
  })
  await producer.connect()
  try {
    for (let start = 0; start < cfg.n; start += cfg.batch) {
      const messages = []
      for (let i = start; i < Math.min(cfg.n, start + cfg.batch); i++) {
        messages.push({
          partition: i % cfg.partitions,
          key: `k${i % 7}`,
          value: `${cfg.prefix}-${i}`,
          headers: { i: String(i), kind: 'kafkajs' },
          // cfg.baseTs: record i is stamped baseTs + i seconds.
          ...(cfg.baseTs ? { timestamp: String(cfg.baseTs + i * 1000) } : {}),
        })
      }
      const res = await producer.send({
        topic: cfg.topic,
        acks: cfg.acks,
        timeout: 30000,
        compression: codecs[cfg.codec],
        messages,
      })
      // One result per partition: its base offset; the partition's
      // records follow in send order.
      const next = {}
      for (const r of res) {
        if (r.errorCode !== 0) throw new Error(`partition ${r.partition}: error code ${r.errorCode}`)
        next[r.partition] = BigInt(r.baseOffset)
      }
      for (let i = start; i < Math.min(cfg.n, start + cfg.batch); i++) {
        const p = i % cfg.partitions
        if (next[p] === undefined) throw new Error(`no result for partition ${p}`)
        emit({ kind: 'ack', i, partition: p, offset: String(next[p]) })
        next[p]++
      }
    }
  } finally {
    await producer.disconnect()
  }
  emit({ kind: 'done' })
}, 90000)
