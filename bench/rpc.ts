/**
 * The RPC comparison: kadmesh calls against raw libp2p streams and in-process calls, for each
 * payload size, all in one run against one server process.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { createMesh, type Mesh, type MeshStats } from '../src/index.js'
import type { BenchConfig, ScenarioName } from './config.js'
import { echoOnNewStream, ReusedEchoClient } from './echo-protocol.js'
import { type Call, interleavedLatencyLoop, latencyLoop, throughputLoop } from './loops.js'
import type { ServerProcess } from './server-process.js'
import { withTimeout } from './timeout.js'
import type { LatencySummary } from './stats.js'
import { type CpuPerCall, cpuNow, otherCores, perCall } from './usage.js'

export interface Measurement<N extends string = ScenarioName> {
  scenario: N
  payload: number
  /**
   * 1 call in flight. Round-trip times in µs. `otherCores`: CPUs' worth of time other processes on
   * the machine used meanwhile (0 = quiet; on 2 cores, 1 = half the machine was busy elsewhere).
   */
  latency?: LatencySummary & { seconds: number, cpuUsPerCall: CpuPerCall, otherCores?: number }
  /** `inflight` calls kept outstanding. */
  throughput?: { inflight: number, calls: number, seconds: number, callsPerSecond: number, cpuUsPerCall: CpuPerCall, otherCores?: number }
  /**
   * Memory in bytes after the measurement: RSS and V8 heap in use of each process. Cumulative over
   * the run: the same two processes serve every row.
   */
  rss?: { client: number, server?: number, clientHeapUsed: number, serverHeapUsed?: number }
  /** Caveats about this row (e.g. a loop stopped by its call-count cap rather than its time cap). */
  notes?: string[]
  /** The error that ended this row's measurement. */
  error?: string
}

/** Scenarios that need the server process. */
const REMOTE = new Set<ScenarioName>(['kadmesh', 'raw-reused', 'raw-stream'])

export interface Scenario<N extends string = ScenarioName> {
  name: N
  /** Whether the server process takes part (its CPU is counted). */
  remote: boolean
  /** See LoopLimits.checkEvery. */
  checkEvery: number
  /** A call echoing `payload`. */
  call: (payload: Uint8Array) => Call
  close?: () => Promise<void>
}

/**
 * kadmesh and raw-reused latency measured together, calls alternating (1 in flight), for the
 * "kadmesh adds ≤ 20 µs" target: on a shared 2-core machine, two separate runs a few seconds apart
 * differ by more than that from background load alone.
 */
export interface PairedLatency {
  payload: number
  seconds: number
  kadmesh?: LatencySummary
  rawReused?: LatencySummary
  /** kadmesh p50 − raw-reused p50, µs. */
  deltaP50?: number
  /** CPUs' worth of time other processes used meanwhile (see Measurement.latency). */
  otherCores?: number
  error?: string
}

export interface RpcRun {
  measurements: Measurement[]
  paired: PairedLatency[]
  /** Both meshes' counters and pools at the end of the run (errors, streams opened, flow-control violations). */
  meshStats: { client: MeshStats, server?: MeshStats }
  clientNodeId: string
  serverNodeId: string
}

/**
 * Runs every configured scenario × payload, and the interleaved kadmesh/raw-reused latency run
 * when both are configured. `onRow` and `onPaired` are called as each result completes so progress
 * shows during a long run.
 */
export async function runRpcComparison (
  config: BenchConfig,
  server: ServerProcess,
  onRow: (m: Measurement) => void,
  onPaired: (p: PairedLatency) => void
): Promise<RpcRun> {
  // QUIC only: this suite compares the stream pool with raw libp2p streams (bench/fastpath.ts compares the transports)
  const mesh = await createMesh({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], bootstrap: server.addresses, transports: { shm: false, udp: false } })
  const measurements: Measurement[] = []
  const paired: PairedLatency[] = []
  let meshStats: RpcRun['meshStats']
  let kadmesh: Scenario | undefined
  try {
    mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
    for (const name of config.only) {
      let scenario: Scenario
      try {
        scenario = await createScenario(name, mesh, server)
      } catch (err) {
        for (const payload of config.payloads) {
          const m: Measurement = { scenario: name, payload, error: `setup failed: ${message(err)}` }
          measurements.push(m)
          onRow(m)
        }
        continue
      }
      try {
        for (const payload of config.payloads) {
          const m: Measurement = scenario.remote && server.exited !== undefined
            ? { scenario: name, payload, error: `not run: ${server.exited.message}` }
            : await measure(scenario, payload, config, server)
          measurements.push(m)
          onRow(m)
        }
        if (name === 'kadmesh') kadmesh = scenario
        // Right after raw-reused (before raw-stream churns streams), while its stream is still open.
        if (name === 'raw-reused' && kadmesh !== undefined) {
          for (const payload of config.payloads) {
            const p = server.exited !== undefined
              ? { payload, seconds: 0, error: `not run: ${server.exited.message}` }
              : await measurePaired(kadmesh, scenario, payload, config, server)
            paired.push(p)
            onPaired(p)
          }
        }
      } finally {
        await scenario.close?.()
      }
    }
    meshStats = { client: mesh.stats(), server: server.exited === undefined ? (await server.usage()).mesh : undefined }
  } finally {
    await withTimeout(mesh.stop(), 5_000, 'client mesh stop')
  }
  return { measurements, paired, meshStats, clientNodeId: mesh.nodeId, serverNodeId: server.nodeId }
}

