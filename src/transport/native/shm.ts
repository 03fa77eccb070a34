/**
 * A pair of SPSC rings between two processes on the same host, in one shared-memory file, plus a
 * FIFO doorbell per process: the same-host fast path. Names are agreed by the caller (over QUIC);
 * this module owns the file layout, creation and opening checks, the adaptive consumer, wake-ups,
 * unlinking and stale-file cleanup. Ring logic is in ring.ts; the addon only maps memory, makes
 * FIFOs and watches them.
 *
 * Files, in {@link defaultShmDir} (`/dev/shm`, or `os.tmpdir()` without it), all mode 0600:
 *
 * ```
 * <prefix><name>.ring    the region: pair header + ring 0 (creator → opener) + ring 1 (opener → creator)
 * <prefix><name>.bell0   the creator's doorbell (the opener rings it)
 * <prefix><name>.bell1   the opener's doorbell (the creator rings it)
 * ```
 *
 * Pair header (byte offsets; u32/f64 in host byte order):
 *
 * ```
 * 0    u32 magic          PAIR_MAGIC ('KMSH'), written first
 * 4    u32 version        PAIR_VERSION (1)
 * 8    u32 state          0 initializing, 1 ready (written last by the creator)
 * 12   u32 capacity       data bytes of each ring
 * 16   u32 creatorPid
 * 20   u32 openerPid      0 until opened
 * 24   f64 creatorStart   start time of the creator process (/proc/<pid>/stat field 22; 0 unknown)
 * 32   f64 openerStart
 * 40   u32 closed         bit 0: the creator closed, bit 1: the opener closed (then it rings the peer)
 * 256  ring 0, then ring 1 at 256 + 256 + capacity (layout in ring.ts)
 * ```
 */
import { closeSync, constants as fsConstants, lstatSync, openSync, readdirSync, readFileSync, readSync, accessSync, statSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { ClosedError, ForbiddenError, InvalidOptionsError, UnreachableError } from '../../errors.js'
import { AdaptiveLoop } from './adaptive.js'
import { RingCorruptError } from '../../errors.js'
import { formatRing, RING_MAX_CAPACITY, RING_MIN_CAPACITY, RingReader, RingWriter, ringByteLength, WakeKind } from './ring.js'
import type { NativeBinding, NativeDoorbell, NativeShmRegion } from './binding.js'

const log = logger('kadmesh:transport:native:shm')

export const PAIR_MAGIC = 0x48534d4b
export const PAIR_VERSION = 1
export const PAIR_HEADER_SIZE = 256

/** Byte offsets of the pair header fields. */
export const PairOffset = {
  MAGIC: 0,
  VERSION: 4,
  STATE: 8,
  CAPACITY: 12,
  CREATOR_PID: 16,
  OPENER_PID: 20,
  CREATOR_START: 24,
  OPENER_START: 32,
  CLOSED: 40
} as const

export const PairState = { INITIALIZING: 0, READY: 1 } as const

export const DEFAULT_SHM_PREFIX = 'kadmesh-'
/** Data bytes per ring (per direction). */
export const DEFAULT_RING_CAPACITY = 4 * 1024 * 1024
/**
 * µs the consumer keeps polling after the last record before sleeping on its doorbell. Longer than
 * a cold wake-up (10.9–45 µs measured) so a ping-pong conversation stays hot; short enough that an
 * idle link costs nothing measurable.
 */
export const DEFAULT_IDLE_SPIN_US = 200
/** Records per drain turn: bounds how long one turn holds the event loop. */
export const DEFAULT_MAX_DRAIN = 1024
/** A file without a valid header is left alone this long (its creator may still be writing it). */
export const DEFAULT_STALE_MIN_AGE_MS = 10_000

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/
const SUFFIXES = ['.ring', '.bell0', '.bell1'] as const

/** Bytes of a pair region with rings of `capacity`. */
export function pairByteLength (capacity: number): number {
  return PAIR_HEADER_SIZE + 2 * ringByteLength(capacity)
}

/** Byte offset of ring `index` (0: creator → opener, 1: opener → creator). */
export function pairRingOffset (capacity: number, index: 0 | 1): number {
  return PAIR_HEADER_SIZE + index * ringByteLength(capacity)
}

let shmDir: string | undefined

/** `/dev/shm` when it is a writable directory (tmpfs: no disk writeback), else `os.tmpdir()`. */
export function defaultShmDir (): string {
  if (shmDir !== undefined) return shmDir
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', fsConstants.W_OK)
      shmDir = '/dev/shm'
      return shmDir
    }
  } catch {}
  shmDir = tmpdir()
  return shmDir
}

