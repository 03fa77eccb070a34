import { BadRequestError } from '../errors.js'
import { methodBytes } from '../wire/frame-writer.js'

/**
 * The route header of a ROUTE frame: the path a call takes through gateways, chosen by its origin,
 * and the origin's MAC (src/routing/origin-auth.ts). Only `hop` changes on the way; everything the
 * MAC covers is fixed at the origin. Pure: no I/O.
 *
 * ```
 * u8  hop        index in `path` of the node this frame is sent to
 * u8  budget     most hops the call may take
 * u8  flags      1 (FLAG_MAC: the authenticator is an HMAC; 0 was an Ed25519 signature, retired)
 * u8  n          path length (2..255): origin first, destination last
 * n × (u8 length, node id as UTF-8)
 * f64 timestamp  origin wall clock, ms since the epoch
 * 8   nonce      unique per call of this origin
 * u8  length, mac (HMAC-SHA256 over macPrefix() and the payload: 32 bytes)
 * ```
 */
export interface RouteHeader {
  hop: number
  budget: number
  path: string[]
  timestamp: number
  nonce: Uint8Array
  mac: Uint8Array
}

/** Default and largest hop budget. */
export const DEFAULT_HOP_BUDGET = 8
export const MAX_HOP_BUDGET = 32
/** The only flag: the authenticator is an HMAC-SHA256 (a header without it is refused). */
export const FLAG_MAC = 1
/** Bytes of the MAC. */
export const MAC_SIZE = 32

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const DOMAIN = encoder.encode('kadmesh/route/2\0')
const idCache = new Map<string, Uint8Array>()
/** Node ids whose bytes are kept (the cache starts over beyond it). */
const ID_CACHE_LIMIT = 4_096

/** UTF-8 bytes of a node id, cached: every routed call encodes its path and its MAC covers two ids. */
function idBytes (id: string): Uint8Array {
  let bytes = idCache.get(id)
  if (bytes === undefined) {
    bytes = encoder.encode(id)
    if (idCache.size >= ID_CACHE_LIMIT) idCache.clear()
    idCache.set(id, bytes)
  }
  return bytes
}

export function encodeRouteHeader (header: RouteHeader): Uint8Array {
  const ids = header.path.map(idBytes)
  if (ids.length < 2 || ids.length > 255 || ids.some(b => b.byteLength === 0 || b.byteLength > 255)) {
    throw new BadRequestError('a route has 2 to 255 node ids of 1 to 255 bytes')
  }
  const size = 4 + ids.reduce((n, b) => n + 1 + b.byteLength, 0) + 8 + 8 + 1 + header.mac.byteLength
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = header.hop
  out[1] = header.budget
  out[2] = FLAG_MAC
  out[3] = ids.length
  let at = 4
  for (const id of ids) {
    out[at] = id.byteLength
    out.set(id, at + 1)
    at += 1 + id.byteLength
  }
  view.setFloat64(at, header.timestamp)
  out.set(header.nonce.subarray(0, 8), at + 8)
  out[at + 16] = header.mac.byteLength
  out.set(header.mac, at + 17)
  return out
}

export function parseRouteHeader (bytes: Uint8Array): RouteHeader {
  const bad = (why: string): never => { throw new BadRequestError(`malformed route header: ${why}`) }
  if (bytes.byteLength < 4) bad('too short')
  const [hop, budget, flags, n] = bytes
  if (flags !== FLAG_MAC) bad(flags === 0 ? 'signed headers are retired: the origin runs an older kadmesh' : 'unknown flags')
  if (n < 2) bad('a path needs an origin and a destination')
  if (hop < 1 || hop >= n) bad('hop outside the path')
  const path: string[] = []
  let at = 4
  for (let i = 0; i < n; i++) {
    const length = bytes[at]
    if (length === undefined || length === 0 || at + 1 + length > bytes.byteLength) bad('node id out of bounds')
    try {
      path.push(decoder.decode(bytes.subarray(at + 1, at + 1 + length)))
    } catch {
      bad('node id is not UTF-8')
    }
    at += 1 + length
  }
  if (at + 17 > bytes.byteLength) bad('too short for timestamp, nonce and MAC')
  const timestamp = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(at)
  const nonce = bytes.slice(at + 8, at + 16)
  if (at + 17 + bytes[at + 16] !== bytes.byteLength) bad('MAC length does not match')
  const mac = bytes.slice(at + 17)
  return { hop, budget, path, timestamp, nonce, mac }
}

/** The same header bytes, addressed to the next node on the path. */
export function nextHop (bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out[0] = bytes[0] + 1
  return out
}

/**
 * What the origin's MAC covers, up to the payload (which follows it): everything a forwarder must
 * not change. Each field is length-prefixed, so no two calls give the same bytes.
 */
export function macPrefix (origin: string, destination: string, timestamp: number, nonce: Uint8Array, method: string, payloadLength: number): Uint8Array {
  const parts = [idBytes(origin), idBytes(destination), methodBytes(method)]
  const size = DOMAIN.byteLength + parts.reduce((n, p) => n + 4 + p.byteLength, 0) + 8 + 8 + 4
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(DOMAIN)
  let at = DOMAIN.byteLength
  for (const part of parts) {
    view.setUint32(at, part.byteLength)
    out.set(part, at + 4)
    at += 4 + part.byteLength
  }
  view.setFloat64(at, timestamp)
  out.set(nonce.subarray(0, 8), at + 8)
  view.setUint32(at + 16, payloadLength)
  return out
}
