import { commonPrefixLength, compareDistance, kadKey } from './xor.js'

export interface NeighbourPlan {
  /** Peers to dial (one per k-bucket that has no connection yet). */
  dial: string[]
  /** Connections to close (redundant in their bucket, while above the target). */
  close: string[]
  /** Connections that cover a bucket: keep them (tag them so libp2p prunes others first). */
  keep: string[]
}

/**
 * Chooses this node's connections so that they follow the Kademlia routing table: at least one
 * connection in every k-bucket (by common prefix length with this node) that has known peers. From
 * any node, the neighbour in the destination's bucket shares a longer prefix with the destination,
 * so greedy routing (and discovery, which tries the closest neighbour first) gains at least one
 * bit per hop: O(log N) hops with a bounded number of connections. Pure: it plans, the caller acts.
 *
 * `target` is the number of connections to settle at, below libp2p's hard limit so that other
 * nodes can still connect to this one. Within a bucket the peer closest to this node is kept.
 */
export function planNeighbours (self: string, connected: string[], known: string[], target: number, maxDials: number): NeighbourPlan {
  const me = kadKey(self)
  const bucketOf = (id: string): number => commonPrefixLength(me, kadKey(id))
  const byBucket = new Map<number, string[]>()
  for (const id of connected) {
    const b = bucketOf(id)
    const list = byBucket.get(b) ?? []
    list.push(id)
    byBucket.set(b, list)
  }
  const closestFirst = (ids: string[]): string[] => ids
    .map(id => ({ id, key: kadKey(id) }))
    .sort((x, y) => compareDistance(x.key, y.key, me))
    .map(x => x.id)
  const keep: string[] = []
  const redundant: string[] = []
  for (const ids of byBucket.values()) {
    const [first, ...rest] = closestFirst(ids)
    keep.push(first)
    redundant.push(...rest)
  }
  const connectedSet = new Set(connected)
  const wanted = new Map<number, string>()
  for (const id of closestFirst(known.filter(id => id !== self && !connectedSet.has(id)))) {
    const b = bucketOf(id)
    if (!byBucket.has(b) && !wanted.has(b)) wanted.set(b, id)
  }
  const room = Math.max(0, target - connected.length + redundant.length)
  const dial = [...wanted.values()].slice(0, Math.min(maxDials, room))
  const excess = connected.length + dial.length - target
  const close = excess > 0 ? redundant.reverse().slice(0, excess) : []
  return { dial, close, keep }
}

export interface NeighbourManagerInit {
  self: string
  /** Connections to settle at (below libp2p's limit, leaving room for others to connect). */
  target: number
  /** ms between rounds. */
  interval: number
  connected: () => string[]
  /** Peers with known addresses (the peer store, filled by the DHT and identify). */
  known: () => Promise<string[]>
  dial: (nodeId: string) => Promise<void>
  /** Closes the connection if nothing is in flight on it; false when it was left open. */
  close: (nodeId: string) => Promise<boolean>
  keep: (nodeId: string) => Promise<void>
  /** No connection at all: rejoin through the bootstrap nodes. */
  rejoin: () => Promise<void>
}

/** Runs {@link planNeighbours} every `interval` ms and carries the plan out. */
export class NeighbourManager {
  readonly #init: NeighbourManagerInit
  readonly #kept = new Set<string>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #running = false
  #stopped = false

  constructor (init: NeighbourManagerInit) {
    this.#init = init
  }

  start (): void {
    this.#schedule(0)
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  /** One round now (also used by tests and after joining). */
  async round (): Promise<void> {
    if (this.#running || this.#stopped) return
    this.#running = true
    try {
      const init = this.#init
      const connected = init.connected()
      if (connected.length === 0) {
        await init.rejoin()
        return
      }
      const plan = planNeighbours(init.self, connected, await init.known(), init.target, 2)
      await Promise.allSettled([
        ...plan.dial.map(async id => init.dial(id)),
        ...plan.close.map(async id => init.close(id)),
        ...plan.keep.filter(id => !this.#kept.has(id)).map(async id => { this.#kept.add(id); await init.keep(id) })
      ])
      for (const id of this.#kept) if (!connected.includes(id)) this.#kept.delete(id)
    } finally {
      this.#running = false
    }
  }

  #schedule (delay: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.round().catch(() => {}).finally(() => { this.#schedule(this.#init.interval * (0.75 + Math.random() / 2)) })
    }, delay)
    this.#timer.unref()
  }
}
