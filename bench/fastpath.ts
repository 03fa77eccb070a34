/**
 * The fast-path benchmark: kadmesh `call` between two processes over shared memory, UDP and QUIC,
 * with Node `dgram` ping-pong against the same server process as the floor, all in one run and for
 * the same payloads. For each: p50/p99 with one call in flight, calls/s with BENCH_INFLIGHT (64) in
 * flight, and CPU µs per call of both processes (polling trades CPU for latency). Then one-way
 * casts over shared memory, in batches.
 *
 * Run: `BENCH_SUITES=fastpath npm run bench`, or after `npm run build`,
 * `node_modules/.bin/node dist/bench/fastpath.js`. Settings (bench/config.ts): BENCH_SECONDS
 * (default 3), BENCH_WARMUP (1), BENCH_PAYLOADS (default here 64,1024), BENCH_INFLIGHT (64),
 * BENCH_MAX_CALLS, BENCH_OUT (default bench/results/fastpath-latest.json); BENCH_SPIN_US (below).
 * The raw ring and socket layer underneath has its own micro benchmark: bench/native.ts.
 */
import { createSocket, type Socket } from 'node:dgram'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { environment, loadavg } from './environment.js'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createMesh, type Mesh, type MeshInit } from '../src/index.js'
import { type BenchConfig, readConfig } from './config.js'
import { type Measurement, measure, type Scenario } from './rpc.js'
import { ServerProcess } from './server-process.js'
import { formatBytes, formatRate, formatUs, renderTable } from './stats.js'
import { withTimeout } from './timeout.js'
import { cpuNow, otherCores, perCall } from './usage.js'

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results/fastpath-latest.json', import.meta.url))
const LOOPBACK = ['/ip4/127.0.0.1/udp/0/quic-v1']

type Path = 'shm' | 'udp' | 'quic' | 'dgram'
const PATHS: Path[] = ['shm', 'udp', 'quic', 'dgram']

/** Each kadmesh row's client allows only its own transport, so a failed handshake cannot hide behind another. */
const CLIENT_TRANSPORTS: Record<Exclude<Path, 'dgram'>, MeshInit['transports']> = {
  shm: { udp: false },
  udp: { shm: false },
  quic: { shm: false, udp: false }
}

/**
 * BENCH_SPIN_US: µs both processes keep polling a fast path after its last message
 * (`transports.shm.idleSpinUs`, `transports.udp.busyPollUs`; the server reads it too). Default: the
 * mesh's default (0, sleep at once).
 */
const SPIN_US = process.env.BENCH_SPIN_US === undefined ? undefined : Number(process.env.BENCH_SPIN_US)
if (SPIN_US !== undefined && !(Number.isInteger(SPIN_US) && SPIN_US >= 0 && SPIN_US <= 1_000_000)) {
  throw new Error(`BENCH_SPIN_US must be an integer from 0 to 1000000, got '${process.env.BENCH_SPIN_US}'`)
}

function clientTransports (path: Exclude<Path, 'dgram'>): MeshInit['transports'] {
  const base = CLIENT_TRANSPORTS[path]
  if (SPIN_US === undefined || path === 'quic') return base
  return path === 'shm' ? { ...base, shm: { idleSpinUs: SPIN_US } } : { ...base, udp: { busyPollUs: SPIN_US } }
}

const TITLES: Record<Path, string> = {
  shm: 'kadmesh call over shared memory (ring pair, doorbell when idle)',
  udp: 'kadmesh call over UDP (native batch socket, AES-GCM, acks and retransmission)',
  quic: 'kadmesh call over QUIC (the stream pool)',
  dgram: 'Node dgram ping-pong with the same server process (the floor: no framing, no crypto, no reliability)'
}

interface Target { what: string, target: string, measured: string, met: boolean | undefined, baseline: string }

interface CastRun { casts: number, seconds: number, perSecond: number, cpuUsPerCast: { client: number, server?: number, total: number }, otherCores?: number, error?: string }

async function meshScenario (path: Exclude<Path, 'dgram'>, server: ServerProcess): Promise<Scenario<Path> & { mesh: Mesh }> {
  const mesh = await createMesh({ listen: LOOPBACK, bootstrap: server.addresses, transports: clientTransports(path) })
  // The handshake runs in the background after the first call: call until the route trace shows the path.
  let last = ''
  for (let i = 0; i < 5_000 && last !== path; i++) {
    last = (await mesh.traceCall(server.nodeId, 'bench.echo', new Uint8Array(8))).transports[0]
  }
  if (last !== path) {
    await mesh.stop()
    throw new Error(`calls still go over ${last}, not ${path} (see stats().fastPath)`)
  }
  return { name: path, remote: true, checkEvery: 1, mesh, call: (p) => async () => mesh.call(server.nodeId, 'bench.echo', p), close: async () => { await mesh.stop() } }
}

