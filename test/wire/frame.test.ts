import { Unpackr } from 'msgpackr'
import { describe, it, expect } from 'vitest'
import { prng } from '../prng.js'
import { BadRequestError, ErrorCode, MeshError, RemoteError, TooLargeError, TimeoutError, errorFromWire, errorToWire, type WireError } from '../../src/errors.js'
import {
  DEFAULT_MAX_FRAME_SIZE,
  type Frame,
  FrameDecoder,
  FrameType,
  FrameWriter,
  HEADER_SIZE,
  LENGTH_SIZE,
  MAX_METHOD_BYTES,
  MalformedFrameError,
  WIRE_VERSION,
  decodePayload,
  encodePayload,
  methodBytes,
  parseFrame
} from '../../src/wire/index.js'

function randomInt (rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1))
}

function randomBytes (rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256)
  return out
}

/** Returns what `fn` threw (undefined when it returned). */
function caught (fn: () => unknown): unknown {
  try {
    fn()
    return undefined
  } catch (err) {
    return err
  }
}

/** Feeds `chunks` to a fresh decoder and parses every frame it emits. */
function decodeChunks (chunks: Uint8Array[], maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Frame[] {
  const decoder = new FrameDecoder(maxFrameSize)
  const frames: Frame[] = []
  for (const chunk of chunks) decoder.push(chunk, bytes => frames.push(parseFrame(bytes)))
  return frames
}

/** Bytes of one frame after its length prefix, built by hand (to make frames the writer refuses to). */
function rawFrame ({ version = WIRE_VERSION, type, flags = 0, id = 0, body = new Uint8Array(0) }: {
  version?: number
  type: number
  flags?: number
  id?: number
  body?: Uint8Array
}): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE + body.byteLength)
  const view = new DataView(bytes.buffer)
  bytes[0] = version
  bytes[1] = type
  view.setUint16(2, flags)
  view.setUint32(4, id)
  bytes.set(body, HEADER_SIZE)
  return bytes
}

function lengthPrefix (length: number): Uint8Array {
  const bytes = new Uint8Array(LENGTH_SIZE)
  new DataView(bytes.buffer).setUint32(0, length)
  return bytes
}

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

const EMPTY = new Uint8Array(0)
const enc = new TextEncoder()

/**
 * encodePayload's bytes as a plain Uint8Array (msgpackr hands out Node Buffers, which toEqual
 * tells apart from the plain Uint8Array views that parseFrame returns).
 */
function payloadOf (value: unknown): Uint8Array {
  return Uint8Array.from(encodePayload(value))
}

function frame (fields: Partial<Frame> & Pick<Frame, 'type' | 'size'>): Frame {
  return { id: 0, timeout: 0, method: '', route: EMPTY, payload: EMPTY, frames: 0, bytes: 0, ...fields }
}

/** One frame of every type, written by a FrameWriter, with the Frame each must parse back to. */
function sampleBatch (): { batch: Uint8Array, expected: Frame[] } {
  const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
  const args = payloadOf(['hello', 42, { nested: true }])
  const bigArgs = payloadOf({ blob: new Uint8Array(3000).fill(7) })
  const reply = payloadOf({ ok: 1 })
  const error = payloadOf(errorToWire(new TimeoutError('too slow'), 'node-b', false))
  const method = 'actor.method'
  const castMethod = 'événement' // non-ASCII: length is counted in UTF-8 bytes
  const m = enc.encode(method).byteLength
  const cm = enc.encode(castMethod).byteLength
  const expected: Frame[] = []
  const sizes: number[] = []

  sizes.push(writer.call(7, 1500, methodBytes(method), args))
  expected.push(frame({ type: FrameType.CALL, id: 7, timeout: 1500, method, payload: args, size: 12 + 4 + 1 + m + args.byteLength }))
  sizes.push(writer.cast(methodBytes(castMethod), args))
  expected.push(frame({ type: FrameType.CAST, method: castMethod, payload: args, size: 12 + 1 + cm + args.byteLength }))
  sizes.push(writer.reply(7, reply))
  expected.push(frame({ type: FrameType.REPLY, id: 7, payload: reply, size: 12 + reply.byteLength }))
  sizes.push(writer.error(8, error))
  expected.push(frame({ type: FrameType.ERROR, id: 8, payload: error, size: 12 + error.byteLength }))
  sizes.push(writer.cancel(9))
  expected.push(frame({ type: FrameType.CANCEL, id: 9, size: 12 }))
  sizes.push(writer.credit(3, 123_456))
  expected.push(frame({ type: FrameType.CREDIT, frames: 3, bytes: 123_456, size: 20 }))
  sizes.push(writer.call(0xffffffff, 30_000, methodBytes(method), bigArgs))
  expected.push(frame({ type: FrameType.CALL, id: 0xffffffff, timeout: 30_000, method, payload: bigArgs, size: 12 + 4 + 1 + m + bigArgs.byteLength }))
  sizes.push(writer.reply(1, EMPTY))
  expected.push(frame({ type: FrameType.REPLY, id: 1, size: 12 }))

  // what each append method returned is the size the parser reports
  expect(sizes).toEqual(expected.map(f => f.size))
  const batch = writer.take()
  expect(batch).toBeDefined()
  expect(batch?.byteLength).toBe(sizes.reduce((a, b) => a + b, 0))
  return { batch: batch as Uint8Array, expected }
}

