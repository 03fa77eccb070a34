import { ConnectionLostError, type MeshError, OverloadedError, UnreachableError } from '../../errors.js'
import type { PendingCall } from '../../actors/pending-call.js'
import { Deque } from '../../util/deque.js'
import type { FrameStream, PeerLink } from '../interfaces.js'
import { Channel, type ChannelInit } from './channel.js'

/**
 * A channel keeps taking calls until this many bytes are outstanding on it; past that the pool
 * prefers the least-loaded channel and opens another stream. Small calls thus batch on one stream
 * (fewer native writes), and large ones spread over the pool (the QUIC binding reads each stream
 * 4 KiB per native call, so one stream caps bulk throughput).
 */
export const STRIPE_BYTES = 64 * 1024

export interface StreamPoolInit {
  remote: string
  /** Most streams this pool keeps to the peer (its own and the peer's). */
  maxStreams: number
  /** Most calls waiting for window space or a stream; beyond it calls fail with MESH_ERR_OVERLOADED. */
  maxQueued: number
  /** Opens a new RPC stream to the peer, dialling it if needed. */
  openStream: () => Promise<FrameStream>
  /** What every channel of this pool shares. */
  channel: Omit<ChannelInit, 'stream' | 'remote' | 'onReady' | 'onClose' | 'onGoAway' | 'onQuiet'>
  /** The pool has no streams and nothing queued: its owner may drop it. */
  onIdle: (pool: StreamPool) => void
  /**
   * No stream could be opened, or the link is draining: the calls that were waiting (never sent) go
   * back to the owner, which may send them another way (through gateways) or fail them.
   */
  onUnreachable: (calls: PendingCall[], reason: UnreachableError) => void
  /** Longest wait for a drain (ms) before the streams still busy are closed. */
  drainTimeout: number
  /** The peer started a drain (it is closing the connection). */
  onPeerDrain?: (pool: StreamPool) => void
}

export interface StreamPoolStats {
  remote: string
  streams: number
  opening: number
  queued: number
  outstanding: number
  serving: number
}

/**
 * The QUIC link to one peer: a few long-lived streams on the RPC protocol (opened by either side),
 * many calls multiplexed on each, and a bounded queue for calls that wait for window space or for
 * the first stream. A stream that dies hands back its unwritten calls and is replaced on next use.
 */
export class StreamPool implements PeerLink {
  readonly transport = 'quic' as const
  readonly remote: string
  readonly #init: StreamPoolInit
  readonly #channels: Channel[] = []
  readonly #queue = new Deque<PendingCall>()
  #current: Channel | undefined
  #opening: Promise<void> | undefined
  #closed: MeshError | undefined
  #drained: PromiseWithResolvers<void> | undefined

  constructor (init: StreamPoolInit) {
    this.#init = init
    this.remote = init.remote
  }

