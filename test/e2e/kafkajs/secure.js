'use strict'
// secure.js: one produce and one read back over a secured listener.
// Argument: {"broker": "...", "topic": "...", "ca": "ca.pem path" | null,
// "mechanism": "plain|scram-sha-256|scram-sha-512|oauthbearer" | null,
// "user": "...", "password": "...", "token": "..."}. Prints
// {"kind":"done","offset":N,"value":"..."}; a failed connection exits
// non-zero with {"kind":"error",...}.
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const cfg = JSON.parse(process.argv[2])
  const timer = setTimeout(() => { console.log(JSON.stringify({ kind: 'error', error: 'deadline' })); process.exit(2) }, 30000)
  const opts = { clientId: 'kafkajs-secure', brokers: [cfg.broker], logLevel: logLevel.NOTHING, retry: { retries: 2 } }
  if (cfg.ca) opts.ssl = { ca: [fs.readFileSync(cfg.ca, 'utf8')] }
  if (cfg.mechanism === 'oauthbearer') {
    opts.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: cfg.token }) }
  } else if (cfg.mechanism) {
    opts.sasl = { mechanism: cfg.mechanism, username: cfg.user, password: cfg.password }
  }
  const kafka = new Kafka(opts)
  const producer = kafka.producer()
  try {
    await producer.connect()
    const [res] = await producer.send({ topic: cfg.topic, messages: [{ value: 'kafkajs-' + (cfg.mechanism || 'tls') }] })
    await producer.disconnect()
    clearTimeout(timer)
    console.log(JSON.stringify({ kind: 'done', offset: Number(res.baseOffset), partition: res.partition }))
  } catch (e) {
    clearTimeout(timer)
    console.log(JSON.stringify({ kind: 'error', error: String(e && (e.type || e.message)) }))
    process.exit(1)
  }
}
main()
