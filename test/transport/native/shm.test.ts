import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ClosedError, ForbiddenError, InvalidOptionsError, UnreachableError } from '../../../src/errors.js'
import { RingCorruptError } from '../../../src/errors.js'
import { RingOffset } from '../../../src/transport/native/ring.js'
import {
  cleanStale, isProcessAlive, PAIR_HEADER_SIZE, PAIR_MAGIC, PairOffset, pairByteLength, pairRingOffset, shmPaths, ShmRingPair
} from '../../../src/transport/native/shm.js'
import type { ShmRingPairInit } from '../../../src/transport/native/shm.js'
import { fakeBinding, untilTurn } from './fake-binding.js'

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kadmesh-shm-test-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

function seqRecord (seq: number): Uint8Array {
  const r = new Uint8Array(4 + (seq % 50))
  new DataView(r.buffer).setUint32(0, seq)
  r.fill(seq & 0xff, 4)
  return r
}

function init (overrides: Partial<ShmRingPairInit> = {}): ShmRingPairInit {
  return { name: 'pair-1', dir, capacity: 4096, onRecord: () => {}, ...overrides }
}

describe('ShmRingPair over a fake binding', () => {
  it('exchanges records both ways in order, through full rings and wrap-around', async () => {
    const binding = fakeBinding()
    const count = 2000
    const got: [number[], number[]] = [[], []]
    const next = [0, 0]
    const pairs: ShmRingPair[] = []
    const pump = (side: 0 | 1): void => {
      while (next[side] < count && pairs[side].write(seqRecord(next[side]))) next[side]++
    }
    const mk = (side: 0 | 1): ShmRingPairInit => init({
      onRecord: (r) => { got[side].push(new DataView(r.buffer, r.byteOffset).getUint32(0)) },
      onWritable: () => { pump(side) }
    })
    pairs.push(ShmRingPair.create(binding, mk(0)))
    pairs.push(ShmRingPair.open(binding, mk(1)))
    pump(0)
    pump(1)
    await untilTurn(() => got[0].length === count && got[1].length === count)
    const expected = Array.from({ length: count }, (_, i) => i)
    expect(got[0]).toEqual(expected)
    expect(got[1]).toEqual(expected)
    expect(pairs[0].stats().writerWaits).toBeGreaterThan(0)
    expect(pairs[0].peerPid).toBe(process.pid)
    for (const p of pairs) p.close()
  })

  it('puts an idle consumer to sleep and wakes it with one doorbell ring', async () => {
    const binding = fakeBinding()
    const got: number[] = []
    const a = ShmRingPair.create(binding, init({ idleSpinUs: 0 }))
    const b = ShmRingPair.open(binding, init({ idleSpinUs: 0, onRecord: (r) => { got.push(r[0]) } }))
    await untilTurn(() => !a.hot && !b.hot)
    expect(a.write(new Uint8Array([7]))).toBe(true)
    expect(a.write(new Uint8Array([8]))).toBe(true)
    expect(a.stats().wakesSent).toBe(1) // the second write found the consumer already woken
    await untilTurn(() => got.length === 2)
    expect(got).toEqual([7, 8])
    expect(b.stats().wakesReceived).toBe(1)
    expect(b.stats().sleeps).toBeGreaterThanOrEqual(1)
    a.close()
    b.close()
  })

  it('never rings while the consumer is hot', async () => {
    const binding = fakeBinding()
    let got = 0
    const a = ShmRingPair.create(binding, init())
    const b = ShmRingPair.open(binding, init({ idleSpinUs: Infinity, onRecord: () => { got++ } }))
    for (let i = 0; i < 100; i++) a.write(new Uint8Array(8))
    await untilTurn(() => got === 100)
    expect(a.stats().wakesSent).toBe(0)
    a.close()
    b.close()
  })

  it('reports a corrupt inbound ring through onError and refuses further use', async () => {
    const binding = fakeBinding()
    const errors: Error[] = []
    const a = ShmRingPair.create(binding, init())
    const b = ShmRingPair.open(binding, init({ onError: (e) => { errors.push(e) } }))
    const region = binding.regions.get(a.paths.region)!
    // Ring 0 is a → b: make its head impossible.
    new Uint32Array(region, pairRingOffset(4096, 0) + RingOffset.HEAD, 1)[0] = 12345
    await untilTurn(() => errors.length > 0)
    expect(errors[0]).toBeInstanceOf(RingCorruptError)
    expect(b.failure).toBe(errors[0])
    expect(() => b.write(new Uint8Array(1))).toThrow(RingCorruptError)
    a.close()
    b.close()
  })

  it('validates the header before opening', () => {
    const binding = fakeBinding()
    const a = ShmRingPair.create(binding, init())
    const region = binding.regions.get(a.paths.region)!
    const u32 = new Uint32Array(region, 0, PAIR_HEADER_SIZE / 4)
    const cases: Array<[number, number, string]> = [
      [PairOffset.MAGIC, 1, 'magic'], [PairOffset.VERSION, 2, 'version'], [PairOffset.STATE, 7, 'state'],
      [PairOffset.CAPACITY, 3000, 'capacity'], [PairOffset.CAPACITY, 8192, 'size']
    ]
    for (const [offset, value, field] of cases) {
      const saved = u32[offset / 4]
      u32[offset / 4] = value
      expect(() => ShmRingPair.open(binding, init({ capacity: undefined })), field).toThrow(expect.objectContaining({ name: 'RingCorruptError', field }))
      u32[offset / 4] = saved
    }
    u32[PairOffset.STATE / 4] = 0
    expect(() => ShmRingPair.open(binding, init())).toThrow(UnreachableError)
    u32[PairOffset.STATE / 4] = 1
    expect(() => ShmRingPair.open(binding, init({ capacity: 8192 }))).toThrow(RingCorruptError)
    // Ring headers are validated too.
    new Uint32Array(region, pairRingOffset(4096, 1), 1)[0] = 0
    expect(() => ShmRingPair.open(binding, init())).toThrow(expect.objectContaining({ field: 'magic' }))
    // Every failed open released what it had opened.
    expect(binding.openedRegions.filter(r => !r.closed)).toHaveLength(1)
    expect(binding.openedBells.filter(b => !b.closed)).toHaveLength(2)
    a.close()
  })

  it('refuses files of another user or with group/other permissions', () => {
    const binding = fakeBinding()
    const a = ShmRingPair.create(binding, init())
    binding.fileOwner.mode = 0o644
    expect(() => ShmRingPair.open(binding, init())).toThrow(ForbiddenError)
    binding.fileOwner.mode = 0o600
    binding.fileOwner.uid += 1
    expect(() => ShmRingPair.open(binding, init())).toThrow(ForbiddenError)
    a.close()
  })

  it('maps missing files and names in use to UnreachableError, bad options to InvalidOptionsError', () => {
    const binding = fakeBinding()
    expect(() => ShmRingPair.open(binding, init())).toThrow(UnreachableError)
    const a = ShmRingPair.create(binding, init())
    expect(() => ShmRingPair.create(binding, init())).toThrow(UnreachableError)
    expect(() => ShmRingPair.create(binding, init({ name: '../x' }))).toThrow(InvalidOptionsError)
    expect(() => ShmRingPair.create(binding, init({ name: 'other', capacity: 1000 }))).toThrow(InvalidOptionsError)
    expect(() => ShmRingPair.create(binding, init({ name: 'other', idleSpinUs: -1 }))).toThrow(InvalidOptionsError)
    // The failed create cleaned up after itself: the name is free again.
    ShmRingPair.create(binding, init({ name: 'other' })).close()
    a.close()
  })

  it('close is idempotent, releases everything, and use after close throws ClosedError', () => {
    const binding = fakeBinding()
    const a = ShmRingPair.create(binding, init())
    a.close()
    a.close()
    expect(binding.openedRegions.every(r => r.closed)).toBe(true)
    expect(binding.openedBells.every(b => b.closed)).toBe(true)
    expect(() => a.write(new Uint8Array(1))).toThrow(ClosedError)
    expect(() => a.claim(1)).toThrow(ClosedError)
    expect(a.isPeerAlive()).toBe(false)
  })

  it('delivers records without views through onRecordRaw, and wants exactly one record handler', async () => {
    const binding = fakeBinding()
    const got: number[][] = []
    const a = ShmRingPair.create(binding, init())
    const b = ShmRingPair.open(binding, { name: 'pair-1', dir, onRecordRaw: (bytes, offset, length) => { got.push([...bytes.subarray(offset, offset + length)]) } })
    a.writeBatch([new Uint8Array([1, 2]), new Uint8Array([3])])
    await untilTurn(() => got.length === 2)
    expect(got).toEqual([[1, 2], [3]])
    expect(() => ShmRingPair.create(binding, { name: 'x', dir })).toThrow(InvalidOptionsError)
    expect(() => ShmRingPair.create(binding, { name: 'x', dir, onRecord: () => {}, onRecordRaw: () => {} })).toThrow(InvalidOptionsError)
    expect(existsSync(join(dir, 'kadmesh-x.ring'))).toBe(false)
    a.close()
    b.close()
  })

  it('tells the peer about an orderly close after it drained what was written before', async () => {
    const binding = fakeBinding()
    const events: string[] = []
    const a = ShmRingPair.create(binding, init())
    const b = ShmRingPair.open(binding, init({
      idleSpinUs: 0,
      onRecord: (r) => { events.push(`record ${r[0]}`) },
      onPeerClose: () => { events.push('peer closed') }
    }))
    await untilTurn(() => !b.hot)
    a.write(new Uint8Array([1]))
    a.write(new Uint8Array([2]))
    a.close()
    await untilTurn(() => events.length === 3)
    expect(events).toEqual(['record 1', 'record 2', 'peer closed'])
    expect(b.peerClosed).toBe(true)
    b.close()
  })

  it('claims records in place and publishes them together', async () => {
    const binding = fakeBinding()
    const got: number[][] = []
    const a = ShmRingPair.create(binding, init())
    const b = ShmRingPair.open(binding, init({ onRecord: (r) => { got.push([...r]) } }))
    a.claim(2)!.set([1, 2])
    a.claim(1)!.set([3])
    a.publish()
    await untilTurn(() => got.length === 2)
    expect(got).toEqual([[1, 2], [3]])
    a.close()
    b.close()
  })
})

