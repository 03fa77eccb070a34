/**
 * A single-producer single-consumer ring of length-prefixed records over any ArrayBuffer: a
 * shared-memory mapping (shm.ts) between two processes, or a plain ArrayBuffer in tests. Pure
 * TypeScript: JS owns framing and indices, the addon only maps memory (notes/native-fast-path.md:
 * JS framing plus batched drain sustained 23–29 M msgs/s, none of it needs to be native).
 *
 * Layout (byte offsets from the ring's start; u32 in host byte order; the header fields the
 * producer and the consumer write sit on separate 64-byte cache lines):
 *
 * ```
 * 0    u32 magic        RING_MAGIC ('KRNG')            written once by whoever formats the ring
 * 4    u32 version      RING_VERSION (1)
 * 8    u32 capacity     data bytes, a power of two in [RING_MIN_CAPACITY, RING_MAX_CAPACITY]
 * 12   u32 flags        0 (reserved)
 * 64   u32 head         bytes ever written, mod 2^32   written by the writer only
 * 128  u32 tail         bytes ever consumed, mod 2^32  written by the reader only
 * 192  u32 readerSleep  0 awake, 1 asleep on the doorbell, 2 asleep on the futex word below
 * 196  u32 readerSeq    futex word for a reader asleep with 2 (bumped by futexWake)
 * 200  u32 writerWait   0, or 1/2: the writer waits for space (doorbell/futex)
 * 204  u32 writerSeq    futex word for a writer waiting with 2
 * 256  data[capacity]   records: u32 length, payload, zero padding to a multiple of 8;
 *                      u32 WRAP_MARKER where a record did not fit before the end
 * ```
 *
 * Validation: each side keeps its own copy of its index and of the capacity and never trusts the
 * other side's memory. Every call re-checks magic, version and capacity; every index read from the
 * other side must be 8-aligned, within `capacity` of the local index and never move backwards;
 * every record length must fit the published bytes, the space before the end of the data area and
 * `maxRecordSize`. Any failure throws {@link RingCorruptError} and marks the ring corrupt for good.
 * Reads are bounds-checked typed-array reads, so a hostile peer can at worst feed wrong bytes,
 * never make this process read outside the ring.
 *
 * Wake-up protocol (Dekker style, lost-wake-up free): a reader about to sleep stores
 * `readerSleep = kind` (seq-cst) then re-reads `head`; a writer stores `head` (seq-cst) then reads
 * `readerSleep` and, only if it wins `CAS(kind → 0)`, wakes the reader: one wake-up per sleep.
 * Space for a waiting writer works the same way with `writerWait` and `tail`.
 */
import { RingCorruptError, type RingField } from '../../errors.js'

export const RING_MAGIC = 0x474e524b
export const RING_VERSION = 1
export const RING_HEADER_SIZE = 256
export const RING_MIN_CAPACITY = 1024
export const RING_MAX_CAPACITY = 1 << 30
/** Bytes of a record's length prefix. */
export const RECORD_PREFIX = 4
/** Records start on multiples of this. */
export const RECORD_ALIGN = 8
/** A length prefix with this value means "continue at offset 0". */
export const WRAP_MARKER = 0xffffffff

/** Byte offsets of the header fields, from the ring's start. */
export const RingOffset = {
  MAGIC: 0,
  VERSION: 4,
  CAPACITY: 8,
  FLAGS: 12,
  HEAD: 64,
  TAIL: 128,
  READER_SLEEP: 192,
  READER_SEQ: 196,
  WRITER_WAIT: 200,
  WRITER_SEQ: 204
} as const

/** How a sleeping side wants to be woken (the value of `readerSleep`/`writerWait`). */
export const WakeKind = {
  NONE: 0,
  /** Ring its doorbell (main-thread consumer, uv_poll). */
  DOORBELL: 1,
  /** `futexWake` its seq word (worker thread blocked in `futexWait`). */
  FUTEX: 2
} as const
export type WakeKind = typeof WakeKind[keyof typeof WakeKind]

