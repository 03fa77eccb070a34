/**
 * The pub/sub benchmark (issue 4): one publisher (this process) and 1 or 4 subscriber processes
 * (bench/pubsub-node.ts) on loopback. For each transport, payload and subscriber count:
 *
 * - deliveries/s: the publisher publishes as fast as a window of BENCH_PUBSUB_WINDOW messages (at
 *   most 4 MiB of payload) not yet received by the slowest subscriber allows (subscribers report
 *   progress over IPC), until
 *   BENCH_SECONDS have passed and every message has arrived; the same loop with a plain `mesh.cast`
 *   per message and subscriber is the baseline, in the same run, to the same processes;
 * - publish → receive latency p50/p99 with one message in flight, pub/sub and cast interleaved
 *   (each waits until every subscriber has it); timed from a stamp of the host's monotonic clock
 *   in the payload's first 8 bytes, so it is one way.
 *
 * Transports: `quic` (fast paths off on every node) and `best` (the mesh's default: shared memory
 * between processes of one host when the native addon is built).
 *
 * Run: `BENCH_SUITES=pubsub npm run bench`, or after `npm run build`,
 * `node_modules/.bin/node dist/bench/pubsub.js`. Settings: BENCH_SECONDS (3), BENCH_WARMUP (1),
 * BENCH_MAX_CALLS (per loop), BENCH_PUBSUB_PAYLOADS (64,1024), BENCH_PUBSUB_SUBSCRIBERS (1,4),
 * BENCH_PUBSUB_TRANSPORTS (quic,best), BENCH_PUBSUB_WINDOW (8192), BENCH_PUBSUB_OUT (default
 * bench/results/pubsub-latest.json).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { environment, loadavg } from './environment.js'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createMesh, type Mesh } from '../src/index.js'
import { machineBusyUs } from './machine.js'
import { type FromNode, isFromNode, type NodeReport, stamped, type ToNode } from './pubsub-ipc.js'
import { stopChild } from './server-process.js'
import { formatBytes, formatRate, formatUs, type LatencySummary, renderTable } from './stats.js'
import { withTimeout } from './timeout.js'

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results/pubsub-latest.json', import.meta.url))
const LOOPBACK = ['/ip4/127.0.0.1/udp/0/quic-v1']
/** Messages published between two looks at the subscribers' progress (and a turn of the event loop). */
const CHUNK = 512
/** Subscribers report progress every this many messages. */
const PROGRESS_EVERY = 1024
/** A loop that sees no progress for this long has stalled (a bug or lost messages): it fails. */
const STALL_MS = 10_000
/**
 * The window is also at most this many payload bytes per subscriber (8,192 messages of 1 KiB would
 * reach the publisher's bound on what waits for one node, 8 MiB, and be dropped by design).
 */
const WINDOW_BYTES = 4 * 1024 * 1024

type Transport = 'quic' | 'best'

interface Config {
  seconds: number
  warmup: number
  maxMessages: number
  payloads: number[]
  subscribers: number[]
  transports: Transport[]
  window: number
  out: string
}

interface Throughput {
  deliveriesPerSecond: number
  deliveries: number
  messages: number
  seconds: number
  /** CPU µs per delivery: the publisher, the subscribers together, and both. */
  cpuUsPerDelivery: { publisher: number, subscribers: number, total: number }
  /** Messages the subscriptions lost during the run (must be 0 for the figure to count). */
  dropped: number
  /** CPUs' worth of time other processes used meanwhile. */
  otherCores?: number
}

interface Row {
  transport: Transport
  subscribers: number
  payload: number
  pubsub?: Throughput
  cast?: Throughput
  /** One message in flight, interleaved: the worst subscriber's p50 and p99, µs. */
  latency?: { pubsub: LatencySummary, cast: LatencySummary, samples: number }
  error?: string
}

