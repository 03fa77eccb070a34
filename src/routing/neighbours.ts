import { commonPrefixLength, compareDistance, kadKey } from './xor.js'

export interface NeighbourPlan {
  /** Peers to dial (one per k-bucket that has no connection yet). */
  dial: string[]
  /** Connections to close (redundant in their bucket, while above the target). */
  close: string[]
  /** Connections that cover a bucket: keep them (tag them so libp2p prunes others first). */
  keep: string[]
}

export interface NeighbourPlanInput {
  self: string
  connected: string[]
  /** Peers with known addresses. */
  known: string[]
  /** Connections to settle at. */
  target: number
  /** Connections are closed only above this many (≥ target: the gap keeps inbound ones from churning). */
  ceiling?: number
  maxDials: number
  /** Connections not to close now (young ones: their peer may have no other connection yet). */
  protect?: ReadonlySet<string>
  /** Connections to close last among the redundant ones (their peer keeps them as its neighbour). */
  keptBy?: ReadonlySet<string>
}

/**
 * Chooses this node's connections so that they follow the Kademlia routing table: at least one
 * connection in every k-bucket (by common prefix length with this node) that has known peers. From
 * any node, the neighbour in the destination's bucket shares a longer prefix with the destination,
 * so greedy routing (and discovery, which tries the closest neighbour first) gains at least one
 * bit per hop: O(log N) hops with a bounded number of connections. Pure: it plans, the caller acts.
 *
 * `target` is the number of connections this node fills by dialling, below libp2p's hard limit so
 * that nodes that join (or lost their connections) can still connect to this one; at the target it
 * dials for an uncovered bucket only in place of a redundant connection. Within a bucket the peer
 * closest to this node is kept. Only redundant connections are closed (never a bucket's last, so
 * two nodes do not take turns covering and uncovering each other's buckets), only above `ceiling`,
 * those the peer keeps as its own neighbour last, protected ones never.
 */
export function planNeighbours (input: NeighbourPlanInput): NeighbourPlan {
  const { self, connected, known, target, maxDials } = input
  const protect = input.protect ?? new Set<string>()
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
  const keptBy = input.keptBy ?? new Set<string>()
  const closable = redundant.reverse().filter(id => !protect.has(id))
  const closableRedundant = [...closable.filter(id => !keptBy.has(id)), ...closable.filter(id => keptBy.has(id))]
  const room = Math.max(0, target - connected.length + closableRedundant.length)
  const dial = [...wanted.values()].slice(0, Math.min(maxDials, room))
  const excess = connected.length + dial.length - Math.max(target, input.ceiling ?? target)
  const close = excess > 0 ? closableRedundant.slice(0, excess) : []
  return { dial, close, keep: keep.filter(id => !close.includes(id)) }
}

/** The system method a node calls on a peer it keeps as a neighbour (the peer then trims it last). */
export const KEEP_METHOD = '_mesh.keep'

/** How long a peer that refused or closed on us is not dialled by the neighbour manager (ms). */
const AVOID_MS = 30_000

export interface NeighbourManagerInit {
  self: string
  /** Connections to settle at (below libp2p's limit, leaving room for others to connect). */
  target: number
  /** Connections are closed only above this many. */
  ceiling: number
  /** ms between rounds. */
  interval: number
  connected: () => string[]
  /** Connections opened moments ago: not closed yet (their peer may have no other connection). */
  young: () => ReadonlySet<string>
  /** Peers that keep their connection to this node as a neighbour: closed last. */
  keptBy: () => ReadonlySet<string>
  /** Peers with known addresses (the peer store, filled by the DHT and identify). */
  known: () => Promise<string[]>
  dial: (nodeId: string) => Promise<void>
  /** Closes the connection gracefully (calls in flight on it finish first). */
  close: (nodeId: string) => void
  /** Pins the connection and tells the peer this node keeps it as a neighbour. */
  keep: (nodeId: string) => Promise<void>
  /** No connection at all: rejoin through the bootstrap nodes. */
  rejoin: () => Promise<void>
}

/** Runs {@link planNeighbours} every `interval` ms and carries the plan out. */
export class NeighbourManager {
  readonly #init: NeighbourManagerInit
  readonly #kept = new Set<string>()
  /** Peers not to dial until the given time (performance.now()): they refused us or closed on us. */
  readonly #avoid = new Map<string, number>()
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

  /**
   * Dials no connection of its own to `nodeId` for `ms`: it refused a dial or closed our connection
   * (its own plan had no room for us), and dialling it again at once would only churn.
   */
  avoid (nodeId: string, ms = AVOID_MS): void {
    this.#avoid.set(nodeId, performance.now() + ms)
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
      const now = performance.now()
      for (const [id, until] of this.#avoid) if (until <= now) this.#avoid.delete(id)
      const known = (await init.known()).filter(id => !this.#avoid.has(id))
      const plan = planNeighbours({ self: init.self, connected, known, target: init.target, ceiling: init.ceiling, maxDials: 2, protect: init.young(), keptBy: init.keptBy() })
      await Promise.allSettled([
        ...plan.dial.map(async id => init.dial(id).catch((err: unknown) => { this.avoid(id); throw err })),
        ...plan.close.map(async id => { init.close(id) }),
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
