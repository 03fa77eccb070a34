import type { RouteTable } from './route-table.js'
import { byDistanceTo } from './xor.js'

/** The system method discovery calls on neighbours. */
export const FIND_ROUTE_METHOD = '_mesh.findRoute'
/** Most node ids carried in `explored` (keeps the request small; beyond it nodes may be re-asked). */
const MAX_EXPLORED = 1024

export interface FindRouteRequest {
  destination: string
  /** Nodes already asked (or on the path so far): not asked again. */
  explored: string[]
  /** Hops the rest of the route may still take. */
  budget: number
}

export interface FindRouteResult {
  /** The route from the answering node to the destination (answering node excluded), when found. */
  path?: string[]
  /** Every node this search asked, so the caller does not ask them again. */
  explored: string[]
}

export interface RouteDiscoveryInit {
  self: string
  table: RouteTable
  /** Peers this node has an open connection to. */
  neighbours: () => string[]
  /**
   * Whether this node can pass a call to `nodeId` now: an open connection, on which an RPC stream
   * is opened (a stream pins the connection, so the route still holds when the call comes).
   * Never dials.
   */
  link: (nodeId: string) => Promise<boolean>
  /** Asks a neighbour to search on (a direct call to FIND_ROUTE_METHOD). */
  ask: (neighbour: string, request: FindRouteRequest, timeout: number) => Promise<FindRouteResult>
}

/**
 * Route discovery through the overlay when a destination cannot be dialled: a depth-first search
 * over open connections that tries neighbours closest to the destination in XOR space first, so in
 * a mesh whose connections follow the Kademlia buckets the first branch is the greedy route
 * (O(log N) hops), while arbitrary topologies (a line of gated nodes, leaves behind gateways) are
 * still searched. `explored` travels with the search and comes back from failed branches, so each
 * node is asked at most once per search; the hop budget and the deadline bound it too. Every node
 * on a found route learns its suffix for its own calls, but answers only from live links: a
 * remembered route's later links may be gone.
 */
export class RouteDiscovery {
  readonly #init: RouteDiscoveryInit

  constructor (init: RouteDiscoveryInit) {
    this.#init = init
  }

  /** Searches from this node; `deadline` is a performance.now() time. */
  async find (request: FindRouteRequest, deadline: number): Promise<FindRouteResult> {
    const { self, table } = this.#init
    const { destination, budget } = request
    if (destination === self) return { explored: [self] }
    if (await this.#init.link(destination)) return { path: [destination], explored: [] }
    const explored = new Set(request.explored)
    explored.add(self)
    if (budget <= 1) return { explored: [self] }
    // the destination itself is not asked: it was no link (above), and its own search would find
    // a way back to itself
    const candidates = byDistanceTo(destination, this.#init.neighbours().filter(n => !explored.has(n) && n !== destination))
    for (const neighbour of candidates) {
      if (explored.has(neighbour)) continue
      const timeout = deadline - performance.now()
      if (timeout < 1) break
      let result: FindRouteResult
      try {
        result = await this.#init.ask(neighbour, { destination, explored: [...explored].slice(-MAX_EXPLORED), budget: budget - 1 }, timeout)
      } catch {
        explored.add(neighbour)
        continue
      }
      if (result.path !== undefined && result.path.length > 0 && result.path.length <= budget - 1) {
        const path = [neighbour, ...result.path]
        table.set(destination, [self, ...path])
        return { path, explored: [] }
      }
      explored.add(neighbour)
      for (const n of result.explored) explored.add(n)
    }
    return { explored: [...explored].slice(-MAX_EXPLORED) }
  }
}
