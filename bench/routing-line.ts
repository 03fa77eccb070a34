/**
 * Multi-hop calls: a line of gated nodes A – B – C – D, each allowed to connect only to its
 * neighbours (as test/routing builds it), an echo actor on each. A (this process) calls B directly
 * (1 hop), C through B (2 hops) and D through B and C (3 hops); traceCall checks each route really
 * has that many hops before it is measured. B, C and D run as child processes (bench/routing-node.ts,
 * one node each) unless BENCH_ROUTING_LINE=in-process.
 *
 * Latency: the three routes interleaved (A→B, A→C, A→D, A→B, …), 1 call in flight, so the three
 * see the same moments on the machine. Throughput: each route alone, `inflight` calls outstanding.
 */
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { allowPeers, type Counters, type Mesh } from '../src/index.js'
import { OriginAuth } from '../src/routing/origin-auth.js'
import type { RouteHeader } from '../src/routing/route-header.js'
import { type Call, interleavedLatencyLoop, throughputLoop } from './loops.js'
import { machineBusyUs } from './machine.js'
import type { RoutingConfig } from './routing-config.js'
import { probeDht, sameBytes, type SteadyRow } from './routing-mesh.js'
import { identities, type Identity, message, startMesh, withTimeout } from './routing-util.js'
import { ServerProcess } from './server-process.js'
import type { LatencySummary } from './stats.js'

const LISTEN = ['/ip4/127.0.0.1/udp/0/quic-v1']

export interface LineRoute {
  name: string
  /** Hops the route should take (1 = direct). */
  hops: number
  destination: string
  /** The path traceCall reported (node names A–D). */
  path: string[]
  /** Latency, µs, from the interleaved run. */
  latency?: LatencySummary
  throughput?: {
    inflight: number
    calls: number
    seconds: number
    callsPerSecond: number
    /** CPU µs per completed call, per node (A, B, C, D) and in all; only with separate processes. */
    cpuUsPerCall?: Record<string, number>
    /** CPUs' worth of time other processes used meanwhile. */
    otherCores?: number
  }
  error?: string
}

export interface LineResult {
  mode: 'processes' | 'in-process'
  nodes: Array<{ name: string, nodeId: string, pid: number }>
  payload: number
  latencySeconds?: number
  latencyOtherCores?: number
  routes: LineRoute[]
  /** The origin's counters over all the measured calls: how many needed a resolution. */
  steady?: SteadyRow
  /** Forwarded calls counted by the gateways (B, C) over the run. */
  forwarded?: Record<string, number>
  /**
   * The fixed cost of a routed call at its two ends, whatever its hop count, timed in this process
   * after the line stopped: the origin's MAC (OriginAuth.seal) and the destination's check
   * (OriginAuth.verify), and as the baseline an Ed25519 signature and its check; µs per call,
   * median of batches.
   */
  originAuth?: { sealUs: number, verifyUs: number, signUs: number, checkUs: number, calls: number }
  error?: string
}

interface LineNode {
  name: string
  nodeId: string
  addresses: string[]
  pid: number
  /** Cumulative CPU µs of the node's process (undefined when it shares this process) and its counters. */
  usage: () => Promise<{ cpuUs?: number, counters: Counters }>
  stop: () => Promise<void>
}

const NAMES = ['A', 'B', 'C', 'D']

