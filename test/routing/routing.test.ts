import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { allowPeers, type Context, type Mesh } from '../../src/index.js'
import { RPC_PROTOCOL } from '../../src/options.js'
import { OriginAuth } from '../../src/routing/origin-auth.js'
import { encodeRouteHeader } from '../../src/routing/route-header.js'
import { parseRoutedReply } from '../../src/wire/answers.js'
import { decodePayload, encodePayload, FrameDecoder, FrameType, FrameWriter, methodBytes, parseFrame, type Frame } from '../../src/wire/index.js'
import { rejection, startMesh, until } from '../helpers.js'
import { identities, type Identity } from './topology.js'

/** Starts a line of nodes in which each may connect only to its neighbours. */
async function line (n: number, ids?: Identity[]): Promise<Mesh[]> {
  ids ??= await identities(n)
  const meshes: Mesh[] = []
  for (let i = n - 1; i >= 0; i--) {
    const neighbours = new Set([ids[i - 1]?.id, ids[i + 1]?.id])
    meshes[i] = await startMesh({
      privateKey: ids[i].key,
      bootstrap: i < n - 1 ? [meshes[i + 1].addresses[0]] : [],
      connectionGater: allowPeers(peer => neighbours.has(peer))
    })
  }
  for (const m of meshes) m.actor('who', { am: (_: unknown, ctx: Context) => ({ me: m.nodeId, caller: ctx.caller, hops: ctx.hops }) })
  return meshes
}

describe('calls through gateways', () => {
  it('reaches the far end of a line of gated nodes in 3 hops, both ways, and reports the route', async () => {
    const [a, b, c, d] = await line(4)
    const there = await a.traceCall(d.nodeId, 'who.am')
    expect(there.value).toEqual({ me: d.nodeId, caller: a.nodeId, hops: 3 })
    expect(there.path).toEqual([a.nodeId, b.nodeId, c.nodeId, d.nodeId])
    // each hop: QUIC, or a fast path once its two nodes have set one up (after their first calls)
    expect(there.transports).toHaveLength(3)
    for (const t of there.transports) expect(['quic', 'udp', 'shm']).toContain(t)
    const back = await d.traceCall(a.nodeId, 'who.am')
    expect(back.value).toEqual({ me: a.nodeId, caller: d.nodeId, hops: 3 })
    expect(back.path).toEqual([d.nodeId, c.nodeId, b.nodeId, a.nodeId])
    // the route is remembered: the next call resolves nothing
    const resolutions = a.stats().counters.resolutions
    expect(await a.call(d.nodeId, 'who.am')).toMatchObject({ me: d.nodeId })
    expect(a.stats().counters.resolutions).toBe(resolutions)
    expect(b.stats().counters.routedForwarded).toBeGreaterThanOrEqual(2)
  })

  it('lets a leaf behind gateways call another leaf', async () => {
    const g1 = await startMesh()
    const g2 = await startMesh({ bootstrap: [g1.addresses[0]] })
    const leaves: Mesh[] = []
    for (let i = 0; i < 4; i++) {
      leaves.push(await startMesh({ reachability: 'outbound-only', bootstrap: [g1.addresses[0], g2.addresses[0]] }))
    }
    for (const leaf of leaves) {
      expect(leaf.addresses).toEqual([])
      leaf.actor('leaf', { ping: (_: unknown, ctx: Context) => ({ pong: leaf.nodeId, from: ctx.caller }) })
    }
    const trace = await leaves[0].traceCall(leaves[3].nodeId, 'leaf.ping')
    expect(trace.value).toEqual({ pong: leaves[3].nodeId, from: leaves[0].nodeId })
    expect(trace.path).toHaveLength(3)
    expect([g1.nodeId, g2.nodeId]).toContain(trace.path[1])
    expect(await leaves[2].call(leaves[1].nodeId, 'leaf.ping')).toEqual({ pong: leaves[1].nodeId, from: leaves[2].nodeId })
  })

  it('finds an outbound-only node through the gateways it advertises in the DHT, without a discovery', async () => {
    const [leafId] = await identities(1)
    const h1 = await startMesh()
    const h2 = await startMesh({ bootstrap: [h1.addresses[0]] })
    const leaf = await startMesh({ privateKey: leafId.key, reachability: 'outbound-only', bootstrap: [h1.addresses[0], h2.addresses[0]] })
    leaf.actor('leaf', { ping: (_: unknown, ctx: Context) => ({ pong: leaf.nodeId, from: ctx.caller }) })
    await until(() => leaf.stats().counters.gatewayRecordsPublished > 0, 'the leaf to publish its gateway record')
    // the caller never connects to the leaf itself, so only a route through gateways reaches it
    const caller = await startMesh({ bootstrap: [h2.addresses[0]], connectionGater: allowPeers(peer => peer !== leafId.id) })
    const trace = await caller.traceCall(leaf.nodeId, 'leaf.ping')
    expect(trace.value).toEqual({ pong: leaf.nodeId, from: caller.nodeId })
    expect(trace.path).toHaveLength(3)
    expect([h1.nodeId, h2.nodeId]).toContain(trace.path[1])
    expect(caller.stats().counters).toMatchObject({ gatewayRoutes: 1, discoveries: 0 })
  })

  it('answers an unknown destination with MESH_ERR_UNREACHABLE', async () => {
    const [a] = await line(3)
    const [stranger] = await identities(1)
    const err = await rejection(a.call(stranger.id, 'who.am', null, { timeout: 15_000 }))
    expect(err.code).toBe('MESH_ERR_UNREACHABLE')
    expect(err.node).toBe(a.nodeId)
  })

  it('refuses a route longer than the hop budget with MESH_ERR_HOP_LIMIT', async () => {
    const ids = await identities(4)
    const [a, b, c, d] = await line(4, ids)
    const err = await rejection(a.call(d.nodeId, 'who.am', null, { hops: 2 }))
    expect(err.code).toBe('MESH_ERR_UNREACHABLE')
    const long = await sendRoute({ from: a, to: b, path: [a.nodeId, b.nodeId, c.nodeId, d.nodeId], budget: 2, signer: ids[0] })
    expect(long).toMatchObject({ code: 'MESH_ERR_HOP_LIMIT', node: b.nodeId })
  })
})

