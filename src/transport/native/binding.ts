/**
 * The single loader of the native fast-path addon (`native/`, built by node-gyp on install) and
 * the typed declaration of everything it exports. Nothing else in kadmesh touches the addon:
 * wrappers (udp.ts, shm.ts) take a {@link NativeBinding} as a parameter, so tests hand them fakes.
 *
 * The addon is optional. {@link loadNativeBinding} never throws: without the addon (not built,
 * not Linux, stale build, disabled) it returns the reason, logs it once, and the mesh runs on QUIC.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'

const log = logger('kadmesh:transport:native')

/** The addon surface this code was written for; a build exporting another version is refused. */
export const NATIVE_ABI_VERSION = 1
/** Where node-gyp puts the addon, relative to the package root. */
export const NATIVE_ADDON_PATH = join('native', 'build', 'Release', 'kadmesh_native.node')

/** What the running addon supports. */
export interface NativeFeatures {
  /** N-API version of the running Node. */
  readonly napiVersion: number
  /** SO_BUSY_POLL was known at build time (the kernel may still refuse it; read `busyPollUs`). */
  readonly busyPoll: boolean
}

/** Options of {@link NativeBinding.udpOpen}: every field given (defaults are filled in TypeScript). */
export interface NativeUdpOpenOptions {
  /** IPv4 or IPv6 literal to bind (`127.0.0.1`, `::1`, `0.0.0.0`, `::`). */
  host: string
  /** 0 picks a free port. */
  port: number
  reusePort: boolean
  /** Requested SO_RCVBUF in bytes; 0 leaves the kernel default. The kernel doubles and clamps it. */
  rcvbuf: number
  /** Requested SO_SNDBUF in bytes; 0 leaves the kernel default. */
  sndbuf: number
  /** SO_BUSY_POLL in µs; 0 leaves it off. A kernel refusal is silent: read `busyPollUs` back. */
  busyPollUs: number
}

/**
 * A non-blocking UDP socket (`SOCK_NONBLOCK | SOCK_CLOEXEC`). Address records are
 * {@link NativeBinding.addressSize} bytes: see `address.ts`. Every method throws an Error with
 * code `ERR_KADMESH_CLOSED` after `close()`, except `close()` itself and `closed`/`fd`.
 */
export interface NativeUdpSocket {
  /** -1 once closed. */
  readonly fd: number
  readonly family: 4 | 6
  /** The bound port (getsockname). */
  readonly port: number
  /** Effective SO_RCVBUF, read back from the kernel (about twice the request, clamped by rmem_max). */
  readonly rcvbuf: number
  /** Effective SO_SNDBUF, read back from the kernel. */
  readonly sndbuf: number
  /** Effective SO_BUSY_POLL in µs. */
  readonly busyPollUs: number
  readonly closed: boolean
  connect (host: string, port: number): void
  /**
   * One `sendmmsg`: datagram i is the next `lengths[i]` bytes of `data`, sent to the i-th address
   * record of `to`, or to the connected peer when `to` is null. `count` ≤ {@link NativeBinding.maxBatch}.
   * Returns how many datagrams the kernel accepted, or `-errno` when it accepted none
   * (`-EAGAIN`: send buffer full; anything else: the first datagram failed).
   */
  sendBatch (data: Uint8Array, lengths: Uint32Array, count: number, to: Uint8Array | null): number
  /**
   * Watches the socket with uv_poll. On readable, up to `maxBatchesPerWake` `recvmmsg` calls fill
   * `slots` (`maxBatch` slots of `slotSize` bytes), `lengths` and `from` (address records, bit 0
   * of byte 1 = truncated), calling `onBatch(count, false)` after each; `count < 0` is `-errno` of
   * a failed call. The buffers are reused once `onBatch` returns. `onBatch(-errno, true)`: receiving
   * stopped (the poll failed, or the buffers were detached); `startRecv` may be called again.
   */
  startRecv (slots: Uint8Array, slotSize: number, lengths: Uint32Array, from: Uint8Array, maxBatch: number,
    maxBatchesPerWake: number, onBatch: (count: number, stopped: boolean) => void): void
  /** Stops watching (idempotent); `startRecv` may be called again. */
  stopRecv (): void
  /** One non-blocking `recvmmsg` into the buffers: the count, 0 when nothing is queued, or `-errno`. */
  recvInto (slots: Uint8Array, slotSize: number, lengths: Uint32Array, from: Uint8Array, max: number): number
  /** Stops receiving and closes the fd. Idempotent. */
  close (): void
}

