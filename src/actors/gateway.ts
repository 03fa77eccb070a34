import { errorFromWire, errorToWire, InvalidOptionsError, type MeshError, NoSuchMethodError, OverloadedError } from '../errors.js'
import { integer } from '../options.js'
import { type Counters, countCode } from '../stats.js'
import type { InboundHandler, InboundRequest } from '../transport/interfaces.js'
import { decodePayload } from '../wire/payload.js'
import { Actor, type ActorOptions, type Handler, type Handlers, type Invocation } from './actor.js'
import { CallContext } from './context.js'
import type { CallTarget, PendingCall } from './pending-call.js'

export interface GatewayInit {
  nodeId: string
  counters: Counters
  /** A cast's handler failed: there is no caller to tell. */
  onCastError: (method: string, err: unknown) => void
  /** Handles a request that travels through gateways: forwards it, or delivers it here as from its origin. */
  route: (req: InboundRequest, deliver: (origin: string, hops: number) => void) => void
}

export interface ActorStats {
  name: string
  methods: string[]
  running: number
  queued: number
  concurrency: number
  mailbox: number
}

interface Target { actor: Actor, handler: Handler }

/**
 * The gateway actor: every call for this node, from any transport or from this node itself, comes
 * through here to the actor that owns the method; calls travelling through gateways go to the
 * router (`init.route`), which forwards them or hands them back to be delivered as from their
 * origin. Refusals are answered at once with a typed error and counted: unknown method,
 * undecodable arguments, full mailbox.
 */
export class Gateway implements InboundHandler {
  readonly #init: GatewayInit
  readonly #methods = new Map<string, Target>()
  readonly #actors = new Map<string, Actor>()

  constructor (init: GatewayInit) {
    this.#init = init
  }

  register (name: string, handlers: Handlers, options: ActorOptions = {}, system = false): void {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionsError('actor name must be a non-empty string')
    if (name.startsWith('_') && !system) throw new InvalidOptionsError('actor names starting with _ are reserved for kadmesh')
    if (this.#actors.has(name)) throw new InvalidOptionsError(`an actor named ${name} is already registered`)
    if (typeof handlers !== 'object' || handlers === null) throw new InvalidOptionsError('handlers must be an object of functions')
    const concurrency = integer(options.concurrency, 'options.concurrency', 1, 1, 1_000_000)
    const mailbox = integer(options.mailbox, 'options.mailbox', 1024, 0, 10_000_000)
    const entries = Object.entries(handlers)
    if (entries.length === 0) throw new InvalidOptionsError('handlers must have at least one method')
    for (const [method, handler] of entries) {
      if (typeof handler !== 'function') throw new InvalidOptionsError(`handler ${name}.${method} must be a function`)
    }
    const actor = new Actor(name, concurrency, mailbox)
    this.#actors.set(name, actor)
    for (const [method, handler] of entries) this.#methods.set(`${name}.${method}`, { actor, handler })
  }

  stats (): ActorStats[] {
    return [...this.#actors.values()].map(actor => ({
      name: actor.name,
      methods: [...this.#methods].filter(([, t]) => t.actor === actor).map(([m]) => m),
      running: actor.running,
      queued: actor.queued,
      concurrency: actor.concurrency,
      mailbox: actor.mailboxSize
    }))
  }

  /** A request from another node. */
  onRequest (req: InboundRequest): void {
    if (req.route.byteLength > 0) {
      this.#init.route(req, (origin, hops) => { this.#deliver(req, origin, hops) })
    } else {
      this.#deliver(req, req.caller, 1)
    }
  }

  #deliver (req: InboundRequest, caller: string, hops: number): void {
    const counters = this.#init.counters
    if (req.oneWay) counters.castsReceived++
    else counters.callsReceived++
    const target = this.#lookup(req.method)
    if (target === undefined) {
      this.#refuse(req, new NoSuchMethodError(`no method ${req.method} on ${this.#init.nodeId}`))
      return
    }
    let args: unknown
    try {
      args = decodePayload(req.payload)
    } catch (err) {
      this.#refuse(req, err as MeshError)
      return
    }
    const ctx = new CallContext(caller, req.method, Date.now() + req.timeout, hops)
    req.onCancel = (reason) => { ctx.abort(reason) }
    if (!target.actor.submit(new RemoteInvocation(target.handler, args, ctx, req, this.#init))) {
      this.#refuse(req, this.#overloaded(target.actor))
    }
  }

  /** A call from this node to itself: arguments and results are passed by reference, not encoded. */
  callLocal (call: PendingCall, args: unknown): void {
    const counters = this.#init.counters
    if (call.oneWay) counters.castsReceived++
    else counters.callsReceived++
    const target = this.#lookup(call.method)
    if (target === undefined) {
      countCode(counters.servedErrors, 'MESH_ERR_NO_SUCH_METHOD')
      call.reject(new NoSuchMethodError(`no method ${call.method} on ${this.#init.nodeId}`))
      return
    }
    // wall-clock deadline from the monotonic one, without reading the clock again
    const ctx = new CallContext(this.#init.nodeId, call.method, performance.timeOrigin + call.deadline, 0)
    const inv = new LocalInvocation(target.handler, args, ctx, call, this.#init)
    call.target = inv
    if (!target.actor.submit(inv)) {
      const err = this.#overloaded(target.actor)
      countCode(counters.servedErrors, err.code)
      call.reject(err)
    } else if (call.oneWay) {
      call.resolve(undefined)
    }
  }

  /** Stops every actor; what was queued is dropped (its callers are answered by their transports). */
  close (): void {
    for (const actor of this.#actors.values()) actor.close()
  }

  #lookup (method: string): Target | undefined {
    return this.#methods.get(method)
  }

  #overloaded (actor: Actor): OverloadedError {
    return new OverloadedError(`the mailbox of actor ${actor.name} on ${this.#init.nodeId} is full (${actor.mailboxSize})`)
  }

  #refuse (req: InboundRequest, err: MeshError): void {
    countCode(this.#init.counters.servedErrors, err.code)
    if (req.oneWay) this.#init.counters.castsDropped++
    req.fail(err, false)
  }
}

/** A call from another node running in an actor. */
class RemoteInvocation implements Invocation {
  constructor (
    readonly handler: Handler,
    readonly args: unknown,
    readonly ctx: CallContext,
    readonly req: InboundRequest,
    readonly gateway: GatewayInit
  ) {}

  settle (ok: boolean, value: unknown): void {
    if (ok) {
      this.req.reply(value)
      return
    }
    if (this.req.oneWay) this.gateway.onCastError(this.req.method, value)
    this.req.fail(value, true)
  }
}

/** A call from this node to itself running in an actor. */
class LocalInvocation implements Invocation, CallTarget {
  constructor (
    readonly handler: Handler,
    readonly args: unknown,
    readonly ctx: CallContext,
    readonly call: PendingCall,
    readonly gateway: GatewayInit
  ) {}

  settle (ok: boolean, value: unknown): void {
    if (ok) {
      this.call.resolve(value)
    } else if (this.call.oneWay) {
      this.gateway.onCastError(this.call.method, value)
    } else {
      // Same error a remote caller would see, with the original as its cause.
      const err = errorFromWire(errorToWire(value, this.gateway.nodeId, true))
      if (value instanceof Error) (err as { cause?: unknown }).cause = value
      this.call.reject(err)
    }
  }

  /** CallTarget: the caller gave up on this call. */
  cancel (_call: PendingCall, reason: MeshError): void {
    this.ctx.abort(reason)
  }
}