const I_MAGIC = RingOffset.MAGIC >> 2
const I_VERSION = RingOffset.VERSION >> 2
const I_CAPACITY = RingOffset.CAPACITY >> 2
const I_FLAGS = RingOffset.FLAGS >> 2
const I_HEAD = RingOffset.HEAD >> 2
const I_TAIL = RingOffset.TAIL >> 2
const I_READER_SLEEP = RingOffset.READER_SLEEP >> 2
const I_READER_SEQ = RingOffset.READER_SEQ >> 2
const I_WRITER_WAIT = RingOffset.WRITER_WAIT >> 2
const I_WRITER_SEQ = RingOffset.WRITER_SEQ >> 2
const I_DATA = RING_HEADER_SIZE >> 2

/** Bytes a ring of `capacity` data bytes occupies (header included). */
export function ringByteLength (capacity: number): number {
  return RING_HEADER_SIZE + capacity
}

/** Largest payload a ring of `capacity` accepts: an empty ring must always fit one record, wherever its head is. */
export function maxRecordSize (capacity: number): number {
  return capacity / 2 - RECORD_PREFIX
}

/** Bytes a record of `length` payload bytes takes in the data area. */
export function recordSize (length: number): number {
  return (RECORD_PREFIX + length + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1)
}

function checkCapacity (capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two in [${RING_MIN_CAPACITY}, 2^30], got ${capacity}`)
  }
}

function checkPlacement (buffer: ArrayBuffer, byteOffset: number, capacity: number): void {
  checkCapacity(capacity)
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % RECORD_ALIGN !== 0) {
    throw new RangeError(`ring byteOffset must be a non-negative multiple of ${RECORD_ALIGN}, got ${byteOffset}`)
  }
  if (byteOffset + ringByteLength(capacity) > buffer.byteLength) {
    throw new RangeError(`a ring of capacity ${capacity} at ${byteOffset} does not fit in ${buffer.byteLength} bytes`)
  }
}

/** Writes a fresh header (empty ring, nobody asleep) at `byteOffset`. Only the creator calls this, before sharing. */
export function formatRing (buffer: ArrayBuffer, byteOffset: number, capacity: number): void {
  checkPlacement(buffer, byteOffset, capacity)
  const words = new Uint32Array(buffer, byteOffset, I_DATA)
  words.fill(0)
  words[I_VERSION] = RING_VERSION
  words[I_CAPACITY] = capacity
  words[I_FLAGS] = 0
  Atomics.store(words, I_MAGIC, RING_MAGIC)
}

/** State common to both ends: the views, the local capacity and the corrupt latch. */
abstract class RingEnd {
  readonly capacity: number
  readonly maxRecordSize: number
  /** Byte offset of this ring in its buffer (futex words are at `byteOffset + RingOffset.*_SEQ`). */
  readonly byteOffset: number
  protected readonly words: Uint32Array
  protected readonly bytes: Uint8Array
  protected readonly mask: number
  #corrupt: RingCorruptError | undefined

  constructor (buffer: ArrayBuffer, byteOffset: number, capacity: number) {
    checkPlacement(buffer, byteOffset, capacity)
    this.capacity = capacity
    this.maxRecordSize = maxRecordSize(capacity)
    this.byteOffset = byteOffset
    this.mask = capacity - 1
    this.words = new Uint32Array(buffer, byteOffset, ringByteLength(capacity) >> 2)
    this.bytes = new Uint8Array(buffer, byteOffset + RING_HEADER_SIZE, capacity)
    this.checkHeader()
  }

  /** The error that marked this ring corrupt, if any. */
  get corruption (): RingCorruptError | undefined {
    return this.#corrupt
  }

  get corrupt (): boolean {
    return this.#corrupt !== undefined
  }

  /** Marks the ring corrupt (latched) and returns the error to throw. */
  protected fail (field: RingField, message: string): RingCorruptError {
    this.#corrupt ??= new RingCorruptError(field, message)
    return this.#corrupt
  }

  /** Throws the latched error, then re-checks the fields that never change. */
  protected checkHeader (): void {
    if (this.#corrupt !== undefined) throw this.#corrupt
    const w = this.words
    // Detached buffer (region closed): every view is empty.
    if (w.length === 0) throw this.fail('size', 'the ring memory is gone (region closed)')
    if (Atomics.load(w, I_MAGIC) !== RING_MAGIC) throw this.fail('magic', `bad magic 0x${(w[I_MAGIC] >>> 0).toString(16)}`)
    if (w[I_VERSION] !== RING_VERSION) throw this.fail('version', `unsupported version ${w[I_VERSION]}`)
    if (w[I_CAPACITY] !== this.capacity) throw this.fail('capacity', `capacity ${w[I_CAPACITY]} differs from the agreed ${this.capacity}`)
  }

  /** Reads a wake flag written by the other side; anything but 0/1/2 is corruption. */
  protected readFlag (index: number, name: string): WakeKind {
    const v = Atomics.load(this.words, index)
    if (v > WakeKind.FUTEX) throw this.fail('flag', `${name} is ${v}`)
    return v as WakeKind
  }

  /** Atomically takes a wake request (`CAS(kind → 0)`); returns the kind this side must deliver, or NONE. */
  protected takeFlag (index: number, name: string): WakeKind {
    const v = this.readFlag(index, name)
    if (v === WakeKind.NONE) return WakeKind.NONE
    return Atomics.compareExchange(this.words, index, v, 0) === v ? v : WakeKind.NONE
  }
}

/** The producing end of a ring. One writer per ring, on one thread. */
export class RingWriter extends RingEnd {
  #head: number
  /** The last tail read and validated. */
  #tail: number

  /** Validates the header (throws {@link RingCorruptError}) and resumes at the published head. */
  constructor (buffer: ArrayBuffer, byteOffset: number, capacity: number) {
    super(buffer, byteOffset, capacity)
    const head = Atomics.load(this.words, I_HEAD)
    const tail = Atomics.load(this.words, I_TAIL)
    if (head % RECORD_ALIGN !== 0 || ((head - tail) >>> 0) > capacity || tail % RECORD_ALIGN !== 0) {
      throw this.fail('head', `head ${head} / tail ${tail} inconsistent`)
    }
    this.#head = head
    this.#tail = tail
  }

  /** Byte offset (in the buffer) of the futex word a waiting writer sleeps on. */
  get seqOffset (): number {
    return this.byteOffset + RingOffset.WRITER_SEQ
  }

  /** Bytes free for records right now (re-reads the tail). */
  freeBytes (): number {
    this.checkHeader()
    this.#refreshTail()
    return this.capacity - ((this.#head - this.#tail) >>> 0)
  }

  /** True when a record of `length` bytes fits now (wrap included). */
  canWrite (length: number): boolean {
    this.checkHeader()
    const size = recordSize(length)
    if (this.#fits(size)) return true
    this.#refreshTail()
    return this.#fits(size)
  }

  /**
   * Reserves a record of `length` bytes and returns the view to fill, or undefined when the ring is
   * full. The record becomes visible at the next {@link publish}; fill the view before that and
   * never touch it after. Throws a RangeError when `length` exceeds `maxRecordSize`.
   */
  claim (length: number): Uint8Array | undefined {
    this.checkHeader()
    this.#checkLength(length)
    const at = this.#reserve(length)
    return at < 0 ? undefined : this.bytes.subarray(at, at + length)
  }

  /** Makes every claimed record visible to the reader (one seq-cst store). */
  publish (): void {
    if (this.words.length === 0) throw this.fail('size', 'the ring memory is gone (region closed)')
    Atomics.store(this.words, I_HEAD, this.#head)
  }

  /** Copies one record in and publishes it. False when the ring is full. */
  write (record: Uint8Array): boolean {
    return this.writeBatch([record]) === 1
  }

  /** Copies `records[start..end)` in while they fit, publishes once, returns how many were written. */
  writeBatch (records: readonly Uint8Array[], start = 0, end = records.length): number {
    this.checkHeader()
    let i = start
    for (; i < end; i++) {
      const record = records[i]
      this.#checkLength(record.byteLength)
      const at = this.#reserve(record.byteLength)
      if (at < 0) break
      this.bytes.set(record, at)
    }
    if (i > start) this.publish()
    return i - start
  }

  #checkLength (length: number): void {
    if (!(length >= 0 && length <= this.maxRecordSize && Number.isInteger(length))) {
      throw new RangeError(`record length must be an integer in [0, ${this.maxRecordSize}], got ${length}`)
    }
  }

  /** Reserves a record (wrap marker included), writes its length; returns the payload's offset in `bytes`, or -1 when full. */
  #reserve (length: number): number {
    const size = recordSize(length)
    if (!this.#fits(size)) {
      this.#refreshTail()
      if (!this.#fits(size)) return -1
    }
    let pos = this.#head & this.mask
    if (size > this.capacity - pos) {
      this.words[I_DATA + (pos >> 2)] = WRAP_MARKER
      this.#head = (this.#head + this.capacity - pos) >>> 0
      pos = 0
    }
    this.words[I_DATA + (pos >> 2)] = length
    this.#head = (this.#head + size) >>> 0
    return pos + RECORD_PREFIX
  }

  /**
   * After a publish: takes the reader's sleep request, if any. Returns what the caller must do
   * (ring the reader's doorbell, `futexWake` the reader's seq word at `readerSeqOffset`) or NONE.
   */
  takeReaderWake (): WakeKind {
    this.checkHeader()
    return this.takeFlag(I_READER_SLEEP, 'readerSleep')
  }

  /** Byte offset (in the buffer) of the futex word a sleeping reader waits on. */
  get readerSeqOffset (): number {
    return this.byteOffset + RingOffset.READER_SEQ
  }

  /**
   * The ring had no room for `length` bytes: announce that this writer waits for space (`kind`),
   * then re-check. True: still full, sleep until woken. False: room appeared, the request was
   * withdrawn, write now.
   */
  prepareWait (length: number, kind: typeof WakeKind.DOORBELL | typeof WakeKind.FUTEX): boolean {
    this.checkHeader()
    Atomics.store(this.words, I_WRITER_WAIT, kind)
    this.#refreshTail()
    if (this.#fits(recordSize(length))) {
      this.cancelWait()
      return false
    }
    return true
  }

  /** Withdraws a wait request (woken for another reason). */
  cancelWait (): void {
    if (this.words.length > 0) Atomics.store(this.words, I_WRITER_WAIT, 0)
  }

  /** The current value of the writer's futex word (read it before {@link prepareWait} for `futexWait`). */
  seq (): number {
    return Atomics.load(this.words, I_WRITER_SEQ)
  }

  #fits (size: number): boolean {
    const used = (this.#head - this.#tail) >>> 0
    const free = this.capacity - used
    const pos = this.#head & this.mask
    const contiguous = this.capacity - pos
    return size <= contiguous ? size <= free : contiguous + size <= free
  }

  #refreshTail (): void {
    const tail = Atomics.load(this.words, I_TAIL)
    // The reader only ever moves tail forwards, 8 bytes at a time, never past our head.
    const advanced = (tail - this.#tail) >>> 0
    const outstanding = (this.#head - this.#tail) >>> 0
    if (tail % RECORD_ALIGN !== 0 || advanced > outstanding) {
      throw this.fail('tail', `tail ${tail} is not between the last tail ${this.#tail} and head ${this.#head}`)
    }
    this.#tail = tail
  }
}