export async function runLine (config: RoutingConfig, log: (line: string) => void): Promise<LineResult> {
  const result: LineResult = { mode: config.line, nodes: [], payload: config.payload, routes: [] }
  const ids = await identities(4)
  const started: LineNode[] = []
  let origin: Mesh | undefined
  try {
    // D first, each node bootstrapping to the next one along, as test/routing/routing.test.ts does.
    for (let i = 3; i >= 1; i--) {
      const neighbours = [ids[i - 1].id, ids[i + 1]?.id].filter((x): x is string => x !== undefined)
      const bootstrap = i < 3 ? started[0].addresses.slice(0, 1) : []
      const node = config.line === 'processes'
        ? await RoutingNodeProcess.start(NAMES[i], ids[i], neighbours, bootstrap, config.cpuProfileDir)
        : await inProcessNode(NAMES[i], ids[i], neighbours, bootstrap)
      started.unshift(node)
    }
    origin = await startMesh({ listen: LISTEN, privateKey: ids[0].key, bootstrap: started[0].addresses.slice(0, 1), connectionGater: allowPeers(id => id === ids[1].id) }, 'origin A start')
    const a = origin
    const probe = probeDht(a)
    const nodes: LineNode[] = [{ name: 'A', nodeId: a.nodeId, addresses: a.addresses, pid: process.pid, usage: async () => ({ cpuUs: cpuUs(), counters: a.stats().counters }), stop: async () => a.stop() }, ...started]
    result.nodes = nodes.map(n => ({ name: n.name, nodeId: n.nodeId, pid: n.pid }))
    const nameOf = new Map(nodes.map(n => [n.nodeId, n.name]))
    log(`  line A – B – C – D (${config.line === 'processes' ? `B, C, D in child processes ${started.map(n => n.pid).join(', ')}` : 'all in this process'})`)

    const payload = makePayload(config.payload)
    const routes: LineRoute[] = []
    const calls: Call[] = []
    for (let hops = 1; hops <= 3; hops++) {
      const destination = nodes[hops].nodeId
      const route: LineRoute = { name: hops === 1 ? 'direct (A→B)' : `${hops} hops (A→${NAMES[hops]})`, hops, destination, path: [] }
      routes.push(route)
      calls.push(async () => a.call(destination, 'bench.echo', payload))
      try {
        const trace = await withTimeout(a.traceCall(destination, 'bench.echo', payload, { timeout: 15_000 }), 20_000, `first call to ${NAMES[hops]}`)
        route.path = trace.path.map(id => nameOf.get(id) ?? id)
        if (!sameBytes(trace.value, payload)) throw new Error('the echo returned something else')
        if (trace.path.length - 1 !== hops) throw new Error(`traceCall took ${trace.path.length - 1} hops (${route.path.join(' → ')}), not ${hops}`)
      } catch (err) {
        route.error = message(err)
      }
    }
    result.routes = routes
    const ok = routes.filter(r => r.error === undefined)
    if (ok.length === 0) return result
    const okCalls = routes.map((r, i) => r.error === undefined ? calls[i] : undefined).filter((c): c is Call => c !== undefined)

    // The origin's counters from here on: every measured call is to a destination it has reached.
    const countersBefore = { ...a.stats().counters }
    const probedBefore = probe.network
    const forwardedBefore = await forwardedBy(nodes)

    for (const [i, route] of routes.entries()) {
      if (route.error !== undefined || config.warmup <= 0) continue
      try {
        await throughputLoop(calls[i], config.inflight, { seconds: config.warmup, maxCalls: config.maxCalls })
      } catch (err) {
        route.error = `warm-up: ${message(err)}`
      }
    }

    const latencySeconds = config.seconds * okCalls.length
    log(`  latency: the ${okCalls.length} routes interleaved for ${latencySeconds} s, 1 in flight`)
    try {
      const before = await snapshot(nodes)
      const run = await interleavedLatencyLoop(okCalls, { seconds: latencySeconds, maxCalls: config.maxCalls })
      const after = await snapshot(nodes)
      result.latencySeconds = run.seconds
      result.latencyOtherCores = otherCores(before, after)
      let k = 0
      for (const route of routes) if (route.error === undefined) route.latency = run.histograms[k++].summary()
    } catch (err) {
      for (const route of ok) route.error = `latency: ${message(err)}`
    }

    for (const [i, route] of routes.entries()) {
      if (route.error !== undefined) continue
      try {
        const before = await snapshot(nodes)
        const run = await throughputLoop(calls[i], config.inflight, { seconds: config.seconds, maxCalls: config.maxCalls })
        const after = await snapshot(nodes)
        route.throughput = {
          inflight: config.inflight,
          calls: run.calls,
          seconds: run.seconds,
          callsPerSecond: run.callsPerSecond,
          cpuUsPerCall: config.line === 'processes' ? cpuPerCall(before, after, run.calls) : undefined,
          otherCores: config.line === 'processes' ? otherCores(before, after) : undefined
        }
        log(`  ${route.name.padEnd(16)} p50 ${fmt(route.latency?.p50)} µs, p99 ${fmt(route.latency?.p99)} µs, ${Math.round(run.callsPerSecond).toLocaleString('en-US')} calls/s`)
      } catch (err) {
        route.error = `throughput: ${message(err)}`
      }
    }

    const after = a.stats().counters
    const made = (after.callsSent - countersBefore.callsSent)
    const errors = Object.values(after.callErrors).reduce((x, y) => x + y, 0) - Object.values(countersBefore.callErrors).reduce((x, y) => x + y, 0)
    const resolutions = after.resolutions - countersBefore.resolutions
    const network = probe.network - probedBefore
    result.steady = {
      scope: `line: A's calls to B, C, D during the measurements (${ok.length} destinations, 2 of them routed)`,
      calls: made,
      failed: errors,
      seconds: 0,
      resolutions,
      discoveries: after.discoveries - countersBefore.discoveries,
      dhtLookups: after.dhtLookups - countersBefore.dhtLookups,
      dhtNetworkQueries: network,
      noLookupShare: made === 0 ? Number.NaN : 1 - (resolutions + network) / made
    }
    const forwardedAfter = await forwardedBy(nodes)
    result.forwarded = Object.fromEntries(Object.entries(forwardedAfter).map(([k, v]) => [k, v - (forwardedBefore[k] ?? 0)]))
    return result
  } catch (err) {
    result.error = message(err)
    return result
  } finally {
    await Promise.allSettled([
      ...(origin === undefined ? [] : [withTimeout(origin.stop(), 10_000, 'origin stop')]),
      ...started.map(async n => n.stop())
    ])
    try {
      result.originAuth = await timeOriginAuth(ids, config.payload)
    } catch (err) {
      result.error ??= `origin auth timing: ${message(err)}`
    }
  }
}

