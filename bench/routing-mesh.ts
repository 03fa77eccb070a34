/**
 * The routing benchmark's mesh: N nodes in this process (127.0.0.1, each bootstrapping to 1–2
 * earlier nodes), left to settle, then
 *  - cold resolution: fresh nodes join and resolve nodes they have no connection to, with libp2p's
 *    network `findPeer` (time, and the DHT hops from the query's events) and with kadmesh's first
 *    call (time, and which path the resolver took);
 *  - steady state: nodes that have already talked call each other at random; the counters say how
 *    many of those calls needed a resolution or a DHT query.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Counters, Mesh } from '../src/index.js'
import { kadKey } from '../src/routing/xor.js'
import { throughputLoop } from './loops.js'
import type { RoutingConfig } from './routing-config.js'
import { message, pick, random, sleep, type SmallSummary, startMesh, summarize, withTimeout } from './routing-util.js'

const LISTEN = ['/ip4/127.0.0.1/udp/0/quic-v1']
/** Longest a single lookup or first call may take before it counts as failed (ms). */
const LOOKUP_TIMEOUT = 10_000
/** Longest wait for a fresh node's first DHT self-query (ms). */
const SELF_QUERY_WAIT = 4_000

export interface MeshBuild {
  nodes: number
  buildSeconds: number
  settleSeconds: number
  /** False when the routing tables were still changing when the settle time ran out. */
  settled: boolean
  routingTable: SmallSummary
  connections: SmallSummary
}

/** One cold lookup or first call. */
export interface ColdSample {
  kind: ColdKind
  fresh: string
  target: string
  ok: boolean
  ms?: number
  error?: string
  /** DHT hops: depth of the queried peer whose answer named the target (1: a peer from our own routing table knew it). */
  hops?: number
  /** Distinct peers that answered before the target was found. */
  peersQueried?: number
  /** For kadmesh calls: the route taken (node ids) and which way the resolver went. */
  pathLength?: number
  via?: 'dial, address known' | 'DHT lookup, then dial' | 'route discovery' | 'route table' | 'other'
  /** Addresses of the target in the fresh node's peer store just before. */
  addressesKnown?: number
  /** Counter deltas on the fresh node over the call. */
  resolutions?: number
  discoveries?: number
  dhtLookups?: number
  /** DHT findPeer queries that went to the network during the call (instrumented on the node's DHT). */
  dhtNetworkQueries?: number
  /** ms those queries took (start to the target found), part of `ms`. */
  dhtMs?: number
}

export type ColdKind = 'libp2p findPeer (network)' | 'libp2p DHT query events' | 'kadmesh first call'

export const COLD_KINDS: ColdKind[] = ['libp2p findPeer (network)', 'libp2p DHT query events', 'kadmesh first call']

export interface ColdRow {
  kind: ColdKind
  samples: number
  ok: number
  ms: SmallSummary
  hops?: SmallSummary
  peersQueried?: SmallSummary
  /** How the kadmesh calls went: count per resolver path. */
  via?: Record<string, number>
  /** kadmesh calls: the part of each call spent in the DHT lookup libp2p's dial made. */
  dhtMs?: SmallSummary
}

export interface ColdResult {
  freshNodes: number
  /** Fresh nodes whose first DHT self-query was seen finishing before they were measured. */
  selfQuerySeen: number
  /** Unconnected targets each fresh node had left to pick from, at its start. */
  unconnectedAtStart: SmallSummary
  /** Lookups not made because the fresh node was already connected to every mesh node. */
  skipped: number
  rows: ColdRow[]
  samples: ColdSample[]
}

export interface SteadyRow {
  scope: string
  /** Calls made (completed or failed) over the run. */
  calls: number
  failed: number
  seconds: number
  resolutions: number
  discoveries: number
  dhtLookups: number
  /** DHT findPeer queries that went to the network (all nodes of the scope, instrumented). */
  dhtNetworkQueries?: number
  /** Share of calls that needed no resolution and no DHT query: 1 − (resolutions + DHT queries) / calls. */
  noLookupShare: number
  note?: string
  error?: string
}

