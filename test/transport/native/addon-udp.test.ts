/**
 * The real addon: UDP on loopback only (127.0.0.1 and ::1). Skipped only when the addon is not built.
 */
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { ClosedError } from '../../../src/errors.js'
import { NativeUdpSocket } from '../../../src/transport/native/udp.js'
import type { ReceivedDatagram } from '../../../src/transport/native/udp.js'
import { hasNative, native } from './native-env.js'

const open: Array<{ close: () => void }> = []
afterEach(() => { for (const s of open.splice(0)) s.close() })

function track<T extends { close: () => void }> (s: T): T {
  open.push(s)
  return s
}

/** Resolves when `predicate` holds after a receive callback; the test timeout bounds it. */
function collector () {
  const got: ReceivedDatagram[] = []
  let waiter: { n: number, resolve: () => void } | undefined
  return {
    got,
    onDatagrams: (batch: ReceivedDatagram[]) => {
      got.push(...batch)
      if (waiter !== undefined && got.length >= waiter.n) waiter.resolve()
    },
    async until (n: number): Promise<void> {
      if (got.length >= n) return
      await new Promise<void>(resolve => { waiter = { n, resolve } })
    }
  }
}

function datagram (seq: number, size: number): Uint8Array {
  const d = new Uint8Array(size)
  for (let i = 0; i < size; i++) d[i] = (seq + i) & 0xff
  if (size >= 4) new DataView(d.buffer).setUint32(0, seq)
  return d
}