describe('routed calls under attack', () => {
  it('refuses a looping route, a forged origin, a replay and an expired deadline, each with its own code', async () => {
    const ids = await identities(3)
    const [a, b, c] = await line(3, ids)
    const [stranger] = await identities(1)
    const loop = await sendRoute({ from: a, to: b, path: [a.nodeId, b.nodeId, c.nodeId, b.nodeId], signer: ids[0] })
    expect(loop).toMatchObject({ code: 'MESH_ERR_LOOP', node: b.nodeId })
    const forged = await sendRoute({ from: b, to: c, hop: 2, path: [stranger.id, b.nodeId, c.nodeId], signer: ids[1] })
    expect(forged).toMatchObject({ code: 'MESH_ERR_FORBIDDEN', node: c.nodeId })
    const genuine = await routeFrame({ hop: 2, path: [a.nodeId, b.nodeId, c.nodeId], signer: ids[0] })
    expect(await sendFrame(b, c, genuine)).toMatchObject({ value: { me: c.nodeId, caller: a.nodeId } })
    expect(await sendFrame(b, c, genuine)).toMatchObject({ code: 'MESH_ERR_FORBIDDEN', node: c.nodeId })
    const late = await sendRoute({ from: a, to: b, path: [a.nodeId, b.nodeId, c.nodeId], signer: ids[0], timeout: 1 })
    expect(late).toMatchObject({ code: 'MESH_ERR_TIMEOUT', node: b.nodeId })
    expect(c.stats().counters.routedDelivered).toBe(1)
    expect(await a.call(c.nodeId, 'who.am')).toMatchObject({ me: c.nodeId, caller: a.nodeId })
  })
})

interface RouteFrameInit { hop?: number, budget?: number, path: string[], signer: Identity, timeout?: number }

/** A ROUTE frame for who.am along `path`, sealed with `signer`'s key (as from `signer`, whatever path[0] says). */
async function routeFrame ({ hop = 1, budget = 8, path, signer, timeout = 5_000 }: RouteFrameInit): Promise<Uint8Array> {
  const payload = encodePayload(null)
  const proof = new OriginAuth(signer.id, privateKeyFromProtobuf(signer.key)).seal(path[path.length - 1], 'who.am', payload)
  const writer = new FrameWriter(1 << 20)
  writer.route(7, timeout, encodeRouteHeader({ hop, budget, path, ...proof }), methodBytes('who.am'), payload)
  return writer.take() as Uint8Array
}

async function sendRoute (init: RouteFrameInit & { from: Mesh, to: Mesh }): Promise<{ code?: string, node?: string, value?: unknown }> {
  return sendFrame(init.from, init.to, await routeFrame(init))
}

/** Sends raw frame bytes on a new RPC stream from one node to a neighbour; returns the answer. */
async function sendFrame (from: Mesh, to: Mesh, bytes: Uint8Array): Promise<{ code?: string, node?: string, value?: unknown }> {
  const stream = await from.libp2p.dialProtocol(to.libp2p.peerId, RPC_PROTOCOL)
  const answer = new Promise<Frame>((resolve) => {
    const decoder = new FrameDecoder(1 << 20)
    stream.addEventListener('message', (evt) => { decoder.push(evt.data.subarray(), (b) => { resolve(parseFrame(b.slice())) }) })
  })
  stream.send(bytes)
  const frame = await answer
  stream.abort(new Error('done'))
  if (frame.type === FrameType.ERROR) return decodePayload(frame.payload) as { code: string, node: string }
  return { value: parseRoutedReply(frame.payload).value }
}
