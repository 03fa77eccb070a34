/**
 * The DELIVER batch: the messages one publisher sends one subscriber node in one tick, carried as the
 * argument (bytes) of a `_pubsub.deliver` call.
 * Pure: no I/O. Every integer is big-endian; see docs/pubsub.md.
 *
 * ```
 * u8   version (1)
 * u8   flags (0)
 * u48  epoch: the publisher's session with this subscriber node (random; a new session starts
 *      every sequence afresh at 1, e.g. after a publisher restart)
 * u16  T topics (≥ 1), then T × (u16 length, UTF-8 topic)
 * u32  N entries (≥ 1), then N × entry:
 *      u16 topic index (< T)
 *      u8  flags: bit 0 = acknowledgement requested (other bits 0)
 *      u8  K subscriptions (≥ 1), then K × (u48 subscription id, u48 seq ≥ 1)
 *      u32 D, then D bytes: the message's data, one msgpack value
 * ```
 */
import { BadRequestError } from '../errors.js'
import { checkTopic } from './topic.js'

export const BATCH_VERSION = 1
/** Bytes of a batch besides its topics and entries. */
export const BATCH_HEADER = 1 + 1 + 6 + 2 + 4
/** Bytes of an entry besides its subscriptions and data. */
export const ENTRY_HEADER = 2 + 1 + 1 + 4
/** Bytes per subscription in an entry. */
export const ENTRY_SUB = 12
/** Most subscriptions of one node one entry can name. */
export const MAX_ENTRY_SUBS = 255
export const MAX_U48 = 2 ** 48 - 1
const ACK_FLAG = 1

/** One message for one subscriber node: the node's matching subscriptions and their sequence numbers. */
export interface BatchEntry {
  /** Index into the batch's topics. */
  topic: number
  ack: boolean
  /** Pairs, flattened: subscription id, seq, subscription id, seq, … */
  subs: number[]
  /** The message's data, msgpack-encoded. */
  data: Uint8Array
}

export interface Batch {
  epoch: number
  topics: string[]
  entries: BatchEntry[]
}

/** A malformed batch from a peer. */
export class MalformedBatchError extends BadRequestError {
  constructor (message: string) { super(`malformed pub/sub batch: ${message}`) }
}

/** Bytes an entry adds to a batch. */
export function entrySize (subs: number, data: number): number {
  return ENTRY_HEADER + subs * ENTRY_SUB + data
}

/**
 * Encodes a batch; `topicBytes[i]` is the UTF-8 of `topics[i]`, `size` the total from
 * {@link entrySize} and {@link topicsSize}. A Buffer, because msgpack carries a Buffer as `bin`
 * (one copy into the frame, read back as a view) where a plain Uint8Array takes kadmesh's
 * typed-array extension (measured ~1.5 µs more per batch each way).
 */
export function encodeBatch (epoch: number, topicBytes: Uint8Array[], entries: BatchEntry[], size: number): Buffer {
  // unpooled (byteOffset 0) and not zeroed: every byte is written below
  const out = Buffer.allocUnsafeSlow(size)
  const view = new DataView(out.buffer)
  out[0] = BATCH_VERSION
  out[1] = 0
  let at = writeU48(view, 2, epoch)
  view.setUint16(at, topicBytes.length)
  at += 2
  for (const t of topicBytes) {
    view.setUint16(at, t.byteLength)
    out.set(t, at + 2)
    at += 2 + t.byteLength
  }
  view.setUint32(at, entries.length)
  at += 4
  for (const e of entries) {
    view.setUint16(at, e.topic)
    out[at + 2] = e.ack ? ACK_FLAG : 0
    out[at + 3] = e.subs.length / 2
    at += 4
    for (const n of e.subs) at = writeU48(view, at, n)
    view.setUint32(at, e.data.byteLength)
    out.set(e.data, at + 4)
    at += 4 + e.data.byteLength
  }
  if (at !== size) throw new Error(`batch size mismatch: wrote ${at} of ${size} bytes`)
  return out
}