describe('FrameWriter → FrameDecoder → parseFrame', () => {
  it('round-trips a CALL with its id, timeout, method, payload and size', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const payload = payloadOf({ a: 1 })
    const size = writer.call(42, 2500, methodBytes('svc.get'), payload)
    const frames = decodeChunks([writer.take() as Uint8Array])
    expect(frames).toEqual([{ type: FrameType.CALL, id: 42, timeout: 2500, method: 'svc.get', route: EMPTY, payload, frames: 0, bytes: 0, size }])
    expect(size).toBe(LENGTH_SIZE + HEADER_SIZE + 4 + 1 + 7 + payload.byteLength)
    expect(decodePayload(frames[0].payload)).toEqual({ a: 1 })
  })

  it('round-trips a CAST with id 0 and no timeout', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const payload = payloadOf([1, 2, 3])
    const size = writer.cast(methodBytes('log'), payload)
    expect(decodeChunks([writer.take() as Uint8Array])).toEqual([
      { type: FrameType.CAST, id: 0, timeout: 0, method: 'log', route: EMPTY, payload, frames: 0, bytes: 0, size }
    ])
    expect(size).toBe(12 + 1 + 3 + payload.byteLength)
  })

  it('round-trips a REPLY, including an empty one', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const payload = payloadOf('done')
    const s1 = writer.reply(5, payload)
    const s2 = writer.reply(6, EMPTY)
    expect(decodeChunks([writer.take() as Uint8Array])).toEqual([
      frame({ type: FrameType.REPLY, id: 5, payload, size: s1 }),
      frame({ type: FrameType.REPLY, id: 6, size: s2 })
    ])
    expect([s1, s2]).toEqual([12 + payload.byteLength, 12])
  })

  it('round-trips an ERROR whose body rebuilds the error on the caller side', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const handlerError = Object.assign(new Error('no stock'), { code: 'E_STOCK', data: { sku: 'x1' } })
    const payload = payloadOf(errorToWire(handlerError, 'node-a', true))
    const size = writer.error(11, payload)
    const [parsed] = decodeChunks([writer.take() as Uint8Array])
    expect(parsed).toEqual(frame({ type: FrameType.ERROR, id: 11, payload, size }))
    const wire = decodePayload(parsed.payload) as WireError
    expect(wire).toEqual({ code: 'E_STOCK', message: 'no stock', node: 'node-a', handler: true, data: { sku: 'x1' } })
    const rebuilt = errorFromWire(wire)
    expect(rebuilt).toBeInstanceOf(RemoteError)
    expect(rebuilt).toMatchObject({ code: 'E_STOCK', message: 'no stock', node: 'node-a', data: { sku: 'x1' } })
  })

  it('round-trips a GOAWAY as a bare header with id 0', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    writer.goAway()
    expect(decodeChunks([writer.take() as Uint8Array])).toEqual([frame({ type: FrameType.GOAWAY, id: 0, size: 12 })])
  })

  it('round-trips a CANCEL as a bare header', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    expect(writer.cancel(77)).toBe(12)
    expect(decodeChunks([writer.take() as Uint8Array])).toEqual([frame({ type: FrameType.CANCEL, id: 77, size: 12 })])
  })

  it('round-trips a CREDIT with its frame and byte counts', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    expect(writer.credit(256, 0xffffffff)).toBe(20)
    expect(decodeChunks([writer.take() as Uint8Array])).toEqual([
      frame({ type: FrameType.CREDIT, frames: 256, bytes: 0xffffffff, size: 20 })
    ])
  })

  it('rounds a CALL timeout up to whole milliseconds and clamps it to 1..2^32-1', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const m = methodBytes('m')
    writer.call(1, 1500.2, m, EMPTY)
    writer.call(2, 0, m, EMPTY)
    writer.call(3, -5, m, EMPTY)
    writer.call(4, 2 ** 40, m, EMPTY)
    expect(decodeChunks([writer.take() as Uint8Array]).map(f => f.timeout)).toEqual([1501, 1, 1, 0xffffffff])
  })

  it('decodes several frames of every type from one batch, in order', () => {
    const { batch, expected } = sampleBatch()
    expect(decodeChunks([batch])).toEqual(expected)
  })

  it('decodes the same frames when the batch arrives one byte at a time', () => {
    const { batch, expected } = sampleBatch()
    const chunks: Uint8Array[] = []
    for (let i = 0; i < batch.byteLength; i++) chunks.push(batch.subarray(i, i + 1))
    expect(decodeChunks(chunks)).toEqual(expected)
  })

  it('decodes the same frames when the batch is split in two at every position', () => {
    const { batch, expected } = sampleBatch()
    const mismatches: number[] = []
    for (let cut = 0; cut <= batch.byteLength; cut++) {
      const frames = decodeChunks([batch.subarray(0, cut), batch.subarray(cut)])
      if (!isEqual(frames, expected)) mismatches.push(cut)
    }
    expect(mismatches).toEqual([])
  })

  it('decodes the same frames when the batch arrives in random chunk sizes', () => {
    const { batch, expected } = sampleBatch()
    const rand = prng(0x5eed)
    for (let round = 0; round < 200; round++) {
      const chunks: Uint8Array[] = []
      const maxChunk = randomInt(rand, 1, 64)
      for (let at = 0; at < batch.byteLength;) {
        const n = randomInt(rand, 0, maxChunk) // zero-length chunks included
        chunks.push(batch.subarray(at, at + n))
        at += n
      }
      expect(decodeChunks(chunks)).toEqual(expected)
    }
  })

  it('hands over frames that do not change when the next chunk arrives', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const payload = payloadOf('x'.repeat(100))
    writer.reply(1, payload)
    writer.reply(2, payload)
    const batch = writer.take() as Uint8Array
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_SIZE)
    const frames: Frame[] = []
    // first frame completes across two chunks (copied into its own buffer), the second arrives whole
    decoder.push(batch.subarray(0, 20), bytes => frames.push(parseFrame(bytes)))
    decoder.push(batch.subarray(20), bytes => frames.push(parseFrame(bytes)))
    expect(frames.map(f => [f.id, decodePayload(f.payload)])).toEqual([[1, 'x'.repeat(100)], [2, 'x'.repeat(100)]])
  })
})

