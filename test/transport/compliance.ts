/**
 * The transport compliance suite (libp2p's interface-compliance-tests pattern): the same behaviour
 * asserted of every transport — QUIC, UDP, shared memory and the in-memory one — through the
 * PeerLink a caller uses and the Gateway that serves it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PendingCall } from '../../src/actors/pending-call.js'
import type { Context } from '../../src/actors/context.js'
import { ClosedError } from '../../src/errors.js'
import type { PeerLink } from '../../src/transport/interfaces.js'
import { linkCall } from '../../src/transport/system-call.js'
import { methodBytes } from '../../src/wire/frame-writer.js'
import { encodePayload } from '../../src/wire/payload.js'
import { rejection, until } from '../helpers.js'
import { prng } from '../prng.js'
import type { TransportHarness } from './harness.js'

/** Sends a cast over `link` (resolves when it is written). */
export function castOn (link: PeerLink, node: string, method: string, args: unknown): Promise<unknown> {
  const payload = encodePayload(args)
  const call = new PendingCall(node, method, payload, performance.now() + 10_000, true)
  call.frameSize = 4 + 8 + 1 + methodBytes(method).byteLength + payload.byteLength
  link.submit(call)
  return call.promise
}

export function randomBytes (n: number, seed: number): Uint8Array {
  const next = prng(seed)
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256)
  return out
}

/** What the suite's server actors saw. */
export interface Served {
  order: number[]
  started: number
  aborted: number
}

export function serveTestActors (h: TransportHarness): Served {
  const served: Served = { order: [], started: 0, aborted: 0 }
  h.server.gateway.register('order', {
    push: (i: number) => { served.order.push(i); return i }
  }, { concurrency: 1, mailbox: 10_000 })
  h.server.gateway.register('t', {
    back: (v: unknown) => v,
    big: (n: number) => new Uint8Array(n).fill(7),
    slow: async (_: unknown, ctx: Context) => {
      served.started++
      await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) })
      served.aborted++
    }
  }, { concurrency: 100 })
  return served
}

export function transportCompliance (name: string, make: () => Promise<TransportHarness>): void {
  describe(`${name}: transport compliance`, () => {
    let h: TransportHarness
    let served: Served
    const call = async (method: string, args: unknown, timeout = 10_000): Promise<unknown> => linkCall(h.link, h.server.nodeId, method, args, timeout)

    beforeEach(async () => {
      h = await make()
      served = serveTestActors(h)
    })
    afterEach(async () => { await h.close() })

    it('delivers calls and casts in the order they were sent, each once, with their replies', async () => {
      const replies: Array<Promise<unknown>> = []
      const n = 1000 // beyond the flow-control window (256 frames): the rest wait, in order
      for (let i = 0; i < n; i++) {
        if (i % 2 === 0) void castOn(h.link, h.server.nodeId, 'order.push', i)
        else replies.push(call('order.push', i))
      }
      expect(await Promise.all(replies)).toEqual(Array.from({ length: n / 2 }, (_, k) => 2 * k + 1))
      await until(() => served.order.length === n, 'every cast to arrive')
      expect(served.order).toEqual(Array.from({ length: n }, (_, i) => i))
      expect(h.client.counters.sentByTransport).toEqual({ [h.transport]: n })
    })

    it('carries empty, small and large frames both ways', async () => {
      for (const size of [0, 64, 1024, 1024 * 1024]) {
        const payload = randomBytes(size, size)
        expect(await call('t.back', payload)).toEqual(payload)
      }
      // a small call whose reply is large
      expect(await call('t.big', 1024 * 1024)).toEqual(new Uint8Array(1024 * 1024).fill(7))
    })

    it('close rejects the calls in flight with its reason and aborts their handlers', async () => {
      const errors = Promise.all([1, 2, 3].map(async () => rejection(call('t.slow', null))))
      await until(() => served.started === 3, 'three handlers to start')
      h.link.close(new ClosedError('closed by the test'))
      for (const err of await errors) expect(err).toMatchObject({ code: 'MESH_ERR_CLOSED' })
      await until(() => served.aborted === 3, 'the handlers to be aborted')
    })

    it('fails the calls in flight when the peer closes its end, never hangs', async () => {
      const errors = Promise.all([1, 2, 3].map(async () => rejection(call('t.slow', null))))
      await until(() => served.started === 3, 'three handlers to start')
      h.stopServer()
      // MESH_ERR_CLOSED from the peer's last answers; on QUIC the stream reset that follows them
      // discards them, and the caller sees the reset (CONNECTION_LOST)
      const expected = h.transport === 'quic' ? ['MESH_ERR_CLOSED', 'MESH_ERR_CONNECTION_LOST'] : ['MESH_ERR_CLOSED']
      for (const err of await errors) expect(expected).toContain(err.code)
    })

    it('fails the calls in flight with a retryable error when the peer dies, never hangs', async () => {
      const errors = Promise.all([1, 2, 3].map(async () => rejection(call('t.slow', null, 20_000))))
      await until(() => served.started === 3, 'three handlers to start')
      await h.killServer()
      for (const err of await errors) {
        expect(err).toMatchObject({ code: 'MESH_ERR_CONNECTION_LOST', retryable: true })
      }
    })

    it('drops and counts garbage input, and keeps serving', async () => {
      expect(await call('t.back', 'before')).toBe('before')
      const counted = (): number => {
        const c = h.server.counters
        return c.badFrames + c.brokenStreams + Object.values(c.fastPathDropped).reduce((a, b) => a + b, 0)
      }
      await h.garbage(randomBytes(4096, 42))
      await until(() => counted() > 0, 'the garbage to be counted')
      expect(await call('t.back', 'after')).toBe('after')
    })
  })
}
