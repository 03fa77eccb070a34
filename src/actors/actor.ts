import { Deque } from '../util/deque.js'
import type { CallContext, Context } from './context.js'

/** A handler: gets the call's arguments and context, returns (or resolves to) the result. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (args: any, ctx: Context) => unknown

/** Handlers of one actor, by method name (`get` becomes `<actor>.get`). */
export type Handlers = Record<string, Handler>

export interface ActorOptions {
  /** Handlers of this actor that may run at once. Default 1: one at a time, in arrival order. */
  concurrency?: number
  /** Calls that may wait while `concurrency` handlers run; beyond it a call is refused with MESH_ERR_OVERLOADED. Default 1024. */
  mailbox?: number
}

/** One call on its way through an actor's mailbox. */
export interface Invocation {
  readonly handler: Handler
  readonly args: unknown
  readonly ctx: CallContext
  /** Called exactly once with the handler's outcome (not called for invocations aborted while queued). */
  settle (ok: boolean, value: unknown): void
}

/**
 * An actor: a bounded mailbox in front of at most `concurrency` running handlers. A full mailbox
 * refuses at once (the caller gets MESH_ERR_OVERLOADED) instead of growing.
 */
export class Actor {
  readonly name: string
  readonly concurrency: number
  readonly mailboxSize: number
  readonly #queue = new Deque<Invocation>()
  #running = 0
  #draining = false
  #closed = false

  constructor (name: string, concurrency: number, mailbox: number) {
    this.name = name
    this.concurrency = concurrency
    this.mailboxSize = mailbox
  }

  get running (): number { return this.#running }
  get queued (): number { return this.#queue.length }

  /** Runs or queues the invocation; false when the mailbox is full or the actor is closed. */
  submit (inv: Invocation): boolean {
    if (this.#closed) return false
    if (this.#running < this.concurrency && this.#queue.length === 0) {
      this.#run(inv)
      return true
    }
    if (this.#queue.length >= this.mailboxSize) return false
    this.#queue.push(inv)
    return true
  }

  /** Stops taking calls and returns the invocations that were still queued. */
  close (): Invocation[] {
    this.#closed = true
    return this.#queue.drain()
  }

  #run (inv: Invocation): void {
    this.#running++
    let result: unknown
    try {
      result = inv.handler(inv.args, inv.ctx)
    } catch (err) {
      this.#finish(inv, false, err)
      return
    }
    if (isThenable(result)) {
      result.then((value) => { this.#finish(inv, true, value) }, (err) => { this.#finish(inv, false, err) })
    } else {
      this.#finish(inv, true, result)
    }
  }

  #finish (inv: Invocation, ok: boolean, value: unknown): void {
    this.#running--
    inv.settle(ok, value)
    if (this.#draining) return
    this.#draining = true
    try {
      while (this.#running < this.concurrency && this.#queue.length > 0) {
        const next = this.#queue.shift() as Invocation
        if (!next.ctx.aborted) this.#run(next)
      }
    } finally {
      this.#draining = false
    }
  }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value instanceof Promise || (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function')
}