function isEqual (a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b)
    return true
  } catch {
    return false
  }
}

describe('FrameDecoder length prefix', () => {
  it('throws TooLargeError as soon as a length prefix above maxFrameSize arrives', () => {
    const decoder = new FrameDecoder(1024)
    let emitted = 0
    const err = caught(() => { decoder.push(lengthPrefix(1025), () => { emitted++ }) })
    expect(err).toBeInstanceOf(TooLargeError)
    expect((err as MeshError).code).toBe('MESH_ERR_TOO_LARGE')
    expect(emitted).toBe(0)
  })

  it('throws TooLargeError when the oversized prefix arrives one byte at a time', () => {
    const decoder = new FrameDecoder(1024)
    const prefix = lengthPrefix(0xffffffff)
    for (let i = 0; i < 3; i++) decoder.push(prefix.subarray(i, i + 1), () => {})
    expect(() => { decoder.push(prefix.subarray(3), () => {}) }).toThrow(TooLargeError)
  })

  it('accepts a frame of exactly maxFrameSize', () => {
    const max = 1024
    const writer = new FrameWriter(max)
    const payload = new Uint8Array(max - HEADER_SIZE).fill(1)
    writer.reply(3, payload)
    const frames = decodeChunks([writer.take() as Uint8Array], max)
    expect(frames).toHaveLength(1)
    expect(frames[0].size).toBe(max + LENGTH_SIZE)
  })

  it('throws BadRequestError for a length prefix shorter than the header', () => {
    for (let length = 0; length < HEADER_SIZE; length++) {
      const decoder = new FrameDecoder(1024)
      const err = caught(() => { decoder.push(concat(lengthPrefix(length), new Uint8Array(16)), () => {}) })
      expect(err).toBeInstanceOf(BadRequestError)
      expect((err as MeshError).code).toBe('MESH_ERR_BAD_REQUEST')
    }
  })

  it('emits the frames before a bad length prefix, then throws', () => {
    const writer = new FrameWriter(1024)
    writer.cancel(1)
    const batch = concat(writer.take() as Uint8Array, lengthPrefix(2))
    const ids: number[] = []
    const decoder = new FrameDecoder(1024)
    expect(() => { decoder.push(batch, bytes => ids.push(parseFrame(bytes).id)) }).toThrow(BadRequestError)
    expect(ids).toEqual([1])
  })

  it('refuses all further input after a fatal length error', () => {
    const decoder = new FrameDecoder(1024)
    expect(() => { decoder.push(lengthPrefix(4096), () => {}) }).toThrow(TooLargeError)
    const writer = new FrameWriter(1024)
    writer.cancel(1)
    let emitted = 0
    const err = caught(() => { decoder.push(writer.take() as Uint8Array, () => { emitted++ }) })
    expect(err).toBeInstanceOf(BadRequestError)
    expect(emitted).toBe(0)
    expect(() => { decoder.push(new Uint8Array(0), () => {}) }).toThrow(BadRequestError)
  })
})

