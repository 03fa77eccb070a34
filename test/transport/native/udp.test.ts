import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { ClosedError, InvalidOptionsError, TooLargeError } from '../../../src/errors.js'
import { NativeUdpSocket } from '../../../src/transport/native/udp.js'
import type { ReceivedDatagram } from '../../../src/transport/native/udp.js'
import { fakeBinding, untilTurn } from './fake-binding.js'

const EAGAIN = osConstants.errno.EAGAIN
const ECONNREFUSED = osConstants.errno.ECONNREFUSED

function payloads (n: number, size = 32): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(size).fill(i & 0xff))
}

describe('NativeUdpSocket over a fake binding', () => {
  it('opens with 4 MiB buffers by default and reports the effective sizes from the binding', () => {
    const binding = fakeBinding()
    const sock = new NativeUdpSocket(binding)
    const handle = binding.udpSockets[0]
    expect(handle.options).toEqual({ host: '127.0.0.1', port: 0, reusePort: false, rcvbuf: 4 << 20, sndbuf: 4 << 20, busyPollUs: 0 })
    expect(sock.rcvbuf).toBe(8 << 20)
    expect(sock.sndbuf).toBe(8 << 20)
    expect(sock.family).toBe(4)
    sock.close()
  })

  it('validates options, naming the option', () => {
    const binding = fakeBinding()
    expect(() => new NativeUdpSocket(binding, { maxBatch: 0 })).toThrow(InvalidOptionsError)
    expect(() => new NativeUdpSocket(binding, { maxBatch: 2000 })).toThrow(/options.maxBatch/)
    expect(() => new NativeUdpSocket(binding, { slotSize: 70000 })).toThrow(/options.slotSize/)
    expect(() => new NativeUdpSocket(binding, { port: -1 })).toThrow(/options.port/)
    expect(() => new NativeUdpSocket(binding, { mode: 'spin' as 'busy' })).toThrow(/options.mode/)
  })

  it('packs a batch into one buffer plus lengths, up to maxBatch datagrams per sendmmsg', () => {
    const binding = fakeBinding()
    const sender = new NativeUdpSocket(binding, { maxBatch: 16 })
    const sent = payloads(40, 10).map((p, i) => ({ data: p.subarray(0, i % 10), address: '127.0.0.1', port: 9000 + (i % 2) }))
    expect(sender.sendBatch(sent)).toBe(40)
    const calls = binding.udpSockets[0].sendCalls
    expect(calls.map(c => c.lengths.length)).toEqual([16, 16, 8])
    expect(calls[0].lengths).toEqual(Array.from({ length: 16 }, (_, i) => i % 10))
    expect(calls[0].to!.slice(0, 2)).toEqual([{ address: '127.0.0.1', port: 9000 }, { address: '127.0.0.1', port: 9001 }])
    expect(sender.stats()).toMatchObject({ sent: 40, sendCalls: 3, sendFull: 0 })
  })

  it('delivers batches with sender address and port, in order', async () => {
    const binding = fakeBinding()
    const batches: ReceivedDatagram[][] = []
    const receiver = new NativeUdpSocket(binding, { maxBatch: 64, copy: true, onDatagrams: (b) => { batches.push(b) } })
    const sender = new NativeUdpSocket(binding)
    expect(sender.sendTo('127.0.0.1', receiver.port, payloads(100))).toBe(100)
    await untilTurn(() => batches.flat().length === 100)
    const all = batches.flat()
    expect(all.map(d => d.data[0])).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(all.every(d => d.address === '127.0.0.1' && d.port === sender.port)).toBe(true)
    expect(batches[0]).toHaveLength(64)
    expect(receiver.stats()).toMatchObject({ received: 100, batches: 2, oversized: 0 })
    receiver.close()
    sender.close()
  })

  it('drops datagrams larger than a slot and counts them', async () => {
    const binding = fakeBinding()
    const got: number[] = []
    const receiver = new NativeUdpSocket(binding, { slotSize: 100, onDatagrams: (b) => { for (const d of b) got.push(d.data.byteLength) } })
    const sender = new NativeUdpSocket(binding)
    sender.sendTo('127.0.0.1', receiver.port, [new Uint8Array(100), new Uint8Array(101), new Uint8Array(0), new Uint8Array(5000)])
    await untilTurn(() => receiver.stats().oversized === 2 && got.length === 2)
    expect(got).toEqual([100, 0])
  })

  it('leaves the rest of a batch to the caller when the send buffer is full', () => {
    const binding = fakeBinding()
    const sender = new NativeUdpSocket(binding, { maxBatch: 8 })
    const handle = binding.udpSockets[0]
    handle.sendResults.push(5, -EAGAIN)
    expect(sender.sendTo('127.0.0.1', 9, payloads(20))).toBe(5)
    // The retry started at datagram 5 of the same packed buffer.
    expect(handle.sendCalls[1].lengths).toHaveLength(3)
    expect(sender.stats()).toMatchObject({ sent: 5, sendFull: 1 })
  })

  it('skips a datagram the kernel refuses and sends the rest', () => {
    const binding = fakeBinding()
    const sender = new NativeUdpSocket(binding, { maxBatch: 8 })
    binding.udpSockets[0].sendResults.push(2, -ECONNREFUSED)
    expect(sender.sendTo('127.0.0.1', 9, payloads(6))).toBe(6)
    expect(sender.stats()).toMatchObject({ sent: 5, sendErrors: 1 })
  })

  it('refuses oversized datagrams before sending anything, and unaddressed ones on an unconnected socket', () => {
    const binding = fakeBinding()
    const sender = new NativeUdpSocket(binding)
    expect(() => sender.sendTo('127.0.0.1', 9, [new Uint8Array(10), new Uint8Array(65_508)])).toThrow(TooLargeError)
    expect(() => sender.sendBatch([{ data: new Uint8Array(1) }])).toThrow(TypeError)
    expect(() => sender.sendTo('localhost', 9, [new Uint8Array(1)])).toThrow(TypeError)
    expect(binding.udpSockets[0].sendCalls).toHaveLength(0)
    sender.connect('127.0.0.1', 9)
    expect(sender.sendBatch([{ data: new Uint8Array(1) }])).toBe(1)
    expect(binding.udpSockets[0].sendCalls[0].to).toBeNull()
  })

  it('maps IPv4 destinations for an IPv6 socket', () => {
    const binding = fakeBinding()
    const sender = new NativeUdpSocket(binding, { host: '::1' })
    sender.sendTo('127.0.0.1', 9, [new Uint8Array(1)])
    expect(binding.udpSockets[0].sendCalls[0].to).toEqual([{ address: '::ffff:127.0.0.1', port: 9 }])
  })

  it('reports handler errors without breaking the receive loop', async () => {
    const binding = fakeBinding()
    const errors: Error[] = []
    let calls = 0
    const receiver = new NativeUdpSocket(binding, {
      maxBatch: 1,
      onDatagrams: () => { calls++; throw new Error('handler failed') },
      onError: (e) => { errors.push(e) }
    })
    new NativeUdpSocket(binding).sendTo('127.0.0.1', receiver.port, payloads(3))
    await untilTurn(() => calls === 3)
    expect(errors.map(e => e.message)).toEqual(['handler failed', 'handler failed', 'handler failed'])
    expect(receiver.stats().handlerErrors).toBe(3)
  })

  it('pauses and resumes receiving', async () => {
    const binding = fakeBinding()
    let got = 0
    const receiver = new NativeUdpSocket(binding, { onDatagrams: (b) => { got += b.length } })
    receiver.pause()
    expect(binding.udpSockets[0].receiving).toBe(false)
    new NativeUdpSocket(binding).sendTo('127.0.0.1', receiver.port, payloads(3))
    await untilTurn(() => true)
    expect(got).toBe(0)
    receiver.resume()
    await untilTurn(() => got === 3)
  })

  it('busy mode polls every turn while hot, then sleeps in uv_poll and comes back on a datagram', async () => {
    const binding = fakeBinding()
    let got = 0
    const receiver = new NativeUdpSocket(binding, { mode: 'busy', busyIdleUs: 0, onDatagrams: (b) => { got += b.length } })
    const handle = binding.udpSockets[0]
    await untilTurn(() => !receiver.hot)
    expect(handle.receiving).toBe(true) // armed
    const sender = new NativeUdpSocket(binding)
    sender.sendTo('127.0.0.1', receiver.port, payloads(5))
    await untilTurn(() => got === 5)
    await untilTurn(() => !receiver.hot && handle.receiving)
    sender.sendTo('127.0.0.1', receiver.port, payloads(2))
    await untilTurn(() => got === 7)
  })

  it('close is idempotent; use after close throws ClosedError; closing inside the handler is safe', async () => {
    const binding = fakeBinding()
    let got = 0
    const receiver: NativeUdpSocket = new NativeUdpSocket(binding, { maxBatch: 1, onDatagrams: () => { got++; receiver.close() } })
    new NativeUdpSocket(binding).sendTo('127.0.0.1', receiver.port, payloads(3))
    await untilTurn(() => receiver.closed)
    for (let i = 0; i < 5; i++) await new Promise<void>(resolve => setImmediate(resolve))
    expect(got).toBe(1)
    receiver.close()
    expect(binding.udpSockets[0].closed).toBe(true)
    expect(() => receiver.port).toThrow(ClosedError)
    expect(() => receiver.sendTo('127.0.0.1', 1, [])).toThrow(ClosedError)
  })
})