function readConfig (env: NodeJS.ProcessEnv): Config {
  const num = (name: string, fallback: number, min: number, max: number, integer = false): number => {
    const text = env[name]?.trim()
    if (text === undefined || text === '') return fallback
    const value = Number(text.replaceAll('_', ''))
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) throw new Error(`${name} must be a number from ${min} to ${max}, got '${text}'`)
    return value
  }
  const list = (name: string, fallback: number[], min: number, max: number): number[] => {
    const text = env[name]?.trim()
    if (text === undefined || text === '') return fallback
    const values = text.split(',').map(s => Number(s.trim()))
    if (values.some(v => !Number.isInteger(v) || v < min || v > max)) throw new Error(`${name} must be comma-separated integers from ${min} to ${max}, got '${text}'`)
    return [...new Set(values)]
  }
  const transports = (env.BENCH_PUBSUB_TRANSPORTS ?? 'quic,best').split(',').map(s => s.trim()).filter(s => s !== '')
  if (transports.length === 0 || transports.some(t => t !== 'quic' && t !== 'best')) throw new Error(`BENCH_PUBSUB_TRANSPORTS must list quic and/or best, got '${env.BENCH_PUBSUB_TRANSPORTS}'`)
  return {
    seconds: num('BENCH_SECONDS', 3, 0.1, 600),
    warmup: num('BENCH_WARMUP', 1, 0, 600),
    maxMessages: num('BENCH_MAX_CALLS', 5_000_000, 1, 1e9, true),
    payloads: list('BENCH_PUBSUB_PAYLOADS', [64, 1024], 8, 1 << 20),
    subscribers: list('BENCH_PUBSUB_SUBSCRIBERS', [1, 4], 1, 16),
    transports: transports as Transport[],
    window: num('BENCH_PUBSUB_WINDOW', 8192, PROGRESS_EVERY, 1 << 20, true),
    out: env.BENCH_PUBSUB_OUT ?? DEFAULT_OUT
  }
}

/** A subscriber process and what it last reported. */
class NodeProcess {
  readonly nodeId: string
  readonly pid: number
  received = 0
  readonly #child: ChildProcess
  readonly #waiters: Array<{ type: FromNode['type'], resolve: (m: FromNode) => void }> = []
  #onProgress: (() => void) | undefined
  #exited: Error | undefined

