import { createMesh, type Mesh } from '../../src/index.js'
import { commonPrefixLength, kadKey } from '../../src/routing/xor.js'
import { prng } from '../prng.js'

/**
 * Issue 3's acceptance scenario, shared by its test and `bench/routing-limit.ts`: `n` nodes in this
 * process, each with `maxConnections` and up to three random earlier nodes as bootstrap; once every
 * node has two connections and `warm` ms more have passed, `calls` traced calls between random
 * pairs, `concurrency` at a time.
 */
export interface LimitedMeshInit {
  n: number
  maxConnections: number
  calls: number
  /** ms to wait after every node has two connections (the neighbour managers settle). */
  warm: number
  concurrency?: number
  /** Per call (ms). */
  timeout?: number
  /** QUIC only (no UDP or shared-memory fast path). */
  quicOnly?: boolean
  seed?: number
  log?: (line: string) => void
}

export interface LimitedMeshResult {
  /** Calls by the number of hops they took. */
  hops: Record<number, number>
  /** Failed calls by error code. */
  failures: Record<string, number>
  /** Connections per node when the calls ended. */
  degrees: number[]
  /** (node, k-bucket) pairs, over buckets with other nodes in them, and how many had no connection when the calls ended. */
  buckets: { total: number, uncovered: number }
  seconds: number
}

const SETTLE_MS = 30_000

export async function runLimitedMesh (init: LimitedMeshInit): Promise<LimitedMeshResult> {
  const rnd = prng(init.seed ?? 7)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]
  const log = init.log ?? (() => {})
  const meshes: Mesh[] = []
  const degrees = (): number[] => meshes.map(m => m.libp2p.getConnections().length)
  try {
    for (let i = 0; i < init.n; i++) {
      const bootstrap = meshes.length === 0 ? [] : [...new Set(Array.from({ length: 3 }, () => pick(meshes).addresses[0]))]
      const m = await createMesh({
        listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
        bootstrap,
        maxConnections: init.maxConnections,
        ...(init.quicOnly === true ? { transports: { udp: false, shm: false } } : {})
      })
      m.actor('t', { id: () => m.nodeId })
      meshes.push(m)
    }
    const settled = performance.now() + SETTLE_MS
    while (meshes.some(m => m.libp2p.getConnections().length < 2) && performance.now() < settled) await new Promise(resolve => setTimeout(resolve, 200))
    await new Promise(resolve => setTimeout(resolve, init.warm))
    log(`${init.n} nodes up, connections per node ${summary(degrees())}`)

    const hops: Record<number, number> = {}
    const failures: Record<string, number> = {}
    const started = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: init.concurrency ?? 8 }, async () => {
      while (next < init.calls) {
        next++
        const a = pick(meshes)
        const b = pick(meshes.filter(m => m !== a))
        try {
          const trace = await a.traceCall(b.nodeId, 't.id', null, { timeout: init.timeout ?? 20_000 })
          if (trace.value !== b.nodeId) throw Object.assign(new Error('wrong node answered'), { code: 'WRONG_NODE' })
          hops[trace.path.length - 1] = (hops[trace.path.length - 1] ?? 0) + 1
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'UNKNOWN'
          failures[code] = (failures[code] ?? 0) + 1
          log(`call ${a.nodeId} → ${b.nodeId} failed: ${code} ${(err as Error).message}`)
        }
      }
    }))
    return { hops, failures, degrees: degrees(), buckets: bucketCoverage(meshes), seconds: (performance.now() - started) / 1000 }
  } finally {
    await Promise.all(meshes.map(async m => m.stop()))
  }
}

/** `min/avg/max` of connections per node. */
export function summary (degrees: number[]): string {
  return `min/avg/max ${Math.min(...degrees)} ${(degrees.reduce((a, b) => a + b, 0) / degrees.length).toFixed(1)} ${Math.max(...degrees)}`
}

/** How far the connections follow the Kademlia buckets: for every node, its non-empty buckets without a connection. */
function bucketCoverage (meshes: Mesh[]): { total: number, uncovered: number } {
  let total = 0
  let uncovered = 0
  for (const m of meshes) {
    const bucket = (id: string): number => commonPrefixLength(kadKey(m.nodeId), kadKey(id))
    const covered = new Set(m.libp2p.getConnections().map(c => bucket(c.remotePeer.toString())))
    for (const b of new Set(meshes.filter(o => o !== m).map(o => bucket(o.nodeId)))) {
      total++
      if (!covered.has(b)) uncovered++
    }
  }
  return { total, uncovered }
}
