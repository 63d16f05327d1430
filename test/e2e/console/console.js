'use strict'
// Browser test of the web console, driven by test/e2e/console_test.go.
// Takes one JSON argument {base, topic, group, lag, shots}; writes JSON
// lines to stdout ({"kind":"step"}, {"kind":"signal","name":…} when the Go
// test must act, and {"kind":"done"} last) and reads the Go test's
// answers ("go:<name>") from stdin. Exits non-zero on any failure.
const { chromium } = require('playwright-core')
const readline = require('readline')

const cfg = JSON.parse(process.argv[2])
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const started = Date.now()
const step = (name) => out({ kind: 'step', name, ms: Date.now() - started })

const lines = readline.createInterface({ input: process.stdin })
const waiting = []
const received = []
lines.on('line', (l) => {
  const w = waiting.shift()
  if (w) w(l)
  else received.push(l)
})
// signal asks the Go test to act and waits for its answer.
function signal (name) {
  out({ kind: 'signal', name })
  return new Promise((resolve, reject) => {
    const check = (l) => (l === 'go:' + name ? resolve() : reject(new Error('expected go:' + name + ', got ' + l)))
    if (received.length) check(received.shift())
    else waiting.push(check)
  })
}

const deadline = setTimeout(() => {
  out({ kind: 'error', error: 'deadline reached' })
  process.exit(2)
}, 200000)

async function expectText (page, sel, want, timeout) {
  await page.waitForFunction(([s, w]) => {
    const el = document.querySelector(s)
    return el && el.textContent.trim() === w
  }, [sel, want], { timeout: timeout || 20000 }).catch(async (e) => {
    const got = await page.textContent(sel).catch(() => '(missing)')
    throw new Error(`${sel}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)} (${e.message.split('\n')[0]})`)
  })
}

// until reloads path until selector shows (events are written off the
// request path, a moment after the change).
async function until (path, selector) {
  const end = Date.now() + 30000
  for (;;) {
    await page.goto(cfg.base + path, { waitUntil: 'load' })
    if (await page.$(selector)) return
    if (Date.now() > end) throw new Error(path + ': no ' + selector + ' after 30s')
    await page.waitForTimeout(250)
  }
}

let page

