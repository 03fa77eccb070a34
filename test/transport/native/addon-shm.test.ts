/**
 * The real addon: shared-memory regions, futex, doorbells, and a ring pair between this process
 * and a child process. Skipped only when the addon is not built.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { resolveNativeAddonPath } from '../../../src/transport/native/binding.js'
import { cleanStale, defaultShmDir, ShmRingPair } from '../../../src/transport/native/shm.js'
import type { ShmRingPairStats } from '../../../src/transport/native/shm.js'
import { hasNative, native } from './native-env.js'

const HOOKS = pathToFileURL(fileURLToPath(new URL('./fixtures/ts-hooks.mjs', import.meta.url))).href
const PEER = fileURLToPath(new URL('./fixtures/shm-peer.ts', import.meta.url))

let dir: string
const children = new Set<ChildProcess>()

beforeAll(() => { dir = mkdtempSync(join(defaultShmDir(), 'kadmesh-test-')) })
afterEach(() => {
  // Anything a failed test left running, by PID.
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
    } catch {} // it exited meanwhile
  }
  children.clear()
})
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

interface PeerMessage { type: string, message?: string, received?: number, bad?: number, stats?: ShmRingPairStats, paths?: { region: string, bells: string[] } }

function spawnPeer (...args: string[]): { child: ChildProcess, next: (type: string) => Promise<PeerMessage>, exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', HOOKS, PEER, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.add(child)
  const inbox: PeerMessage[] = []
  const waiters: Array<{ type: string, resolve: (m: PeerMessage) => void, reject: (e: Error) => void }> = []
  const exited = new Promise<number | null>(resolve => child.once('exit', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`peer exited (${code}) before sending ${w.type}`))
    resolve(code)
  }))
  child.on('message', (m: PeerMessage) => {
    if (m.type === 'error') {
      for (const w of waiters.splice(0)) w.reject(new Error(`peer: ${m.message}`))
      return
    }
    const i = waiters.findIndex(w => w.type === m.type)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m)
    else inbox.push(m)
  })
  const next = async (type: string): Promise<PeerMessage> => {
    const i = inbox.findIndex(m => m.type === type)
    if (i >= 0) return inbox.splice(i, 1)[0]
    return await new Promise((resolve, reject) => waiters.push({ type, resolve, reject }))
  }
  return { child, next, exited }
}

function record (seq: number): Uint8Array {
  const r = new Uint8Array(4 + (seq % 61))
  new DataView(r.buffer).setUint32(0, seq)
  for (let i = 4; i < r.length; i++) r[i] = (seq + i) & 0xff
  return r
}

async function turns (predicate: () => boolean, max = 100_000): Promise<void> {
  for (let i = 0; i < max && !predicate(); i++) await new Promise<void>(resolve => setImmediate(resolve))
  expect(predicate()).toBe(true)
}

describe.skipIf(!hasNative)('shared memory (real addon)', () => {
  const binding = native!

  describe('regions', () => {
    it('creates exclusively with mode 0600, maps the same memory twice, and closes idempotently', () => {
      const path = join(dir, 'kadmesh-region-a')
      const a = binding.shmCreate(path, 8192)
      expect(statSync(path).mode & 0o777).toBe(0o600)
      expect(a.mode).toBe(0o600)
      expect(a.uid).toBe(process.geteuid!())
      expect(() => binding.shmCreate(path, 8192)).toThrow(expect.objectContaining({ code: 'EEXIST' }))
      const b = binding.shmOpen(path)
      expect(b.byteLength).toBe(8192)
      const va = new Uint32Array(a.buffer)
      va[100] = 0xdeadbeef
      expect(new Uint32Array(b.buffer)[100]).toBe(0xdeadbeef)
      a.close()
      expect(va.length).toBe(0) // detached: no view can reach the unmapped memory
      expect(a.closed).toBe(true)
      expect(a.byteLength).toBe(0)
      a.close()
      expect(() => a.buffer).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
      expect(() => a.futexWake(0, 1)).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
      expect(new Uint32Array(b.buffer)[100]).toBe(0xdeadbeef)
      b.close()
    })

    it('refuses symlinks, non-regular files, bad sizes and bad futex offsets', () => {
      const target = join(dir, 'kadmesh-region-t')
      binding.shmCreate(target, 4096).close()
      const link = join(dir, 'kadmesh-region-link')
      symlinkSync(target, link)
      expect(() => binding.shmOpen(link)).toThrow(expect.objectContaining({ code: 'ELOOP' }))
      expect(() => binding.shmOpen(dir)).toThrow()
      expect(() => binding.shmOpen(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }))
      const tiny = join(dir, 'kadmesh-tiny')
      writeFileSync(tiny, 'x')
      expect(() => binding.shmOpen(tiny)).toThrow(RangeError)
      expect(() => binding.shmCreate(join(dir, 'kadmesh-small'), 100)).toThrow(RangeError)
      expect(existsSync(join(dir, 'kadmesh-small'))).toBe(false)
      const bell = join(dir, 'kadmesh-fifo')
      binding.doorbellCreate(bell).close()
      expect(() => binding.shmOpen(bell)).toThrow(/not a regular file/)
      const r = binding.shmOpen(target)
      expect(() => r.futexWake(2, 1)).toThrow(RangeError)
      expect(() => r.futexWake(4096, 1)).toThrow(RangeError)
      expect(r.futexWait(0, 1, 0)).toBe('not-equal')
      expect(r.futexWait(0, 0, 1)).toBe('timed-out')
      expect(r.futexWake(0, 1)).toBe(0)
      expect(new Uint32Array(r.buffer)[0]).toBe(1)
      r.close()
    })

    it('futexWake wakes a worker thread blocked in futexWait', async () => {
      const path = join(dir, 'kadmesh-futex')
      const region = binding.shmCreate(path, 4096)
      const worker = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads')
        const addon = require(workerData.addon)
        const region = addon.shmOpen(workerData.path)
        parentPort.postMessage({ type: 'ready' })
        const result = region.futexWait(64, 0, 20000)
        parentPort.postMessage({ type: 'woke', result, value: new Uint32Array(region.buffer)[16] })
        region.close()
      `, { eval: true, workerData: { addon: resolveNativeAddonPath(), path } })
      const exited = new Promise<number>(resolve => worker.once('exit', resolve))
      const woke = new Promise<{ result?: string, value?: number }>((resolve, reject) => {
        worker.on('error', reject)
        worker.on('message', (m: { type: string, result?: string, value?: number }) => {
          if (m.type === 'ready') region.futexWake(64, 1)
          if (m.type === 'woke') resolve(m)
        })
      })
      const m = await woke
      // 'not-equal' when the wake landed before the wait began: no lost wake-up either way.
      expect(['ok', 'not-equal']).toContain(m.result)
      expect(m.value).toBe(1)
      expect(await exited).toBe(0)
      region.close()
    })

    it('a process that uses the addon only in workers survives terminating them mid-call', async () => {
      // Two crashes this guards against: a throw while a worker's environment terminates (fatal in
      // node-addon-api unless swallowed), and uv_close callbacks running after Node unloaded the
      // addon (it is linked -z nodelete). The parent must not load the addon, so: a child process.
      const script = `
        const { Worker } = require('node:worker_threads')
        const { addon, dir } = JSON.parse(process.argv[1])
        const body = \`
          const { parentPort, workerData: w } = require('node:worker_threads')
          const addon = require(w.addon)
          const slots = new Uint8Array(2048 * 8), lens = new Uint32Array(8), from = new Uint8Array(24 * 8)
          parentPort.postMessage('started')
          for (let j = 0; j < 1e6; j++) {
            const path = w.dir + '/kadmesh-term-' + w.i + '-' + j
            const r = addon.shmCreate(path, 4096)
            new Uint32Array(r.buffer)[j & 7] = j
            r.futexWait(256, 1, 0)
            r.close()
            const b = addon.doorbellCreate(path + '.bell')
            b.watch(() => {})
            b.ring()
            b.close()
            const s = addon.udpOpen({ host: '127.0.0.1', port: 0, reusePort: false, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })
            s.startRecv(slots, 2048, lens, from, 8, 1, () => {})
            try { s.connect('not-an-ip', 1) } catch {}
            s.close()
            require('node:fs').unlinkSync(path)
            require('node:fs').unlinkSync(path + '.bell')
          }
        \`
        ;(async () => {
          for (let i = 0; i < 30; i++) {
            const worker = new Worker(body, { eval: true, workerData: { addon, dir, i } })
            await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
            for (let t = 0; t < i; t++) await new Promise(resolve => setImmediate(resolve))
            await worker.terminate()
          }
        })()
      `
      const child = spawn(process.execPath, ['-e', script, JSON.stringify({ addon: resolveNativeAddonPath(), dir })], { stdio: ['ignore', 'inherit', 'inherit'] })
      children.add(child)
      const [code, signal] = await new Promise<[number | null, string | null]>(resolve => child.once('exit', (c, s) => { resolve([c, s]) }))
      expect({ code, signal }).toEqual({ code: 0, signal: null })
    })
  })

  describe('doorbells', () => {
    it('rings wake the watcher; rings are coalesced; a full FIFO reports false', async () => {
      const path = join(dir, 'kadmesh-bell-a')
      const own = binding.doorbellCreate(path)
      expect(statSync(path).mode & 0o777).toBe(0o600)
      expect(statSync(path).isFIFO()).toBe(true)
      const peer = binding.doorbellOpen(path)
      const rung = new Promise<number>(resolve => own.watch(resolve))
      expect(peer.ring()).toBe(true)
      expect(peer.ring()).toBe(true)
      expect(await rung).toBe(2)
      own.unwatch()
      let full = false
      for (let i = 0; i < 1_100_000 && !full; i++) full = !peer.ring()
      expect(full).toBe(true)
      expect(own.drain()).toBeGreaterThan(0)
      expect(own.drain()).toBe(0)
      expect(() => binding.doorbellCreate(path)).toThrow(expect.objectContaining({ code: 'EEXIST' }))
      own.close()
      own.close()
      expect(() => own.ring()).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
      peer.close()
    })

    it('refuses to open a regular file as a doorbell; closing inside its callback is safe', async () => {
      const file = join(dir, 'kadmesh-not-fifo')
      writeFileSync(file, '')
      expect(() => binding.doorbellOpen(file)).toThrow(/not a FIFO/)
      const path = join(dir, 'kadmesh-bell-b')
      const own = binding.doorbellCreate(path)
      let calls = 0
      const closed = new Promise<void>(resolve => own.watch(() => { calls++; own.close(); resolve() }))
      const peer = binding.doorbellOpen(path)
      peer.ring()
      await closed
      peer.ring()
      await new Promise<void>(resolve => setImmediate(resolve))
      expect(calls).toBe(1)
      peer.close()
    })
  })

  describe('ring pair', () => {
    it('exchanges records in-process through two mappings, waking sleeping consumers both ways', async () => {
      const got: number[][] = [[], []]
      const mk = (side: 0 | 1) => ({ name: 'inproc', dir, capacity: 4096, idleSpinUs: 0, onRecord: (r: Uint8Array) => { got[side].push(r[0]) } })
      const a = ShmRingPair.create(binding, mk(0))
      const b = ShmRingPair.open(binding, mk(1))
      expect(existsSync(a.paths.region)).toBe(false) // the opener unlinked the files
      await turns(() => !a.hot && !b.hot)
      a.write(new Uint8Array([1]))
      await turns(() => got[1].length === 1)
      await turns(() => !a.hot && !b.hot)
      b.write(new Uint8Array([2]))
      await turns(() => got[0].length === 1)
      expect(got).toEqual([[2], [1]])
      expect(a.stats().wakesReceived).toBeGreaterThanOrEqual(1)
      expect(b.stats().wakesReceived).toBeGreaterThanOrEqual(1)
      a.close()
      b.close()
      a.close()
    })

    it('exchanges 10,000 records each way, in order, with a child process', async () => {
      const count = 10_000
      const name = 'exchange'
      let next = 0
      let received = 0
      let bad = 0
      const errors: Error[] = []
      let peerClosed!: () => void
      const closedByPeer = new Promise<void>(resolve => { peerClosed = resolve })
      let localDone!: () => void
      const done = new Promise<void>(resolve => { localDone = resolve })
      const pump = (): void => { while (next < count && pair.write(record(next))) next++ }
      const pair: ShmRingPair = ShmRingPair.create(binding, {
        name,
        dir,
        capacity: 16 * 1024, // small: the rings fill and wrap many times
        onRecord: (r) => {
          const seq = new DataView(r.buffer, r.byteOffset).getUint32(0)
          const want = record(received)
          if (seq !== received || r.byteLength !== want.byteLength || !r.every((v, i) => v === want[i])) bad++
          received++
          if (received === count) localDone()
        },
        onWritable: pump,
        onPeerClose: () => { peerClosed() },
        onError: (err) => { errors.push(err) }
      })
      const peer = spawnPeer('exchange', name, dir, String(count))
      pump()
      const report = await peer.next('done')
      await done
      expect(next).toBe(count)
      expect({ received, bad, errors }).toEqual({ received: count, bad: 0, errors: [] })
      expect({ received: report.received, bad: report.bad }).toEqual({ received: count, bad: 0 })
      expect(pair.peerPid).toBe(peer.child.pid)
      expect(pair.isPeerAlive()).toBe(true)
      expect(pair.stats().writerWaits + report.stats!.writerWaits).toBeGreaterThan(0)
      peer.child.send({ type: 'close' })
      await closedByPeer // the child's close() rang our doorbell
      expect(pair.peerClosed).toBe(true)
      expect(await peer.exited).toBe(0)
      pair.close()
      expect(existsSync(pair.paths.region)).toBe(false)
    })

    it('a doorbell rung by another process wakes this sleeping consumer', async () => {
      const got: number[] = []
      let resolveGot!: () => void
      const pair = ShmRingPair.create(binding, {
        name: 'wake',
        dir,
        capacity: 4096,
        idleSpinUs: 0,
        onRecord: (r) => { got.push(new DataView(r.buffer, r.byteOffset).getUint32(0)); resolveGot() }
      })
      const peer = spawnPeer('ping', 'wake', dir)
      await peer.next('opened')
      for (let seq = 1; seq <= 3; seq++) {
        await turns(() => !pair.hot)
        const wakes = pair.stats().wakesReceived
        const arrived = new Promise<void>(resolve => { resolveGot = resolve })
        peer.child.send({ type: 'ping', seq })
        await arrived
        expect(pair.stats().wakesReceived).toBe(wakes + 1)
      }
      expect(got).toEqual([1, 2, 3])
      peer.child.send({ type: 'close' })
      await peer.exited
      pair.close()
    })

    it('cleans up the files of a peer killed with SIGKILL, and leaves live pairs alone', async () => {
      const live = ShmRingPair.create(binding, { name: 'live', dir, capacity: 4096, onRecord: () => {} })
      const peer = spawnPeer('hold', 'crashed', dir)
      const { paths } = await peer.next('created')
      const files = [paths!.region, ...paths!.bells]
      expect(files.every(f => existsSync(f))).toBe(true)
      expect(cleanStale('kadmesh-', { dir })).toEqual([])
      process.kill(peer.child.pid!, 'SIGKILL')
      await peer.exited
      expect(cleanStale('kadmesh-', { dir }).sort()).toEqual([...files].sort())
      expect(files.some(f => existsSync(f))).toBe(false)
      expect(existsSync(live.paths.region)).toBe(true)
      live.close()
      expect(existsSync(live.paths.region)).toBe(false)
    })
  })
})
