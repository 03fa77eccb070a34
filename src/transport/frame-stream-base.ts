import type { FrameStream } from './interfaces.js'

type MessageListener = (evt: { data: Uint8Array }) => void
type EndListener = (evt: Event) => void

/**
 * The event side of a {@link FrameStream} for kadmesh's own streams (UDP session, shared-memory
 * rings, in-memory pairs): a Channel listens for `message`, `close` (with `error` when it failed)
 * and `remoteCloseWrite`. Each end event fires at most once.
 */
export abstract class FrameStreamBase implements FrameStream {
  readonly #message: MessageListener[] = []
  readonly #close: EndListener[] = []
  readonly #remoteClose: EndListener[] = []
  #early: Uint8Array[] = []
  #closeEmitted = false
  #remoteCloseEmitted = false

  abstract send (data: Uint8Array): boolean
  abstract abort (err: Error): void

  addEventListener (type: 'message', listener: MessageListener): void
  addEventListener (type: 'close' | 'remoteCloseWrite', listener: EndListener): void
  addEventListener (type: 'message' | 'close' | 'remoteCloseWrite', listener: MessageListener | EndListener): void {
    if (type === 'message') {
      this.#message.push(listener as MessageListener)
      const early = this.#early
      this.#early = []
      for (const data of early) (listener as MessageListener)({ data })
    } else if (type === 'close') this.#close.push(listener as EndListener)
    else this.#remoteClose.push(listener as EndListener)
  }

  protected emitMessage (data: Uint8Array): void {
    if (this.#message.length === 0) {
      this.#early.push(data)
      return
    }
    const evt = { data }
    for (const listener of this.#message) listener(evt)
  }

  /** The stream ended; `error` says why when it failed. */
  protected emitClose (error?: Error): void {
    if (this.#closeEmitted) return
    this.#closeEmitted = true
    const evt = Object.assign(new Event('close'), { error })
    for (const listener of this.#close) listener(evt)
  }

  /** The peer ended its side. */
  protected emitRemoteClose (): void {
    if (this.#remoteCloseEmitted) return
    this.#remoteCloseEmitted = true
    const evt = new Event('remoteCloseWrite')
    for (const listener of this.#remoteClose) listener(evt)
  }
}
