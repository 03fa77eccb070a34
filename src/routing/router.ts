import type { Deadlines } from '../util/deadlines.js'
import { ConnectionLostError, HopLimitError, LoopError, MeshError, TimeoutError, UnreachableError } from '../errors.js'
import { PendingCall } from '../actors/pending-call.js'
import { type Counters, countCode } from '../stats.js'
import type { InboundRequest, PeerLink } from '../transport/interfaces.js'
import { ErrorBody, errorFromBody } from '../wire/answers.js'
import { HEADER_SIZE } from '../wire/frame.js'
import { methodBytes } from '../wire/frame-writer.js'
import type { OriginAuth } from './origin-auth.js'
import { nextHop, parseRouteHeader, type RouteHeader } from './route-header.js'

/** A call with this little time left (ms) is not forwarded: it cannot come back in time. */
const MIN_FORWARD_TIMEOUT = 1

export interface RouterInit {
  self: string
  auth: OriginAuth
  counters: Counters
  deadlines: Deadlines<PendingCall>
  onSettle: (call: PendingCall, err?: unknown) => void
  /** A link to a node this one reaches directly (open connection, or dialable); rejects otherwise. */
  directLink: (nodeId: string) => Promise<PeerLink>
  /**
   * Forgets this node's learned route to a destination: a call forwarded toward it failed on the
   * way, so this node's own calls should not take that route either.
   */
  forget: (destination: string) => void
}

/**
 * The gateway actor's routing half: what this node does with a call that travels through gateways
 * (a ROUTE frame). At the destination it checks the origin's MAC and delivers the call with
 * `ctx.caller` set to the origin; on the way it forwards the call to the next node on the path as a
 * call of its own, so the reply, a cancel, the deadline and flow control all work hop by hop. It
 * refuses, naming itself: a path that does not name it at this hop (MESH_ERR_BAD_REQUEST), a node
 * twice on the path (MESH_ERR_LOOP), a path longer than the budget (MESH_ERR_HOP_LIMIT), an expired
 * deadline (MESH_ERR_TIMEOUT), a next hop it cannot reach (MESH_ERR_UNREACHABLE), a forged or
 * replayed origin (MESH_ERR_FORBIDDEN).
 */
export class Router {
  readonly #init: RouterInit

  constructor (init: RouterInit) {
    this.#init = init
  }

  /** Handles a routed request; `deliver` runs it here as a call from `origin`. */
  route (req: InboundRequest, deliver: (origin: string, hops: number) => void): void {
    const { counters } = this.#init
    let header: RouteHeader
    try {
      header = parseRouteHeader(req.route)
      this.#check(header, req)
    } catch (err) {
      this.#refuse(req, err as MeshError)
      return
    }
    if (header.hop === header.path.length - 1) {
      try {
        this.#init.auth.verify(header, req.method, req.payload)
      } catch (err) {
        this.#refuse(req, err as MeshError)
        return
      }
      counters.routedDelivered++
      deliver(header.path[0], header.hop)
      return
    }
    this.#forward(req, header)
  }

  #check (header: RouteHeader, req: InboundRequest): void {
    const { self } = this.#init
    const { path, hop } = header
    if (path[hop] !== self) throw new MeshError('MESH_ERR_BAD_REQUEST', `the route names ${path[hop]} at hop ${hop}, not ${self}`, { node: self })
    if (path[hop - 1] !== req.caller) throw new MeshError('MESH_ERR_BAD_REQUEST', `the route says hop ${hop - 1} is ${path[hop - 1]}, but ${req.caller} sent it`, { node: self })
    if (new Set(path).size !== path.length) throw new LoopError(`the route visits a node twice: ${path.join(' → ')}`, { node: self })
    if (path.length - 1 > header.budget) throw new HopLimitError(`the route takes ${path.length - 1} hops, more than its budget of ${header.budget}`, { node: self })
    if (req.timeout <= MIN_FORWARD_TIMEOUT) throw new TimeoutError(`the call's deadline passed before ${self} could forward it`, { node: self })
  }

  #forward (req: InboundRequest, header: RouteHeader): void {
    const { self, counters, deadlines } = this.#init
    const next = header.path[header.hop + 1]
    const route = nextHop(req.route)
    const call = new PendingCall(next, req.method, req.payload, performance.now() + req.timeout, false, this.#init.onSettle)
    call.route = route
    call.raw = true
    call.frameSize = 4 + HEADER_SIZE + 4 + 2 + route.byteLength + 1 + methodBytes(req.method).byteLength + req.payload.byteLength
    deadlines.add(call)
    req.onCancel = (reason) => { call.abandon(reason) }
    counters.routedForwarded++
    this.#init.directLink(next).then(link => { link.submit(call) }, (err: Error) => {
      call.reject(new UnreachableError(`${self} cannot reach the next hop ${next}: ${err.message}`, { node: self, cause: err }))
    })
    call.promise.then((body) => { req.replyRaw(body as Uint8Array) }, (err: unknown) => {
      const destination = header.path[header.path.length - 1]
      if (failedOnTheWay(err, destination)) this.#init.forget(destination)
      if (err instanceof ErrorBody) {
        req.failRaw(err)
        return
      }
      this.#refuse(req, this.#hopError(err, next))
    })
  }

  /** A failure of this hop, as the origin should see it: named after this node. */
  #hopError (err: unknown, next: string): MeshError {
    const { self } = this.#init
    if (err instanceof ConnectionLostError) {
      return new ConnectionLostError(`${self} lost the next hop ${next} with the call in flight`, { node: self, cause: err })
    }
    if (err instanceof MeshError) {
      if (err.node === self) return err
      const Class = err.constructor as new (message: string, options: { node: string, cause: unknown }) => MeshError
      return new Class(`${err.message} (at ${self}, next hop ${next})`, { node: self, cause: err })
    }
    return new UnreachableError(`${self} could not forward to ${next}: ${String(err)}`, { node: self, cause: err })
  }

  #refuse (req: InboundRequest, err: MeshError): void {
    countCode(this.#init.counters.servedErrors, err.code)
    req.fail(err, false)
  }
}

/** Whether a forwarded call failed at a hop before its destination (a local failure, or one named after another hop). */
function failedOnTheWay (err: unknown, destination: string): boolean {
  if (!(err instanceof ErrorBody)) return true
  try {
    return errorFromBody(err.body, err.from).node !== destination
  } catch {
    return true
  }
}