/** The files of pair `name`. */
export interface ShmPaths {
  region: string
  /** `[creator's doorbell, opener's doorbell]`. */
  bells: [string, string]
}

export function shmPaths (name: string, options: { dir?: string, prefix?: string } = {}): ShmPaths {
  const prefix = options.prefix ?? DEFAULT_SHM_PREFIX
  if (!NAME.test(name)) throw new InvalidOptionsError('options.name must match /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/')
  if (prefix.length === 0 || !NAME.test(prefix)) throw new InvalidOptionsError('options.prefix must be a non-empty file-name prefix')
  const base = join(options.dir ?? defaultShmDir(), prefix + name)
  return { region: base + '.ring', bells: [base + '.bell0', base + '.bell1'] }
}

/** Fields of /proc/<pid>/stat this module uses. */
interface ProcStat {
  state: string
  /** Clock ticks after boot the process started (field 22): with the pid, identifies a process. */
  start: number
}

function readProcStat (pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    const start = Number(fields[19])
    return { state: fields[0], start: Number.isFinite(start) ? start : 0 }
  } catch {
    return undefined
  }
}

let selfStart: number | undefined

function ownStart (): number {
  selfStart ??= readProcStat(process.pid)?.start ?? 0
  return selfStart
}

/**
 * True unless process `pid` is certainly gone: no such process, a zombie, or (when `start` is
 * known) a different process that reused the pid.
 */
export function isProcessAlive (pid: number, start = 0): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  const stat = readProcStat(pid)
  if (stat === undefined) return true // no /proc: trust kill(0)
  if (stat.state === 'Z' || stat.state === 'X') return false
  return !(start > 0 && stat.start > 0 && stat.start !== start)
}

