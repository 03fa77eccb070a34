import { UnreachableError } from '../errors.js'
import type { Counters } from '../stats.js'
import type { FindRouteResult, RouteDiscovery } from './discovery.js'
import type { RouteTable } from './route-table.js'

export interface ResolverInit {
  self: string
  table: RouteTable
  discovery: RouteDiscovery
  counters: Counters
  /** Opens a direct link to the node (an open connection, its known addresses, or a DHT lookup). */
  connectDirect: (nodeId: string) => Promise<void>
  /** The gateways an outbound-only node advertises in the DHT (none when it has no record). */
  gateways: (nodeId: string, deadline: number) => Promise<string[]>
  /**
   * Whether this node may open another connection. A DHT lookup dials the peers it asks: at the
   * connection limit the gateway record is not looked up, and discovery asks the neighbours.
   */
  hasRoom: () => boolean
  /** How long a destination nobody could find is answered UNREACHABLE without searching again (ms). */
  negativeTtl: number
}

/**
 * Finds the path to a destination this node has no stream to: a route learned earlier (the route
 * table: one Map lookup), else a direct connection (known addresses or a DHT lookup), else one of
 * the gateways the destination advertises in the DHT (see gateway-record.ts), else route
 * discovery through the overlay. A destination nobody can find is remembered for `negativeTtl`.
 * Concurrent resolutions of one destination share one search.
 */
export class Resolver {
  readonly #init: ResolverInit
  readonly #negative = new Map<string, number>()
  readonly #inflight = new Map<string, Promise<string[]>>()

  constructor (init: ResolverInit) {
    this.#init = init
  }

  /**
   * The path from this node to `destination` (this node first, destination last). `deadline`:
   * performance.now() time. `avoid`: nodes a route must not pass (they failed this call before).
   */
  async resolve (destination: string, budget: number, deadline: number, avoid: string[] = []): Promise<string[]> {
    if (avoid.length > 0) return this.#search(destination, budget, deadline, avoid)
    const known = this.known(destination, budget)
    if (known !== undefined) return known
    const until = this.#negative.get(destination)
    if (until !== undefined) {
      if (until > performance.now()) throw new UnreachableError(`no route to ${destination} (searched moments ago)`, { node: this.#init.self })
      this.#negative.delete(destination)
    }
    let search = this.#inflight.get(destination)
    if (search === undefined) {
      search = this.#search(destination, budget, deadline).finally(() => { this.#inflight.delete(destination) })
      this.#inflight.set(destination, search)
    }
    return search
  }

  /** The route table's path to `destination` within `budget` hops, if it has one: the warm case, without a promise. */
  known (destination: string, budget: number): string[] | undefined {
    const path = this.#init.table.get(destination)
    return path !== undefined && path.length - 1 <= budget ? path : undefined
  }

  /** Forgets what was learned about a destination (after a failure through its route). */
  forget (destination: string): void {
    this.#init.table.delete(destination)
  }

  async #search (destination: string, budget: number, deadline: number, avoid: string[] = []): Promise<string[]> {
    const { self, counters, discovery } = this.#init
    counters.resolutions++
    try {
      await this.#init.connectDirect(destination)
      return [self, destination]
    } catch {}
    const gateways = budget >= 2 && this.#init.hasRoom() ? await this.#init.gateways(destination, deadline).catch(() => []) : []
    for (const gateway of gateways) {
      if (gateway === self || gateway === destination || avoid.includes(gateway)) continue
      try {
        await this.#init.connectDirect(gateway)
        const path = [self, gateway, destination]
        this.#init.table.set(destination, path)
        counters.gatewayRoutes++
        return path
      } catch {}
    }
    counters.discoveries++
    let found: FindRouteResult = { explored: [] }
    for (const depth of deepening(budget)) {
      found = await discovery.find({ destination, explored: avoid, budget: depth }, deadline)
      if (found.path !== undefined) return [self, ...found.path]
      if (performance.now() >= deadline) break
    }
    this.#negative.set(destination, performance.now() + this.#init.negativeTtl)
    if (this.#negative.size > 10_000) this.#negative.delete(this.#negative.keys().next().value as string)
    throw new UnreachableError(`no route to ${destination} within ${budget} hops (asked ${found.explored.length} nodes)`, { node: self })
  }
}

/**
 * The hop limits of successive discovery searches: short routes first. A depth-first search takes
 * the first route it finds, and where the connections do not cover every k-bucket its greedy first
 * branch can wander to the hop budget although a 2- or 3-hop route exists.
 */
export function deepening (budget: number): number[] {
  return [...new Set([3, 5, budget].map(depth => Math.min(depth, budget)))]
}
