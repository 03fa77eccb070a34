/**
 * An in-memory stand-in for the addon, so the wrappers' logic is tested without it: UDP sockets on
 * a fake loopback network, shared-memory regions as one ArrayBuffer shared by both "processes",
 * doorbells that call their watcher on the next turn.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import type {
  FutexWaitResult, NativeBinding, NativeDoorbell, NativeShmRegion, NativeUdpOpenOptions, NativeUdpSocket
} from '../../../src/transport/native/binding.js'
import { ADDRESS_SIZE, encodeAddress, formatAddress } from '../../../src/transport/native/address.js'

function errnoError (code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall}: ${code}`), { code, errno: osConstants.errno[code as keyof typeof osConstants.errno], syscall })
}

interface Queued { data: Uint8Array, from: Uint8Array }

export class FakeUdpSocket implements NativeUdpSocket {
  fd: number
  readonly family: 4 | 6
  readonly host: string
  readonly boundPort: number
  readonly options: NativeUdpOpenOptions
  readonly queue: Queued[] = []
  closed = false
  connectedTo: { host: string, port: number } | undefined
  /** Set to make the next sendBatch calls return this (e.g. -EAGAIN), one value per call. */
  readonly sendResults: number[] = []
  readonly sendCalls: Array<{ lengths: number[], to: Array<{ address: string, port: number }> | null }> = []
  #recv: { slots: Uint8Array, slotSize: number, lengths: Uint32Array, from: Uint8Array, max: number, perWake: number, onBatch: (n: number, stopped: boolean) => void } | undefined
  #scheduled = false
  readonly #net: FakeNetwork

  constructor (net: FakeNetwork, options: NativeUdpOpenOptions) {
    this.#net = net
    this.options = options
    this.host = options.host
    this.family = options.host.includes(':') ? 6 : 4
    this.boundPort = options.port === 0 ? net.nextPort++ : options.port
    this.fd = net.nextFd++
    net.sockets.set(this.boundPort, this)
  }

  get port (): number { this.#check(); return this.boundPort }
  get rcvbuf (): number { this.#check(); return this.options.rcvbuf * 2 }
  get sndbuf (): number { this.#check(); return this.options.sndbuf * 2 }
  get busyPollUs (): number { this.#check(); return this.options.busyPollUs }

  #check (): void {
    if (this.closed) throw Object.assign(new Error('UDP socket is closed'), { code: 'ERR_KADMESH_CLOSED' })
  }

  connect (host: string, port: number): void {
    this.#check()
    this.connectedTo = { host, port }
  }

  sendBatch (data: Uint8Array, lengths: Uint32Array, count: number, to: Uint8Array | null): number {
    this.#check()
    const forced = this.sendResults.shift()
    const call = { lengths: Array.from(lengths.subarray(0, count)), to: to === null ? null : [] as Array<{ address: string, port: number }> }
    for (let i = 0; i < count && to !== null; i++) {
      call.to!.push({ address: formatAddress(to, i * ADDRESS_SIZE), port: (to[i * ADDRESS_SIZE + 2] << 8) | to[i * ADDRESS_SIZE + 3] })
    }
    this.sendCalls.push(call)
    const n = forced === undefined ? count : forced
    let offset = 0
    for (let i = 0; i < Math.max(0, n); i++) {
      const bytes = data.slice(offset, offset + lengths[i])
      offset += lengths[i]
      const port = to === null ? this.connectedTo!.port : (to[i * ADDRESS_SIZE + 2] << 8) | to[i * ADDRESS_SIZE + 3]
      const from = new Uint8Array(ADDRESS_SIZE)
      encodeAddress(this.host, this.boundPort, from, 0)
      this.#net.sockets.get(port)?.deliver(bytes, from)
    }
    return n
  }

  deliver (data: Uint8Array, from: Uint8Array): void {
    if (this.closed) return
    this.queue.push({ data, from })
    this.#kick()
  }

  #kick (): void {
    if (this.#recv === undefined || this.#scheduled || this.queue.length === 0) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const r = this.#recv
      for (let b = 0; r !== undefined && r === this.#recv && b < r.perWake && this.queue.length > 0; b++) {
        const n = this.recvInto(r.slots, r.slotSize, r.lengths, r.from, r.max)
        r.onBatch(n, false)
      }
      this.#kick()
    })
  }

  startRecv (slots: Uint8Array, slotSize: number, lengths: Uint32Array, from: Uint8Array, maxBatch: number,
    maxBatchesPerWake: number, onBatch: (count: number, stopped: boolean) => void): void {
    this.#check()
    if (this.#recv !== undefined) throw new Error('already receiving')
    this.#recv = { slots, slotSize, lengths, from, max: maxBatch, perWake: maxBatchesPerWake, onBatch }
    this.#kick()
  }

  stopRecv (): void {
    this.#recv = undefined
  }

  get receiving (): boolean {
    return this.#recv !== undefined
  }

  recvInto (slots: Uint8Array, slotSize: number, lengths: Uint32Array, from: Uint8Array, max: number): number {
    this.#check()
    let n = 0
    while (n < max && this.queue.length > 0) {
      const q = this.queue.shift()!
      const len = Math.min(q.data.byteLength, slotSize)
      slots.set(q.data.subarray(0, len), n * slotSize)
      lengths[n] = len
      from.set(q.from, n * ADDRESS_SIZE)
      from[n * ADDRESS_SIZE + 1] = q.data.byteLength > slotSize ? 1 : 0
      n++
    }
    return n
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.fd = -1
    this.#recv = undefined
    this.#net.sockets.delete(this.boundPort)
  }
}

export interface FakeNetwork {
  sockets: Map<number, FakeUdpSocket>
  nextPort: number
  nextFd: number
}

export class FakeRegion implements NativeShmRegion {
  readonly #buffer: ArrayBuffer
  closed = false
  uid: number
  mode: number
  wakes = 0

  constructor (buffer: ArrayBuffer, uid: number, mode: number) {
    this.#buffer = buffer
    this.uid = uid
    this.mode = mode
  }

  get buffer (): ArrayBuffer {
    if (this.closed) throw Object.assign(new Error('shared-memory region is closed'), { code: 'ERR_KADMESH_CLOSED' })
    return this.#buffer
  }

  get byteLength (): number { return this.closed ? 0 : this.#buffer.byteLength }

  futexWake (byteOffset: number, increment: number): number {
    const w = new Uint32Array(this.#buffer, byteOffset, 1)
    Atomics.add(w, 0, increment)
    this.wakes++
    return 0
  }

  futexWait (): FutexWaitResult {
    return 'not-equal'
  }

  close (): void {
    this.closed = true
  }
}

interface BellState { pending: number, watchers: Set<FakeDoorbell>, scheduled: boolean }

export class FakeDoorbell implements NativeDoorbell {
  readonly fd = 100
  readonly uid: number
  readonly mode: number
  closed = false
  rings = 0
  #onRing: ((n: number) => void) | undefined
  readonly #state: BellState

  constructor (state: BellState, uid: number, mode: number) {
    this.#state = state
    this.uid = uid
    this.mode = mode
  }

  ring (): boolean {
    if (this.closed) throw Object.assign(new Error('doorbell is closed'), { code: 'ERR_KADMESH_CLOSED' })
    this.rings++
    this.#state.pending++
    this.#schedule()
    return true
  }

  #schedule (): void {
    const s = this.#state
    if (s.scheduled || s.pending === 0) return
    const watcher = [...s.watchers].find(w => w.#onRing !== undefined)
    if (watcher === undefined) return
    s.scheduled = true
    setImmediate(() => {
      s.scheduled = false
      const n = s.pending
      s.pending = 0
      if (!watcher.closed && watcher.#onRing !== undefined) watcher.#onRing(n)
    })
  }

  drain (): number {
    const n = this.#state.pending
    this.#state.pending = 0
    return n
  }

  watch (onRing: (rings: number) => void): void {
    if (this.closed) throw Object.assign(new Error('doorbell is closed'), { code: 'ERR_KADMESH_CLOSED' })
    this.#onRing = onRing
    this.#schedule()
  }

  unwatch (): void {
    this.#onRing = undefined
  }

  close (): void {
    this.closed = true
    this.#onRing = undefined
    this.#state.watchers.delete(this)
  }
}

/** A fake binding plus handles for tests to inspect and tamper with. */
export interface FakeBinding extends NativeBinding {
  net: FakeNetwork
  udpSockets: FakeUdpSocket[]
  regions: Map<string, ArrayBuffer>
  bells: Map<string, BellState>
  openedRegions: FakeRegion[]
  openedBells: FakeDoorbell[]
  /** uid/mode reported for files opened from now on. */
  fileOwner: { uid: number, mode: number }
}

export function fakeBinding (): FakeBinding {
  const uid = process.geteuid?.() ?? 0
  const fake: FakeBinding = {
    abiVersion: 1,
    addressSize: ADDRESS_SIZE,
    maxBatch: 1024,
    net: { sockets: new Map(), nextPort: 40_000, nextFd: 10 },
    udpSockets: [],
    regions: new Map(),
    bells: new Map(),
    openedRegions: [],
    openedBells: [],
    fileOwner: { uid, mode: 0o600 },
    features: () => ({ napiVersion: 10, busyPoll: true }),
    udpOpen (options) {
      const s = new FakeUdpSocket(fake.net, options)
      fake.udpSockets.push(s)
      return s
    },
    // Regions and doorbells also exist as (empty) files, so unlinking them with fs is observed.
    shmCreate (path, byteLength) {
      if (existsSync(path)) throw errnoError('EEXIST', 'open')
      writeFileSync(path, '', { mode: 0o600 })
      const buffer = new ArrayBuffer(byteLength)
      fake.regions.set(path, buffer)
      const r = new FakeRegion(buffer, uid, 0o600)
      fake.openedRegions.push(r)
      return r
    },
    shmOpen (path) {
      const buffer = fake.regions.get(path)
      if (buffer === undefined || !existsSync(path)) throw errnoError('ENOENT', 'open')
      const r = new FakeRegion(buffer, fake.fileOwner.uid, fake.fileOwner.mode)
      fake.openedRegions.push(r)
      return r
    },
    doorbellCreate (path) {
      if (existsSync(path)) throw errnoError('EEXIST', 'mkfifo')
      writeFileSync(path, '', { mode: 0o600 })
      const state: BellState = { pending: 0, watchers: new Set(), scheduled: false }
      fake.bells.set(path, state)
      const b = new FakeDoorbell(state, uid, 0o600)
      state.watchers.add(b)
      fake.openedBells.push(b)
      return b
    },
    doorbellOpen (path) {
      const state = fake.bells.get(path)
      if (state === undefined || !existsSync(path)) throw errnoError('ENOENT', 'open')
      const b = new FakeDoorbell(state, fake.fileOwner.uid, fake.fileOwner.mode)
      state.watchers.add(b)
      fake.openedBells.push(b)
      return b
    }
  }
  return fake
}

/**
 * Waits for `predicate` across event-loop turns (setImmediate), at most `turns` of them: waiting for
 * an event driven by the loop, not sleeping. Throws if it never holds.
 */
export async function untilTurn (predicate: () => boolean, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (predicate()) return
    await new Promise<void>(resolve => setImmediate(resolve))
  }
  throw new Error(`condition not reached within ${turns} event-loop turns`)
}
