/**
 * The forwarder's half of the gateway actor (Router), with a scripted next hop: what it passes back
 * to the origin, and when it forgets its own route to the destination.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import type { PendingCall } from '../../src/actors/pending-call.js'
import { type MeshError, UnreachableError, errorToWire } from '../../src/errors.js'
import { OriginAuth } from '../../src/routing/origin-auth.js'
import { encodeRouteHeader } from '../../src/routing/route-header.js'
import { Router } from '../../src/routing/router.js'
import { createCounters } from '../../src/stats.js'
import type { InboundRequest, PeerLink } from '../../src/transport/interfaces.js'
import { Deadlines } from '../../src/util/deadlines.js'
import { ErrorBody, errorFromBody } from '../../src/wire/answers.js'
import { encodePayload } from '../../src/wire/payload.js'

const [A, B, C, D] = ['node-a', 'node-b', 'node-c', 'node-d']

/** B on the route A → B → C → D; `nextHop` decides what happens to the call B passes to C. */
async function forwarder (nextHop: (call: PendingCall) => void, reachable = true): Promise<{ router: Router, forgotten: string[], sent: PendingCall[] }> {
  const forgotten: string[] = []
  const sent: PendingCall[] = []
  const link: PeerLink = { transport: 'quic', submit: (call) => { sent.push(call); nextHop(call) }, close: () => {} }
  const router = new Router({
    self: B,
    auth: new OriginAuth(B, await generateKeyPair('Ed25519')),
    counters: createCounters(),
    deadlines: new Deadlines<PendingCall>(),
    onSettle: () => {},
    directLink: async () => {
      if (!reachable) throw new Error('no connection')
      return link
    },
    forget: (destination) => { forgotten.push(destination) }
  })
  return { router, forgotten, sent }
}

/** A routed request as A sends it to B; resolves with what B answers. */
function request (timeout = 5_000): { req: InboundRequest, answer: Promise<{ error?: MeshError, raw?: ErrorBody, reply?: Uint8Array }> } {
  const route = encodeRouteHeader({ hop: 1, budget: 8, path: [A, B, C, D], timestamp: Date.now(), nonce: new Uint8Array(8), mac: new Uint8Array(32) })
  const { promise, resolve } = Promise.withResolvers<{ error?: MeshError, raw?: ErrorBody, reply?: Uint8Array }>()
  const req: InboundRequest = {
    caller: A,
    method: 'svc.op',
    payload: encodePayload(1),
    route,
    timeout,
    oneWay: false,
    transport: 'quic',
    onCancel: undefined,
    reply: () => { throw new Error('a forwarder replies raw') },
    fail: (err) => { resolve({ error: err as MeshError }) },
    replyRaw: (body) => { resolve({ reply: body }) },
    failRaw: (raw) => { resolve({ raw }) }
  }
  return { req, answer: promise }
}

/** An ERROR body as node `from` would send it. */
function errorBody (err: MeshError, from: string): ErrorBody {
  return new ErrorBody(encodePayload(errorToWire(err, from, false)), from)
}

describe('a forwarder (Router)', () => {
  it('passes back a failure from a later hop unchanged, and forgets its own route to the destination', async () => {
    const { router, forgotten, sent } = await forwarder((call) => {
      call.reject(errorBody(new UnreachableError(`${C} cannot reach the next hop ${D}`, { node: C }), C))
    })
    const { req, answer } = request()
    router.route(req, () => { throw new Error('B is not the destination') })
    const { raw } = await answer
    expect(sent.map(c => c.node)).toEqual([C])
    expect(errorFromBody(raw!.body, raw!.from)).toMatchObject({ code: 'MESH_ERR_UNREACHABLE', node: C })
    expect(forgotten).toEqual([D])
  })

  it('passes back the destination\'s own error and keeps the route (it was delivered)', async () => {
    const { router, forgotten } = await forwarder((call) => {
      call.reject(errorBody(new UnreachableError('the handler says no', { node: D }), D))
    })
    const { req, answer } = request()
    router.route(req, () => {})
    const { raw } = await answer
    expect(errorFromBody(raw!.body, raw!.from)).toMatchObject({ node: D })
    expect(forgotten).toEqual([])
  })

  it('answers MESH_ERR_UNREACHABLE naming itself when the next hop cannot be reached, and forgets the route', async () => {
    const { router, forgotten, sent } = await forwarder(() => {}, false)
    const { req, answer } = request()
    router.route(req, () => {})
    const { error } = await answer
    expect(error).toMatchObject({ code: 'MESH_ERR_UNREACHABLE', node: B })
    expect(sent).toEqual([])
    expect(forgotten).toEqual([D])
  })

  it('never forwards a call whose deadline has passed', async () => {
    const { router, sent } = await forwarder(() => {})
    const { req, answer } = request(1)
    router.route(req, () => {})
    expect((await answer).error).toMatchObject({ code: 'MESH_ERR_TIMEOUT', node: B })
    expect(sent).toEqual([])
  })
})
