import { describe, expect, it } from 'vitest'
import { PendingCall } from '../../src/actors/pending-call.js'
import { ClosedError } from '../../src/errors.js'
import { createCounters } from '../../src/stats.js'
import type { FrameStream, InboundRequest } from '../../src/transport/interfaces.js'
import { StreamPool } from '../../src/transport/quic/stream-pool.js'
import { FrameType } from '../../src/wire/frame.js'
import { FrameDecoder, parseFrame } from '../../src/wire/frame-decoder.js'
import { encodePayload } from '../../src/wire/payload.js'
import { type MemoryStream, memoryPair } from './memory-stream.js'

/** One end of a link: a pool whose handler holds every request until the test answers it. */
function end (local: string, remote: string, openStream: () => Promise<FrameStream> = async () => { throw new Error('this test opens no streams') }):
{ pool: StreamPool, requests: AsyncIterator<InboundRequest>, sentBack: PendingCall[], peerDrained: Promise<void> } {
  const queue: InboundRequest[] = []
  let wake: (() => void) | undefined
  const sentBack: PendingCall[] = []
  const peerDrained = Promise.withResolvers<void>()
  const pool = new StreamPool({
    remote,
    maxStreams: 1,
    maxQueued: 100,
    openStream,
    channel: { local, maxFrameSize: 1 << 20, counters: createCounters(), handler: { onRequest: (req) => { queue.push(req); wake?.() } } },
    onIdle: () => {},
    onUnreachable: (calls) => { sentBack.push(...calls) },
    drainTimeout: 60_000,
    onPeerDrain: () => { peerDrained.resolve() }
  })
  const requests: AsyncIterator<InboundRequest> = {
    next: async () => {
      while (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
      return { value: queue.shift() as InboundRequest, done: false }
    }
  }
  return { pool, requests, sentBack, peerDrained: peerDrained.promise }
}

/** Counts the GOAWAY frames `stream` sends. */
function goAwaysSent (stream: MemoryStream): () => number {
  let count = 0
  const decoder = new FrameDecoder(1 << 20)
  const send = stream.send.bind(stream)
  stream.send = (data) => {
    decoder.push(data, (frame) => { if (parseFrame(frame).type === FrameType.GOAWAY) count++ })
    return send(data)
  }
  return () => count
}

/** Lets every queued microtask (the memory streams' deliveries) run. */
async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

function call (node: string, method: string, args: unknown): PendingCall {
  const c = new PendingCall(node, method, encodePayload(args), performance.now() + 60_000, false)
  c.frameSize = 64
  return c
}

describe('graceful close of a link (GOAWAY)', () => {
  it('finishes the calls in flight both ways, hands new calls back to their owner, then reports drained', async () => {
    const [sa, sb] = memoryPair()
    const a = end('A', 'B')
    const b = end('B', 'A')
    a.pool.addStream(sa)
    b.pool.addStream(sb)

    const fromA = call('B', 'svc.slow', 1)
    const fromB = call('A', 'svc.slow', 2)
    a.pool.submit(fromA)
    b.pool.submit(fromB)
    const atB = (await b.requests.next()).value as InboundRequest
    const atA = (await a.requests.next()).value as InboundRequest

    let drained = false
    const draining = a.pool.drain().then(() => { drained = true })
    await b.peerDrained
    expect(a.pool.draining && b.pool.draining).toBe(true)

    // nothing new goes on a draining link, on either side: the owner routes it another way
    const lateA = call('B', 'svc.slow', 3)
    const lateB = call('A', 'svc.slow', 4)
    a.pool.submit(lateA)
    b.pool.submit(lateB)
    expect(a.sentBack).toEqual([lateA])
    expect(b.sentBack).toEqual([lateB])

    atB.reply('b-done')
    expect(await fromA.promise).toBe('b-done')
    expect(drained).toBe(false)
    atA.reply('a-done')
    expect(await fromB.promise).toBe('a-done')
    await draining
    expect(sa.closed || sb.closed).toBe(false)
  })

  it('answers GOAWAY only once a stream it was opening is open, so the side that closes knows every stream first', async () => {
    // A is closing its connection to B while B opens a stream for a call: B's stream must be known
    // at A (accepted before B's open resolves) before B's GOAWAY answer lets A's drain end
    const [sa, sb] = memoryPair()
    const [sa2, sb2] = memoryPair()
    const opening = Promise.withResolvers<FrameStream>()
    const a = end('A', 'B')
    const b = end('B', 'A', async () => opening.promise)
    const fromB = call('A', 'svc.slow', 1)
    b.pool.submit(fromB)
    a.pool.addStream(sa)
    b.pool.addStream(sb)
    const atA = (await a.requests.next()).value as InboundRequest
    const bGoAways = goAwaysSent(sb)
    const bNewGoAways = goAwaysSent(sb2)

    let drained = false
    const draining = a.pool.drain().then(() => { drained = true })
    await b.peerDrained
    await settle()
    expect(bGoAways()).toBe(0)

    a.pool.addStream(sa2)
    opening.resolve(sb2)
    await settle()
    expect([bGoAways(), bNewGoAways()]).toEqual([1, 1])
    expect(drained).toBe(false)
    atA.reply('done')
    expect(await fromB.promise).toBe('done')
    await draining
    expect(b.sentBack).toEqual([])
  })

  it('answers a peer that started draining with its own GOAWAY, so a link drained from both sides ends once', async () => {
    const [sa, sb] = memoryPair()
    const a = end('A', 'B')
    const b = end('B', 'A')
    a.pool.addStream(sa)
    b.pool.addStream(sb)
    await Promise.all([a.pool.drain(), b.pool.drain()])
    expect(a.pool.draining && b.pool.draining).toBe(true)
    expect(a.sentBack).toEqual([])
  })
})

describe('StreamPool.close', () => {
  it('rejects at once, with its reason, the calls its streams had not written yet', async () => {
    const [sa, sb] = memoryPair()
    const a = end('A', 'B')
    const b = end('B', 'A')
    a.pool.addStream(sa)
    b.pool.addStream(sb)
    const unwritten = call('B', 'svc.slow', 1)
    a.pool.submit(unwritten)
    a.pool.close(new ClosedError('node A stopped'))
    await expect(unwritten.promise).rejects.toMatchObject({ code: 'MESH_ERR_CLOSED', message: 'node A stopped' })
    const late = call('B', 'svc.slow', 2)
    a.pool.submit(late)
    await expect(late.promise).rejects.toMatchObject({ code: 'MESH_ERR_CLOSED' })
  })
})
