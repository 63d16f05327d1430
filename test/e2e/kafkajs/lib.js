'use strict'
// Shared by the kafkajs scenarios that test/e2e/kafkajs_test.go runs. Each
// scenario takes one JSON argument, writes JSON lines to stdout (the last
// one {"kind":"done",...}), logs kafkajs warnings and errors to stderr, and
// exits non-zero on any failure. A deadline bounds every scenario.
const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4js = require('lz4js')
const { ZstdCodec } = require('zstd-codec')

// gzip is built into kafkajs; snappy comes from kafkajs-snappy (pure JS).
// The published lz4 and zstd codecs for kafkajs (kafkajs-lz4,
// @kafkajs/zstd) need native builds, so these two adapt pure-JS and
// WebAssembly libraries to kafkajs's codec interface instead: LZ4 frames
// (lz4js) and zstd frames (zstd-codec, streaming decoder, so frames
// without a content size decode too).
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress (encoder) {
    return Buffer.from(lz4js.compress(encoder.buffer))
  },
  async decompress (buffer) {
    return Buffer.from(lz4js.decompress(buffer))
  },
})
let zstdReady = null
function zstd () {
  if (!zstdReady) zstdReady = new Promise(resolve => ZstdCodec.run(z => resolve(new z.Streaming())))
  return zstdReady
}
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) {
    return Buffer.from((await zstd()).compress(encoder.buffer, 3))
  },
  async decompress (buffer) {
    return Buffer.from((await zstd()).decompress(buffer))
  },
})

const codecs = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

function args () {
  const cfg = JSON.parse(process.argv[2] || '{}')
  if (!cfg.broker) throw new Error('missing broker')
  return cfg
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function kafka (cfg, clientId) {
  return new Kafka({
    clientId: clientId || 'sluice-e2e-kafkajs',
    brokers: [cfg.broker],
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: cfg.retries === undefined ? 8 : cfg.retries, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, label, log }) => {
      const { message, ...extra } = log
      process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
    },
  })
}

// waitUntil polls cond every 50ms until it is true or ms pass.
async function waitUntil (what, ms, cond) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms}ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

// main runs fn with a deadline and turns its outcome into the exit code.
function main (fn, deadlineMs) {
  const timer = setTimeout(() => {
    process.stderr.write(`scenario deadline of ${deadlineMs}ms passed\n`)
    process.exit(3)
  }, deadlineMs)
  fn(args()).then(() => {
    clearTimeout(timer)
    process.exit(0)
  }, err => {
    process.stderr.write(`scenario failed: ${err && err.stack ? err.stack : err}\n`)
    emit({ kind: 'error', error: String(err && err.message ? err.message : err), type: err && err.type, name: err && err.name })
    process.exit(1)
  })
}

module.exports = { args, emit, kafka, waitUntil, main, codecs, CompressionTypes }
