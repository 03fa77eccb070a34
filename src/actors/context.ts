import type { MeshError } from '../errors.js'

/** What a handler gets besides its arguments. */
export interface Context {
  /** The node id of the caller, authenticated by the transport (QUIC/TLS peer identity). */
  readonly caller: string
  /** The method being served, e.g. `kv.get`. */
  readonly method: string
  /** Wall-clock time (ms since the epoch) after which the caller no longer waits for the result. */
  readonly deadline: number
  /** Hops the call took to get here: 0 from this node itself, 1 direct, more through gateways. */
  readonly hops: number
  /** Aborted when the caller cancels, times out, the connection dies, or the mesh stops. */
  readonly signal: AbortSignal
}

/**
 * The handler's context. The AbortController behind `signal` is created only when a handler reads
 * `signal` (most never do, and creating one per call would cost more than the rest of a local call).
 */
export class CallContext implements Context {
  readonly caller: string
  readonly method: string
  readonly deadline: number
  readonly hops: number
  #controller: AbortController | undefined
  #reason: MeshError | undefined

  constructor (caller: string, method: string, deadline: number, hops: number) {
    this.caller = caller
    this.method = method
    this.deadline = deadline
    this.hops = hops
  }

  get signal (): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#reason !== undefined) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  get aborted (): boolean {
    return this.#reason !== undefined
  }

  abort (reason: MeshError): void {
    if (this.#reason !== undefined) return
    this.#reason = reason
    this.#controller?.abort(reason)
  }
}