function unlinkQuietly (path: string): boolean {
  try {
    unlinkSync(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('cannot unlink %s: %s', path, (err as Error).message)
    return false
  }
}

/** Options of {@link cleanStale}. */
export interface CleanStaleOptions {
  /** Directory to scan (default {@link defaultShmDir}). */
  dir?: string
  /** Files without a readable header are removed only once this old (default 10 s). */
  minAgeMs?: number
  /** Liveness check (default {@link isProcessAlive}). For tests. */
  isAlive?: (pid: number, start: number) => boolean
}

/**
 * Removes the files of pairs whose every recorded owner process is dead (crashed without
 * closing), files without a valid header older than `minAgeMs`, and doorbells whose region is
 * gone. Only files owned by this user are touched. Returns the paths removed. Never throws for a
 * single file; a missing directory yields `[]`.
 */
export function cleanStale (prefix = DEFAULT_SHM_PREFIX, options: CleanStaleOptions = {}): string[] {
  const dir = options.dir ?? defaultShmDir()
  const minAgeMs = options.minAgeMs ?? DEFAULT_STALE_MIN_AGE_MS
  const isAlive = options.isAlive ?? isProcessAlive
  const uid = process.geteuid?.() ?? -1
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const bases = new Set<string>()
  for (const n of names) {
    if (!n.startsWith(prefix)) continue
    const suffix = SUFFIXES.find(s => n.endsWith(s))
    if (suffix !== undefined) bases.add(n.slice(0, -suffix.length))
  }
  const removed: string[] = []
  const now = Date.now()
  for (const base of bases) {
    const files = SUFFIXES.map(s => join(dir, base + s))
    const stats = files.map(f => { try { return lstatSync(f) } catch { return undefined } })
    const [ringStat] = stats
    let stale: boolean
    if (ringStat !== undefined && ringStat.isFile()) {
      if (ringStat.uid !== uid) continue
      const owners = readOwners(files[0])
      if (owners === undefined || owners.length === 0) stale = now - ringStat.mtimeMs >= minAgeMs
      else stale = owners.every(o => !isAlive(o.pid, o.start))
    } else if (ringStat === undefined) {
      // Doorbells without a region: a creator that died between the files, or a pair whose region was unlinked.
      stale = stats.every(s => s === undefined || now - s.mtimeMs >= minAgeMs)
    } else {
      continue // something else under our prefix: not ours to judge
    }
    if (!stale) continue
    files.forEach((f, i) => {
      const s = stats[i]
      if (s !== undefined && s.uid === uid && unlinkQuietly(f)) removed.push(f)
    })
  }
  if (removed.length > 0) log('removed %d stale shared-memory files', removed.length)
  return removed
}

/** The owner processes recorded in a region file's header, or undefined without a valid header. */
function readOwners (path: string): Array<{ pid: number, start: number }> | undefined {
  const header = new ArrayBuffer(40)
  let fd: number
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
  } catch {
    return undefined
  }
  try {
    if (readSync(fd, new Uint8Array(header), 0, 40, 0) < 40) return undefined
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
  const u32 = new Uint32Array(header)
  const f64 = new Float64Array(header)
  if (u32[PairOffset.MAGIC >> 2] !== PAIR_MAGIC || u32[PairOffset.VERSION >> 2] !== PAIR_VERSION) return undefined
  const owners: Array<{ pid: number, start: number }> = []
  const creator = u32[PairOffset.CREATOR_PID >> 2]
  const opener = u32[PairOffset.OPENER_PID >> 2]
  if (creator > 0) owners.push({ pid: creator, start: f64[PairOffset.CREATOR_START >> 3] })
  if (opener > 0) owners.push({ pid: opener, start: f64[PairOffset.OPENER_START >> 3] })
  return owners
}

/** Construction options of {@link ShmRingPair}. */
export interface ShmRingPairInit {
  /** Pair name agreed by both sides; unique per pair (include a random id): it names the files. */
  name: string
  /** Directory of the files (default {@link defaultShmDir}). Both sides must agree. */
  dir?: string
  /** File-name prefix (default `kadmesh-`), used by {@link cleanStale}. */
  prefix?: string
  /** Data bytes per ring, a power of two in [1 KiB, 1 GiB]. `create` uses it (default 4 MiB); `open` checks it if given. */
  capacity?: number
  /** µs to keep polling after the last record before sleeping on the doorbell (default 200; 0: sleep at once; Infinity: never). */
  idleSpinUs?: number
  /** Records per drain turn (default 1024). */
  maxDrain?: number
  /**
   * Each inbound record, in order. The view is valid only during the call (copy what you keep) and
   * its bytes come from the peer's memory: parse with bounds checks. Errors thrown here go to
   * `onError`; the record counts as consumed.
   */
  onRecord?: (record: Uint8Array) => void
  /**
   * Instead of `onRecord`, without allocating a view per record: `bytes` is the inbound ring's data
   * area, the record is `bytes[offset, offset + length)`. Same validity rules. About 45 ns less per
   * record (ring.ts `drainRaw`). Give exactly one of the two.
   */
  onRecordRaw?: (bytes: Uint8Array, offset: number, length: number) => void
  /** After each drain turn that delivered records (a good moment to flush replies in one publish). */
  onDrain?: (count: number) => void
  /** The outbound ring has room again after a write came up short. */
  onWritable?: () => void
  /**
   * The peer closed its side (after this side has drained everything it wrote before closing).
   * Close this side too. A peer that crashes never says so: see `isPeerAlive()`.
   */
  onPeerClose?: () => void
  /** Ring corruption (the consumer stops; close the pair and fall back) and errors thrown by callbacks. Default: logged. */
  onError?: (err: Error) => void
  /** `open` only: unlink the files right after opening (both sides then hold everything; a later crash leaves nothing). Default true. */
  unlinkOnOpen?: boolean
  /** Turn scheduler (default `setImmediate`). For tests. */
  schedule?: (fn: () => void) => void
  /** Monotonic clock in ms (default `performance.now`). For tests. */
  now?: () => number
}

/** Counters of a {@link ShmRingPair}. */
export interface ShmRingPairStats {
  /** Records written to the outbound ring. */
  written: number
  /** Records read from the inbound ring. */
  read: number
  /** Doorbell rings (and futex wakes) sent to the peer. */
  wakesSent: number
  /** Doorbell wake-ups received. */
  wakesReceived: number
  /** Times the consumer went to sleep. */
  sleeps: number
  /** Times a write found the ring full and waited for space. */
  writerWaits: number
  /** Errors thrown by `onRecord`/`onDrain`/`onWritable`. */
  handlerErrors: number
}

interface PairParts {
  side: 0 | 1
  paths: ShmPaths
  region: NativeShmRegion
  ownBell: NativeDoorbell
  peerBell: NativeDoorbell
  capacity: number
}

/** Checks the options the constructor uses, before any file is touched. */
function checkInit (init: ShmRingPairInit): void {
  if (!((init.idleSpinUs ?? 0) >= 0)) throw new InvalidOptionsError('options.idleSpinUs must be >= 0')
  const maxDrain = init.maxDrain ?? DEFAULT_MAX_DRAIN
  if (!Number.isInteger(maxDrain) || maxDrain < 1) throw new InvalidOptionsError('options.maxDrain must be a positive integer')
  if ((init.onRecord === undefined) === (init.onRecordRaw === undefined)) {
    throw new InvalidOptionsError('give exactly one of options.onRecord and options.onRecordRaw')
  }
}

function requireCapacity (capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new InvalidOptionsError(`options.capacity must be a power of two in [${RING_MIN_CAPACITY}, ${RING_MAX_CAPACITY}]`)
  }
  return capacity
}

