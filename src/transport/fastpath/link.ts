import { ConnectionLostError, type MeshError } from '../../errors.js'
import type { PendingCall } from '../../actors/pending-call.js'
import type { Channel, ChannelInit } from '../quic/channel.js'
import { StreamPool } from '../quic/stream-pool.js'
import type { FrameStream, PeerLink } from '../interfaces.js'

export interface FastLinkStats {
  remote: string
  transport: 'udp' | 'shm'
  ready: boolean
  /** Calls waiting for window space on this path. */
  queued: number
  /** UDP: the session's counters (round trip, retransmissions, duplicates); shm: the ring pair's. */
  detail: Record<string, number | string>
}

export interface FastLinkInit {
  remote: string
  transport: 'udp' | 'shm'
  stream: FrameStream
  /** What the channel shares with every other channel of the node. */
  channel: Omit<ChannelInit, 'stream' | 'remote' | 'transport' | 'onReady' | 'onClose' | 'onGoAway' | 'onQuiet'>
  /** Most calls waiting for window space; beyond it calls fail with MESH_ERR_OVERLOADED (as on QUIC). */
  maxQueued: number
  /** Largest frame sent this way (a call's frame must fit one datagram on UDP); larger ones take `fallback`. */
  maxFrame: number
  /** True once the path is confirmed both ways (UDP probe answered, shm peer proved itself). */
  ready: () => boolean
  /** The stream's own counters, for stats. */
  detail: () => Record<string, number | string>
  /** The QUIC link to the same peer. */
  fallback: () => PeerLink
  /** The link ended (`reason`: why). */
  onClose: (link: FastLink, reason: Error | undefined) => void
}

/**
 * A fast path to one peer: a one-stream pool (the same Channel and queue a QUIC stream uses: call
 * ids, replies, cancel, flow control, a bounded queue that keeps calls in order while the window is
 * full) over a UDP session or a shared-memory ring pair, with the peer's QUIC link behind it.
 *
 * A call takes the fast path when the path is confirmed and its frame fits; otherwise QUIC. When
 * the path dies, calls it had not written yet (queued, or accepted but unsent) certainly did not
 * run: they go over QUIC. Calls it had written may have run: they fail with CONNECTION_LOST
 * (retryable), as on a QUIC stream that dies.
 */
export class FastLink implements PeerLink {
  readonly transport: 'udp' | 'shm'
  readonly remote: string
  readonly #init: FastLinkInit
  readonly #pool: StreamPool
  readonly #channel: Channel
  #closed = false
  #reason: Error | undefined
  /** Set by the selector once calls take this path (see FastPaths.select). */
  inUse = false
  readonly createdAt = performance.now()

  constructor (init: FastLinkInit) {
    this.#init = init
    this.transport = init.transport
    this.remote = init.remote
    // registered before the channel's own listener, so the reason is known when the pool reports
    init.stream.addEventListener('close', (evt) => { this.#reason ??= (evt as Event & { error?: Error }).error })
    this.#pool = new StreamPool({
      remote: init.remote,
      maxStreams: 1,
      maxQueued: init.maxQueued,
      openStream: async () => { throw new ConnectionLostError(`the ${init.transport} fast path to ${init.remote} is gone`) },
      channel: { ...init.channel, transport: init.transport },
      onIdle: () => { this.#end() },
      onUnreachable: (calls) => { for (const call of calls) init.fallback().submit(call) },
      drainTimeout: 1_000
    })
    this.#channel = this.#pool.addStream(init.stream)
  }

  get ready (): boolean {
    return !this.#closed && this.#init.ready()
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Calls waiting for replies on this path, or requests from the peer being served. */
  get busy (): boolean {
    const s = this.#pool.stats()
    return s.outstanding > 0 || s.serving > 0 || s.queued > 0
  }

  stats (): FastLinkStats {
    return { remote: this.remote, transport: this.transport, ready: this.ready, queued: this.#pool.stats().queued, detail: this.#init.detail() }
  }

  submit (call: PendingCall): void {
    if (this.ready && call.frameSize <= this.#init.maxFrame) this.#pool.submit(call)
    else this.#init.fallback().submit(call)
  }

  /** Fails the calls written to this path with `reason`; calls not written yet go over QUIC. */
  close (reason: MeshError): void {
    this.#reason ??= reason
    this.#channel.close(reason)
    this.#end()
  }

  #end (): void {
    if (this.#closed) return
    this.#closed = true
    this.#init.onClose(this, this.#reason)
  }
}