  get streams (): number { return this.#channels.length }
  /** Closing gracefully (GOAWAY sent or received): takes no new calls. */
  get draining (): boolean { return this.#drained !== undefined }

  stats (): StreamPoolStats {
    let outstanding = 0
    let serving = 0
    for (const ch of this.#channels) { outstanding += ch.outstandingFrames; serving += ch.serving }
    return { remote: this.remote, streams: this.#channels.length, opening: this.#opening !== undefined ? 1 : 0, queued: this.#queue.length, outstanding, serving }
  }

  submit (call: PendingCall): void {
    if (this.#closed !== undefined) {
      call.reject(this.#closed)
      return
    }
    if (this.#drained !== undefined) {
      this.#init.onUnreachable([call], this.#drainingError())
      return
    }
    if (this.#queue.length === 0) {
      const channel = this.#pick(call.frameSize)
      if (channel !== undefined) {
        channel.send(call)
        if (channel.outstandingBytes >= STRIPE_BYTES) this.#grow()
        return
      }
    }
    if (this.#enqueue(call)) this.#grow()
  }

  /** Adds a stream (opened by us or accepted from the peer) to the pool. */
  addStream (stream: FrameStream): Channel {
    const channel = new Channel({
      ...this.#init.channel,
      stream,
      remote: this.remote,
      onReady: this.#onReady,
      onClose: this.#onClose,
      onGoAway: () => {
        if (this.#drained === undefined) this.#init.onPeerDrain?.(this)
        void this.drain()
      },
      onQuiet: this.#onQuiet
    })
    if (this.#closed !== undefined) {
      channel.close(this.#closed)
    } else {
      this.#channels.push(channel)
      // a stream the peer opened before it heard of the drain
      if (this.#drained !== undefined) channel.goAway()
      else this.#sendQueued()
    }
    return channel
  }

  close (reason: MeshError): void {
    if (this.#closed !== undefined) return
    this.#closed = reason
    for (const call of this.#queue.drain()) call.reject(reason)
    for (const channel of [...this.#channels]) channel.close(reason)
    this.#drained?.resolve()
  }

  /**
   * Closes the link gracefully, started by either side (the peer's GOAWAY starts it here too):
   * GOAWAY on every stream, calls not sent yet go back to the owner (`onUnreachable`), calls and
   * casts in flight either way finish. Resolves when every stream is drained (the owner may then
   * close the connection without losing a call) or, after `drainTimeout` ms, once the streams still
   * busy were closed with MESH_ERR_CONNECTION_LOST.
   *
   * A stream this side is opening is waited for first, and GOAWAY goes on it too. The side that
   * closes the connection does so once every stream it knows is drained; holding back GOAWAY until
   * our new stream has been accepted there (opening waits for the peer's protocol answer) means no
   * stream of ours is still on its way when it does.
   */
  async drain (): Promise<void> {
    if (this.#drained !== undefined) return this.#drained.promise
    const drained = this.#drained = Promise.withResolvers<void>()
    const waiting = this.#queue.drain().filter(call => !call.settled)
    if (waiting.length > 0) this.#init.onUnreachable(waiting, this.#drainingError())
    void (this.#opening ?? Promise.resolve()).catch(() => {}).then(() => {
      for (const channel of [...this.#channels]) channel.goAway()
      this.#onQuiet()
    })
    const timer = setTimeout(() => {
      const reason = new ConnectionLostError(`${this.remote}: calls still in flight after ${this.#init.drainTimeout} ms of draining`, { node: this.remote })
      for (const channel of [...this.#channels]) channel.close(reason)
      drained.resolve()
    }, this.#init.drainTimeout)
    timer.unref()
    await drained.promise
    clearTimeout(timer)
  }

  #drainingError (): UnreachableError {
    return new UnreachableError(`the connection to ${this.remote} is closing`, { node: this.remote })
  }

  #onQuiet = (): void => {
    if (this.#drained !== undefined && this.#channels.every(ch => ch.quiet || ch.closed)) this.#drained.resolve()
  }

  /** The channel for a frame of `size` bytes: the current one while it is not loaded, else the least loaded. */
  #pick (size: number): Channel | undefined {
    const current = this.#current
    if (current !== undefined && current.outstandingBytes < STRIPE_BYTES && current.canSend(size)) return current
    let best: Channel | undefined
    for (const channel of this.#channels) {
      if (channel.canSend(size) && (best === undefined || channel.outstandingBytes < best.outstandingBytes)) best = channel
    }
    this.#current = best
    return best
  }

  #enqueue (call: PendingCall): boolean {
    if (this.#queue.length >= this.#init.maxQueued) {
      // drop calls that settled (timed out, aborted) while waiting, then look again
      const live = this.#queue.drain().filter(c => !c.settled)
      for (const c of live) this.#queue.push(c)
      if (this.#queue.length >= this.#init.maxQueued) {
        call.reject(new OverloadedError(`more than ${this.#init.maxQueued} calls are waiting to be sent to ${this.remote}`))
        return false
      }
    }
    this.#queue.push(call)
    return true
  }

  #sendQueued (): void {
    for (let call = this.#queue.peek(); call !== undefined; call = this.#queue.peek()) {
      if (call.settled) { this.#queue.shift(); continue }
      const channel = this.#pick(call.frameSize)
      if (channel === undefined) {
        this.#grow()
        return
      }
      this.#queue.shift()
      channel.send(call)
    }
  }

  /** Resolves once the pool has a stream (opening one if needed); rejects if none can be opened. */
  async connect (): Promise<void> {
    if (this.#channels.length > 0) return
    await (this.#opening ?? this.#open())
  }

  /** Opens one more stream when every stream is loaded and the pool may grow. */
  #grow (): void {
    if (this.#closed !== undefined || this.#drained !== undefined || this.#opening !== undefined || this.#channels.length >= this.#init.maxStreams) return
    if (this.#channels.some(ch => ch.outstandingBytes < STRIPE_BYTES && ch.canSend(1))) return
    this.#open().catch(() => {})
  }

  #open (): Promise<void> {
    this.#opening = this.#init.openStream().then((stream) => {
      this.#opening = undefined
      this.addStream(stream)
    }, (err: Error) => {
      this.#opening = undefined
      if (this.#channels.length > 0) return
      const reason = new UnreachableError(`cannot reach ${this.remote}: ${err.message}`, { cause: err })
      const waiting = this.#queue.drain().filter(call => !call.settled)
      this.#init.onIdle(this)
      if (waiting.length > 0) this.#init.onUnreachable(waiting, reason)
      throw reason
    })
    return this.#opening
  }

  #onReady = (): void => {
    if (this.#queue.length > 0) this.#sendQueued()
  }

  #onClose = (channel: Channel, unsent: PendingCall[]): void => {
    const i = this.#channels.indexOf(channel)
    if (i !== -1) this.#channels.splice(i, 1)
    if (this.#current === channel) this.#current = undefined
    if (this.#closed !== undefined) {
      // the pool closed: what its streams hand back goes nowhere else
      for (const call of unsent) call.reject(this.#closed)
      return
    }
    if (this.#drained !== undefined) {
      if (unsent.length > 0) this.#init.onUnreachable(unsent, this.#drainingError())
      this.#onQuiet()
      if (this.#channels.length === 0) this.#init.onIdle(this)
      return
    }
    if (unsent.length > 0) {
      const rest = this.#queue.drain()
      for (const call of unsent) this.#queue.push(call)
      for (const call of rest) this.#queue.push(call)
    }
    if (this.#queue.length > 0) this.#sendQueued()
    else if (this.#channels.length === 0 && this.#opening === undefined) this.#init.onIdle(this)
  }
}