/** Ping-pong with the server's dgram echo socket; a 4-byte id at the front matches replies to requests. */
async function dgramScenario (server: ServerProcess): Promise<Scenario<Path>> {
  const port = server.dgramPort
  if (port === undefined) throw new Error('the bench server has no dgram echo socket')
  const sock: Socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
  await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
  const waiting = new Map<number, { sent: Buffer, resolve: () => void, reject: (e: Error) => void }>()
  let nextId = 0
  sock.on('message', (msg) => {
    const id = msg.readUInt32BE(0)
    const w = waiting.get(id)
    if (w === undefined) return
    waiting.delete(id)
    if (msg.equals(w.sent)) w.resolve()
    else w.reject(new Error('dgram echo returned other bytes'))
  })
  return {
    name: 'dgram',
    remote: true,
    checkEvery: 1,
    call: (p) => async () => {
      const sent = Buffer.from(p)
      const id = nextId = (nextId + 1) >>> 0
      sent.writeUInt32BE(id, 0)
      await new Promise<void>((resolve, reject) => {
        waiting.set(id, { sent, resolve, reject })
        sock.send(sent, port, '127.0.0.1')
      })
      return p
    },
    close: async () => { sock.close() }
  }
}

/**
 * One-way: casts over shared memory in batches of 1,000, each batch closed by a call (it is answered
 * after the casts before it on the same ordered path arrived, which paces the sender). The server
 * counts what it received.
 */
async function castRun (mesh: Mesh, server: ServerProcess, size: number, config: BenchConfig): Promise<CastRun> {
  const payload = new Uint8Array(size)
  const batch = async (): Promise<void> => {
    for (let i = 0; i < 1_000; i++) mesh.cast(server.nodeId, 'bench.echo', payload)
    await mesh.call(server.nodeId, 'bench.echo', null)
  }
  try {
    const warmEnd = performance.now() + config.warmup * 1000
    while (performance.now() < warmEnd) await batch()
    const before = await cpuNow(server)
    const receivedBefore = (await server.usage()).mesh.counters.castsReceived
    const start = performance.now()
    const end = start + config.seconds * 1000
    let batches = 0
    while (performance.now() < end && batches * 1_000 < config.maxCalls) {
      await batch()
      batches++
    }
    const seconds = (performance.now() - start) / 1000
    const after = await cpuNow(server)
    const usage = await server.usage()
    const casts = usage.mesh.counters.castsReceived - receivedBefore
    const dropped = mesh.stats().counters.castsDropped
    if (casts !== batches * 1_000 || dropped > 0) throw new Error(`sent ${batches * 1_000} casts, the server received ${casts}, ${dropped} dropped`)
    return { casts, seconds, perSecond: casts / seconds, cpuUsPerCast: perCall(before, after, casts, true), otherCores: otherCores(before, after) }
  } catch (err) {
    return { casts: 0, seconds: 0, perSecond: 0, cpuUsPerCast: { client: 0, total: 0 }, error: (err as Error).message }
  }
}

function find (rows: Array<Measurement<Path>>, path: Path, payload: number): Measurement<Path> | undefined {
  return rows.find(m => m.scenario === path && m.payload === payload)
}

function targets (rows: Array<Measurement<Path>>, casts: CastRun | undefined): Target[] {
  const size = 64
  const p50 = (p: Path): number | undefined => find(rows, p, size)?.latency?.p50
  const rate = (p: Path): number | undefined => find(rows, p, size)?.throughput?.callsPerSecond
  const baseline = (f: (p: Path) => number | undefined, unit: (n: number | undefined) => string): string =>
    `quic ${unit(f('quic'))}, dgram ${unit(f('dgram'))}`
  const us = (n: number | undefined): string => `${formatUs(n)} µs`
  const perS = (n: number | undefined): string => `${formatRate(n)}/s`
  const check = (value: number | undefined, ok: (v: number) => boolean): boolean | undefined => value === undefined ? undefined : ok(value)
  return [
    { what: 'shm call p50, 64 B, 1 in flight', target: '≤ 10 µs', measured: us(p50('shm')), met: check(p50('shm'), v => v <= 10), baseline: baseline(p50, us) },
    { what: 'udp call p50, 64 B, 1 in flight', target: '≤ 40 µs', measured: us(p50('udp')), met: check(p50('udp'), v => v <= 40), baseline: baseline(p50, us) },
    { what: 'shm calls/s, 64 B, 64 in flight', target: '≥ 500,000/s', measured: perS(rate('shm')), met: check(rate('shm'), v => v >= 500_000), baseline: baseline(rate, perS) },
    { what: 'udp calls/s, 64 B, 64 in flight', target: '≥ 250,000/s', measured: perS(rate('udp')), met: check(rate('udp'), v => v >= 250_000), baseline: baseline(rate, perS) },
    {
      what: 'shm one-way casts/s, 64 B, batches of 1,000',
      target: '≥ 5,000,000/s',
      measured: casts === undefined ? '-' : perS(casts.perSecond),
      met: casts === undefined || casts.error !== undefined ? undefined : casts.perSecond >= 5_000_000,
      baseline: 'raw ring: bench/native.ts'
    }
  ]
}

