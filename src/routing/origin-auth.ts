import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ForbiddenError } from '../errors.js'
import { type RouteHeader, signedBytes } from './route-header.js'

/** How far an origin's clock may be from ours (ms) before its routed calls are refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000
/** Routed calls remembered for replay detection (the oldest are forgotten first). */
export const REPLAY_CACHE_SIZE = 100_000

export interface SignedOrigin {
  timestamp: number
  nonce: Uint8Array
  signature: Uint8Array
}

/**
 * End-to-end origin authentication for calls that travel through gateways (docs/security.md):
 * the origin signs (origin, destination, method, payload, timestamp, nonce) with its node key; the
 * destination checks the signature against the public key inside the origin's node id, refuses
 * timestamps outside MAX_CLOCK_SKEW_MS, and refuses a (origin, nonce) it has already seen.
 */
export class OriginAuth {
  readonly #nodeId: string
  readonly #key: PrivateKey
  readonly #seen = new Map<string, number>()

  constructor (nodeId: string, key: PrivateKey) {
    this.#nodeId = nodeId
    this.#key = key
  }

  async sign (destination: string, method: string, payload: Uint8Array): Promise<SignedOrigin> {
    const timestamp = Date.now()
    const nonce = randomBytes(8)
    const signature = await this.#key.sign(signedBytes(this.#nodeId, destination, timestamp, nonce, method, payload))
    return { timestamp, nonce, signature }
  }

  /** Throws ForbiddenError unless the header's origin really sent this call, once. */
  async verify (header: RouteHeader, method: string, payload: Uint8Array): Promise<void> {
    const origin = header.path[0]
    const destination = header.path[header.path.length - 1]
    let valid = false
    try {
      const { publicKey } = peerIdFromString(origin)
      if (publicKey !== undefined) {
        valid = await publicKey.verify(signedBytes(origin, destination, header.timestamp, header.nonce, method, payload), header.signature)
      }
    } catch {}
    if (!valid) throw new ForbiddenError(`the signature of origin ${origin} does not verify`)
    const now = Date.now()
    if (Math.abs(now - header.timestamp) > MAX_CLOCK_SKEW_MS) {
      throw new ForbiddenError(`the call from ${origin} is timestamped ${Math.round((header.timestamp - now) / 1000)} s from this node's clock`)
    }
    const key = `${origin}/${Buffer.from(header.nonce).toString('hex')}`
    if (this.#seen.has(key)) throw new ForbiddenError(`the call from ${origin} was replayed`)
    this.#seen.set(key, header.timestamp)
    if (this.#seen.size > REPLAY_CACHE_SIZE) this.#forgetOld(now)
  }

  /** Drops entries that the clock-skew check refuses anyway, else the oldest half. */
  #forgetOld (now: number): void {
    for (const [key, ts] of this.#seen) if (Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) this.#seen.delete(key)
    let excess = this.#seen.size - REPLAY_CACHE_SIZE / 2
    for (const key of this.#seen.keys()) {
      if (excess-- <= 0) break
      this.#seen.delete(key)
    }
  }
}