/** Bytes of a batch header with these topics (their UTF-8 lengths). */
export function topicsSize (topicBytes: number[]): number {
  let size = BATCH_HEADER
  for (const n of topicBytes) size += 2 + n
  return size
}

const fatal = new TextDecoder('utf-8', { fatal: true })

/** Decodes and checks a batch from a peer: every field in range, every topic valid, nothing left over. */
export function decodeBatch (bytes: Uint8Array): Batch {
  if (!(bytes instanceof Uint8Array)) throw new MalformedBatchError('not bytes')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.byteLength
  const need = (at: number, n: number, what: string): void => {
    if (at + n > end) throw new MalformedBatchError(`truncated in ${what}`)
  }
  need(0, BATCH_HEADER - 4, 'header')
  if (bytes[0] !== BATCH_VERSION) throw new MalformedBatchError(`version ${bytes[0]} (expected ${BATCH_VERSION})`)
  if (bytes[1] !== 0) throw new MalformedBatchError(`flags ${bytes[1]} (expected 0)`)
  const epoch = readU48(view, 2)
  const topicCount = view.getUint16(8)
  if (topicCount === 0) throw new MalformedBatchError('no topics')
  let at = 10
  const topics: string[] = []
  for (let i = 0; i < topicCount; i++) {
    need(at, 2, 'topic length')
    const n = view.getUint16(at)
    need(at + 2, n, 'topic')
    let topic: string
    try {
      topic = fatal.decode(bytes.subarray(at + 2, at + 2 + n))
    } catch {
      throw new MalformedBatchError(`topic ${i} is not UTF-8`)
    }
    try {
      checkTopic(topic)
    } catch (err) {
      throw new MalformedBatchError((err as Error).message)
    }
    topics.push(topic)
    at += 2 + n
  }
  need(at, 4, 'entry count')
  const count = view.getUint32(at)
  at += 4
  if (count === 0) throw new MalformedBatchError('no entries')
  // each entry takes at least ENTRY_HEADER + ENTRY_SUB bytes: a huge count cannot make us allocate
  if (count > (end - at) / (ENTRY_HEADER + ENTRY_SUB)) throw new MalformedBatchError(`${count} entries cannot fit in ${end - at} bytes`)
  const entries: BatchEntry[] = []
  for (let i = 0; i < count; i++) {
    need(at, 4, 'entry header')
    const topic = view.getUint16(at)
    if (topic >= topicCount) throw new MalformedBatchError(`entry ${i} names topic ${topic} of ${topicCount}`)
    const flags = bytes[at + 2]
    if ((flags & ~ACK_FLAG) !== 0) throw new MalformedBatchError(`entry ${i} has flags ${flags}`)
    const k = bytes[at + 3]
    if (k === 0) throw new MalformedBatchError(`entry ${i} names no subscription`)
    at += 4
    need(at, k * ENTRY_SUB + 4, 'entry subscriptions')
    const subs: number[] = []
    for (let j = 0; j < k; j++) {
      const id = readU48(view, at)
      const seq = readU48(view, at + 6)
      if (seq === 0) throw new MalformedBatchError(`entry ${i} has seq 0`)
      subs.push(id, seq)
      at += ENTRY_SUB
    }
    const d = view.getUint32(at)
    need(at + 4, d, 'data')
    if (d === 0) throw new MalformedBatchError(`entry ${i} has no data`)
    entries.push({ topic, ack: (flags & ACK_FLAG) !== 0, subs, data: bytes.subarray(at + 4, at + 4 + d) })
    at += 4 + d
  }
  if (at !== end) throw new MalformedBatchError(`${end - at} bytes after the last entry`)
  return { epoch, topics, entries }
}

function writeU48 (view: DataView, at: number, n: number): number {
  view.setUint16(at, Math.floor(n / 0x1_0000_0000))
  view.setUint32(at + 2, n >>> 0)
  return at + 6
}

function readU48 (view: DataView, at: number): number {
  return view.getUint16(at) * 0x1_0000_0000 + view.getUint32(at + 2)
}
