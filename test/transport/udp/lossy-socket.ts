/**
 * Wraps a real UDP socket to misbehave like a bad network on the way out: drops and duplicates
 * datagrams (seeded, so every run replays the same losses) and lets a test look at what is sent.
 */
import type { OutgoingDatagram, ReceivedDatagram } from '../../../src/transport/native/udp.js'
import type { DatagramSocket } from '../../../src/transport/udp/endpoint.js'
import { prng } from '../../prng.js'

export interface Misbehaviour {
  /** Fraction of datagrams dropped. */
  drop?: number
  /** Fraction of (surviving) datagrams sent twice. */
  duplicate?: number
  seed?: number
}

export class LossySocket implements DatagramSocket {
  readonly #inner: DatagramSocket
  readonly #random: () => number
  drop: number
  duplicate: number
  dropped = 0
  duplicated = 0
  /** Sees every datagram handed to the socket (before losses). */
  tap: ((datagram: OutgoingDatagram) => void) | undefined

  constructor (inner: DatagramSocket, misbehaviour: Misbehaviour = {}) {
    this.#inner = inner
    this.drop = misbehaviour.drop ?? 0
    this.duplicate = misbehaviour.duplicate ?? 0
    this.#random = prng(misbehaviour.seed ?? 1)
  }

  get port (): number { return this.#inner.port }

  sendBatch (datagrams: readonly OutgoingDatagram[]): number {
    const out: OutgoingDatagram[] = []
    for (const d of datagrams) {
      this.tap?.(d)
      if (this.#random() < this.drop) {
        this.dropped++
        continue
      }
      out.push(d)
      if (this.#random() < this.duplicate) {
        this.duplicated++
        out.push(d)
      }
    }
    if (out.length > 0) this.#inner.sendBatch(out)
    return datagrams.length
  }

  receive (onDatagrams: (datagrams: ReceivedDatagram[]) => void): void {
    this.#inner.receive(onDatagrams)
  }

  close (): void {
    this.#inner.close()
  }
}
