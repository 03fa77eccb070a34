import { type MeshError, TimeoutError } from '../errors.js'
import type { Expirable } from '../util/deadlines.js'
import type { TransportName } from '../transport/interfaces.js'

/** How a pending call is told its outcome, and how the party executing it is told to stop. */
export interface CallTarget {
  /** Stop the call where it runs (send CANCEL, abort a local handler). */
  cancel (call: PendingCall, reason: MeshError): void
}

/**
 * The caller's record of one call (or cast): created by `mesh.call`, queued, written to a stream or
 * run locally, and settled exactly once — by the reply, an error, its deadline, its signal, a lost
 * connection, or the mesh stopping.
 */
export class PendingCall implements Expirable {
  /** The destination node id. */
  readonly node: string
  readonly method: string
  /** The encoded arguments (empty for local calls, which pass the value itself). */
  readonly payload: Uint8Array
  readonly deadline: number
  readonly oneWay: boolean
  deadlineSlot = 0
  /** The call's id on the stream that carries it; set by the transport. */
  id = 0
  /** Size of the frame that carries the call (flow control counts it). */
  frameSize = 0
  /** Set for a call that travels through gateways: the route header its ROUTE frame carries. */
  route: Uint8Array | undefined
  /**
   * Raw answers: the call resolves to the REPLY body and rejects with an ErrorBody, undecoded
   * (routed calls: a forwarder passes them back as they are; the origin decodes them).
   */
  raw = false
  /** Most hops the call may take through gateways (the caller's `hops` option). */
  hops = 8
  /** Times the call went back to be routed again after its direct link failed before sending it. */
  reroutes = 0
  /** Removes the caller's abort listener; set by whoever added it. */
  detach: (() => void) | undefined
  /** The transport that sent the call (its first hop); set by the link that writes it. */
  transport: TransportName | undefined
  /** Where the call was handed over, so a cancel reaches it; set by the transport. */
  target: CallTarget | undefined
  readonly promise: Promise<unknown>
  #resolve!: (value: unknown) => void
  #reject!: (err: unknown) => void
  #settled = false
  /** Called once when the call settles (deadline and signal bookkeeping). */
  readonly #onSettle: ((call: PendingCall, err?: unknown) => void) | undefined

  constructor (node: string, method: string, payload: Uint8Array, deadline: number, oneWay: boolean, onSettle?: (call: PendingCall, err?: unknown) => void) {
    this.node = node
    this.method = method
    this.payload = payload
    this.deadline = deadline
    this.oneWay = oneWay
    this.#onSettle = onSettle
    this.promise = new Promise((resolve, reject) => { this.#resolve = resolve; this.#reject = reject })
  }

  get settled (): boolean { return this.#settled }

  /** Milliseconds left before the deadline (at least 0). */
  remaining (now = performance.now()): number {
    return Math.max(0, this.deadline - now)
  }

  resolve (value: unknown): void {
    if (this.#settled) return
    this.#settled = true
    this.#onSettle?.(this)
    this.#resolve(value)
  }

  reject (err: unknown): void {
    if (this.#settled) return
    this.#settled = true
    this.#onSettle?.(this, err)
    this.#reject(err)
  }

  /** Settles with `reason` and tells wherever the call runs to stop. */
  abandon (reason: MeshError): void {
    if (this.#settled) return
    this.reject(reason)
    this.target?.cancel(this, reason)
  }

  /**
   * The deadline passed. The error is made here rather than when the call starts: capturing a stack
   * costs about 1 µs, as much as a whole local call, so its stack names the timer, not the caller.
   */
  expire (): void {
    this.abandon(new TimeoutError(`call to ${this.method} on ${this.node} timed out`))
  }
}
