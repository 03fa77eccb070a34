import { BadRequestError, TooLargeError } from '../errors.js'
import { type Frame, FrameType, HEADER_SIZE, LENGTH_SIZE, WIRE_VERSION } from './frame.js'

const decoder = new TextDecoder('utf-8', { fatal: true })
const EMPTY = new Uint8Array(0)

/**
 * A frame whose length was valid but whose header or body is not: the stream stays in sync, so the
 * receiver answers this one frame (by `id`, when it is a call) and goes on.
 */
export class MalformedFrameError extends BadRequestError {
  override name = 'MalformedFrameError'
  /** The id from the header (0 when the frame was too short to have one). */
  readonly id: number
  /** The type byte from the header. */
  readonly type: number
  constructor (message: string, id: number, type: number) {
    super(message)
    this.id = id
    this.type = type
  }
}

/**
 * Splits a byte stream into length-prefixed frames. Pure: fed chunks of any size (down to one byte),
 * it calls `onFrame` with each complete frame (the bytes after the length prefix). A length outside
 * HEADER_SIZE..maxFrameSize is fatal: it throws, the stream cannot be resynchronised, and the
 * decoder refuses further input.
 */
export class FrameDecoder {
  readonly #maxFrameSize: number
  readonly #prefix = new Uint8Array(LENGTH_SIZE)
  #prefixFill = 0
  #body: Uint8Array | undefined
  #bodyFill = 0
  #failed = false

  constructor (maxFrameSize: number) {
    this.#maxFrameSize = maxFrameSize
  }

  push (chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (this.#failed) throw new BadRequestError('frame decoder failed earlier; the stream is out of sync')
    let pos = 0
    const end = chunk.byteLength
    while (pos < end) {
      if (this.#body === undefined) {
        let length: number
        if (this.#prefixFill === 0 && end - pos >= LENGTH_SIZE) {
          length = readU32(chunk, pos)
          pos += LENGTH_SIZE
        } else {
          const n = Math.min(LENGTH_SIZE - this.#prefixFill, end - pos)
          this.#prefix.set(chunk.subarray(pos, pos + n), this.#prefixFill)
          this.#prefixFill += n
          pos += n
          if (this.#prefixFill < LENGTH_SIZE) return
          this.#prefixFill = 0
          length = readU32(this.#prefix, 0)
        }
        this.#checkLength(length)
        if (end - pos >= length) {
          onFrame(chunk.subarray(pos, pos + length))
          pos += length
          continue
        }
        this.#body = new Uint8Array(length)
        this.#bodyFill = 0
      }
      const body = this.#body
      const n = Math.min(body.byteLength - this.#bodyFill, end - pos)
      body.set(chunk.subarray(pos, pos + n), this.#bodyFill)
      this.#bodyFill += n
      pos += n
      if (this.#bodyFill === body.byteLength) {
        this.#body = undefined
        this.#bodyFill = 0
        onFrame(body)
      }
    }
  }

  #checkLength (length: number): void {
    if (length < HEADER_SIZE) {
      this.#failed = true
      throw new BadRequestError(`frame length ${length} is shorter than the ${HEADER_SIZE}-byte header`)
    }
    if (length > this.#maxFrameSize) {
      this.#failed = true
      throw new TooLargeError(`frame length ${length} exceeds the maximum frame size of ${this.#maxFrameSize} bytes`)
    }
  }
}

/** Parses one frame (the bytes after the length prefix). Throws {@link MalformedFrameError}. */
export function parseFrame (bytes: Uint8Array): Frame {
  if (bytes.byteLength < HEADER_SIZE) throw new MalformedFrameError('frame shorter than its header', 0, 0)
  const version = bytes[0]
  const type = bytes[1]
  const id = readU32(bytes, 4)
  if (version !== WIRE_VERSION) throw new MalformedFrameError(`unsupported wire version ${version}`, id, type)
  const flags = (bytes[2] << 8) | bytes[3]
  if (flags !== 0) throw new MalformedFrameError(`unknown flags 0x${flags.toString(16)}`, id, type)
  const frame: Frame = { type: type as FrameType, id, timeout: 0, method: '', route: EMPTY, payload: EMPTY, frames: 0, bytes: 0, size: bytes.byteLength + LENGTH_SIZE }
  const at = HEADER_SIZE
  switch (type) {
    case FrameType.CALL:
      if (bytes.byteLength < at + 5) throw new MalformedFrameError('CALL frame too short', id, type)
      frame.timeout = readU32(bytes, at)
      if (frame.timeout === 0) throw new MalformedFrameError('CALL frame without a timeout', id, type)
      readMethod(bytes, at + 4, frame)
      break
    case FrameType.CAST:
      readMethod(bytes, at, frame)
      break
    case FrameType.ROUTE: {
      if (bytes.byteLength < at + 7) throw new MalformedFrameError('ROUTE frame too short', id, type)
      frame.timeout = readU32(bytes, at)
      if (frame.timeout === 0) throw new MalformedFrameError('ROUTE frame without a timeout', id, type)
      const routeLength = (bytes[at + 4] << 8) | bytes[at + 5]
      if (routeLength === 0 || bytes.byteLength < at + 6 + routeLength) throw new MalformedFrameError('bad route header length', id, type)
      frame.route = bytes.subarray(at + 6, at + 6 + routeLength)
      readMethod(bytes, at + 6 + routeLength, frame)
      break
    }
    case FrameType.REPLY:
    case FrameType.ERROR:
      frame.payload = bytes.subarray(at)
      break
    case FrameType.CANCEL:
      if (bytes.byteLength !== HEADER_SIZE) throw new MalformedFrameError('CANCEL frame has a body', id, type)
      break
    case FrameType.GOAWAY:
      if (bytes.byteLength !== HEADER_SIZE) throw new MalformedFrameError('GOAWAY frame has a body', id, type)
      break
    case FrameType.CREDIT:
      if (bytes.byteLength !== HEADER_SIZE + 8) throw new MalformedFrameError('CREDIT frame must have an 8-byte body', id, type)
      frame.frames = readU32(bytes, at)
      frame.bytes = readU32(bytes, at + 4)
      break
    default:
      throw new MalformedFrameError(`unknown frame type ${type}`, id, type)
  }
  return frame
}

/** Reads `u8 length, method, payload` starting at `at` into the frame. */
function readMethod (bytes: Uint8Array, at: number, frame: Frame): void {
  const methodLength = bytes[at]
  at += 1
  if (methodLength === undefined || methodLength === 0 || bytes.byteLength < at + methodLength) {
    throw new MalformedFrameError('bad method length', frame.id, frame.type)
  }
  try {
    frame.method = decoder.decode(bytes.subarray(at, at + methodLength))
  } catch {
    throw new MalformedFrameError('method name is not UTF-8', frame.id, frame.type)
  }
  frame.payload = bytes.subarray(at + methodLength)
}

function readU32 (b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0
}