/**
 * Times OriginAuth.seal at A and OriginAuth.verify at C for a 2-hop route, in batches, and, as the
 * baseline, an Ed25519 signature and its check over the same bytes (the scheme the MAC replaced);
 * bounded.
 */
async function timeOriginAuth (ids: Identity[], size: number): Promise<NonNullable<LineResult['originAuth']>> {
  const payload = makePayload(size)
  const path = [ids[0].id, ids[1].id, ids[2].id]
  const origin = new OriginAuth(ids[0].id, privateKeyFromProtobuf(ids[0].key))
  const destination = new OriginAuth(ids[2].id, privateKeyFromProtobuf(ids[2].key))
  const BATCH = 200
  const times: Record<'seal' | 'verify' | 'sign' | 'check', number[]> = { seal: [], verify: [], sign: [], check: [] }
  const timed = async (into: number[], run: () => Promise<void>): Promise<void> => {
    const t0 = performance.now()
    await run()
    into.push((performance.now() - t0) * 1000 / BATCH)
  }
  const until = performance.now() + 4_000
  for (let b = 0; b < 6 && performance.now() < until; b++) {
    const headers: RouteHeader[] = []
    await timed(times.seal, async () => { for (let i = 0; i < BATCH; i++) headers.push({ hop: 2, budget: 8, path, ...origin.seal(ids[2].id, 'bench.echo', payload) }) })
    await timed(times.verify, async () => { for (const header of headers) destination.verify(header, 'bench.echo', payload) })
    const signatures: Uint8Array[] = []
    await timed(times.sign, async () => { for (let i = 0; i < BATCH; i++) signatures.push(await origin.signBytes(payload)) })
    await timed(times.check, async () => { for (const signature of signatures) if (!await destination.verifies(ids[0].id, payload, signature)) throw new Error('a signature did not verify') })
  }
  // The first batch warms up; the median of the rest.
  const median = (xs: number[]): number => { const s = xs.slice(1).sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)] ?? xs[0] }
  return { sealUs: median(times.seal), verifyUs: median(times.verify), signUs: median(times.sign), checkUs: median(times.check), calls: BATCH * times.seal.length }
}

