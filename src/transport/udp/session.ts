/**
 * One UDP session between two nodes: a reliable, ordered, authenticated byte stream over datagrams,
 * presented as a {@link FrameStream} so the same Channel that runs calls over a QUIC stream runs
 * them here (call ids, replies, cancel, flow control, hostile-frame handling).
 *
 * Reliability: each DATA datagram has a sequence number; the receiver delivers sequence numbers in
 * order, exactly once (a retransmitted or duplicated datagram is recognised by its number and
 * dropped, so a CALL frame never reaches the gateway twice: at-most-once execution), holds up to
 * WINDOW datagrams that arrive early, and acknowledges cumulatively with a selective bitmap on every
 * datagram it sends (a pure ACK at the end of the event-loop turn when it has nothing to send).
 * The sender keeps each datagram until acknowledged — replies included, so this buffer is the reply
 * cache: bounded by WINDOW datagrams — and retransmits it after the RTT-derived timeout, doubling
 * per retry. A datagram unacknowledged for `deadAfter` ms, or a peer silent for as long while calls
 * wait on it, ends the session with CONNECTION_LOST. docs/transports.md explains the choices.
 */
import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto'
import { ConnectionLostError } from '../../errors.js'
import { FrameStreamBase } from '../frame-stream-base.js'
import { DatagramKind, type DatagramHeader, type DropReason, KEY_BYTES, openDatagram, sealDatagram } from './datagram.js'
import { ReplayWindow } from './replay-window.js'
import { MAX_RTO, RttEstimator } from './rtt.js'

/** Datagrams in flight (sent, unacknowledged) per direction, and how far ahead a receiver buffers. */
export const WINDOW = 1024
/** Retransmissions of one datagram before the session gives up (the deadline usually comes first). */
const MAX_RETRIES = 16
const MAX_SEQ = 0xffff_fffe

/** A datagram ready for the socket. */
export interface Outgoing {
  data: Uint8Array
  address: string
  port: number
}

/** The peer's half of a session, learnt over the authenticated QUIC connection. */
export interface UdpPeer {
  /** The peer's id for the session (we write it in every datagram we send). */
  id: number
  /** The key the peer decrypts with (we encrypt with it). */
  key: Uint8Array
  address: string
  port: number
}

/** What a session needs from its endpoint. */
export interface UdpSessionInit {
  id: number
  /** Stream bytes per datagram. */
  maxPayload: number
  deadAfter: number
  keepAlive: number
  /** The session has datagrams to send: the endpoint calls `collect` soon (same turn). */
  requestFlush: (session: UdpSession) => void
  /** Data arrived: the endpoint calls `collect` at the end of this event-loop turn, so the ack rides on a reply when there is one. */
  requestAck: (session: UdpSession) => void
  /** The session closed: the endpoint forgets it. */
  onClosed: (session: UdpSession) => void
  /** Counts a datagram the session refused. */
  onDrop: (reason: DropReason) => void
  now: () => number
}

export interface UdpSessionStats {
  id: number
  address: string
  port: number
  /** Smoothed round trip and retransmission timeout, ms. */
  srtt: number
  rto: number
  sent: number
  retransmitted: number
  received: number
  /** DATA datagrams that arrived again (retransmissions whose first copy did arrive). */
  duplicates: number
  unacked: number
  queuedBytes: number
}

interface Sent {
  seq: number
  payload: Uint8Array
  firstSentAt: number
  sentAt: number
  retries: number
  sacked: boolean
  /** Later datagrams were acknowledged while this one was not: resend it without waiting for the timer. */
  lost: boolean
}

export class UdpSession extends FrameStreamBase {
  /** Our id for the session; the peer writes it in its datagrams. */
  readonly id: number
  /** The key the peer encrypts with for us (sent to it over QUIC). */
  readonly key: Uint8Array
  readonly #keyObject: KeyObject
  readonly #init: UdpSessionInit
  #peer: UdpPeer | undefined
  #peerKey: KeyObject | undefined
  #state: 'pending' | 'open' | 'closed' = 'pending'
  #heard = false
  #usableWaiters: PromiseWithResolvers<void> | undefined
  #lastHeard = 0
  /** Says whether calls wait on this session (then a silent peer is probed and, if gone, noticed). */
  #interested: () => boolean = () => false
  // sending
  readonly #queue: Uint8Array[] = []
  #queuedBytes = 0
  #nextSeq = 1
  #packet = 0
  readonly #unacked = new Map<number, Sent>()
  #retransmitDue = false
  #probeDue = false
  readonly #rtt = new RttEstimator()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Infinity
  // receiving
  readonly #replay = new ReplayWindow()
  #received = 0
  readonly #early = new Map<number, Uint8Array>()
  #ackDue = false
  #farewell: Outgoing[] = []
  // stats
  #datagramsOut = 0
  #retransmitted = 0
  #datagramsIn = 0
  #duplicates = 0

