import { createHash, createHmac, createPrivateKey, createPublicKey, createSecretKey, diffieHellman, hkdfSync, type KeyObject, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ForbiddenError } from '../errors.js'
import { MAC_SIZE, macPrefix, type RouteHeader } from './route-header.js'

/** How far an origin's clock may be from ours (ms) before its routed calls are refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000
/** Routed calls remembered for replay detection (the oldest are forgotten first). */
export const REPLAY_CACHE_SIZE = 100_000
/** Peers whose keys are kept ready (public keys for signatures, MAC keys for routed calls). */
const KEY_CACHE_SIZE = 4_096
/** DER prefixes that wrap raw keys for node:crypto: Ed25519 PKCS#8 and SPKI, X25519 PKCS#8 and SPKI. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex')
const MAC_KEY_INFO = 'kadmesh/origin-mac/1'
/** The field prime of Curve25519 / Ed25519. */
const P = 2n ** 255n - 19n

export interface OriginProof {
  timestamp: number
  nonce: Uint8Array
  mac: Uint8Array
}

/** The two MAC keys shared with one peer: for calls from this node to it, and from it to this node. */
interface PeerKeys {
  toPeer: KeyObject
  fromPeer: KeyObject
}

/**
 * End-to-end origin authentication for calls that travel through gateways (docs/security.md).
 * The origin and the destination share a key without a handshake: X25519 between their node keys
 * (each Ed25519 key mapped to its X25519 form), expanded with HKDF into one key per direction. The
 * origin MACs (HMAC-SHA256) origin, destination, method, payload, timestamp and nonce; the
 * destination recomputes the MAC (a forwarder holds neither private key), refuses timestamps
 * outside MAX_CLOCK_SKEW_MS, and refuses an (origin, nonce) it has already seen. A MAC and its
 * check cost 3–8 µs where an Ed25519 signature and its check cost 22–29 and 63–93 µs
 * (`BENCH_SUITES=routing npm run bench` prints both, docs/benchmarks.md).
 *
 * Also signs and checks signatures with the node key, for records others must verify (gateway
 * records).
 */
export class OriginAuth {
  readonly #nodeId: string
  readonly #key: PrivateKey
  /** The node key as a node:crypto KeyObject, made once (`@libp2p/crypto` re-imports it per signature). */
  readonly #signingKey: KeyObject | undefined
  /** The node key's X25519 form: the secret scalar of the Ed25519 key (RFC 8032 §5.1.5). */
  readonly #agreementKey: KeyObject | undefined
  readonly #publicKeys = new Map<string, KeyObject>()
  readonly #peerKeys = new Map<string, PeerKeys>()
  readonly #seen = new Map<string, number>()
  /** Nonces are a counter from a random start: unique per origin, and cheaper than 8 random bytes a call. */
  readonly #nonce = randomBytes(8)

  constructor (nodeId: string, key: PrivateKey) {
    this.#nodeId = nodeId
    this.#key = key
    if (key.type === 'Ed25519') {
      const seed = key.raw.subarray(0, 32)
      this.#signingKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
      const scalar = createHash('sha512').update(seed).digest().subarray(0, 32)
      this.#agreementKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' })
    }
  }

  /** The proof for a routed call from this node to `destination`. Throws ForbiddenError if no key can be shared with it. */
  seal (destination: string, method: string, payload: Uint8Array): OriginProof {
    const timestamp = Date.now()
    const nonce = this.#nextNonce()
    const mac = this.#mac(this.#keys(destination).toPeer, this.#nodeId, destination, timestamp, nonce, method, payload)
    return { timestamp, nonce, mac }
  }