describe('parseFrame', () => {
  function parseError (bytes: Uint8Array): MalformedFrameError {
    const err = caught(() => parseFrame(bytes))
    expect(err).toBeInstanceOf(MalformedFrameError)
    expect(err).toBeInstanceOf(BadRequestError)
    expect((err as MeshError).code).toBe(ErrorCode.BAD_REQUEST)
    return err as MalformedFrameError
  }

  it('rejects an unknown version but still reports the id and type from the header', () => {
    const err = parseError(rawFrame({ version: 2, type: FrameType.CALL, id: 0xdeadbeef, body: new Uint8Array(10) }))
    expect(err.id).toBe(0xdeadbeef)
    expect(err.type).toBe(FrameType.CALL)
    expect(err.message).toMatch(/version 2/)
  })

  it('rejects version 0', () => {
    expect(parseError(rawFrame({ version: 0, type: FrameType.CANCEL, id: 4 })).id).toBe(4)
  })

  it('rejects an unknown frame type, keeping id and type', () => {
    for (const type of [0, 7, 255]) {
      const err = parseError(rawFrame({ type, id: 12 }))
      expect(err).toMatchObject({ id: 12, type })
    }
  })

  it('rejects nonzero flags', () => {
    for (const flags of [1, 0x8000, 0xffff]) {
      expect(parseError(rawFrame({ type: FrameType.CANCEL, flags, id: 3 })).id).toBe(3)
    }
  })

  it('rejects a CALL with timeout 0', () => {
    const body = concat(new Uint8Array([0, 0, 0, 0, 1]), enc.encode('m'))
    expect(parseError(rawFrame({ type: FrameType.CALL, id: 9, body }))).toMatchObject({ id: 9, type: FrameType.CALL })
  })

  it('rejects a CALL too short to hold a timeout and method length', () => {
    for (let n = 0; n < 5; n++) {
      expect(parseError(rawFrame({ type: FrameType.CALL, id: 5, body: new Uint8Array(n).fill(1) })).id).toBe(5)
    }
  })

  it('rejects a method length of 0', () => {
    const timeout = new Uint8Array([0, 0, 0, 10])
    expect(parseError(rawFrame({ type: FrameType.CALL, id: 1, body: concat(timeout, new Uint8Array([0]), encodePayload(1)) })).id).toBe(1)
    parseError(rawFrame({ type: FrameType.CAST, body: concat(new Uint8Array([0]), encodePayload(1)) }))
  })

  it('rejects a method length that runs past the end of the frame', () => {
    const timeout = new Uint8Array([0, 0, 0, 10])
    expect(parseError(rawFrame({ type: FrameType.CALL, id: 2, body: concat(timeout, new Uint8Array([5]), enc.encode('abcd')) })).id).toBe(2)
    parseError(rawFrame({ type: FrameType.CAST, body: concat(new Uint8Array([255]), enc.encode('abc')) }))
  })

  it('rejects a CAST with no body at all', () => {
    expect(parseError(rawFrame({ type: FrameType.CAST })).type).toBe(FrameType.CAST)
  })

  it('accepts a method that ends exactly at the end of the frame, with an empty payload', () => {
    const body = concat(new Uint8Array([0, 0, 0, 10, 3]), enc.encode('abc'))
    expect(parseFrame(rawFrame({ type: FrameType.CALL, id: 2, body }))).toMatchObject({ method: 'abc', payload: EMPTY, timeout: 10 })
  })

  it('rejects a method name that is not UTF-8', () => {
    for (const method of [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80]]) {
      const body = concat(new Uint8Array([0, 0, 0, 10, method.length]), new Uint8Array(method))
      expect(parseError(rawFrame({ type: FrameType.CALL, id: 8, body }))).toMatchObject({ id: 8, type: FrameType.CALL })
      parseError(rawFrame({ type: FrameType.CAST, body: concat(new Uint8Array([method.length]), new Uint8Array(method)) }))
    }
  })

  it('rejects a GOAWAY with a body', () => {
    expect(parseError(rawFrame({ type: FrameType.GOAWAY, id: 0, body: new Uint8Array(1) })).type).toBe(FrameType.GOAWAY)
  })

  it('rejects a CANCEL with a body', () => {
    expect(parseError(rawFrame({ type: FrameType.CANCEL, id: 6, body: new Uint8Array(1) })).id).toBe(6)
  })

  it('rejects a CREDIT whose body is not 8 bytes', () => {
    for (const n of [0, 4, 7, 9, 16]) parseError(rawFrame({ type: FrameType.CREDIT, body: new Uint8Array(n) }))
  })

  it('rejects a frame shorter than the header with id 0', () => {
    for (let n = 0; n < HEADER_SIZE; n++) {
      expect(parseError(new Uint8Array(n).fill(1))).toMatchObject({ id: 0, type: 0 })
    }
  })

  it('returns a payload that is a view of the frame bytes after the method', () => {
    const body = concat(new Uint8Array([0, 0, 0, 10, 1]), enc.encode('m'), encodePayload({ k: 'v' }))
    const parsed = parseFrame(rawFrame({ type: FrameType.CALL, id: 1, body }))
    expect(decodePayload(parsed.payload)).toEqual({ k: 'v' })
  })
})

