'use strict'
// txn: a kafkajs transactional producer (transactionalId cfg.txnId) on
// cfg.topic (cfg.partitions partitions, created by the Go test):
//   1. transaction c1 (3 records per partition) committed, a1 aborted, c2
//      committed, so the aborted records sit between committed ones;
//   2. transaction o1 sends offset 3 of cfg.in[0] for group cfg.group with
//      transaction.sendOffsets and a record o1-<p>-0 per partition, then
//      commits; o2 sends offset 5 and a record and aborts;
//   3. consume-transform-produce: a consumer in group cfg.group-ctp
//      (autoCommit off) reads cfg.ctpIn and, per message, writes
//      out-<value> to cfg.ctpOut and the message's next offset with
//      transaction.sendOffsets for its own group, in one transaction
//      (producer cfg.txnId-ctp), until cfg.ctpN messages are done;
//   4. a read_committed consumer (readUncommitted false, the default) and
//      a read_uncommitted one read cfg.topic from the beginning until they
//      have the committed records (respectively all records), then a
//      second more in case anything else comes.
// Reports {"kind":"sent","txn":..,"partition":..,"offset":".."} per send
// result, {"kind":"offsets","after":"o1"|"o2","partitions":[[p,"off"]]}
// from admin.fetchOffsets, {"kind":"read","reader":"committed"|
// "uncommitted","partition":..,"offset":"..","value":..} per record and
// {"kind":"ctp","value":..,"partition":..,"offset":".."} per transformed
// message and {"kind":"done"}.
const { emit, kafka, main, waitUntil } = require('./lib')

main(async cfg => {
  const k = kafka(cfg, 'kafkajs-txn')
  const producer = k.producer({ transactionalId: cfg.txnId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30000 })
  await producer.connect()
  const admin = k.admin()
  await admin.connect()

  const run = async (name, end, offset) => {
    const txn = await producer.transaction()
    const messages = []
    const per = offset === undefined ? 3 : 1
    for (let i = 0; i < per; i++) {
      for (let p = 0; p < cfg.partitions; p++) messages.push({ partition: p, value: `${name}-${p}-${i}` })
    }
    const res = await txn.send({ topic: cfg.topic, acks: -1, messages })
    for (const r of res) emit({ kind: 'sent', txn: name, partition: r.partition, offset: r.baseOffset, error: r.errorCode })
    if (offset !== undefined) {
      await txn.sendOffsets({ consumerGroupId: cfg.group, topics: [{ topic: cfg.in, partitions: [{ partition: 0, offset: String(offset) }] }] })
    }
    if (end === 'commit') await txn.commit()
    else await txn.abort()
    if (offset !== undefined) {
      const got = await admin.fetchOffsets({ groupId: cfg.group, topics: [cfg.in] })
      emit({ kind: 'offsets', after: name, partitions: got[0].partitions.map(p => [p.partition, p.offset]) })
    }
  }
  await run('c1', 'commit')
  await run('a1', 'abort')
  await run('c2', 'commit')
  await run('o1', 'commit', 3)
  await run('o2', 'abort', 5)
  await producer.disconnect()
  await admin.disconnect()

  const ctpProducer = k.producer({ transactionalId: `${cfg.txnId}-ctp`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30000 })
  await ctpProducer.connect()
  const ctpGroup = `${cfg.group}-ctp`
  let transformed = 0
  const ctp = k.consumer({ groupId: ctpGroup, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
  await ctp.connect()
  await ctp.subscribe({ topics: [cfg.ctpIn], fromBeginning: true })
  await ctp.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      const txn = await ctpProducer.transaction()
      try {
        await txn.send({ topic: cfg.ctpOut, acks: -1, messages: [{ value: `out-${message.value.toString()}` }] })
        const next = (BigInt(message.offset) + 1n).toString()
        await txn.sendOffsets({ consumerGroupId: ctpGroup, topics: [{ topic, partitions: [{ partition, offset: next }] }] })
        await txn.commit()
      } catch (e) {
        await txn.abort()
        throw e
      }
      transformed++
      emit({ kind: 'ctp', value: message.value.toString(), partition, offset: message.offset })
    },
  })
  await waitUntil(`${cfg.ctpN} messages transformed`, 30000, () => transformed >= cfg.ctpN)
  await ctp.disconnect()
  await ctpProducer.disconnect()

  const read = async (reader, readUncommitted, want) => {
    const seen = []
    const c = k.consumer({ groupId: `${cfg.group}-${reader}`, readUncommitted, maxWaitTimeInMs: 300, heartbeatInterval: 500, sessionTimeout: 10000 })
    await c.connect()
    await c.subscribe({ topics: [cfg.topic], fromBeginning: true })
    await c.run({
      eachMessage: async ({ partition, message }) => {
        const r = { kind: 'read', reader, partition, offset: message.offset, value: message.value === null ? null : message.value.toString() }
        seen.push(r)
        emit(r)
      },
    })
    await waitUntil(`${reader} reader to get ${want} records`, 30000, () => seen.length >= want)
    await new Promise(resolve => setTimeout(resolve, 1000))
    await c.disconnect()
  }
  // Committed: c1, c2 (3 each) and o1 (1) per partition.
  await read('committed', false, 7 * cfg.partitions)
  // Everything: c1, a1, c2 (3 each), o1, o2 (1 each) per partition.
  await read('uncommitted', true, 11 * cfg.partitions)
  emit({ kind: 'done' })
}, 150000)