/** Result of {@link NativeShmRegion.futexWait}, as `Atomics.wait` spells it. `ok` may be spurious. */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out'

/** A `MAP_SHARED` mapping of a file (its fd is closed right after `mmap`). */
export interface NativeShmRegion {
  /**
   * An external, non-shared ArrayBuffer over the mapping (non-shared: bulk copies are ~3.4×
   * faster than through a SharedArrayBuffer). Detached by `close()`; throws once closed.
   */
  readonly buffer: ArrayBuffer
  /** The mapped size (the file's size); 0 once closed. */
  readonly byteLength: number
  /** Owner uid and permission bits of the file, from `fstat` of the opened fd. */
  readonly uid: number
  readonly mode: number
  readonly closed: boolean
  /** Adds `increment` to the u32 at `byteOffset`, then `FUTEX_WAKE` (process-shared). Returns how many woke. */
  futexWake (byteOffset: number, increment: number): number
  /** Blocking `FUTEX_WAIT` while the u32 at `byteOffset` equals `expected`. Worker threads only. `Infinity` = no timeout. */
  futexWait (byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult
  /** Detaches `buffer` (every view over it becomes empty), then unmaps. Idempotent. */
  close (): void
}

/** A FIFO doorbell opened `O_RDWR | O_NONBLOCK`: one process rings it, the other watches it. */
export interface NativeDoorbell {
  readonly fd: number
  readonly uid: number
  readonly mode: number
  readonly closed: boolean
  /** Writes one byte: true, or false when the FIFO is full (a wake-up is pending anyway). */
  ring (): boolean
  /** Reads every pending byte; returns how many. */
  drain (): number
  /**
   * uv_poll on the fd: on readable, drains it, then calls `onRing(bytesDrained)`. Replaces an
   * earlier callback. `onRing(-errno)`: the poll failed and watching stopped.
   */
  watch (onRing: (rings: number) => void): void
  /** Stops watching (idempotent). */
  unwatch (): void
  /** Stops watching and closes the fd; the file is unlinked by the caller. Idempotent. */
  close (): void
}

/** Everything the addon exports. */
export interface NativeBinding {
  readonly abiVersion: number
  /** Bytes per address record in `to`/`from` buffers (24). */
  readonly addressSize: number
  /** Most datagrams per `sendBatch`/`recvmmsg` call (1024, UIO_MAXIOV). */
  readonly maxBatch: number
  features (): NativeFeatures
  udpOpen (options: NativeUdpOpenOptions): NativeUdpSocket
  /** Creates `path` exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), sizes it, maps it. */
  shmCreate (path: string, byteLength: number): NativeShmRegion
  /** Opens and maps an existing file (`O_NOFOLLOW`); the caller checks `uid`/`mode`/`byteLength`. */
  shmOpen (path: string): NativeShmRegion
  /** `mkfifo(path, 0600)` (fails if it exists), then opens it. */
  doorbellCreate (path: string): NativeDoorbell
  /** Opens an existing FIFO (refuses anything else); the caller checks `uid`/`mode`. */
  doorbellOpen (path: string): NativeDoorbell
}

/** Outcome of {@link loadNativeBinding}: the binding, or why there is none. */
export interface NativeBindingResult {
  binding?: NativeBinding
  reason?: string
}

export interface LoadNativeBindingOptions {
  /** Load this file instead of searching (tests, unusual layouts). Not cached. */
  path?: string
  /** Environment to read `KADMESH_NATIVE` / `KADMESH_NATIVE_PATH` from (default `process.env`). */
  env?: Record<string, string | undefined>
  /** Platform to assume (default `process.platform`). */
  platform?: string
}

let cached: NativeBindingResult | undefined

/**
 * Loads the addon once per process (cached) and logs once if it is unavailable. Never throws.
 *
 * - `KADMESH_NATIVE=0` (or `off`/`false`) disables it.
 * - `KADMESH_NATIVE_PATH=/path/kadmesh_native.node` loads that file.
 * - Otherwise `native/build/Release/kadmesh_native.node` is searched upwards from this module
 *   (it is at the package root both from `src/` under vitest and from `dist/src/`).
 *
 * @example
 * ```ts
 * const { binding, reason } = loadNativeBinding()
 * if (binding === undefined) useQuicOnly(reason)
 * ```
 */
export function loadNativeBinding (options: LoadNativeBindingOptions = {}): NativeBindingResult {
  if (options.path === undefined && options.env === undefined && options.platform === undefined && cached !== undefined) return cached
  const { result, broken } = tryLoad(options)
  if (options.path !== undefined || options.env !== undefined || options.platform !== undefined) return result
  cached = result
  if (result.binding !== undefined) {
    log('native fast path loaded (abi %d, napi %d)', result.binding.abiVersion, result.binding.features().napiVersion)
  } else if (broken) {
    // A build exists but cannot be used: worth an error line, not just a debug one.
    log.error('native fast path unavailable, using QUIC only: %s', result.reason)
  } else {
    log('native fast path unavailable, using QUIC only: %s', result.reason)
  }
  return result
}

/** Forgets the cached result (tests only). */
export function resetNativeBindingCache (): void {
  cached = undefined
}

function tryLoad (options: LoadNativeBindingOptions): { result: NativeBindingResult, broken: boolean } {
  const env = options.env ?? process.env
  const platform = options.platform ?? process.platform
  const switchValue = env.KADMESH_NATIVE?.toLowerCase()
  if (switchValue === '0' || switchValue === 'off' || switchValue === 'false') {
    return { result: { reason: 'disabled by KADMESH_NATIVE' }, broken: false }
  }
  if (platform !== 'linux') {
    return { result: { reason: `the native fast path is Linux-only (platform ${platform})` }, broken: false }
  }
  const path = options.path ?? resolveNativeAddonPath(env)
  if (path === undefined) {
    const reason = `the addon is not built (no ${NATIVE_ADDON_PATH}; npm install runs node-gyp, see docs/native.md)`
    return { result: { reason }, broken: false }
  }
  let raw: unknown
  try {
    raw = createRequire(import.meta.url)(path)
  } catch (err) {
    return { result: { reason: `the addon at ${path} failed to load: ${(err as Error).message}` }, broken: true }
  }
  const problem = checkShape(raw)
  if (problem !== undefined) return { result: { reason: `the addon at ${path} ${problem}` }, broken: true }
  return { result: { binding: raw as NativeBinding }, broken: false }
}

/**
 * Where the addon would be loaded from (`KADMESH_NATIVE_PATH`, else the build output found from
 * this module), or undefined. Worker threads that block in `futexWait` `require()` this path.
 */
export function resolveNativeAddonPath (env: Record<string, string | undefined> = process.env): string | undefined {
  return env.KADMESH_NATIVE_PATH ?? findAddon()
}

function findAddon (): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, NATIVE_ADDON_PATH)
    if (existsSync(candidate)) return candidate
    const parent = resolve(dir, '..')
    if (parent === dir) break
    dir = parent
  }
  return undefined
}

const FUNCTIONS = ['features', 'udpOpen', 'shmCreate', 'shmOpen', 'doorbellCreate', 'doorbellOpen'] as const

/** A light check that the module is the addon this file declares (a stale build is refused). */
function checkShape (raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'exports no object'
  const mod = raw as Record<string, unknown>
  if (mod.abiVersion !== NATIVE_ABI_VERSION) {
    return `has ABI version ${String(mod.abiVersion)}, expected ${NATIVE_ABI_VERSION} (stale build: run npm rebuild kadmesh)`
  }
  for (const name of FUNCTIONS) {
    if (typeof mod[name] !== 'function') return `does not export ${name}()`
  }
  if (typeof mod.addressSize !== 'number' || typeof mod.maxBatch !== 'number') return 'lacks its constants'
  return undefined
}