describe('decoding garbage', () => {
  const CLEAN_CODES: string[] = [ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE]

  /** Describes an error that is not a clean MeshError, or returns undefined for a clean one. */
  function unclean (err: unknown): string | undefined {
    if (err instanceof MeshError && CLEAN_CODES.includes(err.code)) return undefined
    return `${(err as Error)?.name}: ${(err as Error)?.message}`
  }

  it('throws only BAD_REQUEST or TOO_LARGE MeshErrors for 2,000 random byte streams', () => {
    const rand = prng(1)
    const bad: string[] = []
    let thrown = 0
    for (let i = 0; i < 2000; i++) {
      const input = randomBytes(rand, randomInt(rand, 0, 200))
      const cut = randomInt(rand, 0, input.byteLength)
      const decoder = new FrameDecoder(randomInt(rand, 0, 1) === 0 ? 64 : DEFAULT_MAX_FRAME_SIZE)
      for (const chunk of [input.subarray(0, cut), input.subarray(cut)]) {
        try {
          decoder.push(chunk, bytes => {
            try {
              parseFrame(bytes)
            } catch (err) {
              thrown++
              const why = unclean(err)
              if (why !== undefined) bad.push(why)
            }
          })
        } catch (err) {
          thrown++
          const why = unclean(err)
          if (why !== undefined) bad.push(why)
          break
        }
      }
    }
    expect(bad).toEqual([])
    expect(thrown).toBeGreaterThan(0)
  })

  it('throws only BAD_REQUEST MeshErrors for 2,000 random frames with valid length prefixes', () => {
    // Random prefixes are almost never in range, so this builds frames that reach parseFrame.
    const rand = prng(2)
    const bad: string[] = []
    let parsed = 0
    let rejected = 0
    for (let i = 0; i < 2000; i++) {
      const body = randomBytes(rand, randomInt(rand, 0, 120))
      const header = randomBytes(rand, HEADER_SIZE)
      if (rand() < 0.8) header[0] = WIRE_VERSION
      if (rand() < 0.8) header[1] = randomInt(rand, 0, 7)
      if (rand() < 0.8) { header[2] = 0; header[3] = 0 }
      if (header[1] === FrameType.CALL && rand() < 0.5) body[0] = 0 // plausible timeouts
      const bytes = concat(header, body)
      const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_SIZE)
      decoder.push(concat(lengthPrefix(bytes.byteLength), bytes), frameBytes => {
        try {
          const f = parseFrame(frameBytes)
          parsed++
          if (f.payload.byteLength > 0) decodePayload(f.payload)
        } catch (err) {
          rejected++
          const why = unclean(err)
          if (why !== undefined) bad.push(why)
        }
      })
    }
    expect(bad).toEqual([])
    expect(parsed).toBeGreaterThan(0)
    expect(rejected).toBeGreaterThan(0)
  })
})

describe('FrameWriter', () => {
  it('throws TooLargeError for a frame over maxFrameSize and keeps the frames written before it', () => {
    const writer = new FrameWriter(1024)
    writer.reply(1, encodePayload('first'))
    const before = writer.length
    const err = caught(() => writer.reply(2, new Uint8Array(1024 - HEADER_SIZE + 1)))
    expect(err).toBeInstanceOf(TooLargeError)
    expect((err as MeshError).code).toBe('MESH_ERR_TOO_LARGE')
    expect(() => writer.call(3, 10, methodBytes('m'), new Uint8Array(1024))).toThrow(TooLargeError)
    expect(() => writer.cast(methodBytes('m'), new Uint8Array(1024))).toThrow(TooLargeError)
    expect(writer.length).toBe(before)
    writer.reply(4, encodePayload('after'))
    const frames = decodeChunks([writer.take() as Uint8Array], 1024)
    expect(frames.map(f => [f.id, decodePayload(f.payload)])).toEqual([[1, 'first'], [4, 'after']])
  })

  it('writes a frame of exactly maxFrameSize', () => {
    const writer = new FrameWriter(1024)
    expect(writer.reply(1, new Uint8Array(1024 - HEADER_SIZE))).toBe(1024 + LENGTH_SIZE)
  })

  it('returns undefined from take() when nothing was written or everything was taken', () => {
    const writer = new FrameWriter(1024)
    expect(writer.take()).toBeUndefined()
    writer.cancel(1)
    expect(writer.take()).toBeDefined()
    expect(writer.take()).toBeUndefined()
    expect(writer.length).toBe(0)
  })

  it('drops untaken frames on clear()', () => {
    const writer = new FrameWriter(1024)
    writer.cancel(1)
    writer.clear()
    expect(writer.take()).toBeUndefined()
    writer.cancel(2)
    expect(decodeChunks([writer.take() as Uint8Array]).map(f => f.id)).toEqual([2])
  })

  it('returns a small batch that later writes do not change', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    writer.reply(1, new Uint8Array(100).fill(1))
    const first = writer.take() as Uint8Array
    const copy = first.slice()
    writer.reply(2, new Uint8Array(100).fill(2))
    writer.take()
    expect(first).toEqual(copy)
  })

  it('returns a batch larger than 64 KiB intact and keeps working afterwards', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const ids: number[] = []
    for (let id = 1; id <= 40; id++) {
      writer.reply(id, new Uint8Array(4000).fill(id))
      ids.push(id)
    }
    const big = writer.take() as Uint8Array
    expect(big.byteLength).toBe(40 * (12 + 4000))
    expect(big.byteLength).toBeGreaterThan(64 * 1024)
    const bigCopy = big.slice()

    writer.call(100, 10, methodBytes('after'), new Uint8Array(50_000).fill(0xaa))
    writer.cancel(101)
    const next = writer.take() as Uint8Array
    expect(big).toEqual(bigCopy) // the next batch did not overwrite the one handed over

    const frames = decodeChunks([big])
    expect(frames.map(f => f.id)).toEqual(ids)
    expect(frames.every(f => f.payload.byteLength === 4000 && f.payload.every(b => b === f.id))).toBe(true)
    const after = decodeChunks([next])
    expect(after.map(f => [f.type, f.id, f.method])).toEqual([[FrameType.CALL, 100, 'after'], [FrameType.CANCEL, 101, '']])
    expect(after[0].payload.every(b => b === 0xaa)).toBe(true)
  })

  it('grows for a single frame larger than its initial buffer', () => {
    const writer = new FrameWriter(DEFAULT_MAX_FRAME_SIZE)
    const payload = new Uint8Array(1024 * 1024).fill(3)
    writer.reply(1, payload)
    const [parsed] = decodeChunks([writer.take() as Uint8Array])
    expect(parsed.payload).toEqual(payload)
  })
})