interface Snapshot { at: number, machine?: number, cpu: Array<number | undefined> }

async function snapshot (nodes: LineNode[]): Promise<Snapshot> {
  const usages = await Promise.all(nodes.map(async n => n.usage()))
  return { at: performance.now(), machine: machineBusyUs(), cpu: usages.map(u => u.cpuUs) }
}

function cpuPerCall (before: Snapshot, after: Snapshot, calls: number): Record<string, number> {
  const out: Record<string, number> = {}
  let total = 0
  for (let i = 0; i < NAMES.length; i++) {
    const b = before.cpu[i]
    const a = after.cpu[i]
    if (a === undefined || b === undefined) continue
    out[NAMES[i]] = (a - b) / Math.max(1, calls)
    total += out[NAMES[i]]
  }
  out.total = total
  return out
}

/** CPUs' worth of time that went to processes other than the line's between two snapshots. */
function otherCores (before: Snapshot, after: Snapshot): number | undefined {
  if (before.machine === undefined || after.machine === undefined) return undefined
  if (before.cpu.some(c => c === undefined)) return undefined
  const ours = after.cpu.reduce<number>((s, c, i) => s + ((c as number) - (before.cpu[i] as number)), 0)
  const wallUs = (after.at - before.at) * 1000
  return wallUs <= 0 ? undefined : Math.max(0, (after.machine - before.machine - ours) / wallUs)
}

async function forwardedBy (nodes: LineNode[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const n of nodes.slice(1, 3)) out[n.name] = (await n.usage()).counters.routedForwarded
  return out
}

function cpuUs (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

function makePayload (size: number): Uint8Array {
  const payload = new Uint8Array(size)
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + 7) & 0xff
  return payload
}

function fmt (us: number | undefined): string {
  return us === undefined ? '-' : us < 100 ? us.toFixed(1) : Math.round(us).toLocaleString('en-US')
}

async function inProcessNode (name: string, id: Identity, neighbours: string[], bootstrap: string[]): Promise<LineNode> {
  const mesh = await startMesh({ listen: LISTEN, privateKey: id.key, bootstrap, connectionGater: allowPeers(id => neighbours.includes(id)) }, `${name} start`)
  mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
  return { name, nodeId: mesh.nodeId, addresses: mesh.addresses, pid: process.pid, usage: async () => ({ counters: mesh.stats().counters }), stop: async () => withTimeout(mesh.stop(), 10_000, `${name} stop`) }
}

/** A line node in a child process (bench/routing-node.ts), stopped by its pid. */
class RoutingNodeProcess implements LineNode {
  readonly name: string
  readonly #process: ServerProcess

  private constructor (name: string, node: ServerProcess) {
    this.name = name
    this.#process = node
  }

  get nodeId (): string { return this.#process.nodeId }
  get addresses (): string[] { return this.#process.addresses }
  get pid (): number { return this.#process.pid }

  static async start (name: string, id: Identity, allow: string[], bootstrap: string[], cpuProfileDir: string | undefined): Promise<RoutingNodeProcess> {
    const node = await ServerProcess.start({
      script: './routing-node.js',
      label: `line node ${name}`,
      execArgv: cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`, `--cpu-prof-name=routing-node-${name}-${Date.now()}.cpuprofile`],
      env: {
        ...process.env,
        ROUTING_NODE_KEY: Buffer.from(id.key).toString('hex'),
        ROUTING_NODE_ALLOW: allow.join(','),
        ROUTING_NODE_BOOTSTRAP: bootstrap.join(',')
      }
    })
    if (node.nodeId !== id.id) {
      await node.stop()
      throw new Error(`line node ${name} runs as ${node.nodeId}, not ${id.id}`)
    }
    return new RoutingNodeProcess(name, node)
  }

  async usage (): Promise<{ cpuUs: number, counters: Counters }> {
    const usage = await this.#process.usage()
    return { cpuUs: usage.cpuUs, counters: usage.mesh.counters }
  }

  async stop (): Promise<void> {
    await this.#process.stop()
  }
}
