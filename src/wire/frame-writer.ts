import { BadRequestError, TooLargeError } from '../errors.js'
import { FrameType, HEADER_SIZE, LENGTH_SIZE, MAX_METHOD_BYTES, WIRE_VERSION } from './frame.js'

const INITIAL_CAPACITY = 16 * 1024
/** Batches at most this large are copied out so the buffer can be reused; larger ones are handed over. */
const COPY_OUT_LIMIT = 64 * 1024
/**
 * After handing a large batch over, the next buffer starts at that batch's capacity (up to this),
 * so a steady stream of large batches does not regrow from INITIAL_CAPACITY, copying, every time.
 */
const MAX_RETAINED_CAPACITY = 1024 * 1024
const METHOD_CACHE_LIMIT = 4096

const encoder = new TextEncoder()
const methodCache = new Map<string, Uint8Array>()

/** UTF-8 bytes of a method name, cached (method names are few and hot). */
export function methodBytes (method: string): Uint8Array {
  let bytes = methodCache.get(method)
  if (bytes === undefined) {
    bytes = encoder.encode(method)
    if (bytes.byteLength === 0 || bytes.byteLength > MAX_METHOD_BYTES) {
      throw new BadRequestError(`method name must be 1 to ${MAX_METHOD_BYTES} UTF-8 bytes`)
    }
    if (methodCache.size >= METHOD_CACHE_LIMIT) methodCache.clear()
    methodCache.set(method, bytes)
  }
  return bytes
}

/**
 * Appends frames to one growing buffer; `take()` hands the batch to the transport. Pure: no I/O.
 * Each append method returns the size of the frame it wrote (what flow control counts).
 */
export class FrameWriter {
  #buf = new Uint8Array(INITIAL_CAPACITY)
  #view = new DataView(this.#buf.buffer)
  #pos = 0
  readonly #maxFrameSize: number

  constructor (maxFrameSize: number) {
    this.#maxFrameSize = maxFrameSize
  }

  /** Bytes waiting to be taken. */
  get length (): number { return this.#pos }

  call (id: number, timeout: number, method: Uint8Array, payload: Uint8Array): number {
    const at = this.#header(FrameType.CALL, id, 4 + 1 + method.byteLength + payload.byteLength)
    this.#view.setUint32(at, Math.max(1, Math.min(0xffffffff, Math.ceil(timeout))))
    this.#buf[at + 4] = method.byteLength
    this.#buf.set(method, at + 5)
    this.#buf.set(payload, at + 5 + method.byteLength)
    return this.#end(at + 5 + method.byteLength + payload.byteLength)
  }

  route (id: number, timeout: number, route: Uint8Array, method: Uint8Array, payload: Uint8Array): number {
    if (route.byteLength === 0 || route.byteLength > 0xffff) throw new BadRequestError('route header must be 1 to 65535 bytes')
    const at = this.#header(FrameType.ROUTE, id, 4 + 2 + route.byteLength + 1 + method.byteLength + payload.byteLength)
    this.#view.setUint32(at, Math.max(1, Math.min(0xffffffff, Math.ceil(timeout))))
    this.#view.setUint16(at + 4, route.byteLength)
    this.#buf.set(route, at + 6)
    let p = at + 6 + route.byteLength
    this.#buf[p] = method.byteLength
    this.#buf.set(method, p + 1)
    p += 1 + method.byteLength
    this.#buf.set(payload, p)
    return this.#end(p + payload.byteLength)
  }

  cast (method: Uint8Array, payload: Uint8Array): number {
    const at = this.#header(FrameType.CAST, 0, 1 + method.byteLength + payload.byteLength)
    this.#buf[at] = method.byteLength
    this.#buf.set(method, at + 1)
    this.#buf.set(payload, at + 1 + method.byteLength)
    return this.#end(at + 1 + method.byteLength + payload.byteLength)
  }

  reply (id: number, payload: Uint8Array): number {
    const at = this.#header(FrameType.REPLY, id, payload.byteLength)
    this.#buf.set(payload, at)
    return this.#end(at + payload.byteLength)
  }

  error (id: number, payload: Uint8Array): number {
    const at = this.#header(FrameType.ERROR, id, payload.byteLength)
    this.#buf.set(payload, at)
    return this.#end(at + payload.byteLength)
  }

  cancel (id: number): number {
    return this.#end(this.#header(FrameType.CANCEL, id, 0))
  }

  goAway (): number {
    return this.#end(this.#header(FrameType.GOAWAY, 0, 0))
  }

  credit (frames: number, bytes: number): number {
    const at = this.#header(FrameType.CREDIT, 0, 8)
    this.#view.setUint32(at, frames)
    this.#view.setUint32(at + 4, bytes)
    return this.#end(at + 8)
  }

  /** Returns the frames written since the last take, or undefined when there are none. */
  take (): Uint8Array | undefined {
    if (this.#pos === 0) return undefined
    let out: Uint8Array
    if (this.#pos <= COPY_OUT_LIMIT) {
      out = this.#buf.slice(0, this.#pos)
    } else {
      out = this.#buf.subarray(0, this.#pos)
      this.#buf = new Uint8Array(Math.min(this.#buf.byteLength, MAX_RETAINED_CAPACITY))
      this.#view = new DataView(this.#buf.buffer)
    }
    this.#pos = 0
    return out
  }

  /** Drops anything not yet taken. */
  clear (): void {
    this.#pos = 0
  }

  /** Writes prefix + header for a frame with `bodySize` bytes of body; returns the body offset. */
  #header (type: FrameType, id: number, bodySize: number): number {
    const length = HEADER_SIZE + bodySize
    if (length > this.#maxFrameSize) {
      throw new TooLargeError(`frame of ${length} bytes exceeds the maximum frame size of ${this.#maxFrameSize} bytes`)
    }
    this.#reserve(LENGTH_SIZE + length)
    const p = this.#pos
    this.#view.setUint32(p, length)
    this.#buf[p + 4] = WIRE_VERSION
    this.#buf[p + 5] = type
    this.#view.setUint16(p + 6, 0)
    this.#view.setUint32(p + 8, id)
    return p + LENGTH_SIZE + HEADER_SIZE
  }

  #end (end: number): number {
    const size = end - this.#pos
    this.#pos = end
    return size
  }

  #reserve (bytes: number): void {
    const need = this.#pos + bytes
    if (need <= this.#buf.byteLength) return
    let cap = this.#buf.byteLength * 2
    while (cap < need) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.#buf.subarray(0, this.#pos))
    this.#buf = next
    this.#view = new DataView(next.buffer)
  }
}
