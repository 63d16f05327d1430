'use strict'
// consume: kafkajs consumer features beyond a plain group read, on topics
// cfg.prefix-a (1 partition) and cfg.prefix-b (2 partitions), created by
// the Go test:
//   1. one sendBatch to both topics (gzip): null keys, a null value
//      (tombstone), and three 10 KiB records, larger than the consumer's
//      maxBytesPerPartition (1 KiB): KIP-74 returns them anyway;
//   2. a consumer subscribed by regex reads all of it with eachBatch;
//   3. seek back to offset 2 of cfg.prefix-a: the records from 2 come again;
//   4. pause cfg.prefix-b: new records there wait while cfg.prefix-a's
//      arrive; resume: they come;
//   5. a second group starting at the end (fromBeginning false) reads only
//      what is produced after it joined.
// Reports {"kind":"read","topic":..,"partition":..,"offset":"..","key":..,
// "value":..,"size":..,"phase":..} per record and {"kind":"done"}.
const { emit, kafka, main, waitUntil, CompressionTypes } = require('./lib')

main(async cfg => {
  const A = `${cfg.prefix}-a`
  const B = `${cfg.prefix}-b`
  const k = kafka(cfg)
  const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const big = 'x'.repeat(10 * 1024)
  await producer.sendBatch({
    acks: -1,
    compression: CompressionTypes.GZIP,
    topicMessages: [
      {
        topic: A,
        messages: [
          { key: 'k0', value: 'a0' },
          { key: null, value: 'a1' },
          { key: 'k2', value: null },
          { key: 'big3', value: big },
          { key: 'big4', value: big },
          { key: 'big5', value: big },
          { key: 'k6', value: 'a6' },
        ],
      },
      { topic: B, messages: [{ partition: 0, value: 'b0' }, { partition: 1, value: 'b1' }] },
    ],
  })

  let phase = 'read'
  const seen = []
  const record = (topic, partition, m) => {
    const r = {
      kind: 'read',
      phase,
      topic,
      partition,
      offset: m.offset,
      key: m.key === null ? null : m.key.toString(),
      value: m.value === null ? null : m.value.toString().slice(0, 16),
      size: m.value === null ? -1 : m.value.length,
    }
    seen.push(r)
    emit(r)
  }
  const c = k.consumer({ groupId: cfg.group, maxBytesPerPartition: 1024, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
  await c.connect()
  await c.subscribe({ topics: [new RegExp(`^${cfg.prefix}-`)], fromBeginning: true })
  let hwm = {}
  await c.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      hwm[`${batch.topic}/${batch.partition}`] = batch.highWatermark
      for (const m of batch.messages) {
        record(batch.topic, batch.partition, m)
        resolveOffset(m.offset)
      }
      await heartbeat()
    },
  })
  const count = (p, pred) => seen.filter(r => r.phase === p && pred(r)).length
  await waitUntil('all 9 records', 30000, () => count('read', () => true) >= 9)
  emit({ kind: 'highWatermarks', hwm })

  phase = 'seek'
  c.seek({ topic: A, partition: 0, offset: '2' })
  await waitUntil('the records from offset 2 again', 30000, () => count('seek', r => r.topic === A) >= 5)

  phase = 'paused'
  c.pause([{ topic: B }])
  // A fetch already in flight still covers B and would return its new
  // record; let it end (maxWaitTimeInMs is 300) before producing.
  await new Promise(resolve => setTimeout(resolve, 1000))
  await producer.send({ topic: B, acks: -1, messages: [{ partition: 0, value: 'b-paused' }] })
  await producer.send({ topic: A, acks: -1, messages: [{ value: 'a-while-b-paused' }] })
  await waitUntil('the record of the unpaused topic', 30000, () => count('paused', r => r.value === 'a-while-b-paused') === 1)
  await new Promise(resolve => setTimeout(resolve, 1000))
  phase = 'resumed'
  c.resume([{ topic: B }])
  await waitUntil('the paused topic\'s record after resume', 30000, () => seen.some(r => r.value === 'b-paused'))
  await c.disconnect()

  phase = 'latest'
  const joined = { yes: false }
  const c2 = k.consumer({ groupId: `${cfg.group}-latest`, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
  c2.on(c2.events.GROUP_JOIN, () => { joined.yes = true })
  await c2.connect()
  await c2.subscribe({ topics: [A], fromBeginning: false })
  await c2.run({ eachMessage: async ({ topic, partition, message }) => record(topic, partition, message) })
  await waitUntil('the latest-offset group to join', 30000, () => joined.yes)
  // The group resolves its start offset (ListOffsets latest) after the
  // join; give it time before the new record goes out.
  await new Promise(resolve => setTimeout(resolve, 1500))
  await producer.send({ topic: A, acks: -1, messages: [{ value: 'a-latest' }] })
  await waitUntil('the record produced after joining', 30000, () => seen.some(r => r.phase === 'latest'))
  await new Promise(resolve => setTimeout(resolve, 500))
  await c2.disconnect()
  await producer.disconnect()

  // Admin calls on what is there now.
  const admin = k.admin()
  await admin.connect()
  const all = await admin.fetchOffsets({ groupId: cfg.group })
  emit({ kind: 'fetchOffsetsAllTopics', topics: all.map(t => ({ topic: t.topic, partitions: t.partitions.map(p => [p.partition, p.offset]) })) })
  const md = await admin.fetchTopicMetadata()
  emit({ kind: 'fetchTopicMetadataAll', topics: md.topics.map(t => t.name).sort() })
  await admin.disconnect()
  emit({ kind: 'done' })
}, 150000)