export interface SteadyResult {
  nodes: number
  pairs: number
  warmupCalls: number
  warmupFailed: number
  rows: SteadyRow[]
}

/**
 * Counts a node's DHT findPeer queries, and those that went to the network (a SEND_QUERY);
 * `networkMs` adds up how long those took until the peer was found (or the query ended).
 */
export interface DhtProbe { findPeer: number, network: number, networkMs: number }

type FindPeer = (id: unknown, options?: unknown) => AsyncIterable<{ name: string }>

/** Wraps a node's `services.dht.findPeer` (an own property) to count its queries. Bench-only instrumentation. */
export function probeDht (mesh: Mesh): DhtProbe {
  const probe: DhtProbe = { findPeer: 0, network: 0, networkMs: 0 }
  const dht = mesh.libp2p.services.dht as unknown as { findPeer: FindPeer }
  const original = dht.findPeer
  dht.findPeer = async function * (id: unknown, options?: unknown) {
    probe.findPeer++
    let network = false
    const t0 = performance.now()
    let counted = false
    const count = (): void => { if (network && !counted) { counted = true; probe.networkMs += performance.now() - t0 } }
    try {
      for await (const event of original(id, options)) {
        if (!network && event.name === 'SEND_QUERY') { network = true; probe.network++ }
        if (event.name === 'FINAL_PEER') count()
        yield event
      }
    } finally {
      count()
    }
  }
  return probe
}

export class TestMesh {
  readonly meshes: Mesh[] = []
  readonly fresh: Mesh[] = []
  readonly #rng: () => number
  readonly #payload: Uint8Array
  readonly #probes = new Map<Mesh, DhtProbe>()

  constructor (seed: number, payload: Uint8Array) {
    this.#rng = random(seed)
    this.#payload = payload
  }

  /** Starts `n` nodes one after the other, each bootstrapping to 1–2 random earlier ones, and waits (bounded) for the DHT tables to stop changing. */
  async build (n: number, settleSeconds: number, log: (line: string) => void): Promise<MeshBuild> {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const earlier = this.meshes.map((_, j) => j)
      const count = i < 2 ? i : 1 + (this.#rng() < 0.5 ? 1 : 0)
      const bootstrap = pick(this.#rng, earlier, count).map(j => this.meshes[j].addresses[0])
      const mesh = await startMesh({ listen: LISTEN, bootstrap }, `mesh node ${i} start`)
      mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
      this.meshes.push(mesh)
      this.#probes.set(mesh, probeDht(mesh))
    }
    const built = performance.now()
    log(`  ${n} nodes started in ${((built - t0) / 1000).toFixed(1)} s; waiting (at most ${settleSeconds} s) for their DHT tables to settle`)
    const settled = await this.#settle(settleSeconds)
    const settledAt = performance.now()
    return {
      nodes: n,
      buildSeconds: (built - t0) / 1000,
      settleSeconds: (settledAt - built) / 1000,
      settled,
      routingTable: summarize(this.meshes.map(tableSize)),
      connections: summarize(this.meshes.map(m => m.libp2p.getConnections().length))
    }
  }

  /** Settled: every routing table non-empty and none changed size over the last 2 s. */
  async #settle (seconds: number): Promise<boolean> {
    const until = performance.now() + seconds * 1000
    let last = ''
    let stableSince = performance.now()
    while (performance.now() < until) {
      await sleep(500)
      const sizes = this.meshes.map(tableSize)
      const key = sizes.join(',')
      if (key !== last) { last = key; stableSince = performance.now(); continue }
      if (sizes.every(s => s > 0) && performance.now() - stableSince >= 2_000) return true
    }
    return false
  }

