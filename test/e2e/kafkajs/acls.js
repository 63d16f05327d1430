'use strict'
// acls: the kafkajs admin client's createAcls, describeAcls and deleteAcls
// (with a MATCH filter and an invalid binding). Reports
// {"kind":"created"|"invalid"|"described"|"match"|"deleted"|"after", ...}.
const { AclResourceTypes: R, ResourcePatternTypes: P, AclOperationTypes: O, AclPermissionTypes: A } = require('kafkajs')
const { emit, kafka, main } = require('./lib')

const name = (table, v) => Object.keys(table).find(k => table[k] === v)
const fmt = r => r.resources.flatMap(res => res.acls.map(a =>
  [name(R, res.resourceType), res.resourceName, name(P, res.resourcePatternType), a.principal, a.host,
    name(O, a.operation), name(A, a.permissionType)].join(' '))).sort()
const anyFilter = { resourceType: R.ANY, resourcePatternType: P.ANY, operation: O.ANY, permissionType: A.ANY }

main(async cfg => {
  const admin = kafka(cfg, 'kafkajs-acls').admin()
  await admin.connect()
  const acl = [
    { resourceType: R.TOPIC, resourceName: 'js-orders', resourcePatternType: P.LITERAL, principal: 'User:alice', host: '*', operation: O.WRITE, permissionType: A.ALLOW },
    { resourceType: R.TRANSACTIONAL_ID, resourceName: 'js-', resourcePatternType: P.PREFIXED, principal: 'User:alice', host: '*', operation: O.WRITE, permissionType: A.ALLOW },
  ]
  emit({ kind: 'created', ok: await admin.createAcls({ acl }) })
  try {
    await admin.createAcls({ acl: [{ ...acl[0], host: 'not-an-ip' }] })
    emit({ kind: 'invalid', error: null })
  } catch (e) {
    emit({ kind: 'invalid', error: e.type || e.name })
  }
  emit({ kind: 'described', acls: fmt(await admin.describeAcls(anyFilter)) })
  emit({ kind: 'match', acls: fmt(await admin.describeAcls({ ...anyFilter, resourceType: R.TRANSACTIONAL_ID, resourceName: 'js-app-1', resourcePatternType: P.MATCH })) })
  const del = await admin.deleteAcls({ filters: [{ ...anyFilter, resourceType: R.TOPIC }] })
  emit({ kind: 'deleted', count: del.filterResponses.reduce((n, f) => n + f.matchingAcls.length, 0) })
  emit({ kind: 'after', acls: fmt(await admin.describeAcls(anyFilter)) })
  await admin.disconnect()
  emit({ kind: 'done' })
}, 60000)
