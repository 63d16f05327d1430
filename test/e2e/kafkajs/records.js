'use strict'
// records: admin.deleteTopicRecords on cfg.topic (2 partitions, 10
// records each, produced by the Go test): partition 0 up to offset 4,
// partition 1 up to the high watermark (offset -1); then
// fetchTopicOffsets, and a consumer from the beginning reads what is
// left. Deleting past the high watermark must fail.
// Reports {"kind":"offsets","offsets":[{partition,offset,high,low}]},
// {"kind":"read","partition":..,"offset":"..","value":..} per record,
// {"kind":"pastEnd","error":<Kafka error type or null>} and
// {"kind":"done"}.
const { emit, kafka, main, waitUntil } = require('./lib')

main(async cfg => {
  const k = kafka(cfg, 'kafkajs-records')
  const admin = k.admin()
  await admin.connect()
  // kafkajs's deleteTopicRecords looks the leaders up in its metadata
  // cache without loading it (KafkaJSTopicMetadataNotLoaded on a fresh
  // admin client): load the topic's metadata first, as its users do.
  await admin.fetchTopicMetadata({ topics: [cfg.topic] })
  await admin.deleteTopicRecords({ topic: cfg.topic, partitions: [{ partition: 0, offset: '4' }, { partition: 1, offset: '-1' }] })
  emit({ kind: 'offsets', offsets: (await admin.fetchTopicOffsets(cfg.topic)).sort((a, b) => a.partition - b.partition) })

  const seen = []
  const c = k.consumer({ groupId: cfg.group, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
  await c.connect()
  await c.subscribe({ topics: [cfg.topic], fromBeginning: true })
  await c.run({
    eachMessage: async ({ partition, message }) => {
      const r = { kind: 'read', partition, offset: message.offset, value: message.value.toString() }
      seen.push(r)
      emit(r)
    },
  })
  await waitUntil('the 6 records left', 30000, () => seen.length >= 6)
  await new Promise(resolve => setTimeout(resolve, 1000))
  await c.disconnect()

  // Past the end: OFFSET_OUT_OF_RANGE, not retried.
  const once = kafka({ ...cfg, retries: 0 }, 'kafkajs-records-once').admin()
  await once.connect()
  await once.fetchTopicMetadata({ topics: [cfg.topic] })
  try {
    await once.deleteTopicRecords({ topic: cfg.topic, partitions: [{ partition: 0, offset: '11' }] })
    emit({ kind: 'pastEnd', error: null })
  } catch (e) {
    // Exhausted retries wrap the KafkaJSDeleteTopicRecordsError, which
    // carries each partition's Kafka error.
    const top = e.partitions ? e : (e.cause || e)
    const err = (top.partitions && top.partitions[0] && top.partitions[0].error) || top
    emit({ kind: 'pastEnd', error: err.type || err.name, message: String(err.message) })
  }
  await once.disconnect()
  emit({ kind: 'offsetsAfter', offsets: (await admin.fetchTopicOffsets(cfg.topic)).sort((a, b) => a.partition - b.partition) })
  await admin.disconnect()
  emit({ kind: 'done' })
}, 120000)
