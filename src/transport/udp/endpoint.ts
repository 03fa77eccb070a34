/**
 * A node's UDP fast-path endpoint: one socket, the sessions on it (by the id the receiver chose),
 * and the batching around them. Every datagram is checked before anything else happens: too short,
 * unknown version or kind, unknown session, replayed packet number, failed authentication — each
 * dropped and counted, never answered. Sends from every session in one turn leave in one
 * `sendmmsg` batch.
 */
import { randomInt } from 'node:crypto'
import { logger } from '@libp2p/logger'
import { ClosedError } from '../../errors.js'
import type { OutgoingDatagram, ReceivedDatagram } from '../native/udp.js'
import { DATAGRAM_OVERHEAD, type DropReason, readHeader } from './datagram.js'
import { type Outgoing, UdpSession } from './session.js'

const log = logger('kadmesh:transport:udp')

/** The part of a UDP socket the endpoint uses; `NativeUdpSocket` is one, a test may wrap it. */
export interface DatagramSocket {
  readonly port: number
  /** Sends from the front; returns how many were handled (fewer: the send buffer is full). */
  sendBatch (datagrams: readonly OutgoingDatagram[]): number
  /** Starts delivering received datagrams (views valid during the call only). */
  receive (onDatagrams: (datagrams: ReceivedDatagram[]) => void): void
  close (): void
}

export interface UdpEndpointInit {
  socket: DatagramSocket
  /** Largest datagram sent (header and tag included); payloads are cut to fit. */
  maxDatagramSize: number
  /** ms a datagram may stay unacknowledged before its session is declared dead. */
  deadAfter: number
  /** ms of silence from a peer that calls wait on before it is probed. */
  keepAlive: number
  /** Counts a dropped datagram. */
  onDrop: (reason: DropReason) => void
  /** Monotonic clock in ms (default `performance.now`). */
  now?: () => number
}

export interface UdpEndpointStats {
  port: number
  sessions: number
  /** Datagrams the socket could not take (send buffer full); their sessions retransmit them. */
  sendFull: number
}

export class UdpEndpoint {
  readonly #init: UdpEndpointInit
  readonly #socket: DatagramSocket
  readonly #now: () => number
  readonly #sessions = new Map<number, UdpSession>()
  readonly #dirty = new Set<UdpSession>()
  readonly #acks = new Set<UdpSession>()
  /** The last datagrams of sessions that just closed (see UdpSession.takeClose). */
  #goodbyes: Outgoing[] = []
  #flushQueued = false
  #acksQueued = false
  #sendFull = 0
  #closed = false

  constructor (init: UdpEndpointInit) {
    if (init.maxDatagramSize <= DATAGRAM_OVERHEAD) throw new RangeError(`maxDatagramSize must exceed ${DATAGRAM_OVERHEAD}`)
    this.#init = init
    this.#socket = init.socket
    this.#now = init.now ?? performance.now.bind(performance)
    this.#socket.receive(this.#onDatagrams)
  }

  get port (): number { return this.#socket.port }

  stats (): UdpEndpointStats {
    return { port: this.#socket.port, sessions: this.#sessions.size, sendFull: this.#sendFull }
  }

  /**
   * A new session with a fresh id and key, not yet connected: send its `id` and `key` to the peer
   * over QUIC, then call `connect` with the peer's half. Datagrams for it are dropped until then.
   */
  createSession (): UdpSession {
    if (this.#closed) throw new ClosedError('the UDP endpoint is closed')
    let id: number
    do id = randomInt(1, 0xffff_ffff); while (this.#sessions.has(id))
    const session = new UdpSession({
      id,
      maxPayload: this.#init.maxDatagramSize - DATAGRAM_OVERHEAD,
      deadAfter: this.#init.deadAfter,
      keepAlive: this.#init.keepAlive,
      requestFlush: this.#requestFlush,
      requestAck: this.#requestAck,
      onClosed: this.#onClosed,
      onDrop: this.#init.onDrop,
      now: this.#now
    })
    this.#sessions.set(id, session)
    return session
  }

  /** Closes every session (telling their peers) and the socket. Idempotent. */
  close (reason: Error = new ClosedError()): void {
    if (this.#closed) return
    for (const session of [...this.#sessions.values()]) session.close(reason, true)
    this.#flush()
    this.#closed = true
    this.#socket.close()
  }

  #requestFlush = (session: UdpSession): void => {
    this.#dirty.add(session)
    if (this.#flushQueued) return
    this.#flushQueued = true
    queueMicrotask(this.#flush)
  }

  /** Acks wait for the end of the turn: by then a handler that answers at once has, and the ack rides on its reply. */
  #requestAck = (session: UdpSession): void => {
    this.#acks.add(session)
    if (this.#acksQueued) return
    this.#acksQueued = true
    setImmediate(this.#flushAcks)
  }

  #flushAcks = (): void => {
    this.#acksQueued = false
    for (const session of this.#acks) this.#dirty.add(session)
    this.#acks.clear()
    this.#flush()
  }

  #onClosed = (session: UdpSession): void => {
    this.#sessions.delete(session.id)
    this.#dirty.delete(session)
    this.#acks.delete(session)
    const farewell = session.takeClose()
    if (farewell.length === 0) return
    this.#goodbyes.push(...farewell)
    this.#requestFlush(session)
  }

  #flush = (): void => {
    this.#flushQueued = false
    if (this.#closed) return
    const out: Outgoing[] = this.#goodbyes
    this.#goodbyes = []
    for (const session of this.#dirty) session.collect(out)
    this.#dirty.clear()
    out.push(...this.#goodbyes) // sessions that died while collecting
    this.#goodbyes = []
    if (out.length === 0) return
    let sent: number
    try {
      sent = this.#socket.sendBatch(out)
    } catch (err) {
      log.error('UDP send failed: %s', (err as Error).message)
      sent = 0
    }
    // Not sent (send buffer full): left to the sessions' retransmission, as if the network lost them.
    if (sent < out.length) this.#sendFull += out.length - sent
  }

  #onDatagrams = (datagrams: ReceivedDatagram[]): void => {
    for (const { data } of datagrams) {
      const header = readHeader(data)
      if (header === 'malformed') {
        this.#init.onDrop('malformed')
        continue
      }
      const session = this.#sessions.get(header.session)
      const dropped = session === undefined ? 'session' : session.receive(data, header)
      if (dropped !== undefined) this.#init.onDrop(dropped)
    }
  }
}
