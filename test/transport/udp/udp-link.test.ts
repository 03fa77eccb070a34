/**
 * The UDP fast path over real native sockets on loopback, with the network's misbehaviour
 * injected in the harness: loss, duplication, forged, replayed, truncated and random datagrams.
 */
import { createSocket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import type { OutgoingDatagram } from '../../../src/transport/native/udp.js'
import { linkCall } from '../../../src/transport/system-call.js'
import { DATAGRAM_OVERHEAD, HEADER_BYTES } from '../../../src/transport/udp/datagram.js'
import { rejection, until } from '../../helpers.js'
import { prng } from '../../prng.js'
import { castOn, randomBytes } from '../compliance.js'
import { type TransportHarness, udpHarness } from '../harness.js'
import { native } from '../native/native-env.js'
import { LossySocket, type Misbehaviour } from './lossy-socket.js'

type UdpHarness = Awaited<ReturnType<typeof udpHarness>>

const open: TransportHarness[] = []
afterEach(async () => { await Promise.all(open.splice(0).map(async h => h.close())) })

async function harness (misbehaviour?: Misbehaviour): Promise<UdpHarness & { lossy: Record<'client' | 'server', LossySocket> }> {
  const lossy = {} as Record<'client' | 'server', LossySocket>
  const h = await udpHarness(native!, {
    // with 20 % lost each way a datagram can take a few seconds of retries on a loaded machine;
    // the mesh's default is 3 s (maxIdleTimeout), the harness's 1 s is for tests that kill a peer
    deadAfter: misbehaviour?.drop !== undefined ? 10_000 : undefined,
    wrapSocket: (socket, side) => (lossy[side] = new LossySocket(socket, { ...misbehaviour, seed: side === 'client' ? 7 : 11 }))
  })
  open.push(h)
  return Object.assign(h, { lossy })
}

/** An actor that records every execution. */
function recorder (h: TransportHarness): number[] {
  const seen: number[] = []
  h.server.gateway.register('rec', { hit: (i: number) => { seen.push(i); return i * 2 } }, { concurrency: 1, mailbox: 10_000 })
  return seen
}

async function sendRaw (port: number, datagrams: Uint8Array[]): Promise<void> {
  const raw = createSocket('udp4')
  for (const d of datagrams) await new Promise<void>(resolve => raw.send(d, port, '127.0.0.1', () => { resolve() }))
  raw.close()
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)

describe.skipIf(native === undefined)('UDP fast path', () => {
  it('completes every call exactly once, in order, with 20% of datagrams lost and 10% duplicated each way', async () => {
    const h = await harness({ drop: 0.2, duplicate: 0.1 })
    const seen = recorder(h)
    const rounds = 5
    const perRound = 200 // within the channel's window of 256, so every call stays on UDP
    for (let round = 0; round < rounds; round++) {
      const calls: Array<Promise<unknown>> = []
      const ids = Array.from({ length: perRound }, (_, k) => round * perRound + k)
      for (const i of ids) {
        if (i % 4 === 3) void castOn(h.link, h.server.nodeId, 'rec.hit', i)
        else calls.push(linkCall(h.link, h.server.nodeId, 'rec.hit', i, 20_000))
      }
      expect(await Promise.all(calls)).toEqual(ids.filter(i => i % 4 !== 3).map(i => i * 2))
      await until(() => seen.length >= (round + 1) * perRound, 'every cast to run')
    }
    // and one at a time, so that nearly every call and reply has a datagram of its own to lose
    for (let i = rounds * perRound; i < rounds * perRound + 100; i++) {
      expect(await linkCall(h.link, h.server.nodeId, 'rec.hit', i, 20_000)).toBe(i * 2)
    }
    expect(seen).toEqual(Array.from({ length: rounds * perRound + 100 }, (_, i) => i))
    expect(h.client.counters.sentByTransport).toEqual({ udp: rounds * perRound + 100 })
    // the network did misbehave, and the sessions repaired it
    expect(h.lossy.client.dropped + h.lossy.server.dropped).toBeGreaterThan(40)
    expect(h.sessions[0].stats().retransmitted + h.sessions[1].stats().retransmitted).toBeGreaterThan(20)
    expect(h.server.counters.fastPathDropped.replay).toBeGreaterThan(0) // the network's duplicates
  })

  it('never runs a handler twice when every datagram arrives twice', async () => {
    const h = await harness({ duplicate: 1 })
    const seen = recorder(h)
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => linkCall(h.link, h.server.nodeId, 'rec.hit', i, 10_000)))
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * 2))
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i))
    // every copy was caught by its packet number
    expect(h.server.counters.fastPathDropped).toEqual({ replay: h.lossy.client.duplicated })
  })

  it('never runs a handler twice when its reply is lost and the call is retransmitted', async () => {
    const h = await harness()
    const seen = recorder(h)
    h.lossy.server.drop = 1 // replies and acks lost
    const result = linkCall(h.link, h.server.nodeId, 'rec.hit', 5, 10_000)
    await until(() => h.sessions[1].stats().duplicates >= 2, 'the call to be retransmitted twice', 10_000_000)
    h.lossy.server.drop = 0
    expect(await result).toBe(10)
    expect(seen).toEqual([5])
  })

  it('drops and counts forged, replayed, truncated and unknown-session datagrams, and keeps serving', async () => {
    const h = await harness()
    recorder(h)
    let captured: OutgoingDatagram | undefined
    h.lossy.client.tap = (d) => { if (d.data.byteLength > DATAGRAM_OVERHEAD) captured ??= { ...d, data: d.data.slice() } }
    expect(await linkCall(h.link, h.server.nodeId, 'rec.hit', 1, 5_000)).toBe(2)
    const genuine = captured!.data
    // new packet numbers, so the replay window lets them through to the tag check (and must not move for them)
    const forged = genuine.slice()
    forged[9] = 0x7f
    forged[HEADER_BYTES + 1] ^= 0x40 // one ciphertext bit
    const lying = genuine.slice()
    lying[10] = 0x7f // the header is authenticated too: here its packet number
    const stranger = genuine.slice()
    stranger[7] ^= 1 // a session id nobody holds
    const badVersion = genuine.slice()
    badVersion[0] = 9
    await sendRaw(h.serverPort, [genuine, forged, lying, genuine.subarray(0, 20), stranger, badVersion])
    await until(() => sum(h.server.counters.fastPathDropped) === 6, 'six drops to be counted')
    expect(h.server.counters.fastPathDropped).toEqual({ replay: 1, auth: 2, malformed: 2, session: 1 })
    expect(await linkCall(h.link, h.server.nodeId, 'rec.hit', 2, 5_000)).toBe(4)
    expect(h.server.counters.badFrames).toBe(0)
  })

  it('drops and counts 3,000 random datagrams, some carrying a real session id, and keeps serving', async () => {
    const h = await harness()
    recorder(h)
    const next = prng(99)
    const datagrams = Array.from({ length: 3000 }, (_, i) => {
      const d = randomBytes(Math.floor(next() * 1500), i)
      if (i % 3 === 0 && d.byteLength >= DATAGRAM_OVERHEAD) {
        // plausible header: version 1, a real kind, the server's session id; only the tag can catch it
        d[0] = 1
        d[1] = 1 + (i % 3)
        d[2] = d[3] = 0
        new DataView(d.buffer).setUint32(4, h.sessions[1].id)
      }
      return d
    })
    for (let i = 0; i < datagrams.length; i += 100) await sendRaw(h.serverPort, datagrams.slice(i, i + 100))
    await until(() => sum(h.server.counters.fastPathDropped) === 3000, 'every random datagram to be counted')
    expect(h.server.counters.badFrames + h.server.counters.brokenStreams).toBe(0)
    expect(await linkCall(h.link, h.server.nodeId, 'rec.hit', 3, 5_000)).toBe(6)
  })

  it('fails calls written to a path that went silent with a retryable error, and sends later calls over QUIC', async () => {
    const h = await harness()
    const seen = recorder(h)
    h.lossy.client.drop = 1
    const lost = await rejection(linkCall(h.link, h.server.nodeId, 'rec.hit', 1, 20_000))
    expect(lost).toMatchObject({ code: 'MESH_ERR_CONNECTION_LOST', retryable: true })
    expect(seen).toEqual([]) // it never arrived: but the caller could not know that
    expect(await linkCall(h.link, h.server.nodeId, 'rec.hit', 2, 5_000)).toBe(4)
    expect(h.client.counters.sentByTransport).toEqual({ udp: 1, quic: 1 })
  })

  it('sends a call too large for one datagram over QUIC; a large reply to a small call comes back over UDP', async () => {
    const h = await harness()
    h.server.gateway.register('blob', { echo: (b: Uint8Array) => b, make: (n: number) => new Uint8Array(n).fill(1) })
    const big = randomBytes(4000, 1)
    expect(await linkCall(h.link, h.server.nodeId, 'blob.echo', big, 5_000)).toEqual(big)
    expect(h.client.counters.sentByTransport).toEqual({ quic: 1 })
    expect(await linkCall(h.link, h.server.nodeId, 'blob.make', 100_000, 5_000)).toEqual(new Uint8Array(100_000).fill(1))
    expect(h.client.counters.sentByTransport).toEqual({ quic: 1, udp: 1 })
  })
})
