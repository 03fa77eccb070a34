import { BadRequestError } from '../errors.js'

/**
 * The route header of a ROUTE frame: the path a call takes through gateways, chosen by its origin,
 * and the origin's signature. Only `hop` changes on the way; everything the signature covers is
 * fixed at the origin. Pure: no I/O.
 *
 * ```
 * u8  hop        index in `path` of the node this frame is sent to
 * u8  budget     most hops the call may take
 * u8  flags      0
 * u8  n          path length (2..255): origin first, destination last
 * n × (u8 length, node id as UTF-8)
 * f64 timestamp  origin wall clock, ms since the epoch
 * 8   nonce      random, unique per call of this origin
 * u8  length, signature (Ed25519 over signedBytes(): 64 bytes)
 * ```
 */
export interface RouteHeader {
  hop: number
  budget: number
  path: string[]
  timestamp: number
  nonce: Uint8Array
  signature: Uint8Array
}

/** Default and largest hop budget. */
export const DEFAULT_HOP_BUDGET = 8
export const MAX_HOP_BUDGET = 32

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const DOMAIN = encoder.encode('kadmesh/route/1\0')

export function encodeRouteHeader (header: RouteHeader): Uint8Array {
  const ids = header.path.map(id => encoder.encode(id))
  if (ids.length < 2 || ids.length > 255 || ids.some(b => b.byteLength === 0 || b.byteLength > 255)) {
    throw new BadRequestError('a route has 2 to 255 node ids of 1 to 255 bytes')
  }
  const size = 4 + ids.reduce((n, b) => n + 1 + b.byteLength, 0) + 8 + 8 + 1 + header.signature.byteLength
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = header.hop
  out[1] = header.budget
  out[2] = 0
  out[3] = ids.length
  let at = 4
  for (const id of ids) {
    out[at] = id.byteLength
    out.set(id, at + 1)
    at += 1 + id.byteLength
  }
  view.setFloat64(at, header.timestamp)
  out.set(header.nonce.subarray(0, 8), at + 8)
  out[at + 16] = header.signature.byteLength
  out.set(header.signature, at + 17)
  return out
}

export function parseRouteHeader (bytes: Uint8Array): RouteHeader {
  const bad = (why: string): never => { throw new BadRequestError(`malformed route header: ${why}`) }
  if (bytes.byteLength < 4) bad('too short')
  const [hop, budget, flags, n] = bytes
  if (flags !== 0) bad('unknown flags')
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
  if (at + 17 > bytes.byteLength) bad('too short for timestamp, nonce and signature')
  const timestamp = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(at)
  const nonce = bytes.slice(at + 8, at + 16)
  const sigLength = bytes[at + 16]
  if (at + 17 + sigLength !== bytes.byteLength) bad('signature length does not match')
  const signature = bytes.slice(at + 17)
  return { hop, budget, path, timestamp, nonce, signature }
}

/** The same header bytes, addressed to the next node on the path. */
export function nextHop (bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out[0] = bytes[0] + 1
  return out
}

/** What the origin signs: everything a forwarder must not change. */
export function signedBytes (origin: string, destination: string, timestamp: number, nonce: Uint8Array, method: string, payload: Uint8Array): Uint8Array {
  const parts = [encoder.encode(origin), encoder.encode(destination), encoder.encode(method), payload]
  const size = DOMAIN.byteLength + parts.reduce((n, p) => n + 4 + p.byteLength, 0) + 8 + 8
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
  return out
}