function resultsTable (rows: Array<Measurement<Path>>, inflight: number): string {
  const cpu = (c: { client: number, server?: number } | undefined): string => c === undefined ? '-' : `${formatUs(c.client)} + ${formatUs(c.server)}`
  const cores = (n: number | undefined): string => n === undefined ? '-' : n.toFixed(2)
  const header = ['path', 'payload', 'p50 µs', 'p99 µs', 'CPU µs/call (client + server)', `calls/s @${inflight}`, `CPU µs/call @${inflight}`, 'other procs']
  const body = rows.map(m => m.error !== undefined
    ? [m.scenario, formatBytes(m.payload), 'ERROR', m.error, '', '', '', '']
    : [m.scenario, formatBytes(m.payload), formatUs(m.latency?.p50), formatUs(m.latency?.p99), cpu(m.latency?.cpuUsPerCall),
        formatRate(m.throughput?.callsPerSecond), cpu(m.throughput?.cpuUsPerCall), `${cores(m.latency?.otherCores)} / ${cores(m.throughput?.otherCores)}`])
  return renderTable([header, ...body], new Set([2, 3, 5]))
}

async function main (): Promise<number> {
  const config = readConfig(process.env, DEFAULT_OUT)
  if ((process.env.BENCH_PAYLOADS ?? '').trim() === '') config.payloads = [64, 1024]
  if ((process.env.BENCH_OUT ?? '').trim() === '') config.out = DEFAULT_OUT
  const loadBefore = loadavg()
  console.log(`kadmesh fast-path benchmark: node ${process.version}, ${os.cpus().length} CPUs, load ${loadBefore}`)
  console.log(`  ${config.seconds} s per measurement, ${config.warmup} s warm-up, payloads ${config.payloads.map(formatBytes).join(', ')}, ${config.inflight} in flight for calls/s, ` +
    `fast-path polling ${SPIN_US === undefined ? 'as configured by default (0 µs)' : `${SPIN_US} µs`}\n`)
  const server = await ServerProcess.start()
  const rows: Array<Measurement<Path>> = []
  let casts: CastRun | undefined
  try {
    for (const path of PATHS) {
      let scenario: Scenario<Path> & { mesh?: Mesh }
      try {
        scenario = path === 'dgram' ? await dgramScenario(server) : await meshScenario(path, server)
      } catch (err) {
        for (const payload of config.payloads) rows.push({ scenario: path, payload, error: `setup failed: ${(err as Error).message}` })
        console.log(`  ${path}: setup failed: ${(err as Error).message}`)
        continue
      }
      try {
        for (const payload of config.payloads) {
          const m = await measure(scenario, payload, config, server)
          rows.push(m)
          console.log(`  ${`${path} @ ${formatBytes(payload)}`.padEnd(16)} ${m.error ?? `p50 ${formatUs(m.latency?.p50)} µs, p99 ${formatUs(m.latency?.p99)} µs, ${formatRate(m.throughput?.callsPerSecond)} calls/s`}`)
        }
        if (path === 'shm' && scenario.mesh !== undefined) {
          casts = await castRun(scenario.mesh, server, 64, config)
          console.log(`  shm casts @ 64 B   ${casts.error ?? `${formatRate(casts.perSecond)} casts/s`}`)
        }
      } finally {
        await withTimeout(scenario.close?.() ?? Promise.resolve(), 5_000, `${path} client stop`)
      }
    }
  } finally {
    await server.stop()
  }
  const checks = targets(rows, casts)
  console.log(`\nResults (p50/p99 and the first CPU column: 1 call in flight; calls/s and the second: ${config.inflight} in flight; other procs = CPUs busy with other processes, latency / throughput run)\n`)
  console.log(resultsTable(rows, config.inflight))
  console.log(`\n${PATHS.map(p => `  ${p}: ${TITLES[p]}`).join('\n')}`)
  if (casts !== undefined && casts.error === undefined) {
    console.log(`\nOne-way casts over shm, 64 B: ${formatRate(casts.perSecond)}/s, CPU ${formatUs(casts.cpuUsPerCast.client)} + ${formatUs(casts.cpuUsPerCast.server)} µs per cast, other procs ${casts.otherCores?.toFixed(2) ?? '-'}`)
  }
  console.log('\nTargets (from this run)\n')
  console.log(renderTable([['what', 'target', 'measured', 'met', 'baseline (same run)'], ...checks.map(t => [t.what, t.target, t.measured, t.met === undefined ? '-' : t.met ? 'yes' : 'no', t.baseline])], new Set()))
  const loadAfter = loadavg()
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (other work on the machine skews the numbers)`)
  await mkdir(dirname(config.out), { recursive: true })
  await writeFile(config.out, JSON.stringify({ benchmark: 'fastpath', finishedAt: new Date().toISOString(), environment: environment(loadBefore, loadAfter), config, spinUs: SPIN_US, measurements: rows, casts, targets: checks }, null, 2) + '\n')
  console.log(`\nwrote ${config.out}`)
  return rows.some(m => m.error !== undefined) || casts?.error !== undefined ? 1 : 0
}

main().then((code) => {
  process.exitCode = code
  setTimeout(() => process.exit(code), 1_000).unref()
}, (err: unknown) => {
  console.error('fast-path benchmark failed:', err instanceof Error ? (err.stack ?? err.message) : err)
  process.exit(1)
})