describe.skipIf(!hasNative)('native UDP (real addon, loopback)', () => {
  const binding = native!

  it('sends and receives batches of 64 datagrams in order, with the sender address', async () => {
    const c = collector()
    const receiver = track(new NativeUdpSocket(binding, { copy: true, onDatagrams: c.onDatagrams }))
    const sender = track(new NativeUdpSocket(binding))
    const total = 64 * 20
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 64 }, (_, i) => datagram(b * 64 + i, 16 + ((b * 64 + i) % 200)))
      expect(sender.sendTo('127.0.0.1', receiver.port, batch)).toBe(64)
    }
    await c.until(total)
    expect(c.got.map(d => new DataView(d.data.buffer, d.data.byteOffset).getUint32(0))).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(c.got.every((d, i) => d.data.byteLength === 16 + (i % 200))).toBe(true)
    expect(c.got[5].data).toEqual(datagram(5, 21))
    expect(new Set(c.got.map(d => `${d.address}:${d.port}`))).toEqual(new Set([`127.0.0.1:${sender.port}`]))
    expect(sender.stats()).toMatchObject({ sent: total, sendErrors: 0 })
    expect(receiver.stats()).toMatchObject({ received: total, oversized: 0 })
    expect(receiver.stats().batches).toBeLessThanOrEqual(total)
  })

  it('works over IPv6 loopback, and on a connected socket', async () => {
    const c = collector()
    const receiver = track(new NativeUdpSocket(binding, { host: '::1', copy: true, onDatagrams: c.onDatagrams }))
    const sender = track(new NativeUdpSocket(binding, { host: '::1' }))
    sender.connect('::1', receiver.port)
    expect(sender.sendBatch(Array.from({ length: 64 }, (_, i) => ({ data: datagram(i, 8) })))).toBe(64)
    await c.until(64)
    expect(c.got[0]).toMatchObject({ address: '::1', port: sender.port })
    expect(receiver.family).toBe(6)
  })

  it('delivers random datagrams from dgram intact and counts the ones over the slot size', async () => {
    const c = collector()
    const receiver = track(new NativeUdpSocket(binding, { slotSize: 1024, maxBatch: 32, copy: true, onDatagrams: c.onDatagrams }))
    const sock = createSocket('udp4')
    await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
    let seed = 12345
    const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
    const sent: Uint8Array[] = []
    let oversized = 0
    for (let i = 0; i < 300; i++) {
      const size = Math.floor(rand() * 3000)
      const d = new Uint8Array(size)
      for (let j = 0; j < size; j++) d[j] = Math.floor(rand() * 256)
      if (size > 1024) oversized++
      else sent.push(d)
      await new Promise<void>((resolve, reject) => sock.send(d, receiver.port, '127.0.0.1', (err) => { if (err != null) reject(err); else resolve() }))
    }
    sock.close()
    await c.until(sent.length)
    expect(c.got.map(d => d.data)).toEqual(sent)
    // Oversized datagrams after the last good one arrive in a later batch: wait for it (bounded in turns).
    for (let i = 0; i < 100_000 && receiver.stats().oversized < oversized; i++) await new Promise<void>(resolve => setImmediate(resolve))
    expect(receiver.stats().oversized).toBe(oversized)
  })

  it('survives random datagrams sent natively in random batch sizes', async () => {
    const c = collector()
    const receiver = track(new NativeUdpSocket(binding, { slotSize: 2048, onDatagrams: (b) => { c.onDatagrams(b.map(d => ({ ...d, data: d.data.slice() }))) } }))
    const sender = track(new NativeUdpSocket(binding, { maxBatch: 1024 }))
    let seed = 99
    const rand = (): number => { seed = (seed * 48271) % 0x7fffffff; return seed / 0x7fffffff }
    let expected = 0
    for (let round = 0; round < 30; round++) {
      const batch = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => {
        const d = new Uint8Array(Math.floor(rand() * 2048))
        for (let j = 0; j < d.length; j += 7) d[j] = Math.floor(rand() * 256)
        return d
      })
      expect(sender.sendTo('127.0.0.1', receiver.port, batch)).toBe(batch.length)
      expected += batch.length
    }
    await c.until(expected)
    expect(receiver.stats().received).toBe(expected)
  })

  it('reports the effective SO_RCVBUF/SO_SNDBUF the kernel granted', () => {
    const requested = 4 * 1024 * 1024
    const sock = track(new NativeUdpSocket(binding, { rcvbuf: requested, sndbuf: requested }))
    let rmemMax = Infinity
    let wmemMax = Infinity
    try {
      rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'))
      wmemMax = Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8'))
    } catch {}
    // Linux doubles the request (bookkeeping overhead) after clamping it to [rw]mem_max.
    if (Number.isFinite(rmemMax)) expect(sock.rcvbuf).toBe(2 * Math.min(requested, rmemMax))
    else expect(sock.rcvbuf).toBeGreaterThan(0)
    if (Number.isFinite(wmemMax)) expect(sock.sndbuf).toBe(2 * Math.min(requested, wmemMax))
    const small = track(new NativeUdpSocket(binding, { rcvbuf: 65536 }))
    expect(small.rcvbuf).toBe(131072)
  })

  it('busy-poll mode receives, sleeps in uv_poll when idle, and wakes on the next datagram', async () => {
    const c = collector()
    const receiver = track(new NativeUdpSocket(binding, { mode: 'busy', busyIdleUs: 0, copy: true, onDatagrams: c.onDatagrams }))
    const sender = track(new NativeUdpSocket(binding))
    sender.sendTo('127.0.0.1', receiver.port, Array.from({ length: 64 }, (_, i) => datagram(i, 32)))
    await c.until(64)
    for (let i = 0; i < 10_000 && receiver.hot; i++) await new Promise<void>(resolve => setImmediate(resolve))
    expect(receiver.hot).toBe(false)
    sender.sendTo('127.0.0.1', receiver.port, [datagram(64, 32)])
    await c.until(65)
    expect(c.got.map(d => new DataView(d.data.buffer, d.data.byteOffset).getUint32(0))).toEqual(Array.from({ length: 65 }, (_, i) => i))
  })

  it('close is idempotent, also from inside the receive callback; use after close throws', async () => {
    let calls = 0
    let closedInside!: () => void
    const done = new Promise<void>(resolve => { closedInside = resolve })
    const receiver = new NativeUdpSocket(binding, {
      maxBatch: 1,
      onDatagrams: () => { calls++; receiver.close(); receiver.close(); closedInside() }
    })
    const sender = track(new NativeUdpSocket(binding))
    sender.sendTo('127.0.0.1', receiver.port, [datagram(1, 4), datagram(2, 4), datagram(3, 4)])
    await done
    expect(calls).toBe(1)
    expect(receiver.closed).toBe(true)
    expect(() => receiver.port).toThrow(ClosedError)
    expect(() => receiver.sendTo('127.0.0.1', 1, [])).toThrow(ClosedError)
    receiver.close()
  })

  describe('raw binding argument checks (errors, never crashes)', () => {
    it('rejects bad sendBatch/recvInto arguments with TypeError/RangeError', () => {
      const s = binding.udpOpen({ host: '127.0.0.1', port: 0, reusePort: false, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })
      const to = new Uint8Array(24)
      to[0] = 4
      expect(() => s.sendBatch(new Uint8Array(10), new Uint32Array([11]), 1, null)).toThrow(RangeError)
      expect(() => s.sendBatch(new Uint8Array(10), new Uint32Array([1]), 2, null)).toThrow(RangeError)
      expect(() => s.sendBatch(new Uint8Array(10), new Uint32Array(2000), 1025, null)).toThrow(RangeError)
      expect(() => s.sendBatch(new Uint8Array(10), new Uint32Array([1]), 1, new Uint8Array(23))).toThrow(RangeError)
      expect(() => s.sendBatch(new Uint8Array(10), new Uint32Array([1]), 1, new Uint8Array(24))).toThrow(TypeError)
      expect(() => s.sendBatch([] as unknown as Uint8Array, new Uint32Array([1]), 1, null)).toThrow(TypeError)
      expect(() => s.sendBatch(new Uint8Array(1), new Uint32Array([1]), -1, null)).toThrow(RangeError)
      // Unconnected and no destination: the kernel says so, as -errno.
      expect(s.sendBatch(new Uint8Array(1), new Uint32Array([1]), 1, null)).toBeLessThan(0)
      const slots = new Uint8Array(2048 * 4)
      expect(s.recvInto(slots, 2048, new Uint32Array(4), new Uint8Array(96), 4)).toBe(0)
      expect(() => s.recvInto(slots, 2048, new Uint32Array(4), new Uint8Array(95), 4)).toThrow(RangeError)
      expect(() => s.recvInto(slots, 4096, new Uint32Array(4), new Uint8Array(96), 4)).toThrow(RangeError)
      expect(() => s.startRecv(slots, 2048, new Uint32Array(4), new Uint8Array(96), 4, 0, () => {})).toThrow(RangeError)
      expect(() => s.connect('not-an-ip', 1)).toThrow(TypeError)
      expect(() => binding.udpOpen({ host: 'localhost', port: 0, reusePort: false, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })).toThrow(TypeError)
      expect(() => binding.udpOpen({ host: '127.0.0.1', port: 70000, reusePort: false, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })).toThrow(RangeError)
      s.startRecv(slots, 2048, new Uint32Array(4), new Uint8Array(96), 4, 1, () => {})
      expect(() => s.startRecv(slots, 2048, new Uint32Array(4), new Uint8Array(96), 4, 1, () => {})).toThrow(/already receiving/)
      s.stopRecv()
      s.stopRecv()
      s.close()
      s.close()
      expect(s.closed).toBe(true)
      expect(s.fd).toBe(-1)
      expect(() => s.port).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
      expect(() => s.recvInto(slots, 2048, new Uint32Array(4), new Uint8Array(96), 4)).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
      expect(() => s.sendBatch(new Uint8Array(1), new Uint32Array([1]), 1, null)).toThrow(expect.objectContaining({ code: 'ERR_KADMESH_CLOSED' }))
    })

    it('reports bind failures as errno errors and supports SO_REUSEPORT', () => {
      const a = binding.udpOpen({ host: '127.0.0.1', port: 0, reusePort: true, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })
      const b = binding.udpOpen({ host: '127.0.0.1', port: a.port, reusePort: true, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 })
      expect(b.port).toBe(a.port)
      expect(() => binding.udpOpen({ host: '127.0.0.1', port: a.port, reusePort: false, rcvbuf: 0, sndbuf: 0, busyPollUs: 0 }))
        .toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }))
      a.close()
      b.close()
    })
  })
})