  /** Fresh nodes join one at a time and resolve mesh nodes they are not connected to. */
  async cold (config: RoutingConfig, log: (line: string) => void): Promise<ColdResult> {
    const samples: ColdSample[] = []
    let selfQuerySeen = 0
    let skipped = 0
    const unconnectedAtStart: number[] = []
    for (let f = 0; f < config.fresh; f++) {
      const boot = pick(this.#rng, this.meshes, 1 + (this.#rng() < 0.5 ? 1 : 0))
      const node = await startMesh({ listen: LISTEN, bootstrap: boot.map(m => m.addresses[0]) }, 'fresh node start')
      const selfQuery = waitForSelfQuery(node, SELF_QUERY_WAIT)
      node.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
      this.fresh.push(node)
      const probe = probeDht(node)
      this.#probes.set(node, probe)
      if (await selfQuery) selfQuerySeen++
      const used = new Set<string>()
      const candidates = pick(this.#rng, this.meshes, this.meshes.length)
      unconnectedAtStart.push(candidates.filter(m => !connected(node, m.nodeId)).length)
      const target = (unconnectedOnly: boolean): Mesh | undefined => {
        const found = candidates.find(m => !used.has(m.nodeId) && !connected(node, m.nodeId) && !node.routes().some(r => r.destination === m.nodeId))
        const chosen = found ?? (unconnectedOnly ? undefined : candidates.find(m => !used.has(m.nodeId)))
        if (chosen !== undefined) used.add(chosen.nodeId)
        return chosen
      }
      for (let l = 0; l < config.lookups; l++) {
        // kadmesh first (it needs a target the node has no connection to, and lookups add connections)
        const k = target(true)
        if (k === undefined) skipped++
        else samples.push(await this.#firstCall(node, probe, k))
        const t = target(false)
        if (t === undefined) { skipped += 2; continue }
        samples.push(await findPeerNetwork(node, t))
        samples.push(await dhtQueryEvents(node, t))
      }
      const mine = samples.filter(s => s.fresh === node.nodeId)
      log(`  fresh node ${f + 1}/${config.fresh}: ${mine.filter(s => s.ok).length}/${mine.length} ok` +
        (mine.some(s => !s.ok) ? ` (${mine.find(s => !s.ok)?.error ?? ''})` : ''))
    }
    const rows: ColdRow[] = COLD_KINDS.map(kind => {
      const of = samples.filter(s => s.kind === kind)
      const ok = of.filter(s => s.ok)
      const row: ColdRow = { kind, samples: of.length, ok: ok.length, ms: summarize(ok.map(s => s.ms as number)) }
      if (kind === 'libp2p DHT query events') {
        row.hops = summarize(ok.map(s => s.hops as number))
        row.peersQueried = summarize(ok.map(s => s.peersQueried as number))
      }
      if (kind.startsWith('kadmesh')) {
        row.via = {}
        for (const s of ok) row.via[s.via ?? 'other'] = (row.via[s.via ?? 'other'] ?? 0) + 1
        row.dhtMs = summarize(ok.filter(s => s.dhtNetworkQueries !== undefined && s.dhtNetworkQueries > 0).map(s => s.dhtMs as number))
      }
      return row
    })
    return { freshNodes: config.fresh, selfQuerySeen, unconnectedAtStart: summarize(unconnectedAtStart), skipped, rows, samples }
  }

  /** kadmesh's first call to a node this one has no connection or route to, as the node is (its peer store may or may not know the target's address). */
  async #firstCall (node: Mesh, probe: DhtProbe, target: Mesh): Promise<ColdSample> {
    const sample: ColdSample = { kind: 'kadmesh first call', fresh: node.nodeId, target: target.nodeId, ok: false }
    try {
      sample.addressesKnown = await addressesKnown(node, target.nodeId)
      const before = { ...node.stats().counters }
      const probed = { ...probe }
      const t0 = performance.now()
      const trace = await node.traceCall(target.nodeId, 'bench.echo', this.#payload, { timeout: LOOKUP_TIMEOUT })
      sample.ms = performance.now() - t0
      const after = node.stats().counters
      sample.resolutions = after.resolutions - before.resolutions
      sample.discoveries = after.discoveries - before.discoveries
      sample.dhtLookups = after.dhtLookups - before.dhtLookups
      sample.dhtNetworkQueries = probe.network - probed.network
      sample.dhtMs = probe.networkMs - probed.networkMs
      sample.pathLength = trace.path.length - 1
      sample.via = sample.discoveries > 0
        ? 'route discovery'
        : sample.resolutions === 0
          ? 'route table'
          : sample.dhtNetworkQueries > 0 || sample.dhtLookups > 0
            ? 'DHT lookup, then dial'
            : sample.addressesKnown > 0 ? 'dial, address known' : 'other'
      sample.ok = sameBytes(trace.value, this.#payload)
      if (!sample.ok) sample.error = 'echo returned something else'
    } catch (err) {
      sample.error = message(err)
    }
    return sample
  }

  /**
   * Random calls between `count` nodes that have all called each other once already; the counters
   * (summed over those nodes) and the DHT probes say how many calls needed a resolution or a DHT query.
   */
  async steady (config: RoutingConfig, log: (line: string) => void): Promise<SteadyResult> {
    const talkers = pick(this.#rng, this.meshes, Math.min(config.steadyNodes, this.meshes.length))
    const pairs: Array<[Mesh, Mesh]> = []
    for (const a of talkers) for (const b of talkers) if (a !== b) pairs.push([a, b])
    let warmupFailed = 0
    // Warm-up: every ordered pair talks once (each origin's calls in turn, the origins in parallel).
    await Promise.all(talkers.map(async (a) => {
      for (const [from, to] of pairs) {
        if (from !== a) continue
        try {
          await from.call(to.nodeId, 'bench.echo', this.#payload, { timeout: LOOKUP_TIMEOUT })
        } catch {
          warmupFailed++
        }
      }
    }))
    log(`  steady state: ${talkers.length} nodes, ${pairs.length} ordered pairs warmed up (${warmupFailed} failed)`)

    const sum = (): { counters: Pick<Counters, 'resolutions' | 'discoveries' | 'dhtLookups'>, network: number } => {
      const counters = { resolutions: 0, discoveries: 0, dhtLookups: 0 }
      let network = 0
      for (const m of talkers) {
        const c = m.stats().counters
        counters.resolutions += c.resolutions
        counters.discoveries += c.discoveries
        counters.dhtLookups += c.dhtLookups
        network += this.#probes.get(m)?.network ?? 0
      }
      return { counters, network }
    }
    const before = sum()
    let calls = 0
    let failed = 0
    let firstError: string | undefined
    const rng = random(config.seed + 1)
    const call = async (): Promise<void> => {
      const [from, to] = pairs[Math.floor(rng() * pairs.length)]
      calls++
      try {
        await from.call(to.nodeId, 'bench.echo', this.#payload, { timeout: LOOKUP_TIMEOUT })
      } catch (err) {
        failed++
        firstError ??= message(err)
      }
    }
    const row: SteadyRow = {
      scope: `mesh: random calls between ${talkers.length} nodes that have talked (8 in flight)`,
      calls: 0,
      failed: 0,
      seconds: 0,
      resolutions: 0,
      discoveries: 0,
      dhtLookups: 0,
      noLookupShare: Number.NaN
    }
    try {
      const run = await throughputLoop(call, 8, { seconds: config.seconds, maxCalls: Math.min(config.maxCalls, 200_000) })
      row.seconds = run.seconds
    } catch (err) {
      row.error = message(err)
    }
    const after = sum()
    row.calls = calls
    row.failed = failed
    row.resolutions = after.counters.resolutions - before.counters.resolutions
    row.discoveries = after.counters.discoveries - before.counters.discoveries
    row.dhtLookups = after.counters.dhtLookups - before.counters.dhtLookups
    row.dhtNetworkQueries = after.network - before.network
    row.noLookupShare = calls === 0 ? Number.NaN : 1 - (row.resolutions + row.dhtNetworkQueries) / calls
    if (firstError !== undefined) row.note = `first error: ${firstError}`
    return { nodes: talkers.length, pairs: pairs.length, warmupCalls: pairs.length, warmupFailed, rows: [row] }
  }

  /** Stops every node (bounded). */
  async stop (): Promise<void> {
    const all = [...this.fresh, ...this.meshes]
    await Promise.allSettled(all.map(async m => withTimeout(m.stop(), 10_000, 'mesh node stop')))
  }
}

/** libp2p's network lookup, as kadmesh would use it: `peerRouting.findPeer(id, { useCache: false })`. */
async function findPeerNetwork (node: Mesh, target: Mesh): Promise<ColdSample> {
  const sample: ColdSample = { kind: 'libp2p findPeer (network)', fresh: node.nodeId, target: target.nodeId, ok: false }
  try {
    const t0 = performance.now()
    const info = await node.libp2p.peerRouting.findPeer(peerIdFromString(target.nodeId), { useCache: false, signal: AbortSignal.timeout(LOOKUP_TIMEOUT) })
    sample.ms = performance.now() - t0
    sample.ok = info.multiaddrs.length > 0
    if (!sample.ok) sample.error = 'found without addresses'
  } catch (err) {
    sample.error = message(err)
  }
  return sample
}

/**
 * The same lookup through `dht.findPeer`'s query events, to count hops: the peers the query starts
 * from (the closest in our routing table) are depth 1; a peer first named in the `closer` list of a
 * depth-d peer is depth d+1; the hops are the depth of the peer whose answer named the target.
 */
export async function dhtQueryEvents (node: Mesh, target: Mesh): Promise<ColdSample> {
  const sample: ColdSample = { kind: 'libp2p DHT query events', fresh: node.nodeId, target: target.nodeId, ok: false }
  const dht = node.libp2p.services.dht
  const table = dht.routingTable as unknown as { closestPeers: (key: Uint8Array, options?: { count?: number }) => Array<{ toString: () => string }> }
  const depth = new Map<string, number>()
  for (const p of table.closestPeers(kadKey(target.nodeId), { count: dht.k })) depth.set(p.toString(), 1)
  const responded = new Set<string>()
  const signal = AbortSignal.timeout(LOOKUP_TIMEOUT)
  try {
    const t0 = performance.now()
    for await (const event of dht.findPeer(peerIdFromString(target.nodeId), { useCache: false, signal })) {
      if (event.name === 'SEND_QUERY') {
        const to = event.to.toString()
        if (!depth.has(to)) depth.set(to, 1)
      } else if (event.name === 'PEER_RESPONSE') {
        const from = event.from.toString()
        responded.add(from)
        const d = depth.get(from) ?? 1
        for (const c of event.closer) if (!depth.has(c.id.toString())) depth.set(c.id.toString(), d + 1)
      } else if (event.name === 'FINAL_PEER') {
        sample.ms = performance.now() - t0
        sample.hops = depth.get(event.from.toString()) ?? 1
        sample.peersQueried = responded.size
        sample.ok = true
        break
      }
    }
    if (!sample.ok) sample.error = 'query ended without finding the peer'
  } catch (err) {
    sample.error = message(err)
  }
  return sample
}

/** Resolves true when the node's first DHT self-query finished within `ms`, false otherwise. */
async function waitForSelfQuery (node: Mesh, ms: number): Promise<boolean> {
  return new Promise<boolean>(resolve => {
    const done = (seen: boolean): void => {
      clearTimeout(timer)
      node.libp2p.removeEventListener('kad-dht:query:self' as never, onEvent)
      resolve(seen)
    }
    const onEvent = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, ms)
    node.libp2p.addEventListener('kad-dht:query:self' as never, onEvent)
  })
}

function tableSize (mesh: Mesh): number {
  return (mesh.libp2p.services.dht.routingTable as unknown as { size: number }).size
}

function connected (node: Mesh, nodeId: string): boolean {
  return node.libp2p.getConnections(peerIdFromString(nodeId)).some(c => c.status === 'open')
}

async function addressesKnown (node: Mesh, nodeId: string): Promise<number> {
  try {
    return (await node.libp2p.peerStore.get(peerIdFromString(nodeId))).addresses.length
  } catch {
    return 0
  }
}

export function sameBytes (value: unknown, expected: Uint8Array): boolean {
  if (!(value instanceof Uint8Array) || value.byteLength !== expected.byteLength) return false
  for (let i = 0; i < expected.byteLength; i++) if (value[i] !== expected[i]) return false
  return true
}