  private constructor (child: ChildProcess, ready: { nodeId: string, pid: number }) {
    this.#child = child
    this.nodeId = ready.nodeId
    this.pid = ready.pid
    child.on('message', (message: unknown) => {
      if (!isFromNode(message)) return
      if (message.type === 'progress') this.received = message.received
      if (message.type === 'progress' || message.type === 'got') this.#onProgress?.()
      const i = this.#waiters.findIndex(w => w.type === message.type)
      if (i !== -1) this.#waiters.splice(i, 1)[0].resolve(message)
    })
    child.once('exit', (code, signal) => { this.#exited = new Error(`subscriber process ${child.pid} exited: code ${code}, signal ${signal}`) })
  }

  static async start (bootstrap: string, fast: boolean): Promise<NodeProcess> {
    const script = fileURLToPath(new URL('./pubsub-node.js', import.meta.url))
    const child = fork(script, [], {
      execPath: process.execPath,
      execArgv: [],
      env: { ...process.env, PUBSUB_BOOTSTRAP: bootstrap, PUBSUB_FAST_PATHS: fast ? '1' : '0' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    try {
      const ready = await withTimeout(new Promise<{ nodeId: string, pid: number }>((resolve, reject) => {
        child.on('message', (m: unknown) => {
          if (!isFromNode(m)) return
          if (m.type === 'ready') resolve(m)
          if (m.type === 'failed') reject(new Error(m.message))
        })
        child.once('exit', (code) => { reject(new Error(`subscriber process exited with ${code} before it was ready`)) })
      }), 30_000, 'a subscriber process to start')
      return new NodeProcess(child, ready)
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    }
  }

  /** Called on every progress or `got` message (one listener: the running loop). */
  set onProgress (fn: (() => void) | undefined) { this.#onProgress = fn }

  send (message: ToNode): void {
    if (this.#exited !== undefined) throw this.#exited
    this.#child.send(message)
  }

  async request<T extends FromNode['type']> (message: ToNode, answer: T, ms = 15_000): Promise<Extract<FromNode, { type: T }>> {
    const answered = new Promise<FromNode>(resolve => { this.#waiters.push({ type: answer, resolve }) })
    this.send(message)
    return withTimeout(answered, ms, `subscriber ${this.pid} to answer ${message.type}`) as Promise<Extract<FromNode, { type: T }>>
  }

  async report (): Promise<NodeReport> {
    return (await this.request({ type: 'report' }, 'report')).report
  }

  async stop (): Promise<void> {
    await stopChild(this.#child)
  }
}

function cpuUs (): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

async function turn (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

/** Resolves on the next progress report of any of `nodes`, failing after STALL_MS. */
async function nextProgress (nodes: NodeProcess[], what: string): Promise<void> {
  await withTimeout(new Promise<void>(resolve => {
    const done = (): void => { for (const n of nodes) n.onProgress = undefined; resolve() }
    for (const n of nodes) n.onProgress = done
  }), STALL_MS, `${what}: progress from the subscribers`)
}

/**
 * Sends messages (`send` delivers one to every subscriber) while fewer than `window` are unreceived
 * by the slowest subscriber, for `seconds`; then waits until every message has arrived. The time
 * includes that wait.
 */
async function throughput (nodes: NodeProcess[], path: 'pubsub' | 'cast', send: () => void, config: Config, payload: number, seconds: number): Promise<Throughput> {
  const window = Math.min(config.window, Math.floor(WINDOW_BYTES / payload))
  await Promise.all(nodes.map(async n => { n.send({ type: 'reset', latency: false, every: PROGRESS_EVERY }); n.received = 0 }))
  // a report round trip makes sure every node has applied the reset
  const before = await Promise.all(nodes.map(async n => n.report()))
  const droppedBefore = before.reduce((sum, r) => sum + r.dropped, 0)
  const cpuBefore = cpuUs()
  const busyBefore = machineBusyUs()
  const start = performance.now()
  const end = start + seconds * 1000
  let sent = 0
  while (performance.now() < end && sent < config.maxMessages) {
    const slowest = Math.min(...nodes.map(n => n.received))
    const room = Math.min(window - (sent - slowest), CHUNK, config.maxMessages - sent)
    if (room <= 0) {
      await nextProgress(nodes, path)
      continue
    }
    for (let i = 0; i < room; i++) send()
    sent += room
    await turn()
  }
  let reports = await Promise.all(nodes.map(async n => n.report()))
  const drainEnd = performance.now() + STALL_MS
  while (reports.some(r => r.received[path] < sent) && performance.now() < drainEnd) {
    await new Promise(resolve => setTimeout(resolve, 5))
    reports = await Promise.all(nodes.map(async n => n.report()))
  }
  const elapsed = (performance.now() - start) / 1000
  const busyAfter = machineBusyUs()
  const deliveries = reports.reduce((sum, r) => sum + r.received[path], 0)
  const publisherCpu = cpuUs() - cpuBefore
  const subscriberCpu = reports.reduce((sum, r, i) => sum + r.cpuUs - before[i].cpuUs, 0)
  const dropped = reports.reduce((sum, r) => sum + r.dropped, 0) - droppedBefore
  if (deliveries < sent * nodes.length) {
    throw new Error(`${path}: ${deliveries} of ${sent * nodes.length} deliveries arrived (dropped ${dropped}; subscriber counters ${JSON.stringify(reports.map(r => r.counters))})`)
  }
  const ours = publisherCpu + subscriberCpu
  return {
    deliveriesPerSecond: deliveries / elapsed,
    deliveries,
    messages: sent,
    seconds: elapsed,
    cpuUsPerDelivery: { publisher: publisherCpu / deliveries, subscribers: subscriberCpu / deliveries, total: ours / deliveries },
    dropped,
    otherCores: busyBefore === undefined || busyAfter === undefined ? undefined : Math.max(0, (busyAfter - busyBefore - ours) / (elapsed * 1e6))
  }
}

/** One message in flight, pub/sub and cast taking turns; each waits until every subscriber has it. */
async function latency (nodes: NodeProcess[], sendPubsub: () => void, sendCast: () => void, config: Config): Promise<Row['latency']> {
  await Promise.all(nodes.map(async n => { n.send({ type: 'reset', latency: true, every: 1 }) }))
  await Promise.all(nodes.map(async n => n.report()))
  let got = 0
  let waiting: (() => void) | undefined
  for (const n of nodes) n.onProgress = () => { if (++got === nodes.length) waiting?.() }
  const end = performance.now() + config.seconds * 1000
  let samples = 0
  try {
    for (; samples < config.maxMessages && performance.now() < end; samples++) {
      got = 0
      const all = new Promise<void>(resolve => { waiting = resolve })
      if (samples % 2 === 0) sendPubsub()
      else sendCast()
      await withTimeout(all, STALL_MS, 'a message to reach every subscriber')
    }
  } finally {
    for (const n of nodes) n.onProgress = undefined
  }
  const reports = await Promise.all(nodes.map(async n => n.report()))
  const worst = (path: 'pubsub' | 'cast'): LatencySummary => reports.map(r => r.latency[path]).reduce((a, b) => (b.p50 > a.p50 ? { ...b, p99: Math.max(a.p99, b.p99) } : { ...a, p99: Math.max(a.p99, b.p99) }))
  return { pubsub: worst('pubsub'), cast: worst('cast'), samples }
}

async function runTransport (transport: Transport, config: Config, log: (line: string) => void): Promise<Row[]> {
  const fast = transport === 'best'
  const publisher: Mesh = await createMesh({ listen: LOOPBACK, ...(fast ? {} : { transports: { udp: false, shm: false } }) })
  const nodes: NodeProcess[] = []
  const rows: Row[] = []
  try {
    const most = Math.max(...config.subscribers)
    nodes.push(...await Promise.all(Array.from({ length: most }, async () => NodeProcess.start(publisher.addresses[0], fast))))
    log(`  ${transport}: publisher pid ${process.pid}, subscribers ${nodes.map(n => n.pid).join(', ')}`)
    for (const payload of config.payloads) {
      for (const count of config.subscribers) {
        const row: Row = { transport, subscribers: count, payload }
        rows.push(row)
        try {
          const subs = nodes.slice(0, count)
          const topic = `bench/${transport}-${payload}-${count}`
          await Promise.all(subs.map(async n => n.request({ type: 'subscribe', topic, buffer: 2 * config.window }, 'subscribed', 30_000)))
          const first = await publisher.publish(topic, stamped(payload))
          if (first.subscribers.length !== count) throw new Error(`the publisher found ${first.subscribers.length} of ${count} subscribers`)
          const noop = (): void => {}
          const publish = (): void => { publisher.publish(topic, stamped(payload)).catch(noop) }
          const cast = (): void => {
            const data = stamped(payload)
            for (const n of subs) publisher.cast(n.nodeId, 'sink.take', data)
          }
          if (config.warmup > 0) {
            await throughput(subs, 'pubsub', publish, config, payload, config.warmup / 2)
            await throughput(subs, 'cast', cast, config, payload, config.warmup / 2)
          }
          row.pubsub = await throughput(subs, 'pubsub', publish, config, payload, config.seconds)
          row.cast = await throughput(subs, 'cast', cast, config, payload, config.seconds)
          row.latency = await latency(subs, publish, cast, config)
          log(`  ${transport} 1 → ${count} @ ${formatBytes(payload)}: pub/sub ${formatRate(row.pubsub.deliveriesPerSecond)}/s, cast ${formatRate(row.cast.deliveriesPerSecond)}/s; ` +
            `p50 ${formatUs(row.latency?.pubsub.p50)} µs (cast ${formatUs(row.latency?.cast.p50)} µs)`)
        } catch (err) {
          row.error = (err as Error).message
          log(`  ${transport} 1 → ${count} @ ${formatBytes(payload)}: ERROR ${row.error}`)
        }
      }
    }
  } finally {
    await Promise.allSettled(nodes.map(async n => n.stop()))
    await publisher.stop()
  }
  return rows
}

function table (rows: Row[]): string {
  const header = ['transport', 'subs', 'payload', 'pub/sub deliveries/s', 'cast deliveries/s', 'ratio', 'pub/sub p50 µs', 'p99', 'cast p50 µs', 'p99', 'CPU µs/delivery pub/sub', 'cast', 'other procs (cores)', 'note']
  const body = rows.map(r => [
    r.transport,
    String(r.subscribers),
    formatBytes(r.payload),
    formatRate(r.pubsub?.deliveriesPerSecond),
    formatRate(r.cast?.deliveriesPerSecond),
    r.pubsub !== undefined && r.cast !== undefined ? `${(r.pubsub.deliveriesPerSecond / r.cast.deliveriesPerSecond).toFixed(1)}×` : '-',
    formatUs(r.latency?.pubsub.p50),
    formatUs(r.latency?.pubsub.p99),
    formatUs(r.latency?.cast.p50),
    formatUs(r.latency?.cast.p99),
    formatUs(r.pubsub?.cpuUsPerDelivery.total),
    formatUs(r.cast?.cpuUsPerDelivery.total),
    `${r.pubsub?.otherCores?.toFixed(2) ?? '-'} / ${r.cast?.otherCores?.toFixed(2) ?? '-'}`,
    r.error ?? ''
  ])
  return renderTable([header, ...body], new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))
}

interface Target { target: string, value?: number, limit: number, direction: 'min' | 'max', baseline?: number, verdict: 'PASS' | 'MISS' | 'n/a' }

function targets (rows: Row[]): Target[] {
  const find = (t: Transport, subs: number, payload: number): Row | undefined => rows.find(r => r.transport === t && r.subscribers === subs && r.payload === payload)
  const check = (target: string, value: number | undefined, limit: number, direction: 'min' | 'max', baseline?: number): Target => ({
    target,
    value,
    limit,
    direction,
    baseline,
    verdict: value === undefined ? 'n/a' : (direction === 'min' ? value >= limit : value <= limit) ? 'PASS' : 'MISS'
  })
  const best = find('best', 4, 64)
  const quic4 = find('quic', 4, 64)
  const quic1 = find('quic', 1, 64)
  return [
    check('deliveries/s, 1 → 4, 64 B, best transport', best?.pubsub?.deliveriesPerSecond, 600_000, 'min', best?.cast?.deliveriesPerSecond),
    check('deliveries/s, 1 → 4, 64 B, QUIC', quic4?.pubsub?.deliveriesPerSecond, 300_000, 'min', quic4?.cast?.deliveriesPerSecond),
    check('publish → receive p50 µs, 1 → 1, 64 B, QUIC', quic1?.latency?.pubsub.p50, 150, 'max', quic1?.latency?.cast.p50),
    check('publish → receive p50 µs, 1 → 4, 64 B, QUIC', quic4?.latency?.pubsub.p50, 150, 'max', quic4?.latency?.cast.p50)
  ]
}

async function main (): Promise<number> {
  const config = readConfig(process.env)
  const loadBefore = loadavg()
  const startedAt = new Date()
  console.log(`kadmesh pub/sub benchmark: node ${process.version}, ${os.cpus().length} CPUs, load ${loadBefore}`)
  console.log(`  ${config.seconds} s per measurement, ${config.warmup} s warm-up, window ${config.window} messages, payloads ${config.payloads.map(formatBytes).join(', ')}, ` +
    `subscribers ${config.subscribers.join(', ')}, transports ${config.transports.join(', ')}`)
  const rows: Row[] = []
  for (const transport of config.transports) rows.push(...await runTransport(transport, config, line => { console.log(line) }))
  const checks = targets(rows)
  console.log('\nResults (deliveries/s: one per message and subscriber; latency: one message in flight, publish → receive, the slowest subscriber\'s p50/p99)\n')
  console.log(table(rows))
  console.log('\nTargets (from this run; baseline = the plain cast loop to the same processes)\n')
  console.log(renderTable([['target', 'measured', 'limit', 'cast baseline', 'verdict'], ...checks.map(c => [
    c.target, c.value === undefined ? '-' : c.target.includes('µs') ? formatUs(c.value) : formatRate(c.value),
    `${c.direction === 'min' ? '≥' : '≤'} ${formatRate(c.limit)}`, c.baseline === undefined ? '-' : c.target.includes('µs') ? formatUs(c.baseline) : formatRate(c.baseline), c.verdict
  ])], new Set([1, 2, 3])))
  const loadAfter = loadavg()
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (other work on the machine skews the numbers)`)
  const document = {
    benchmark: 'pubsub',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore, loadAfter),
    config,
    units: { throughput: 'deliveries/s', latency: 'µs', cpu: 'µs per delivery' },
    rows,
    targets: checks
  }
  await mkdir(dirname(config.out), { recursive: true })
  await writeFile(config.out, JSON.stringify(document, null, 2) + '\n')
  console.log(`\nwrote ${config.out}`)
  return rows.some(r => r.error !== undefined) ? 1 : 0
}

main().then((code) => {
  process.exitCode = code
  setTimeout(() => process.exit(code), 1_000).unref()
}, (err: unknown) => {
  console.error('pub/sub benchmark failed:', err instanceof Error ? (err.stack ?? err.message) : err)
  process.exit(1)
})