describe('cleanStale', () => {
  function writeRegion (name: string, creator: number, opener = 0, magic = PAIR_MAGIC): string {
    const buf = new ArrayBuffer(64)
    const u32 = new Uint32Array(buf)
    u32[PairOffset.MAGIC / 4] = magic
    u32[PairOffset.VERSION / 4] = 1
    u32[PairOffset.CREATOR_PID / 4] = creator
    u32[PairOffset.OPENER_PID / 4] = opener
    const path = join(dir, name)
    writeFileSync(path, new Uint8Array(buf), { mode: 0o600 })
    return path
  }

  it('removes the files of pairs whose owners are all dead, and nothing else', () => {
    const dead = 2 ** 22 + 12345 // above the default pid_max
    expect(isProcessAlive(dead)).toBe(false)
    expect(isProcessAlive(process.pid)).toBe(true)
    const stale = writeRegion('kadmesh-a.ring', dead)
    writeFileSync(join(dir, 'kadmesh-a.bell0'), '')
    writeFileSync(join(dir, 'kadmesh-a.bell1'), '')
    const live = writeRegion('kadmesh-b.ring', dead, process.pid)
    const other = writeRegion('other-c.ring', dead)
    const removed = cleanStale('kadmesh-', { dir })
    expect(removed.sort()).toEqual([stale, join(dir, 'kadmesh-a.bell0'), join(dir, 'kadmesh-a.bell1')].sort())
    expect(existsSync(live)).toBe(true)
    expect(existsSync(other)).toBe(true)
  })

  it('removes headerless files and orphan doorbells only once they are old', () => {
    const young = writeRegion('kadmesh-y.ring', 0, 0, 0)
    const old = writeRegion('kadmesh-o.ring', 0, 0, 0)
    const bell = join(dir, 'kadmesh-z.bell1')
    writeFileSync(bell, '')
    const past = new Date(Date.now() - 60_000)
    utimesSync(old, past, past)
    utimesSync(bell, past, past)
    expect(cleanStale('kadmesh-', { dir, minAgeMs: 10_000 }).sort()).toEqual([bell, old].sort())
    expect(existsSync(young)).toBe(true)
  })

  it('uses the injected liveness check and tolerates a missing directory', () => {
    writeRegion('kadmesh-p.ring', 42)
    expect(cleanStale('kadmesh-', { dir, isAlive: () => true })).toEqual([])
    expect(cleanStale('kadmesh-', { dir, isAlive: (pid) => pid !== 42 })).toHaveLength(1)
    expect(cleanStale('kadmesh-', { dir: join(dir, 'missing') })).toEqual([])
  })

  it('derives file names from the pair name and prefix', () => {
    expect(shmPaths('x', { dir: '/d', prefix: 'p-' })).toEqual({ region: '/d/p-x.ring', bells: ['/d/p-x.bell0', '/d/p-x.bell1'] })
    expect(() => shmPaths('a/b')).toThrow(InvalidOptionsError)
    expect(() => shmPaths('x', { prefix: '' })).toThrow(InvalidOptionsError)
    expect(pairByteLength(4096)).toBe(256 + 2 * (256 + 4096))
  })
})
