/**
 * Warm resolution: what it costs to find the way to a destination this node already knows, in ns
 * per lookup, against libp2p's own cached `peerRouting.findPeer` for a connected peer, measured in
 * the same process, on the same node, one after the other.
 *
 * Each operation runs in batches (a batch is timed as a whole, so the clock is not part of what is
 * measured); the figure is the median batch's ns per operation. Every loop is bounded in batches,
 * operations and time.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Mesh } from '../src/index.js'
import { Resolver } from '../src/routing/resolver.js'
import { RouteTable } from '../src/routing/route-table.js'
import type { RouteDiscovery } from '../src/routing/discovery.js'
import { createCounters } from '../src/stats.js'
import { identities } from './routing-util.js'

export interface WarmOp {
  name: string
  /** What was measured, in a few words. */
  what: string
  /** Median batch, ns per operation. */
  nsPerOp: number
  minNsPerOp: number
  maxNsPerOp: number
  batches: number
  opsPerBatch: number
  /** True for the libp2p baseline. */
  baseline: boolean
}

export interface WarmResult {
  tableSize: number
  ops: WarmOp[]
  /** The node whose libp2p answered the baseline, and the connected peer it looked up. */
  baselineNode?: string
  baselinePeer?: string
  /** How many peers that node's DHT routing table and peer store held. */
  baselineRoutingTable?: number
  baselinePeerStore?: number
  error?: string
}

/** Batches per operation, and the time one operation's batches may take in all. */
const MAX_BATCHES = 15
const MAX_MS_PER_OP = 2_000
/** Aim for batches of about this long. */
const BATCH_MS = 40

/** Keeps results alive so the optimiser cannot drop the lookups. */
let sink = 0

export async function runWarm (mesh: Mesh, peer: string, tableSize: number): Promise<WarmResult> {
  const ids = (await identities(tableSize)).map(i => i.id)
  const table = new RouteTable(Math.max(10_000, tableSize), 5 * 60_000)
  ids.forEach((id, i) => { table.set(id, [mesh.nodeId, ids[(i + 1) % ids.length], id]) })
  const resolver = new Resolver({
    self: mesh.nodeId,
    table,
    discovery: undefined as unknown as RouteDiscovery,
    counters: createCounters(),
    connectDirect: async () => { throw new Error('the warm benchmark only resolves known destinations') },
    gateways: async () => { throw new Error('the warm benchmark only resolves known destinations') },
    hasRoom: () => false,
    negativeTtl: 2_000
  })
  // Mesh.#dispatch's check for a direct destination: `pools.get(nodeId)` then `pool.streams > 0`.
  const pools = new Map<string, FakePool>()
  for (const id of ids) pools.set(id, new FakePool())
  const n = ids.length

  const ops: WarmOp[] = []
  ops.push(await measureSync('RouteTable.get', `route-table hit, ${n} routes (one Map lookup + expiry check)`, (count, start) => {
    let acc = 0
    for (let i = 0; i < count; i++) acc += (table.get(ids[(start + i) % n]) as string[]).length
    return acc
  }))
  ops.push(await measureSync('pool lookup (dispatch)', `Map.get + streams > 0 over ${n} pools (Mesh.#dispatch's warm check, replicated)`, (count, start) => {
    let acc = 0
    for (let i = 0; i < count; i++) {
      const pool = pools.get(ids[(start + i) % n])
      if (pool !== undefined && pool.streams > 0) acc++
    }
    return acc
  }))
  ops.push(await measureAsync('Resolver.resolve (cached route)', 'await resolve() of a known routed destination', async (count, start) => {
    let acc = 0
    for (let i = 0; i < count; i++) acc += (await resolver.resolve(ids[(start + i) % n], 8, 0)).length
    return acc
  }))

  const result: WarmResult = { tableSize: n, ops }
  try {
    const peerId = peerIdFromString(peer)
    const libp2p = mesh.libp2p
    if (!libp2p.getConnections(peerId).some(c => c.status === 'open')) throw new Error(`${peer} is not connected to ${mesh.nodeId}`)
    const first = await libp2p.peerRouting.findPeer(peerId, { signal: AbortSignal.timeout(5_000) })
    if (first.multiaddrs.length === 0) throw new Error('the cached findPeer returned no addresses')
    result.baselineNode = mesh.nodeId
    result.baselinePeer = peer
    result.baselineRoutingTable = (libp2p.services.dht.routingTable as unknown as { size: number }).size
    result.baselinePeerStore = (await libp2p.peerStore.all()).length
    // useNetwork: false only bounds the loop (a cache miss would fail instead of starting a network query); a hit takes the same path.
    const cacheOnly = { useNetwork: false }
    ops.push(await measureAsync('libp2p peerRouting.findPeer (cached)', 'await findPeer() of a connected peer: routing table + peer store, no network', async (count) => {
      let acc = 0
      for (let i = 0; i < count; i++) acc += (await libp2p.peerRouting.findPeer(peerId, cacheOnly)).multiaddrs.length
      return acc
    }, true))
    // What findPeer's cached path boils down to, without its routing-table check and its peer-store
    // merge of the addresses it found: a second, cheaper libp2p reference point.
    ops.push(await measureAsync('libp2p peerStore.get', 'await peerStore.get() of the same peer (the read under the cached findPeer)', async (count) => {
      let acc = 0
      for (let i = 0; i < count; i++) acc += (await libp2p.peerStore.get(peerId)).addresses.length
      return acc
    }, true))
  } catch (err) {
    result.error = `baseline: ${(err as Error).message}`
  }
  if (sink === 0.5) console.log('')
  return result
}

class FakePool {
  readonly #channels = [1]
  get streams (): number { return this.#channels.length }
}

async function measureSync (name: string, what: string, batch: (count: number, start: number) => number): Promise<WarmOp> {
  return measureAsync(name, what, async (count, start) => batch(count, start))
}

async function measureAsync (name: string, what: string, batch: (count: number, start: number) => Promise<number>, baseline = false): Promise<WarmOp> {
  // Calibrate: grow the batch until it takes about BATCH_MS (JIT warm-up happens here too).
  let count = 16
  for (;;) {
    const t0 = process.hrtime.bigint()
    sink += await batch(count, 0)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    if (ms >= BATCH_MS / 4 || count >= 1 << 26) {
      count = Math.max(1, Math.round(count * BATCH_MS / Math.max(ms, 0.001)))
      break
    }
    count *= 4
  }
  const perOp: number[] = []
  const until = performance.now() + MAX_MS_PER_OP
  for (let b = 0; b < MAX_BATCHES && performance.now() < until; b++) {
    const t0 = process.hrtime.bigint()
    sink += await batch(count, b * 7919)
    perOp.push(Number(process.hrtime.bigint() - t0) / count)
  }
  perOp.sort((a, b) => a - b)
  return {
    name,
    what,
    nsPerOp: perOp[Math.floor((perOp.length - 1) / 2)],
    minNsPerOp: perOp[0],
    maxNsPerOp: perOp[perOp.length - 1],
    batches: perOp.length,
    opsPerBatch: count,
    baseline
  }
}