function checkOwnership (what: string, uid: number, mode: number): void {
  const euid = process.geteuid?.()
  if (euid !== undefined && uid !== euid) throw new ForbiddenError(`${what} is owned by uid ${uid}, not ${euid}`)
  if ((mode & 0o077) !== 0) throw new ForbiddenError(`${what} has mode 0${mode.toString(8)}; 0600 expected`)
}

/**
 * One side of a shared-memory ring pair. `create` on one side, `open` on the other (after the
 * creator said so over QUIC); then each side writes to its outbound ring and receives the other's
 * records through `onRecord`. Takes the binding as a parameter (tests pass a fake).
 *
 * Consumer policy: drain on every event-loop turn while records arrive and for `idleSpinUs` after,
 * then mark the ring "asleep" and wait for the doorbell (uv_poll). The producer rings only when the
 * consumer is asleep (one byte per sleep), so a busy link costs no syscalls.
 *
 * @example
 * ```ts
 * const a = ShmRingPair.create(binding, { name, onRecord: r => handle(r.slice()) })
 * // … tell the peer `name` over QUIC; it calls ShmRingPair.open(binding, { name, onRecord })
 * if (!a.write(frame)) queueUntilWritable(frame)
 * a.close()
 * ```
 */
export class ShmRingPair {
  /** 0: the creator, 1: the opener. */
  readonly side: 0 | 1
  readonly paths: ShmPaths
  readonly capacity: number
  readonly #region: NativeShmRegion
  readonly #ownBell: NativeDoorbell
  readonly #peerBell: NativeDoorbell
  readonly #writer: RingWriter
  readonly #reader: RingReader
  readonly #header: Uint32Array
  readonly #headerF64: Float64Array
  readonly #loop: AdaptiveLoop
  readonly #maxDrain: number
  readonly #onRecord: ((bytes: Uint8Array, offset: number, length: number) => void)
  readonly #onDrain: ((count: number) => void) | undefined
  readonly #onWritable: (() => void) | undefined
  readonly #onError: (err: Error) => void
  readonly #onPeerClose: (() => void) | undefined
  #peerCloseReported = false
  readonly #schedule: (fn: () => void) => void
  readonly #visit = (bytes: Uint8Array, offset: number, length: number): void => {
    try {
      this.#onRecord(bytes, offset, length)
    } catch (err) {
      this.#handlerError(err)
    }
  }

  #closed = false
  #failed: Error | undefined
  /** Payload length of the write that found the ring full, while waiting for space. */
  #waitingFor = -1
  readonly #stats: ShmRingPairStats = { written: 0, read: 0, wakesSent: 0, wakesReceived: 0, sleeps: 0, writerWaits: 0, handlerErrors: 0 }

  /**
   * Creates the files (exclusively, 0600) and formats the rings. Throws InvalidOptionsError for bad
   * options and UnreachableError (with the errno error as `cause`) when the files cannot be
   * created, e.g. EEXIST for a name in use.
   */
  static create (binding: NativeBinding, init: ShmRingPairInit): ShmRingPair {
    checkInit(init)
    const paths = shmPaths(init.name, init)
    const capacity = requireCapacity(init.capacity ?? DEFAULT_RING_CAPACITY)
    let region: NativeShmRegion | undefined
    const bells: NativeDoorbell[] = []
    const created: string[] = []
    try {
      region = binding.shmCreate(paths.region, pairByteLength(capacity))
      created.push(paths.region)
      const buffer = region.buffer
      const u32 = new Uint32Array(buffer, 0, PAIR_HEADER_SIZE >> 2)
      const f64 = new Float64Array(buffer, 0, PAIR_HEADER_SIZE >> 3)
      // Owner first, so cleanStale can judge a half-created file by its creator.
      u32[PairOffset.VERSION >> 2] = PAIR_VERSION
      u32[PairOffset.CAPACITY >> 2] = capacity
      u32[PairOffset.CREATOR_PID >> 2] = process.pid
      f64[PairOffset.CREATOR_START >> 3] = ownStart()
      Atomics.store(u32, PairOffset.MAGIC >> 2, PAIR_MAGIC)
      formatRing(buffer, pairRingOffset(capacity, 0), capacity)
      formatRing(buffer, pairRingOffset(capacity, 1), capacity)
      for (const path of paths.bells) {
        bells.push(binding.doorbellCreate(path))
        created.push(path)
      }
      Atomics.store(u32, PairOffset.STATE >> 2, PairState.READY)
      return new ShmRingPair({ side: 0, paths, region, ownBell: bells[0], peerBell: bells[1], capacity }, init)
    } catch (err) {
      for (const b of bells) b.close()
      region?.close()
      for (const path of created) unlinkQuietly(path)
      throw new UnreachableError(`cannot create shared-memory ring pair ${init.name}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Opens a pair the peer created, validating everything in the header before use. Throws
   * UnreachableError when the files are missing or not ready (retryable), ForbiddenError when they
   * belong to another user or are not 0600, and {@link RingCorruptError} for an impossible header.
   */
  static open (binding: NativeBinding, init: ShmRingPairInit): ShmRingPair {
    checkInit(init)
    const paths = shmPaths(init.name, init)
    let region: NativeShmRegion | undefined
    const bells: NativeDoorbell[] = []
    try {
      try {
        region = binding.shmOpen(paths.region)
      } catch (err) {
        throw new UnreachableError(`cannot open shared-memory ring pair ${init.name}: ${(err as Error).message}`, { cause: err })
      }
      checkOwnership(paths.region, region.uid, region.mode)
      const buffer = region.buffer
      if (buffer.byteLength < PAIR_HEADER_SIZE) throw new RingCorruptError('size', `region of ${buffer.byteLength} bytes`)
      const u32 = new Uint32Array(buffer, 0, PAIR_HEADER_SIZE >> 2)
      if (Atomics.load(u32, PairOffset.MAGIC >> 2) !== PAIR_MAGIC) throw new RingCorruptError('magic', 'bad pair magic')
      if (u32[PairOffset.VERSION >> 2] !== PAIR_VERSION) throw new RingCorruptError('version', `pair version ${u32[PairOffset.VERSION >> 2]}`)
      const state = Atomics.load(u32, PairOffset.STATE >> 2)
      if (state === PairState.INITIALIZING) throw new UnreachableError(`shared-memory ring pair ${init.name} is not ready yet`)
      if (state !== PairState.READY) throw new RingCorruptError('state', `pair state ${state}`)
      const capacity = u32[PairOffset.CAPACITY >> 2]
      if (!Number.isInteger(capacity) || capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
        throw new RingCorruptError('capacity', `pair capacity ${capacity}`)
      }
      if (init.capacity !== undefined && init.capacity !== capacity) {
        throw new RingCorruptError('capacity', `pair capacity ${capacity}, expected ${init.capacity}`)
      }
      if (buffer.byteLength !== pairByteLength(capacity)) {
        throw new RingCorruptError('size', `region of ${buffer.byteLength} bytes for capacity ${capacity}`)
      }
      for (const path of paths.bells) {
        let bell: NativeDoorbell
        try {
          bell = binding.doorbellOpen(path)
        } catch (err) {
          throw new UnreachableError(`cannot open doorbell ${path}: ${(err as Error).message}`, { cause: err })
        }
        bells.push(bell)
        checkOwnership(path, bell.uid, bell.mode)
      }
      const pair = new ShmRingPair({ side: 1, paths, region, ownBell: bells[1], peerBell: bells[0], capacity }, init)
      if (init.unlinkOnOpen ?? true) {
        unlinkQuietly(paths.region)
        for (const path of paths.bells) unlinkQuietly(path)
      }
      return pair
    } catch (err) {
      for (const b of bells) b.close()
      region?.close()
      throw err
    }
  }

  private constructor (parts: PairParts, init: ShmRingPairInit) {
    const idleSpinUs = init.idleSpinUs ?? DEFAULT_IDLE_SPIN_US
    const maxDrain = init.maxDrain ?? DEFAULT_MAX_DRAIN
    this.side = parts.side
    this.paths = parts.paths
    this.capacity = parts.capacity
    this.#region = parts.region
    this.#ownBell = parts.ownBell
    this.#peerBell = parts.peerBell
    this.#maxDrain = maxDrain
    const { onRecord, onRecordRaw } = init
    this.#onRecord = onRecordRaw ?? ((bytes, offset, length) => { onRecord!(bytes.subarray(offset, offset + length)) })
    this.#onDrain = init.onDrain
    this.#onWritable = init.onWritable
    this.#onPeerClose = init.onPeerClose
    this.#onError = init.onError ?? ((err) => { log.error('shared-memory ring pair %s: %s', init.name, err.message) })
    this.#schedule = init.schedule ?? setImmediate
    const buffer = parts.region.buffer
    this.#header = new Uint32Array(buffer, 0, PAIR_HEADER_SIZE >> 2)
    this.#headerF64 = new Float64Array(buffer, 0, PAIR_HEADER_SIZE >> 3)
    // Ring 0 carries creator → opener, ring 1 opener → creator.
    const out = parts.side === 0 ? 0 : 1
    this.#writer = new RingWriter(buffer, pairRingOffset(parts.capacity, out), parts.capacity)
    this.#reader = new RingReader(buffer, pairRingOffset(parts.capacity, out === 0 ? 1 : 0), parts.capacity)
    if (parts.side === 1) {
      this.#header[PairOffset.OPENER_PID >> 2] = process.pid
      this.#headerF64[PairOffset.OPENER_START >> 3] = ownStart()
    }
    this.#loop = new AdaptiveLoop({
      poll: () => this.#drain(),
      arm: () => this.#reader.prepareSleep(WakeKind.DOORBELL),
      idleUs: idleSpinUs,
      onError: (err) => { this.#fail(err) },
      schedule: init.schedule,
      now: init.now
    })
    this.#ownBell.watch((rings) => {
      if (rings >= 0) this.#onBell()
      else this.#fail(new Error(`doorbell poll failed (errno ${-rings}); the consumer cannot be woken`))
    })
    this.#loop.wake()
  }

  /** Largest record payload (half the capacity, less the length prefix). */
  get maxRecordSize (): number {
    return this.#writer.maxRecordSize
  }

  get closed (): boolean {
    return this.#closed
  }

  /** True while the consumer polls on every event-loop turn; false while it sleeps on the doorbell. */
  get hot (): boolean {
    return this.#loop.hot
  }

  /** The error that stopped this pair (corruption), if any. */
  get failure (): Error | undefined {
    return this.#failed
  }

  /** The peer's pid from the header (0 until an opener has attached). */
  get peerPid (): number {
    if (this.#closed) return 0
    return this.#header[(this.side === 0 ? PairOffset.OPENER_PID : PairOffset.CREATOR_PID) >> 2]
  }

  /** True once the peer has closed its side (an orderly close; a crash does not set it). */
  get peerClosed (): boolean {
    if (this.#closed) return true
    return (Atomics.load(this.#header, PairOffset.CLOSED >> 2) & (1 << (1 - this.side))) !== 0
  }

  /** False once the peer process is certainly gone (crashed without closing: its rings will never move again). */
  isPeerAlive (): boolean {
    if (this.#closed) return false
    const start = this.#headerF64[(this.side === 0 ? PairOffset.OPENER_START : PairOffset.CREATOR_START) >> 3]
    const pid = this.peerPid
    return pid === 0 ? true : isProcessAlive(pid, start)
  }

  stats (): ShmRingPairStats {
    return { ...this.#stats, sleeps: this.#loop.stats().sleeps }
  }

  /**
   * Copies one record into the outbound ring and publishes it. False when the ring is full:
   * `onWritable` fires once there is room. Throws ClosedError after close, RangeError over
   * `maxRecordSize`, {@link RingCorruptError} on a corrupt ring.
   */
  write (record: Uint8Array): boolean {
    this.#checkUsable()
    if (!this.#writer.write(record)) {
      this.#waitForSpace(record.byteLength)
      return false
    }
    this.#stats.written++
    this.#wakeReader()
    return true
  }

  /** Copies `records[start..end)` while they fit and publishes once; returns how many were written (fewer: see `onWritable`). */
  writeBatch (records: readonly Uint8Array[], start = 0, end = records.length): number {
    this.#checkUsable()
    const n = this.#writer.writeBatch(records, start, end)
    if (n > 0) {
      this.#stats.written += n
      this.#wakeReader()
    }
    if (start + n < end) this.#waitForSpace(records[start + n].byteLength)
    return n
  }

  /**
   * Reserves an outbound record of `length` bytes to fill in place (e.g. encode a frame straight
   * into shared memory); undefined when full (`onWritable` follows). Visible after {@link publish}.
   */
  claim (length: number): Uint8Array | undefined {
    this.#checkUsable()
    const view = this.#writer.claim(length)
    if (view === undefined) this.#waitForSpace(length)
    else this.#stats.written++
    return view
  }

  /** Publishes every claimed record and wakes the peer if it sleeps. */
  publish (): void {
    this.#checkUsable()
    this.#writer.publish()
    this.#wakeReader()
  }

  /** Stops the consumer, closes both doorbells, unmaps the region and unlinks the files. Idempotent. */
  close (): void {
    if (this.#closed) return
    // Tell the peer (it drains what we wrote, then hears onPeerClose), then release everything.
    try {
      Atomics.or(this.#header, PairOffset.CLOSED >> 2, 1 << this.side)
      this.#peerBell.ring()
    } catch (err) {
      log('could not signal the close to the peer: %s', (err as Error).message)
    }
    this.#closed = true
    this.#loop.stop()
    this.#ownBell.close()
    this.#peerBell.close()
    this.#region.close()
    unlinkQuietly(this.paths.region)
    for (const path of this.paths.bells) unlinkQuietly(path)
  }

  [Symbol.dispose] (): void {
    this.close()
  }

  #checkUsable (): void {
    if (this.#closed) throw new ClosedError('the shared-memory ring pair is closed')
    if (this.#failed !== undefined) throw this.#failed
  }

  #wakeReader (): void {
    const kind = this.#writer.takeReaderWake()
    if (kind === WakeKind.DOORBELL) {
      this.#peerBell.ring()
      this.#stats.wakesSent++
    } else if (kind === WakeKind.FUTEX) {
      this.#region.futexWake(this.#writer.readerSeqOffset, 1)
      this.#stats.wakesSent++
    }
  }

  #waitForSpace (length: number): void {
    if (this.#waitingFor >= 0) {
      this.#waitingFor = Math.max(this.#waitingFor, length)
      return
    }
    this.#stats.writerWaits++
    if (this.#writer.prepareWait(length, WakeKind.DOORBELL)) {
      this.#waitingFor = length
      return
    }
    // Room appeared while announcing the wait: report it on the next turn, not re-entrantly.
    this.#schedule(() => { this.#writable() })
  }

  #writable (): void {
    if (this.#closed || this.#failed !== undefined) return
    try {
      this.#onWritable?.()
    } catch (err) {
      this.#handlerError(err)
    }
  }

  /** One consumer turn: drain, report, and wake a writer waiting for the space just freed. */
  #drain (): number {
    if (this.#closed) return 0
    const n = this.#reader.drainRaw(this.#visit, this.#maxDrain)
    if (n < this.#maxDrain && !this.#peerCloseReported && !this.#closed && this.peerClosed && !this.#reader.hasData()) {
      // Everything the peer wrote before closing is delivered: report once, on the next turn.
      this.#peerCloseReported = true
      this.#schedule(() => {
        if (this.#closed) return
        try {
          this.#onPeerClose?.()
        } catch (err) {
          this.#handlerError(err)
        }
      })
    }
    if (n === 0 || this.#closed) return n
    this.#stats.read += n
    const kind = this.#reader.takeWriterWake()
    if (kind === WakeKind.DOORBELL) {
      this.#peerBell.ring()
      this.#stats.wakesSent++
    } else if (kind === WakeKind.FUTEX) {
      this.#region.futexWake(this.#reader.writerSeqOffset, 1)
      this.#stats.wakesSent++
    }
    if (this.#onDrain !== undefined) {
      try {
        this.#onDrain(n)
      } catch (err) {
        this.#handlerError(err)
      }
    }
    return n
  }

  /** Our doorbell rang: records for us, or room for our writer. */
  #onBell (): void {
    if (this.#closed || this.#failed !== undefined) return
    this.#stats.wakesReceived++
    try {
      if (this.#waitingFor >= 0) {
        const length = this.#waitingFor
        if (this.#writer.canWrite(length) || !this.#writer.prepareWait(length, WakeKind.DOORBELL)) {
          this.#writer.cancelWait()
          this.#waitingFor = -1
          this.#writable()
        }
      }
      if (!this.#loop.hot && !this.#closed) {
        this.#reader.cancelSleep()
        this.#loop.wake()
      }
    } catch (err) {
      this.#fail(err)
    }
  }

  #fail (err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#failed ??= error
    this.#loop.stop()
    try {
      this.#onError(error)
    } catch (e) {
      log.error('onError threw: %s', (e as Error).message)
    }
  }

  #handlerError (err: unknown): void {
    this.#stats.handlerErrors++
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)))
    } catch (e) {
      log.error('onError threw: %s', (e as Error).message)
    }
  }
}