/** The consuming end of a ring. One reader per ring, on one thread. */
export class RingReader extends RingEnd {
  #tail: number
  /** The last head read and validated. */
  #head: number

  /** Validates the header (throws {@link RingCorruptError}) and resumes at the published tail. */
  constructor (buffer: ArrayBuffer, byteOffset: number, capacity: number) {
    super(buffer, byteOffset, capacity)
    const tail = Atomics.load(this.words, I_TAIL)
    if (tail % RECORD_ALIGN !== 0) throw this.fail('tail', `tail ${tail} is not 8-aligned`)
    this.#tail = tail
    this.#head = tail
    this.#refreshHead()
  }

  /** Byte offset (in the buffer) of the futex word this reader sleeps on with {@link WakeKind.FUTEX}. */
  get seqOffset (): number {
    return this.byteOffset + RingOffset.READER_SEQ
  }

  /** Byte offset (in the buffer) of the futex word a waiting writer sleeps on. */
  get writerSeqOffset (): number {
    return this.byteOffset + RingOffset.WRITER_SEQ
  }

  /** True when records are waiting (re-reads and validates the head). */
  hasData (): boolean {
    this.checkHeader()
    if (this.#head !== this.#tail) return true
    this.#refreshHead()
    return this.#head !== this.#tail
  }

  /**
   * Calls `visit` with each record, oldest first, up to `maxRecords`, then publishes the new tail
   * once. Returns how many records were visited. The view is valid only during the call (the writer
   * may reuse the bytes afterwards, and a hostile writer may change them at any time: parse with
   * bounds checks, or copy). If `visit` throws, the records before it and the one it threw on count
   * as consumed, and the error propagates. Throws {@link RingCorruptError} on a bad header, index or
   * record length (records already visited stay consumed).
   */
  drain (visit: (record: Uint8Array) => void, maxRecords = Infinity): number {
    return this.drainRaw((bytes, offset, length) => { visit(bytes.subarray(offset, offset + length)) }, maxRecords)
  }

  /**
   * {@link drain} without allocating: `visit(bytes, offset, length)` gets the ring's data area and
   * the record's place in it (always inside `bytes`). About 30 vs 75 ns per 64-byte record written
   * and drained, measured in one thread: the view allocation is most of the difference.
   */
  drainRaw (visit: (bytes: Uint8Array, offset: number, length: number) => void, maxRecords = Infinity): number {
    this.checkHeader()
    this.#refreshHead()
    const start = this.#tail
    let count = 0
    try {
      // `words.length` drops to 0 if `visit` closed the region (the buffer is detached): stop quietly.
      while (count < maxRecords && this.#tail !== this.#head && this.words.length !== 0) {
        const available = (this.#head - this.#tail) >>> 0
        const pos = this.#tail & this.mask
        const length = this.words[I_DATA + (pos >> 2)]
        if (length === WRAP_MARKER) {
          const skip = this.capacity - pos
          if (pos === 0 || skip > available) throw this.fail('record', `wrap marker at ${pos} skips ${skip} of ${available} published bytes`)
          this.#tail = (this.#tail + skip) >>> 0
          continue
        }
        if (length > this.maxRecordSize) throw this.fail('record', `record length ${length} at ${pos} exceeds ${this.maxRecordSize}`)
        const size = recordSize(length)
        if (size > available) throw this.fail('record', `record of ${size} bytes at ${pos} but only ${available} published`)
        if (size > this.capacity - pos) throw this.fail('record', `record of ${size} bytes at ${pos} crosses the end of the ring`)
        this.#tail = (this.#tail + size) >>> 0
        count++
        visit(this.bytes, pos + RECORD_PREFIX, length)
      }
    } finally {
      if (this.#tail !== start && this.words.length > 0) Atomics.store(this.words, I_TAIL, this.#tail)
    }
    return count
  }

  /** Like {@link drain} but returns copies (safe to keep). */
  read (maxRecords = Infinity): Uint8Array[] {
    const out: Uint8Array[] = []
    this.drain(r => { out.push(r.slice()) }, maxRecords)
    return out
  }

  /**
   * After consuming: takes the writer's wait-for-space request, if any. Returns what the caller
   * must do (ring the writer's doorbell, or `futexWake` at `writerSeqOffset`) or NONE.
   */
  takeWriterWake (): WakeKind {
    this.checkHeader()
    return this.takeFlag(I_WRITER_WAIT, 'writerWait')
  }

  /**
   * About to sleep: announce how to be woken (`kind`), then re-check the head. True: still empty,
   * sleep (the next publish will wake you exactly once). False: data arrived, the request was
   * withdrawn, keep draining.
   */
  prepareSleep (kind: typeof WakeKind.DOORBELL | typeof WakeKind.FUTEX): boolean {
    this.checkHeader()
    Atomics.store(this.words, I_READER_SLEEP, kind)
    this.#refreshHead()
    if (this.#head !== this.#tail) {
      this.cancelSleep()
      return false
    }
    return true
  }

  /** Withdraws a sleep request (woken, or polling again). */
  cancelSleep (): void {
    if (this.words.length > 0) Atomics.store(this.words, I_READER_SLEEP, 0)
  }

  /** The current value of the reader's futex word (read it before {@link prepareSleep} for `futexWait`). */
  seq (): number {
    return Atomics.load(this.words, I_READER_SEQ)
  }

  #refreshHead (): void {
    const head = Atomics.load(this.words, I_HEAD)
    // The writer only moves head forwards, 8 bytes at a time, at most `capacity` ahead of our tail.
    const available = (head - this.#tail) >>> 0
    const known = (this.#head - this.#tail) >>> 0
    if (head % RECORD_ALIGN !== 0 || available > this.capacity || available < known) {
      throw this.fail('head', `head ${head} is not between the last head ${this.#head} and tail + capacity (${this.#tail} + ${this.capacity})`)
    }
    this.#head = head
  }
}
