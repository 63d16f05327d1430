'use strict'
// group: two consumers in group cfg.group on cfg.topic (cfg.partitions
// partitions, cfg.before records already in it, values v-<i>).
//   1. m1 joins alone, reads the cfg.before records and commits them
//      (checked with admin.fetchOffsets against the partition ends);
//   2. m2 joins: both must end up with a share of the partitions;
//   3. a producer writes cfg.after more records (v-<before..>), which the
//      two members read between them;
//   4. both commit and leave.
// Reports what each member read and was assigned:
//   {"kind":"assigned","member":"m1","partitions":[0,1]}
//   {"kind":"rebalanced","assigned":{"m1":[0,2],"m2":[1,3]}}
//   {"kind":"done","seen":{"m1":[...values],"m2":[...]},"committed":{...}}
const { emit, kafka, main, waitUntil } = require('./lib')

main(async cfg => {
  const seen = { m1: [], m2: [] }
  const assigned = { m1: [], m2: [] }
  const consumers = {}

  const start = async name => {
    const c = kafka(cfg, `kafkajs-${name}`).consumer({
      groupId: cfg.group,
      sessionTimeout: 10000,
      rebalanceTimeout: 15000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
    })
    c.on(c.events.GROUP_JOIN, e => {
      const parts = (e.payload.memberAssignment[cfg.topic] || []).slice().sort((a, b) => a - b)
      assigned[name] = parts
      emit({ kind: 'assigned', member: name, partitions: parts, leader: e.payload.isLeader })
    })
    c.on(c.events.CRASH, e => emit({ kind: 'crash', member: name, error: String(e.payload.error) }))
    await c.connect()
    await c.subscribe({ topics: [cfg.topic], fromBeginning: true })
    await c.run({
      autoCommit: true,
      autoCommitInterval: 200,
      eachMessage: async ({ partition, message }) => {
        seen[name].push(message.value.toString())
      },
    })
    consumers[name] = c
  }

  const admin = kafka(cfg, 'kafkajs-admin').admin()
  await admin.connect()
  const ends = {}
  for (const o of await admin.fetchTopicOffsets(cfg.topic)) ends[o.partition] = o.high
  const committed = async () => {
    const out = {}
    const res = await admin.fetchOffsets({ groupId: cfg.group, topics: [cfg.topic] })
    for (const t of res) for (const p of t.partitions) out[p.partition] = p.offset
    return out
  }

  await start('m1')
  await waitUntil('m1 to read the first records', 30000, () => seen.m1.length >= cfg.before)
  await waitUntil('m1 to commit them', 30000, async () => {
    const c = await committed()
    return Object.keys(ends).every(p => c[p] === ends[p])
  })
  emit({ kind: 'committed', offsets: await committed() })

  await start('m2')
  await waitUntil('the rebalance to share the partitions', 45000, () => {
    const all = new Set([...assigned.m1, ...assigned.m2])
    return assigned.m1.length > 0 && assigned.m2.length > 0 && all.size === cfg.partitions &&
      assigned.m1.length + assigned.m2.length === cfg.partitions
  })
  const shared = { m1: assigned.m1, m2: assigned.m2 }
  emit({ kind: 'rebalanced', assigned: shared })

  const producer = kafka(cfg, 'kafkajs-producer').producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = []
  for (let i = cfg.before; i < cfg.before + cfg.after; i++) {
    messages.push({ partition: i % cfg.partitions, value: `v-${i}` })
  }
  await producer.send({ topic: cfg.topic, acks: -1, messages })
  await producer.disconnect()

  await waitUntil('the members to read the new records', 30000, () => {
    const got = new Set([...seen.m1, ...seen.m2])
    for (let i = cfg.before; i < cfg.before + cfg.after; i++) if (!got.has(`v-${i}`)) return false
    return true
  })
  for (const o of await admin.fetchTopicOffsets(cfg.topic)) ends[o.partition] = o.high
  await waitUntil('the new records to be committed', 30000, async () => {
    const c = await committed()
    return Object.keys(ends).every(p => c[p] === ends[p])
  })
  const desc = await admin.describeGroups([cfg.group])
  const g = desc.groups[0]
  emit({ kind: 'described', state: g.state, protocol: g.protocol, protocolType: g.protocolType, members: g.members.length })
  await consumers.m2.disconnect()
  await consumers.m1.disconnect()
  const final = await committed()
  await admin.disconnect()
  emit({ kind: 'done', seen, assigned: shared, committed: final })
}, 150000)