async function createScenario (name: ScenarioName, mesh: Mesh, server: ServerProcess): Promise<Scenario> {
  const serverPeer = peerIdFromString(server.nodeId)
  const remote = REMOTE.has(name)
  switch (name) {
    case 'kadmesh':
      return { name, remote, checkEvery: 1, call: (p) => () => mesh.call(server.nodeId, 'bench.echo', p) }
    case 'raw-reused': {
      const client = await ReusedEchoClient.open(mesh.libp2p, serverPeer)
      return { name, remote, checkEvery: 1, call: (p) => () => client.call(p), close: () => client.close() }
    }
    case 'raw-stream':
      return { name, remote, checkEvery: 1, call: (p) => () => echoOnNewStream(mesh.libp2p, serverPeer, p) }
    case 'local':
      return { name, remote, checkEvery: 256, call: (p) => () => mesh.call(mesh.nodeId, 'bench.echo', p) }
    case 'function': {
      const echo = async (x: Uint8Array): Promise<Uint8Array> => x
      return { name, remote, checkEvery: 256, call: (p) => () => echo(p) }
    }
  }
}

/** One scenario at one payload size: a checked first call, warm-up, the latency run, the throughput run, CPU per call. */
export async function measure<N extends string> (scenario: Scenario<N>, size: number, config: BenchConfig, server: ServerProcess): Promise<Measurement<N>> {
  const m: Measurement<N> = { scenario: scenario.name, payload: size }
  const payload = makePayload(size)
  const call = scenario.call(payload)
  const limits = { maxCalls: config.maxCalls, checkEvery: scenario.checkEvery }
  try {
    // One checked call first: a benchmark of a wrong answer is worthless.
    const echoed = await withTimeout(call(), 30_000, 'first call')
    if (!sameBytes(echoed, payload)) throw new Error(`echo returned ${describe(echoed)}, not the ${size}-byte payload`)
    if (config.warmup > 0) await throughputLoop(call, config.inflight, { ...limits, seconds: config.warmup })

    let before = await cpuNow(server)
    const lat = await latencyLoop(call, { ...limits, seconds: config.seconds })
    let after = await cpuNow(server)
    m.latency = {
      ...lat.histogram.summary(),
      seconds: lat.seconds,
      cpuUsPerCall: perCall(before, after, lat.calls, scenario.remote),
      otherCores: otherCores(before, after)
    }

    before = after
    const tp = await throughputLoop(call, config.inflight, { ...limits, seconds: config.seconds })
    after = await cpuNow(server)
    m.throughput = {
      inflight: config.inflight,
      calls: tp.calls,
      seconds: tp.seconds,
      callsPerSecond: tp.callsPerSecond,
      cpuUsPerCall: perCall(before, after, tp.calls, scenario.remote),
      otherCores: otherCores(before, after)
    }
    const notes: string[] = []
    if (lat.calls >= config.maxCalls) notes.push('latency run hit BENCH_MAX_CALLS')
    if (tp.calls >= config.maxCalls) notes.push('throughput run hit BENCH_MAX_CALLS')
    if (notes.length > 0) m.notes = notes
    m.rss = { client: after.clientRss, server: after.serverRss, clientHeapUsed: after.clientHeapUsed, serverHeapUsed: after.serverHeapUsed }
  } catch (err) {
    m.error = message(err)
  }
  return m
}

async function measurePaired (kadmesh: Scenario, raw: Scenario, size: number, config: BenchConfig, server: ServerProcess): Promise<PairedLatency> {
  const result: PairedLatency = { payload: size, seconds: 0 }
  const payload = makePayload(size)
  const calls = [kadmesh.call(payload), raw.call(payload)]
  try {
    // Short warm-up of the alternating pattern itself (both paths were warmed by their own rows).
    await interleavedLatencyLoop(calls, { maxCalls: config.maxCalls, seconds: Math.min(config.warmup, 0.5) })
    const before = await cpuNow(server)
    const run = await interleavedLatencyLoop(calls, { maxCalls: config.maxCalls, seconds: config.seconds })
    result.otherCores = otherCores(before, await cpuNow(server))
    result.seconds = run.seconds
    result.kadmesh = run.histograms[0].summary()
    result.rawReused = run.histograms[1].summary()
    result.deltaP50 = result.kadmesh.p50 - result.rawReused.p50
  } catch (err) {
    result.error = message(err)
  }
  return result
}

function makePayload (size: number): Uint8Array {
  const payload = new Uint8Array(size)
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 0xff
  return payload
}

function sameBytes (value: unknown, expected: Uint8Array): boolean {
  if (!(value instanceof Uint8Array) || value.byteLength !== expected.byteLength) return false
  for (let i = 0; i < expected.byteLength; i++) if (value[i] !== expected[i]) return false
  return true
}

function describe (value: unknown): string {
  if (value instanceof Uint8Array) return `${value.byteLength} different bytes`
  return typeof value
}

function message (err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  // libp2p can reject with a stream Event rather than an Error (notes P14); its cause is `.error`.
  const inner = (err as { error?: unknown } | null)?.error
  if (inner instanceof Error) return `${inner.name}: ${inner.message}`
  if (err instanceof Event) return `${err.constructor.name} '${err.type}'`
  return String(err)
}