async function main () {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
  })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(20000)
  page.on('dialog', (d) => d.accept())
  const consoleErrors = []
  page.on('pageerror', (e) => consoleErrors.push(e.message))
  // Refused API calls (4xx) are logged by the browser as resource errors;
  // the test checks those answers itself.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text()) })
  const go = (path) => page.goto(cfg.base + path, { waitUntil: 'load' })

  // Every page opens.
  step('overview')
  await go('/')
  await expectText(page, '#health', 'ready')
  step('topics')
  await go('/topics')
  await page.waitForSelector('#topics')

  // Create a topic with the form: the page moves to the new topic.
  step('create topic')
  await page.fill('#create-topic input[name=name]', 'browser-topic')
  await page.fill('#create-topic input[name=partitions]', '2')
  await page.fill('#create-topic textarea[name=configs]', 'retention.ms=86400000')
  await Promise.all([page.waitForURL('**/topics/browser-topic'), page.click('#create-topic button[type=submit]')])
  await expectText(page, '#partition-count', '2')
  await page.waitForSelector('#configs tr[data-config="retention.ms"].set')

  // Produce a message; the browser then shows it.
  step('produce')
  await page.selectOption('#produce select[name=partition]', '1')
  await page.fill('#produce input[name=key]', 'user-1')
  await page.fill('#produce textarea[name=value]', '{"hello":"console"}')
  await page.fill('#produce textarea[name=headers]', 'source=browser')
  await page.click('#produce button[type=submit]')
  await expectText(page, '#status', 'Produced at partition 1, offset 0.')
  await page.waitForSelector('#messages tr.message')
  const row = await page.$$eval('#messages tr.message td', (tds) => tds.map((td) => td.textContent))
  if (row[0] !== '0' || row[2] !== 'user-1' || row[3] !== 'source=browser' || !row[4].includes('"hello": "console"')) {
    throw new Error('browsed row: ' + JSON.stringify(row))
  }
  await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: cfg.shots + '/console-topic.png', fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1250 } })

  // Browse by offset, as hex.
  step('browse hex')
  await page.selectOption('#browse select[name=partition]', '1')
  await page.selectOption('#browse select[name=from]', 'offset')
  await page.fill('#browse input[name=offset]', '0')
  await page.selectOption('#browse select[name=format]', 'hex')
  await page.click('#browse button[type=submit]')
  await page.waitForFunction(() => {
    const pre = document.querySelector('#messages tr.message pre')
    return pre && pre.dataset.format === 'hex'
  })
  const hex = await page.textContent('#messages tr.message pre')
  if (hex !== Buffer.from('{"hello":"console"}').toString('hex')) throw new Error('hex value ' + hex)

  // Edit a config and add a partition.
  step('configs')
  await page.fill('#set-config input[name=name]', 'cleanup.policy')
  await page.fill('#set-config input[name=value]', 'compact')
  await Promise.all([page.waitForEvent('load'), page.click('#set-config button[type=submit]')])
  await page.waitForSelector('#configs tr[data-config="cleanup.policy"].set')
  // A bad value is refused with the Kafka handler's message.
  await page.fill('#set-config input[name=name]', 'retention.ms')
  await page.fill('#set-config input[name=value]', 'soon')
  await page.click('#set-config button[type=submit]')
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('INVALID_CONFIG'))
  step('add partitions')
  await page.fill('#add-partitions input[name=count]', '3')
  await Promise.all([page.waitForEvent('load'), page.click('#add-partitions button[type=submit]')])
  await expectText(page, '#partition-count', '3')

  // Search the topic list on the server.
  step('search topics')
  await go('/topics?q=browser')
  await expectText(page, '#topic-total', '1 topic matching “browser”')
  // The message produced above shows in the topic's throughput.
  const rate = await page.textContent('#topics td.produce-rate')
  if (rate === '0 B/s') throw new Error('topic list shows no produce throughput')

  // Watch a group's lag fall as a consumer catches up.
  step('groups')
  await go('/groups')
  await page.waitForSelector(`#groups a[href="/groups/${cfg.group}"]`)
  await go('/groups/' + cfg.group)
  await expectText(page, '#total-lag', String(cfg.lag))
  await signal('consume')
  await expectText(page, '#total-lag', '0', 40000)
  await expectText(page, '#member-count', '1')
  await page.waitForSelector('#members td.mono')
  await signal('stop')
  await expectText(page, '#group-state', 'Empty', 40000)

  // Reset offsets: preview first, then apply; the lag is back.
  step('reset offsets')
  await page.selectOption('#reset-offsets select[name=to]', 'earliest')
  await page.click('#reset-preview')
  await expectText(page, '#status', 'Preview: nothing changed yet.')
  const plan = await page.$$eval('#reset-plan tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)))
  if (plan.length === 0 || plan.some((r) => r[3] !== '0')) throw new Error('reset plan ' + JSON.stringify(plan))
  await expectText(page, '#total-lag', '0')
  await page.click('#reset-apply')
  await expectText(page, '#status', 'Offsets reset.')
  await expectText(page, '#total-lag', String(cfg.lag))
  await page.waitForSelector('#lag-chart rect.bar')
  await page.screenshot({ path: cfg.shots + '/console-group.png', fullPage: true })

  // Security: create an ACL in the page (the Go test then finds it with
  // a Kafka admin client), filter, delete it; create a SCRAM user.
  step('acls')
  await go('/acls')
  await page.selectOption('#create-acl select[name=resource_type]', 'TOPIC')
  await page.fill('#create-acl input[name=resource_name]', 'jobs')
  await page.fill('#create-acl input[name=principal]', 'User:console-e2e')
  await page.selectOption('#create-acl select[name=operation]', 'READ')
  await Promise.all([page.waitForEvent('load'), page.click('#create-acl button[type=submit]')])
  await expectText(page, '#acls tr.acl td:nth-child(4)', 'User:console-e2e')
  await signal('acl')
  await go('/acls?principal=User:nobody')
  await expectText(page, '#acl-total', '0 ACLs')
  await go('/acls?resource_type=TOPIC&resource_name=jobs')
  await expectText(page, '#acl-total', '1 ACL')
  await Promise.all([page.waitForEvent('load'), page.click('#acls .delete-acl')])
  await expectText(page, '#acl-total', '0 ACLs')
  step('users')
  await go('/users')
  await page.fill('#upsert-user input[name=name]', 'dora')
  await page.fill('#upsert-user input[name=password]', 'dora-secret')
  await Promise.all([page.waitForEvent('load'), page.click('#upsert-user button[type=submit]')])
  await expectText(page, '#users tr.user td.mono', 'dora')
  if ((await page.content()).includes('dora-secret')) throw new Error('the users page shows a password')
  // The console's anonymous requests were would-be denials (shadow mode);
  // events are written off the request path, so the page is reloaded
  // until they show.
  step('denials')
  await until('/acls/denials', '#denial-groups tr.denial')

  // Schema registry: versions, the diff, a compatibility check.
  step('schemas')
  await go('/schemas')
  await page.click('#subjects a[href="/schemas/orders-value"]')
  await expectText(page, '#subject-version', '2')
  await Promise.all([page.waitForURL('**/schemas/orders-value/diff?to=2'), page.click('#diff-link')])
  await expectText(page, '#diff-summary', 'Version 1 → 2: 5 lines added, 0 removed')
  const added = await page.$$eval('#diff .dadd', (els) => els.map((e) => e.textContent).join('\n'))
  if (!added.includes('"name": "note"')) throw new Error('diff adds ' + added)
  await page.screenshot({ path: cfg.shots + '/console-schema-diff.png', fullPage: true })
  await go('/schemas/orders-value')
  await page.fill('#compat textarea[name=schema]', '{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}')
  await page.click('#compat button[type=submit]')
  await expectText(page, '#compat-verdict', 'Incompatible')
  await page.fill('#compat textarea[name=schema]', '{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"n","type":"int","default":0}]}')
  await page.click('#compat button[type=submit]')
  await expectText(page, '#compat-verdict', 'Compatible')
  // A value in the wire format is shown decoded with its schema.
  step('typed message')
  await go('/topics/typed')
  await page.selectOption('#browse select[name=from]', 'offset')
  await page.click('#browse button[type=submit]')
  await expectText(page, '#messages .schema-badge', 'AVRO schema ' + cfg.schemaID)
  const typed = await page.textContent('#messages tr.message pre')
  if (!typed.includes('"note": "rush"')) throw new Error('decoded value ' + typed)

  // Events explorer: the audit records of the changes above, on a
  // timeline; an event expands to its CloudEvent.
  step('events')
  await until('/events?q=' + encodeURIComponent('from audit type == "io.sluice.audit.acl.created"') + '&since=1h', '#events details.event')
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#events-timeline svg rect.bar')).some((r) => parseFloat(r.getAttribute('height')) > 0))
  await page.click('#events details.event summary')
  const ce = await page.textContent('#events details.event[open] pre')
  if (!ce.includes('"specversion"') || !ce.includes('User:console-e2e')) throw new Error('expanded event ' + ce)
  await page.fill('#events-query textarea[name=q]', 'from audit type = 1')
  await Promise.all([page.waitForEvent('load'), page.click('#events-query button[type=submit]')])
  await page.waitForFunction(() => document.querySelector('#query-error').textContent.includes('position'))
  await go('/events?q=' + encodeURIComponent('from audit') + '&since=1h')
  await page.click('#events details.event summary')
  await page.screenshot({ path: cfg.shots + '/console-events.png', fullPage: true })

  // Tables: the tableflow role's table of the jobs topic, listed with
  // its source, then its schema with field IDs, partition spec and
  // snapshots with their Kafka offsets, once it holds every record.
  step('tables')
  await until('/tables', '#tables a[href="/tables/ops.jobs"]')
  const tableRow = await page.textContent('#tables tbody tr')
  if (!tableRow.includes('jobs') || !tableRow.includes('json')) throw new Error('tables row ' + tableRow)
  const tableEnd = Date.now() + 60000
  for (;;) {
    await go('/tables/ops.jobs')
    if ((await page.textContent('#table-records')).trim() === String(cfg.lag) && (await page.textContent('#table-lag')).trim() === '0') break
    if (Date.now() > tableEnd) throw new Error('table never held every record: ' + await page.textContent('main'))
    await page.waitForTimeout(250)
  }
  const cols = await page.textContent('#columns')
  if (!/1\s*job\s*long/.test(cols)) throw new Error('columns ' + cols)
  const spec = await page.textContent('#partition-spec')
  if (!spec.includes('bucket[4]')) throw new Error('partition spec ' + spec)
  const offsets = await page.textContent('#snapshots tbody tr td.offsets')
  if (!/0: \d+, 1: \d+/.test(offsets)) throw new Error('snapshot offsets ' + offsets)
  await page.screenshot({ path: cfg.shots + '/console-table.png', fullPage: true })

  // The overview with data, for the eye and for the docs.
  step('overview screenshot')
  await go('/')
  await page.waitForSelector('#throughput-chart svg polyline')
  const totals = await page.textContent('#hour-totals')
  if (/Last hour: 0 B produced/.test(totals)) throw new Error('overview shows no traffic: ' + totals)
  await page.screenshot({ path: cfg.shots + '/console-overview.png', fullPage: true })

  // Delete the topic.
  step('delete topic')
  await go('/topics/browser-topic')
  await Promise.all([page.waitForURL('**/topics'), page.click('#delete-topic')])
  await go('/topics/browser-topic')
  await page.waitForSelector('#page-error')

  await browser.close()
  if (consoleErrors.length) throw new Error('browser console errors: ' + consoleErrors.join('; '))
}

main().then(() => {
  clearTimeout(deadline)
  out({ kind: 'done' })
  process.exit(0)
}, (e) => {
  out({ kind: 'error', error: String(e && e.stack || e) })
  process.exit(1)
})