describe('methodBytes', () => {
  it('encodes a method name as UTF-8', () => {
    expect(Array.from(methodBytes('é'))).toEqual([0xc3, 0xa9])
  })

  it('accepts a 255-byte method name', () => {
    expect(methodBytes('x'.repeat(MAX_METHOD_BYTES)).byteLength).toBe(255)
    expect(methodBytes('€'.repeat(85)).byteLength).toBe(255)
  })

  it('rejects an empty method name with BadRequestError', () => {
    expect(() => methodBytes('')).toThrow(BadRequestError)
  })

  it('rejects a method name of 256 UTF-8 bytes with BadRequestError', () => {
    expect(() => methodBytes('x'.repeat(256))).toThrow(BadRequestError)
    expect(() => methodBytes('é'.repeat(128))).toThrow(BadRequestError) // 128 characters, 256 bytes
  })
})

describe('payload codec', () => {
  function roundTrip (value: unknown): unknown {
    return decodePayload(encodePayload(value))
  }

  it('keeps plain objects plain objects, not Maps', () => {
    const out = roundTrip({ a: 1, b: 'two', c: [3] })
    expect(out).toEqual({ a: 1, b: 'two', c: [3] })
    expect(out).not.toBeInstanceOf(Map)
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(roundTrip({})).toEqual({})
  })

  it('round-trips arrays and strings, including non-ASCII and empty ones', () => {
    expect(roundTrip([1, 'a', [2, [3]], []])).toEqual([1, 'a', [2, [3]], []])
    for (const s of ['', 'plain', 'héllo wörld', '日本語', 'emoji 🎉', 'x'.repeat(70_000)]) expect(roundTrip(s)).toBe(s)
  })

  it('round-trips integers, floats, negatives, NaN and Infinity as numbers', () => {
    const values = [0, 1, 63, 64, 127, 128, 255, 65_536, -1, -32, -33, -129, -(2 ** 31), 2 ** 31 - 1, 2 ** 32 - 1,
      1.5, -0.1, Math.PI, Number.MIN_VALUE, Number.MAX_VALUE, NaN, Infinity, -Infinity]
    for (const v of values) {
      const out = roundTrip(v)
      expect(typeof out).toBe('number')
      expect(out).toBe(v)
    }
  })

  it('sends -0 as 0', () => {
    expect(Object.is(roundTrip(-0), 0)).toBe(true)
  })

  it('round-trips numbers above 2^32 and above 2^53 as numbers', () => {
    for (const v of [2 ** 32, 2 ** 32 + 5, 2 ** 40 + 1, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 64, -(2 ** 53) - 2, -(2 ** 40)]) {
      const out = roundTrip(v)
      expect(typeof out).toBe('number')
      expect(out).toBe(v)
    }
  })

  it('round-trips bigints as bigints: small, negative, 64-bit limits and beyond 64 bits', () => {
    const values = [0n, 5n, -5n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n) - 1n, 2n ** 100n + 7n, -(2n ** 1000n)]
    for (const v of values) {
      const out = roundTrip(v)
      expect(typeof out).toBe('bigint')
      expect(out).toBe(v)
    }
  })

  it('round-trips a Uint8Array as a Uint8Array with equal bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255])
    const out = roundTrip(bytes)
    expect(out).toBeInstanceOf(Uint8Array)
    expect(Array.from(out as Uint8Array)).toEqual([0, 1, 2, 250, 255])
    expect(Array.from(roundTrip(new Uint8Array(0)) as Uint8Array)).toEqual([])
  })

  it('round-trips only the viewed bytes of a Uint8Array view', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9])
    const out = roundTrip(backing.subarray(2, 5))
    expect(out).toBeInstanceOf(Uint8Array)
    expect(Array.from(out as Uint8Array)).toEqual([1, 2, 3])
  })

  it('round-trips a Node Buffer as a Buffer with equal bytes', () => {
    const out = roundTrip(Buffer.from([4, 5, 6]))
    expect(out).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(out)).toBe(true)
    expect(Array.from(out as Uint8Array)).toEqual([4, 5, 6])
  })

  it('round-trips a Date to the millisecond, before and after 1970', () => {
    for (const ms of [0, 1_700_000_000_000, 1_700_000_000_123, -1, -86_400_000_123, 2 ** 40 * 1000]) {
      const out = roundTrip(new Date(ms))
      expect(out).toBeInstanceOf(Date)
      expect((out as Date).getTime()).toBe(ms)
    }
  })

  it('keeps a Map with string keys a Map', () => {
    const out = roundTrip(new Map<string, unknown>([['a', 1], ['b', { c: 2 }]]))
    expect(out).toBeInstanceOf(Map)
    expect([...(out as Map<string, unknown>).entries()]).toEqual([['a', 1], ['b', { c: 2 }]])
  })

  it('round-trips a Map with number, object, boolean, null and bigint keys', () => {
    const out = roundTrip(new Map<unknown, unknown>([[1, 'one'], [-2.5, 'neg'], [{ k: 1 }, 'obj'], [true, 'yes'], [null, 'nil'], [3n, 'big']]))
    expect(out).toBeInstanceOf(Map)
    expect([...(out as Map<unknown, unknown>).entries()]).toEqual([[1, 'one'], [-2.5, 'neg'], [{ k: 1 }, 'obj'], [true, 'yes'], [null, 'nil'], [3n, 'big']])
  })

  it('round-trips a Set as a Set', () => {
    const out = roundTrip(new Set([1, 'a', 2n]))
    expect(out).toBeInstanceOf(Set)
    expect([...(out as Set<unknown>)]).toEqual([1, 'a', 2n])
  })

  it('round-trips nested structures of every type', () => {
    const value = {
      list: [{ id: 1, tags: new Set(['x']) }, { id: 2, tags: new Set<string>() }],
      index: new Map<unknown, unknown>([['k', [new Date(5), 9n, new Uint8Array([1])]], [7, { deep: { deeper: [null, true, false] } }]]),
      text: 'ünïcode'
    }
    expect(roundTrip(value)).toEqual(value)
  })

  it('keeps undefined as an object property and as an array element', () => {
    const obj = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>
    expect(Object.keys(obj)).toEqual(['a', 'b'])
    expect(obj.a).toBeUndefined()
    const arr = roundTrip([1, undefined, 3]) as unknown[]
    expect(arr).toHaveLength(3)
    expect(1 in arr).toBe(true)
    expect(arr[1]).toBeUndefined()
  })

  it('sends an array hole as an undefined element', () => {
    const arr = roundTrip([1, , 3]) as unknown[]
    expect(arr).toHaveLength(3)
    expect(1 in arr).toBe(true)
  })

  it('round-trips null, booleans and a top-level undefined', () => {
    expect(roundTrip(null)).toBeNull()
    expect(roundTrip(true)).toBe(true)
    expect(roundTrip(false)).toBe(false)
    expect(encodePayload(undefined).byteLength).toBeGreaterThan(0)
    expect(roundTrip(undefined)).toBeUndefined()
  })

  it('sends a class instance as a plain object of its own enumerable properties', () => {
    class Point {
      x = 1
      y = 2
      get sum (): number { return this.x + this.y }
    }
    const out = roundTrip(new Point())
    expect(out).toEqual({ x: 1, y: 2 })
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
  })

  it('sends an Error as an Error with its name, message and cause only', () => {
    const out = roundTrip(Object.assign(new TypeError('bad', { cause: 'why' }), { code: 'E_X' }))
    expect(out).toBeInstanceOf(TypeError)
    expect(out).toMatchObject({ message: 'bad', cause: 'why' })
    expect((out as { code?: unknown }).code).toBeUndefined()
  })

  it('round-trips a RegExp and other typed arrays', () => {
    const re = roundTrip(/ab+c/gi)
    expect(re).toBeInstanceOf(RegExp)
    expect(String(re)).toBe('/ab+c/gi')
    const floats = roundTrip(new Float64Array([1.5, -2]))
    expect(floats).toBeInstanceOf(Float64Array)
    expect(Array.from(floats as Float64Array)).toEqual([1.5, -2])
  })

  it('does not let a __proto__ key change the decoded object\'s prototype', () => {
    const out = roundTrip(JSON.parse('{"__proto__": {"polluted": 1}, "y": 2}')) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(out.polluted).toBeUndefined()
    expect(out).toEqual({ __proto_: { polluted: 1 }, y: 2 }) // msgpackr renames the key
  })

  it('encodes a function as undefined instead of throwing', () => {
    expect(roundTrip(() => 1)).toBeUndefined()
    const obj = roundTrip({ f: () => 1, a: 1 }) as Record<string, unknown>
    expect(Object.keys(obj)).toEqual(['f', 'a'])
    expect(obj.f).toBeUndefined()
  })

  it('rejects a symbol with BadRequestError', () => {
    for (const value of [Symbol('s'), { s: Symbol('s') }, [Symbol.iterator]]) {
      const err = caught(() => encodePayload(value))
      expect(err).toBeInstanceOf(BadRequestError)
      expect((err as MeshError).code).toBe('MESH_ERR_BAD_REQUEST')
      expect((err as Error).cause).toBeInstanceOf(Error)
    }
  })

  it('rejects a value nested too deeply to encode with BadRequestError', () => {
    const root: unknown[] = []
    let cur = root
    for (let i = 0; i < 100_000; i++) {
      const next: unknown[] = []
      cur.push(next)
      cur = next
    }
    expect(() => encodePayload(root)).toThrow(BadRequestError)
    expect(roundTrip({ still: 'works' })).toEqual({ still: 'works' })
  })

  it('decodes a payload handed over as a view into a larger buffer', () => {
    const payload = encodePayload({ x: [1, 'y'] })
    const backing = new Uint8Array(payload.byteLength + 50)
    backing.set(payload, 37)
    expect(decodePayload(backing.subarray(37, 37 + payload.byteLength))).toEqual({ x: [1, 'y'] })
  })

  it('does not alias consecutive encodings', () => {
    const first = encodePayload({ hello: 'world', n: [1, 2, 3] })
    const copy = first.slice()
    const second = encodePayload({ hello: 'other', n: [4, 5, 6] })
    expect(first).toEqual(copy)
    for (let i = 0; i < 5000; i++) encodePayload({ i, s: 'x'.repeat(i % 700) })
    expect(first).toEqual(copy)
    expect(decodePayload(first)).toEqual({ hello: 'world', n: [1, 2, 3] })
    expect(decodePayload(second)).toEqual({ hello: 'other', n: [4, 5, 6] })
  })

  it('writes record definitions into every payload, so each decodes on its own', () => {
    const a = encodePayload({ shape: 1, other: 'x' })
    const b = encodePayload({ shape: 1, other: 'x' })
    expect(b).toEqual(a) // nothing carried over from the first encoding
    const standalone = new Unpackr({ mapsAsObjects: false, int64AsType: 'bigint' })
    expect(standalone.unpack(b)).toEqual({ shape: 1, other: 'x' })
    const many = Array.from({ length: 100 }, (_, i) => ({ [`k${i}`]: i })) // more shapes than one-byte record ids
    expect(new Unpackr({ mapsAsObjects: false }).unpack(encodePayload(many))).toEqual(many)
  })

  it('does not resolve a record reference from an earlier payload', () => {
    decodePayload(encodePayload({ a: 1 })) // defines record 0x40 in that payload only
    expect(decodePayload(new Uint8Array([0x40]))).toBe(64) // 0x40 alone is the integer 64 again
  })

  describe('decoding garbage', () => {
    function outcome (bytes: Uint8Array): 'value' | 'bad-request' | string {
      try {
        decodePayload(bytes)
        return 'value'
      } catch (err) {
        if (err instanceof BadRequestError && err.code === ErrorCode.BAD_REQUEST) return 'bad-request'
        return `${(err as Error)?.name}: ${(err as Error)?.message}`
      }
    }

    it('throws BadRequestError for empty, truncated and trailing input', () => {
      const inputs = [
        [], // nothing
        [0x93, 0x01], // array of 3 with 1 element
        [0xdc, 0x00, 0x05, 0x01], // array16 of 5 with 1 element
        [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 2^32-1 with none
        [0xa5, 0x61, 0x62], // fixstr of 5 with 2 bytes
        [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], // str32 far past the end
        [0xc6, 0x7f, 0xff, 0xff, 0xff], // bin32 far past the end
        [0xcb, 0x40], // truncated float64
        [0xd4, 0x72, 0x40], // record definition without its field array
        [0xd4, 0x74, 0x99], // typed array of an unknown kind
        [0x01, 0x02] // one value followed by trailing bytes
      ]
      for (const input of inputs) expect(outcome(new Uint8Array(input)), JSON.stringify(input)).toBe('bad-request')
    })

    it('decodes the never-used byte 0xc1 without throwing', () => {
      // msgpackr returns a marker object for 0xc1 instead of rejecting it.
      expect(outcome(new Uint8Array([0xc1]))).toBe('value')
      expect(decodePayload(new Uint8Array([0xc1]))).toMatchObject({ name: 'MessagePack 0xC1' })
    })

    it('throws BadRequestError, not a stack overflow, for input nested too deeply', () => {
      const input = new Uint8Array(100_001).fill(0x91) // array of one array of one array…
      input[100_000] = 0x01
      expect(outcome(input)).toBe('bad-request')
      expect(roundTrip([1, { a: 2 }])).toEqual([1, { a: 2 }])
    })

    it('only ever returns a value or throws BadRequestError for 1,000 random buffers', () => {
      const rand = prng(3)
      const bad: string[] = []
      const counts = { value: 0, 'bad-request': 0 }
      for (let i = 0; i < 1000; i++) {
        const input = randomBytes(rand, randomInt(rand, 0, 64))
        if (rand() < 0.5 && input.byteLength > 1) input[0] = [0x90, 0x80, 0xd4, 0xd5, 0xc7, 0xdc, 0xde][randomInt(rand, 0, 6)]
        const result = outcome(input)
        if (result === 'value' || result === 'bad-request') counts[result]++
        else bad.push(result)
      }
      expect(bad).toEqual([])
      expect(counts['bad-request']).toBeGreaterThan(0)
      expect(roundTrip({ after: 'garbage', n: new Map([[1, 2]]) })).toEqual({ after: 'garbage', n: new Map([[1, 2]]) })
    })
  })
})