  /** Throws ForbiddenError unless the header's origin really sent this call to this node, once. */
  verify (header: RouteHeader, method: string, payload: Uint8Array): void {
    const origin = header.path[0]
    const destination = header.path[header.path.length - 1]
    const forged = (): ForbiddenError => new ForbiddenError(`the MAC of origin ${origin} does not verify`)
    if (destination !== this.#nodeId || header.mac.byteLength !== MAC_SIZE) throw forged()
    const expected = this.#mac(this.#keys(origin).fromPeer, origin, destination, header.timestamp, header.nonce, method, payload)
    if (!timingSafeEqual(expected, header.mac)) throw forged()
    const now = Date.now()
    if (Math.abs(now - header.timestamp) > MAX_CLOCK_SKEW_MS) {
      throw new ForbiddenError(`the call from ${origin} is timestamped ${Math.round((header.timestamp - now) / 1000)} s from this node's clock`)
    }
    const key = `${origin}/${Buffer.from(header.nonce).toString('hex')}`
    if (this.#seen.has(key)) throw new ForbiddenError(`the call from ${origin} was replayed`)
    this.#seen.set(key, header.timestamp)
    if (this.#seen.size > REPLAY_CACHE_SIZE) this.#forgetOld(now)
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

  #mac (key: KeyObject, origin: string, destination: string, timestamp: number, nonce: Uint8Array, method: string, payload: Uint8Array): Buffer {
    return createHmac('sha256', key).update(macPrefix(origin, destination, timestamp, nonce, method, payload.byteLength)).update(payload).digest()
  }

  #nextNonce (): Uint8Array {
    // big-endian increment of the 8-byte counter
    for (let i = 7; i >= 0 && ++this.#nonce[i] === 256; i--) this.#nonce[i] = 0
    return new Uint8Array(this.#nonce) // a copy (Buffer#slice would be a view)
  }

  /** The MAC keys shared with `peer` (cached). Throws ForbiddenError when there can be none. */
  #keys (peer: string): PeerKeys {
    let keys = this.#peerKeys.get(peer)
    if (keys === undefined) {
      keys = this.#agree(peer)
      if (this.#peerKeys.size >= KEY_CACHE_SIZE) this.#peerKeys.delete(this.#peerKeys.keys().next().value as string)
      this.#peerKeys.set(peer, keys)
    }
    return keys
  }

  #agree (peer: string): PeerKeys {
    let shared: Buffer
    try {
      const publicKey = peerIdFromString(peer).publicKey
      if (this.#agreementKey === undefined) throw new Error(`this node's key is ${this.#key.type}, not Ed25519`)
      if (publicKey?.type !== 'Ed25519') throw new Error('not an Ed25519 node id')
      const peerX25519 = createPublicKey({ key: Buffer.concat([SPKI_X25519, montgomeryU(publicKey.raw)]), format: 'der', type: 'spki' })
      // throws for a low-order point (an all-zero secret), which anyone could compute
      shared = diffieHellman({ privateKey: this.#agreementKey, publicKey: peerX25519 })
    } catch (err) {
      throw new ForbiddenError(`no key can be shared with ${peer}: ${(err as Error).message}`, { cause: err })
    }
    const key = (from: string, to: string): KeyObject => createSecretKey(Buffer.from(hkdfSync('sha256', shared, MAC_KEY_INFO, `${from}\n${to}`, 32)))
    return { toPeer: key(this.#nodeId, peer), fromPeer: key(peer, this.#nodeId) }
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

/**
 * The X25519 (Montgomery u) coordinate of an Ed25519 public key: u = (1 + y) / (1 − y) mod p
 * (RFC 7748 §4.1). Pure; 32 bytes little-endian.
 */
export function montgomeryU (edwards: Uint8Array): Uint8Array {
  let y = 0n
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? edwards[i] & 0x7f : edwards[i])
  let u = (1n + y) * power((1n - y + P) % P, P - 2n) % P
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 0xffn)
  return out
}

function power (base: bigint, exponent: bigint): bigint {
  let result = 1n
  for (; exponent > 0n; exponent >>= 1n, base = base * base % P) if ((exponent & 1n) === 1n) result = result * base % P
  return result
}
