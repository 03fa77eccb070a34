import { createSecretKey, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DATAGRAM_OVERHEAD, DatagramKind, HEADER_BYTES, openDatagram, readHeader, sealDatagram } from '../../../src/transport/udp/datagram.js'
import { REPLAY_WINDOW, ReplayWindow } from '../../../src/transport/udp/replay-window.js'
import { INITIAL_RTO, MAX_RTO, MIN_RTO, RttEstimator } from '../../../src/transport/udp/rtt.js'
import { prng } from '../../prng.js'

const key = createSecretKey(randomBytes(32))
const header = { kind: DatagramKind.DATA, session: 0xdeadbeef, packet: 2 ** 40 + 5, seq: 77, ack: 76, sack: 0x80000001 }

describe('UDP datagram', () => {
  it('seals and opens a payload, with every header field round-tripping', () => {
    const payload = randomBytes(1000)
    const d = sealDatagram(key, header, payload)
    expect(d.byteLength).toBe(DATAGRAM_OVERHEAD + 1000)
    expect(readHeader(d)).toEqual(header)
    expect(Buffer.from(openDatagram(key, d)!)).toEqual(payload)
    const ack = sealDatagram(key, { ...header, kind: DatagramKind.ACK, seq: 0 }, new Uint8Array(0))
    expect(ack.byteLength).toBe(DATAGRAM_OVERHEAD)
    expect(openDatagram(key, ack)?.byteLength).toBe(0)
  })

  it('refuses a datagram with any bit flipped, in the header or the ciphertext, or under another key', () => {
    const d = sealDatagram(key, header, randomBytes(64))
    for (let byte = 0; byte < d.byteLength; byte++) {
      const bad = d.slice()
      bad[byte] ^= 1 << (byte % 8)
      expect(openDatagram(key, bad)).toBeUndefined()
    }
    expect(openDatagram(createSecretKey(randomBytes(32)), d)).toBeUndefined()
  })

  it('never seals two datagrams alike: the packet number is the nonce', () => {
    const payload = randomBytes(32)
    const a = sealDatagram(key, header, payload)
    const b = sealDatagram(key, { ...header, packet: header.packet + 1 }, payload)
    expect(a.subarray(HEADER_BYTES)).not.toEqual(b.subarray(HEADER_BYTES))
  })

  it('reads no header from short, unknown-version, unknown-kind or padded control datagrams', () => {
    const d = sealDatagram(key, header, randomBytes(10))
    expect(readHeader(d.subarray(0, DATAGRAM_OVERHEAD - 1))).toBe('malformed')
    for (const [at, value] of [[0, 2], [1, 0], [1, 4], [2, 1], [3, 1]]) {
      const bad = d.slice()
      bad[at] = value
      expect(readHeader(bad)).toBe('malformed')
    }
    const ackWithBody = d.slice()
    ackWithBody[1] = DatagramKind.ACK
    expect(readHeader(ackWithBody)).toBe('malformed')
  })

  it('reads random bytes without throwing', () => {
    const next = prng(5)
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(Math.floor(next() * 200)).map(() => Math.floor(next() * 256))
      if (next() < 0.5 && bytes.byteLength > 2) { bytes[0] = 1; bytes[1] = 1 + Math.floor(next() * 3) }
      const h = readHeader(bytes)
      if (h !== 'malformed') expect(openDatagram(key, bytes)).toBeUndefined()
    }
  })
})

describe('replay window', () => {
  it('accepts each packet number once, in any order within the window', () => {
    const w = new ReplayWindow()
    for (const n of [0, 5, 3, 4, 1, 2, 100, 50]) {
      expect(w.check(n)).toBe(true)
      w.accept(n)
      expect(w.check(n)).toBe(false)
    }
    for (const n of [0, 1, 2, 3, 4, 5, 50, 100]) expect(w.check(n)).toBe(false)
    expect(w.check(99)).toBe(true)
  })

  it('refuses packet numbers older than the window and forgets slots it slides past', () => {
    const w = new ReplayWindow()
    w.accept(10)
    w.accept(11)
    w.accept(10 + REPLAY_WINDOW)
    expect(w.check(10)).toBe(false) // too old now
    expect(w.check(11)).toBe(false) // seen, and still in the window
    expect(w.check(12)).toBe(true) // in the window, never seen
    w.accept(11 + REPLAY_WINDOW) // reuses 11's slot: 11 falls out of the window
    expect(w.check(11)).toBe(false)
    expect(w.check(12)).toBe(true)
    w.accept(5 * REPLAY_WINDOW) // a jump beyond the window clears it all
    expect(w.check(5 * REPLAY_WINDOW - 1)).toBe(true)
    expect(w.check(4 * REPLAY_WINDOW)).toBe(false)
  })
})

describe('RTT estimator', () => {
  it('starts at the initial timeout, follows samples, and stays within its bounds', () => {
    const r = new RttEstimator()
    expect(r.rto).toBe(INITIAL_RTO)
    r.sample(40)
    expect(r.srtt).toBe(40)
    expect(r.rto).toBe(40 + 4 * 20)
    for (let i = 0; i < 100; i++) r.sample(0.1)
    expect(r.rto).toBe(MIN_RTO)
    for (let i = 0; i < 100; i++) r.sample(5_000)
    expect(r.rto).toBe(MAX_RTO)
  })
})
