/**
 * The fast-path UDP datagram: a 28-byte header, sent in the clear and authenticated as AEAD
 * associated data, then the AES-256-GCM ciphertext of the payload and its 16-byte tag. See
 * docs/transports.md "UDP datagrams". Pure: no I/O.
 *
 * ```
 * offset size
 * 0      1    version (1)
 * 1      1    kind: 1 DATA (payload: stream bytes), 2 ACK (no payload), 3 CLOSE (no payload)
 * 2      2    reserved (0)
 * 4      4    session id: the receiver's id for the session (it picked the id, and the key)
 * 8      8    packet number: 0, 1, 2, … per session and direction; the AEAD nonce is
 *             session id ‖ packet number, so it never repeats under one key
 * 16     4    seq: DATA only, the datagram's place in the stream (1, 2, …; retransmissions keep it)
 * 20     4    ack: every seq ≤ ack arrived (cumulative)
 * 24     4    sack: bit i set = seq ack + 2 + i arrived as well
 * 28     …    ciphertext, then the 16-byte tag
 * ```
 *
 * Integers are big-endian. AES-256-GCM rather than ChaCha20-Poly1305: on this machine (AES-NI)
 * sealing 100 B took 2.5 vs 3.3 µs and 1 KiB 3.8 vs 5.4 µs through node:crypto.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto'

export const DATAGRAM_VERSION = 1
export const HEADER_BYTES = 28
export const TAG_BYTES = 16
/** Bytes every datagram adds to its payload. */
export const DATAGRAM_OVERHEAD = HEADER_BYTES + TAG_BYTES
export const KEY_BYTES = 32
const CIPHER = 'aes-256-gcm'
const TWO_32 = 2 ** 32

export const DatagramKind = { DATA: 1, ACK: 2, CLOSE: 3 } as const
export type DatagramKind = typeof DatagramKind[keyof typeof DatagramKind]

export interface DatagramHeader {
  kind: DatagramKind
  session: number
  packet: number
  seq: number
  ack: number
  sack: number
}

/** Why a datagram was dropped (the keys of `stats().counters.fastPathDropped`). */
export type DropReason = 'malformed' | 'session' | 'auth' | 'replay' | 'window'

/** Seals `payload` (may be empty) under `key`: header ‖ ciphertext ‖ tag, in a new array. */
export function sealDatagram (key: KeyObject, header: DatagramHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATAGRAM_OVERHEAD + payload.byteLength)
  writeHeader(out, header)
  const aad = out.subarray(0, HEADER_BYTES)
  const cipher = createCipheriv(CIPHER, key, nonce(aad), { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  let at = HEADER_BYTES
  if (payload.byteLength > 0) {
    const body = cipher.update(payload)
    out.set(body, at)
    at += body.byteLength
  }
  const rest = cipher.final()
  out.set(rest, at)
  out.set(cipher.getAuthTag(), at + rest.byteLength)
  return out
}

/**
 * Reads the header of a received datagram, or says why it cannot be one of ours. Only the
 * session id may be trusted before {@link openDatagram} has checked the tag.
 */
export function readHeader (bytes: Uint8Array): DatagramHeader | 'malformed' {
  if (bytes.byteLength < DATAGRAM_OVERHEAD || bytes[0] !== DATAGRAM_VERSION || bytes[2] !== 0 || bytes[3] !== 0) return 'malformed'
  const kind = bytes[1]
  if (kind !== DatagramKind.DATA && kind !== DatagramKind.ACK && kind !== DatagramKind.CLOSE) return 'malformed'
  if (kind !== DatagramKind.DATA && bytes.byteLength !== DATAGRAM_OVERHEAD) return 'malformed'
  return {
    kind,
    session: readU32(bytes, 4),
    packet: readU32(bytes, 8) * TWO_32 + readU32(bytes, 12),
    seq: readU32(bytes, 16),
    ack: readU32(bytes, 20),
    sack: readU32(bytes, 24)
  }
}

/** Checks the tag and decrypts: the payload (a new array), or undefined when the datagram is not authentic. */
export function openDatagram (key: KeyObject, bytes: Uint8Array): Uint8Array | undefined {
  const aad = bytes.subarray(0, HEADER_BYTES)
  const end = bytes.byteLength - TAG_BYTES
  try {
    const decipher = createDecipheriv(CIPHER, key, nonce(aad), { authTagLength: TAG_BYTES })
    decipher.setAAD(aad)
    decipher.setAuthTag(bytes.subarray(end))
    const body = end > HEADER_BYTES ? decipher.update(bytes.subarray(HEADER_BYTES, end)) : EMPTY
    decipher.final()
    return body
  } catch {
    return undefined
  }
}

const EMPTY = new Uint8Array(0)

function writeHeader (out: Uint8Array, h: DatagramHeader): void {
  out[0] = DATAGRAM_VERSION
  out[1] = h.kind
  out[2] = 0
  out[3] = 0
  writeU32(out, 4, h.session)
  writeU32(out, 8, Math.floor(h.packet / TWO_32))
  writeU32(out, 12, h.packet >>> 0)
  writeU32(out, 16, h.seq)
  writeU32(out, 20, h.ack)
  writeU32(out, 24, h.sack)
}

/** session id ‖ packet number: the header's bytes 4..15. */
function nonce (header: Uint8Array): Uint8Array {
  return header.subarray(4, 16)
}

function readU32 (b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0
}

function writeU32 (b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24
  b[at + 1] = (v >>> 16) & 0xff
  b[at + 2] = (v >>> 8) & 0xff
  b[at + 3] = v & 0xff
}
