import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ForbiddenError } from '../errors.js'
import { type RouteHeader, signedBytes } from './route-header.js'

/** How far an origin's clock may be from ours (ms) before its routed calls are refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000
/** Routed calls remembered for replay detection (the oldest are forgotten first). */
export const REPLAY_CACHE_SIZE = 100_000
/** Origins whose public keys are kept ready for verification. */
const KEY_CACHE_SIZE = 4_096
/** DER prefixes that wrap raw Ed25519 keys as PKCS#8 (private) and SPKI (public) for node:crypto. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

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
  /**
   * The node key as a node:crypto KeyObject, made once: `@libp2p/crypto` re-imports the key on
   * every signature, which measured ~60 of the ~75 µs a routed call's signature cost.
   */
  readonly #signingKey: KeyObject | undefined
  readonly #publicKeys = new Map<string, KeyObject>()
  readonly #seen = new Map<string, number>()

  constructor (nodeId: string, key: PrivateKey) {
    this.#nodeId = nodeId
    this.#key = key
    this.#signingKey = key.type === 'Ed25519'
      ? createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, key.raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
      : undefined
  }

  async sign (destination: string, method: string, payload: Uint8Array): Promise<SignedOrigin> {
    const timestamp = Date.now()
    const nonce = randomBytes(8)
    const signature = await this.signBytes(signedBytes(this.#nodeId, destination, timestamp, nonce, method, payload))
    return { timestamp, nonce, signature }
  }

  /** Signs `data` with this node's key. */
  async signBytes (data: Uint8Array): Promise<Uint8Array> {
    return this.#signingKey !== undefined ? sign(null, data, this.#signingKey) : this.#key.sign(data)
  }

  /** Whether `signature` is node `nodeId`'s signature over `data` (false for anything malformed). */
  async verifies (nodeId: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    try {
      const key = this.#publicKey(nodeId)
      if (key !== undefined) return verify(null, data, key, signature)
      return await (peerIdFromString(nodeId).publicKey?.verify(data, signature) ?? false)
    } catch {
      return false
    }
  }

  /** Throws ForbiddenError unless the header's origin really sent this call, once. */
  async verify (header: RouteHeader, method: string, payload: Uint8Array): Promise<void> {
    const origin = header.path[0]
    const destination = header.path[header.path.length - 1]
    let data: Uint8Array | undefined
    try {
      data = signedBytes(origin, destination, header.timestamp, header.nonce, method, payload)
    } catch {}
    if (data === undefined || !await this.verifies(origin, data, header.signature)) throw new ForbiddenError(`the signature of origin ${origin} does not verify`)
    const now = Date.now()
    if (Math.abs(now - header.timestamp) > MAX_CLOCK_SKEW_MS) {
      throw new ForbiddenError(`the call from ${origin} is timestamped ${Math.round((header.timestamp - now) / 1000)} s from this node's clock`)
    }
    const key = `${origin}/${Buffer.from(header.nonce).toString('hex')}`
    if (this.#seen.has(key)) throw new ForbiddenError(`the call from ${origin} was replayed`)
    this.#seen.set(key, header.timestamp)
    if (this.#seen.size > REPLAY_CACHE_SIZE) this.#forgetOld(now)
  }

  /** The origin's Ed25519 public key as a KeyObject (cached), or undefined for other key types. */
  #publicKey (origin: string): KeyObject | undefined {
    let key = this.#publicKeys.get(origin)
    if (key === undefined) {
      const publicKey = peerIdFromString(origin).publicKey
      if (publicKey?.type !== 'Ed25519') return undefined
      key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey.raw]), format: 'der', type: 'spki' })
      if (this.#publicKeys.size >= KEY_CACHE_SIZE) this.#publicKeys.delete(this.#publicKeys.keys().next().value as string)
      this.#publicKeys.set(origin, key)
    }
    return key
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