  constructor (init: UdpSessionInit) {
    super()
    this.#init = init
    this.id = init.id
    this.key = new Uint8Array(randomBytes(KEY_BYTES))
    this.#keyObject = createSecretKey(this.key)
  }

  /** Resolves once the session is `usable`; rejects if it closes first. */
  async whenUsable (): Promise<void> {
    if (this.usable) return
    if (this.#state === 'closed') throw new ConnectionLostError('the UDP session is closed')
    this.#usableWaiters ??= Promise.withResolvers<void>()
    return this.#usableWaiters.promise
  }

  /** True once an authentic datagram from the peer arrived: the path works both ways. */
  get usable (): boolean { return this.#state === 'open' && this.#heard }

  /** Whether calls wait on this session; probed while they do. */
  set interested (fn: () => boolean) { this.#interested = fn }

  /**
   * Completes the session with the peer's half. `probe`: send an empty datagram at once, whose
   * acknowledgement makes the session `usable` on this side (and its arrival on the other). The
   * side that answered the handshake does not probe: the asking side is not connected yet then.
   */
  connect (peer: UdpPeer, probe: boolean): void {
    if (this.#state !== 'pending') return
    this.#peer = peer
    this.#peerKey = createSecretKey(peer.key)
    this.#state = 'open'
    if (!probe) return
    this.#probeDue = true
    this.#init.requestFlush(this)
  }

  stats (): UdpSessionStats {
    return {
      id: this.id,
      address: this.#peer?.address ?? '',
      port: this.#peer?.port ?? 0,
      srtt: this.#rtt.srtt,
      rto: this.#rtt.rto,
      sent: this.#datagramsOut,
      retransmitted: this.#retransmitted,
      received: this.#datagramsIn,
      duplicates: this.#duplicates,
      unacked: this.#unacked.size,
      queuedBytes: this.#queuedBytes
    }
  }

  // ---- FrameStream

  send (data: Uint8Array): boolean {
    if (this.#state !== 'open') throw new ConnectionLostError('the UDP session is closed')
    if (data.byteLength === 0) return true
    this.#queue.push(data)
    this.#queuedBytes += data.byteLength
    this.#init.requestFlush(this)
    return true
  }

  abort (err: Error): void {
    this.close(err, true)
  }

  /**
   * Ends the session; `notify`: the peer is owed what is still queued (the answers a closing
   * channel just wrote) and a CLOSE datagram, which the endpoint takes with {@link takeClose}. Best
   * effort, sent once: a peer that misses them finds out from its own retransmissions.
   */
  close (err: Error | undefined, notify: boolean): void {
    if (this.#state === 'closed') return
    if (notify && this.#state === 'open') {
      const now = this.#init.now()
      this.#farewell = []
      while (this.#queuedBytes > 0 && this.#nextSeq <= MAX_SEQ) this.#sendNew(this.#take(this.#init.maxPayload), this.#farewell, now)
      this.#farewell.push(this.#datagram(DatagramKind.CLOSE, 0, undefined))
    }
    this.#state = 'closed'
    this.#clearTimer()
    this.#queue.length = 0
    this.#queuedBytes = 0
    this.#unacked.clear()
    this.#early.clear()
    this.#usableWaiters?.reject(err ?? new ConnectionLostError('the UDP session closed'))
    this.#usableWaiters?.promise.catch(() => {})
    this.#init.onClosed(this)
    this.emitClose(err)
  }

  /** What a closed session owes its peer (its last data, then CLOSE), once. */
  takeClose (): Outgoing[] {
    const farewell = this.#farewell
    this.#farewell = []
    return farewell
  }

  // ---- sending

  /** Appends the datagrams due now (retransmissions, new data within the window, a probe, an ack). */
  collect (out: Outgoing[]): void {
    if (this.#state !== 'open') return
    const now = this.#init.now()
    const before = out.length
    if (this.#retransmitDue) {
      this.#retransmitDue = false
      if (!this.#retransmit(out, now)) return
    }
    while (this.#queuedBytes > 0 && this.#unacked.size < WINDOW) {
      if (this.#nextSeq > MAX_SEQ) {
        this.close(new ConnectionLostError('the UDP session used up its sequence numbers'), true)
        return
      }
      this.#sendNew(this.#take(this.#init.maxPayload), out, now)
    }
    if (this.#probeDue) {
      this.#probeDue = false
      // an empty DATA datagram: acknowledged, retransmitted and timed out like any other
      if (this.#unacked.size === 0) this.#sendNew(EMPTY, out, now)
    }
    if (out.length === before && this.#ackDue) {
      out.push(this.#datagram(DatagramKind.ACK, 0, undefined))
    }
    this.#arm(now)
  }

  #sendNew (payload: Uint8Array, out: Outgoing[], now: number): void {
    const seq = this.#nextSeq++
    this.#unacked.set(seq, { seq, payload, firstSentAt: now, sentAt: now, retries: 0, sacked: false, lost: false })
    out.push(this.#datagram(DatagramKind.DATA, seq, payload))
  }

  /** Resends what the timer found due; false when the session died instead. */
  #retransmit (out: Outgoing[], now: number): boolean {
    const rto = this.#rtt.rto
    for (const sent of this.#unacked.values()) {
      if (sent.sacked || (!sent.lost && now < sent.sentAt + backoff(rto, sent.retries))) continue
      sent.lost = false
      if (now - sent.firstSentAt >= this.#init.deadAfter || sent.retries >= MAX_RETRIES) {
        this.close(new ConnectionLostError(`no acknowledgement from ${this.#peer?.address}:${this.#peer?.port} for ${Math.round(now - sent.firstSentAt)} ms`), true)
        return false
      }
      sent.retries++
      sent.sentAt = now
      this.#retransmitted++
      out.push(this.#datagram(DatagramKind.DATA, sent.seq, sent.payload))
    }
    return true
  }

  #datagram (kind: DatagramKind, seq: number, payload: Uint8Array | undefined): Outgoing {
    const peer = this.#peer!
    const header: DatagramHeader = {
      kind,
      session: peer.id,
      packet: this.#packet++,
      seq,
      ack: this.#received,
      sack: this.#early.size === 0 ? 0 : this.#sackBits()
    }
    this.#ackDue = false
    this.#datagramsOut++
    return { data: sealDatagram(this.#peerKey!, header, payload ?? EMPTY), address: peer.address, port: peer.port }
  }

  #sackBits (): number {
    let bits = 0
    for (let i = 0; i < 32; i++) if (this.#early.has(this.#received + 2 + i)) bits |= 1 << i
    return bits >>> 0
  }

  /** Up to `max` queued bytes as one payload (whole chunks where they fit, so most sends copy nothing). */
  #take (max: number): Uint8Array {
    const first = this.#queue[0]
    if (first.byteLength >= max || this.#queue.length === 1) {
      if (first.byteLength <= max) {
        this.#queue.shift()
        this.#queuedBytes -= first.byteLength
        return first
      }
      this.#queue[0] = first.subarray(max)
      this.#queuedBytes -= max
      return first.subarray(0, max)
    }
    const size = Math.min(max, this.#queuedBytes)
    const payload = new Uint8Array(size)
    let at = 0
    while (at < size) {
      const chunk = this.#queue[0]
      const n = Math.min(chunk.byteLength, size - at)
      payload.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n), at)
      at += n
      if (n === chunk.byteLength) this.#queue.shift()
      else this.#queue[0] = chunk.subarray(n)
    }
    this.#queuedBytes -= size
    return payload
  }

  /** Keeps one timer: the earliest retransmission, else a keep-alive probe while calls wait. */
  #arm (now: number): void {
    let at = Infinity
    if (this.#unacked.size > 0) {
      const rto = this.#rtt.rto
      for (const sent of this.#unacked.values()) {
        if (sent.sacked) continue
        at = Math.min(at, sent.sentAt + backoff(rto, sent.retries))
        if (sent.retries === 0) break // the ones after it were sent later, with the same timeout
      }
    } else if (this.#interested()) {
      at = this.#lastHeard + this.#init.keepAlive
    }
    if (at >= this.#timerAt) return
    this.#clearTimer()
    if (at === Infinity) return
    this.#timerAt = at
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(at - now)))
    this.#timer.unref?.()
  }

  #clearTimer (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #onTimer = (): void => {
    this.#timer = undefined
    this.#timerAt = Infinity
    // Decide after this turn's I/O: libuv runs timers before polling sockets, so acks that arrived
    // while the event loop was busy are still unread here and would look lost.
    setImmediate(this.#onTimeout)
  }

  #onTimeout = (): void => {
    if (this.#state !== 'open') return
    if (this.#unacked.size > 0) {
      this.#retransmitDue = true
    } else if (this.#interested() && this.#init.now() - this.#lastHeard >= this.#init.keepAlive) {
      // calls wait on a silent peer: probe it (an unanswered probe times the session out like any datagram)
      this.#probeDue = true
    }
    this.#init.requestFlush(this)
  }

  // ---- receiving

  /** A datagram for this session (its header already read). Returns why it was dropped, if it was. */
  receive (bytes: Uint8Array, header: DatagramHeader): DropReason | undefined {
    if (this.#state !== 'open') return 'session'
    if (!this.#replay.check(header.packet)) return 'replay'
    const payload = openDatagram(this.#keyObject, bytes)
    if (payload === undefined) return 'auth'
    this.#replay.accept(header.packet)
    if (!this.#heard) {
      this.#heard = true
      this.#usableWaiters?.resolve()
    }
    this.#lastHeard = this.#init.now()
    this.#datagramsIn++
    if (header.ack >= this.#nextSeq) return 'malformed' // acknowledges data never sent: a broken peer
    this.#onAck(header.ack, header.sack)
    switch (header.kind) {
      case DatagramKind.DATA:
        if (header.seq === 0) return 'malformed'
        if (!this.#onData(header.seq, payload)) return 'window'
        break
      case DatagramKind.CLOSE:
        this.close(new ConnectionLostError('the peer closed the UDP session'), false)
        return undefined
    }
    if (this.#ackDue) this.#init.requestAck(this)
    return undefined
  }

  #onAck (ack: number, sack: number): void {
    let freed = false
    let sample = -1
    for (const [seq, sent] of this.#unacked) {
      if (seq > ack) break
      if (sent.retries === 0) sample = sent.sentAt // Karn: only datagrams sent once give a clean sample
      this.#unacked.delete(seq)
      freed = true
    }
    if (sample >= 0) this.#rtt.sample(this.#init.now() - sample)
    let highest = 0
    for (let bits = sack, i = 0; bits !== 0; bits >>>= 1, i++) {
      if ((bits & 1) === 0) continue
      const sent = this.#unacked.get(ack + 2 + i)
      if (sent !== undefined) sent.sacked = true
      highest = ack + 2 + i
    }
    // Fast retransmit: the receiver holds later datagrams, so the ones it lacks below them (sent
    // once) were lost, not late — loopback and LAN paths do not reorder. Resend them now, once.
    let lost = false
    for (const sent of this.#unacked.values()) {
      if (sent.seq >= highest) break
      if (!sent.sacked && sent.retries === 0 && !sent.lost) sent.lost = lost = true
    }
    if (lost) {
      this.#retransmitDue = true
      this.#init.requestFlush(this)
    }
    if (freed && this.#queuedBytes > 0) this.#init.requestFlush(this)
  }

  /** In-order delivery; false when `seq` is beyond the window. */
  #onData (seq: number, payload: Uint8Array): boolean {
    this.#ackDue = true
    if (seq <= this.#received) {
      this.#duplicates++
      return true
    }
    if (seq > this.#received + WINDOW) return false
    if (seq !== this.#received + 1) {
      if (!this.#early.has(seq)) this.#early.set(seq, payload)
      return true
    }
    this.#deliver(payload)
    for (let next = this.#early.get(this.#received + 1); next !== undefined; next = this.#early.get(this.#received + 1)) {
      this.#early.delete(this.#received + 1)
      this.#deliver(next)
    }
    return true
  }

  #deliver (payload: Uint8Array): void {
    this.#received++
    if (payload.byteLength > 0 && this.#state === 'open') this.emitMessage(payload)
  }
}

const EMPTY = new Uint8Array(0)

/** The timeout before retry `retries + 1`: doubling, at most MAX_RTO. */
function backoff (rto: number, retries: number): number {
  return Math.min(MAX_RTO, rto * 2 ** retries)
}
