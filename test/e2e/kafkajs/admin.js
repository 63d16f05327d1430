'use strict'
// admin: the kafkajs admin client's topic, config, offset and group calls
// against cfg.topic (created here) and group cfg.group. Reports each
// call's result as {"kind":"<call>", ...} for the Go test to check.
// deleteTopicRecords is exercised by records.js (kafkajs_txn_test.go).
const { ConfigResourceTypes } = require('kafkajs')
const { emit, kafka, main } = require('./lib')

// errType is the Kafka error name of a failed call (aggregate errors carry
// one per topic; exhausted retries wrap the last one as cause).
const errType = e => {
  const err = e.cause || e
  return (err.errors && err.errors[0] && err.errors[0].type) || err.type || err.name
}

main(async cfg => {
  const k = kafka(cfg, 'kafkajs-admin')
  const admin = k.admin()
  await admin.connect()
  const topic = cfg.topic

  emit({
    kind: 'createTopics',
    created: await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
    }),
  })
  emit({ kind: 'createTopicsAgain', created: await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }) })
  try {
    await admin.createTopics({ topics: [{ topic: cfg.topic + '-bad', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: 'nope' }] }] })
    emit({ kind: 'createTopicsBad', error: null })
  } catch (e) {
    emit({ kind: 'createTopicsBad', error: errType(e) })
  }
  emit({ kind: 'listTopics', topics: (await admin.listTopics()).sort() })

  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  emit({
    kind: 'fetchTopicMetadata',
    topics: md.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ id: p.partitionId, leader: p.leader, error: p.partitionErrorCode })) })),
  })

  await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] }) // resolves to nothing
  emit({ kind: 'createPartitions', ok: true })
  try {
    await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] })
    emit({ kind: 'createPartitionsShrink', error: null })
  } catch (e) {
    emit({ kind: 'createPartitionsShrink', error: errType(e) })
  }

  // Records to have offsets: 5 per partition.
  const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = []
  for (let i = 0; i < 20; i++) messages.push({ partition: i % 4, value: `a-${i}` })
  const before = Date.now()
  await producer.send({ topic, acks: -1, messages })
  await producer.disconnect()
  emit({ kind: 'fetchTopicOffsets', offsets: (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition) })
  emit({ kind: 'fetchTopicOffsetsByTimestamp', offsets: (await admin.fetchTopicOffsetsByTimestamp(topic, before - 60000)).sort((a, b) => a.partition - b.partition) })

  const cfgs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }] })
  emit({ kind: 'describeConfigs', entries: cfgs.resources[0].configEntries.map(e => ({ name: e.configName, value: e.configValue, isDefault: e.isDefault })) })
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
  const cfgs2 = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }] })
  emit({ kind: 'alterConfigs', entries: cfgs2.resources[0].configEntries.map(e => ({ name: e.configName, value: e.configValue, isDefault: e.isDefault })) })

  // Group offsets, committed by the admin client (generation -1).
  emit({ kind: 'fetchOffsetsEmpty', topics: await admin.fetchOffsets({ groupId: cfg.group, topics: [topic] }) })
  await admin.setOffsets({ groupId: cfg.group, topic, partitions: [{ partition: 0, offset: '3' }, { partition: 2, offset: '5' }] })
  emit({ kind: 'fetchOffsets', topics: await admin.fetchOffsets({ groupId: cfg.group, topics: [topic] }) })
  await admin.resetOffsets({ groupId: cfg.group, topic, earliest: true })
  emit({ kind: 'fetchOffsetsReset', topics: await admin.fetchOffsets({ groupId: cfg.group, topics: [topic] }) })

  emit({ kind: 'listGroups', groups: (await admin.listGroups()).groups })
  emit({ kind: 'describeGroups', groups: (await admin.describeGroups([cfg.group, cfg.group + '-none'])).groups.map(g => ({ groupId: g.groupId, state: g.state, errorCode: g.errorCode, members: g.members.length })) })
  const cl = await admin.describeCluster()
  emit({ kind: 'describeCluster', brokers: cl.brokers.length, controller: cl.controller, clusterId: cl.clusterId, nodeId: cl.brokers[0].nodeId })

  await admin.deleteGroups([cfg.group])
  emit({ kind: 'listGroupsAfterDelete', groups: (await admin.listGroups()).groups })

  await admin.deleteTopics({ topics: [topic] })
  emit({ kind: 'listTopicsAfterDelete', topics: (await admin.listTopics()).sort() })
  // UNKNOWN_TOPIC_OR_PARTITION is retriable to kafkajs: ask once.
  const once = kafka({ ...cfg, retries: 0 }, 'kafkajs-admin-once').admin()
  await once.connect()
  try {
    await once.deleteTopics({ topics: [topic] })
    emit({ kind: 'deleteTopicsAgain', error: null })
  } catch (e) {
    emit({ kind: 'deleteTopicsAgain', error: errType(e) })
  }
  await once.disconnect()
  await admin.disconnect()
  emit({ kind: 'done' })
}, 120000)
