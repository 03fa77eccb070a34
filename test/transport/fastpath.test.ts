/**
 * The transport selector inside real meshes: same host → shm, shm off → udp, both off → quic, the
 * handshake refusing what it should, and the options.
 */
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { allowPeers, createMesh, type Mesh, type MeshInit } from '../../src/index.js'
import { addressScope, transportsFor } from '../../src/transport/selector.js'
import { ClosedError } from '../../src/errors.js'
import { createCounters } from '../../src/stats.js'
import { FastPaths, type QuicLink } from '../../src/transport/fastpath/fast-paths.js'
import type { TransportName } from '../../src/transport/interfaces.js'
import { meshConfig } from '../../src/options.js'
import { rejection, startMesh, until } from '../helpers.js'
import { identities } from '../routing/topology.js'
import { native } from './native/native-env.js'

/** Calls until the route trace shows `transport` (the handshake runs in the background after the first call). */
async function callUntil (client: Mesh, server: Mesh, transport: TransportName): Promise<TransportName[]> {
  const seen: TransportName[] = []
  for (let i = 0; i < 2_000; i++) {
    const t = await client.traceCall(server.nodeId, 'echo.back', i)
    expect(t.value).toBe(i)
    seen.push(t.transports[0])
    if (t.transports[0] === transport) return seen
  }
  throw new Error(`no call went over ${transport}: ${[...new Set(seen)].join(', ')}`)
}

async function pair (clientInit: MeshInit = {}, serverInit: MeshInit = {}): Promise<{ client: Mesh, server: Mesh }> {
  const server = await startMesh(serverInit)
  server.actor('echo', { back: (v: unknown) => v })
  const client = await startMesh({ bootstrap: server.addresses, ...clientInit })
  return { client, server }
}

describe('transport selection', () => {
  it('classifies addresses by scope', () => {
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.2'].map(addressScope)).toEqual(['loopback', 'loopback', 'loopback'])
    expect(['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fd00::1'].map(addressScope)).toEqual(Array(5).fill('private'))
    expect(['169.254.0.1', 'fe80::1'].map(addressScope)).toEqual(['link-local', 'link-local'])
    expect(['8.8.8.8', '172.32.0.1', '2001:db8::1', 'not an ip'].map(addressScope)).toEqual(Array(4).fill('public'))
  })

  it('offers shm to a peer on this host, udp on a LAN, nothing beyond', () => {
    const all = { shm: true, udp: true }
    const local = new Set(['10.0.0.5'])
    expect(transportsFor('127.0.0.1', local, all)).toEqual({ shm: true, udp: true })
    expect(transportsFor('10.0.0.5', local, all)).toEqual({ shm: true, udp: true })
    expect(transportsFor('10.0.0.6', local, all)).toEqual({ shm: false, udp: true })
    expect(transportsFor('8.8.8.8', local, all)).toEqual({ shm: false, udp: false })
    expect(transportsFor('127.0.0.1', local, { shm: false, udp: true })).toEqual({ shm: false, udp: true })
  })

  it('without the native addon, sends everything over QUIC and says why', () => {
    const config = meshConfig()
    const quic: QuicLink = { transport: 'quic', submit: () => {}, close: () => {}, stats: () => ({ outstanding: 0, queued: 0 }) }
    const fast = new FastPaths({
      nodeId: 'self', udp: config.udp, shm: config.shm, listen: [], deadAfter: 3_000, keepAlive: 1_000, maxFrameSize: config.maxFrameSize,
      maxQueued: 10, counters: createCounters(), handler: { onRequest: () => {} }, remoteAddress: () => '127.0.0.1', quicLink: () => quic, peerExited: () => {}, binding: null
    })
    fast.start()
    expect(fast.select('peer', quic)).toBe(quic)
    expect(fast.stats()).toEqual({ unavailable: 'no native addon', links: [] })
    fast.stop(new ClosedError())
  })

  it('validates the transports options, naming the bad one', async () => {
    const bad: Array<[MeshInit['transports'], string]> = [
      [{ udp: { maxDatagramSize: 100 } }, 'options.transports.udp.maxDatagramSize'],
      [{ udp: { host: 'localhost' } }, 'options.transports.udp.host'],
      [{ udp: { busyPollUs: -1 } }, 'options.transports.udp.busyPollUs'],
      [{ shm: { ringSize: 100_000 } }, 'options.transports.shm.ringSize'],
      [{ shm: { enabled: 'yes' as unknown as boolean } }, 'options.transports.shm.enabled'],
      [{ udp: 1 as unknown as boolean }, 'options.transports.udp']
    ]
    for (const [transports, name] of bad) {
      const err = await rejection(createMesh({ listen: [], transports }))
      expect(err).toMatchObject({ code: 'MESH_ERR_INVALID_OPTIONS' })
      expect(err.message).toContain(name)
    }
  })
})

describe.skipIf(native === undefined)('fast paths between meshes', () => {
  it('two nodes on one host pick shared memory, and the route trace shows it', async () => {
    const { client, server } = await pair()
    const seen = await callUntil(client, server, 'shm')
    expect(seen[0]).toBe('quic') // the first call does not wait for the handshake
    const links = client.stats().fastPath.links
    expect(links).toMatchObject([{ remote: server.nodeId, transport: 'shm', ready: true }])
    expect(server.stats().fastPath.links).toMatchObject([{ remote: client.nodeId, transport: 'shm' }])
    expect(client.stats().counters.sentByTransport.shm).toBe(1)
    expect(server.stats().counters.receivedByTransport.shm).toBe(1)
    // and the other way, on the same rings
    server.actor('ping', { pong: () => 'pong' })
    client.actor('echo', { back: (v: unknown) => v })
    expect((await server.traceCall(client.nodeId, 'echo.back', 'x')).transports).toEqual(['shm'])
  })

  it('keeps a caller\'s order while its calls move from QUIC to the fast path', async () => {
    const { client, server } = await pair()
    const seen: number[] = []
    server.actor('order', { push: (i: number) => { seen.push(i) } }, { concurrency: 1, mailbox: 100_000 })
    let next = 0
    // casts keep going while the handshake runs; now and then a call waits for everything before it
    for (let round = 0; round < 5_000 && (client.stats().counters.sentByTransport.shm ?? 0) < 1_000; round++) {
      for (let k = 0; k < 20; k++) client.cast(server.nodeId, 'order.push', next++)
      if (round % 10 === 9) await client.call(server.nodeId, 'order.push', next++)
      else await new Promise(resolve => setImmediate(resolve))
    }
    await until(() => seen.length === next, 'every cast to arrive')
    expect(seen).toEqual(Array.from({ length: next }, (_, i) => i))
    const sent = client.stats().counters.sentByTransport
    expect(sent.quic).toBeGreaterThan(0)
    expect(sent.shm).toBeGreaterThanOrEqual(1_000)
  })

  it('pick UDP when shared memory is off on either side', async () => {
    const { client, server } = await pair({ transports: { shm: false } })
    await callUntil(client, server, 'udp')
    const other = await pair({}, { transports: { shm: false } })
    await callUntil(other.client, other.server, 'udp')
    expect(other.client.stats().fastPath.links).toMatchObject([{ transport: 'udp', ready: true }])
    expect(other.client.stats().fastPath.udp?.sessions).toBe(1)
  })

  it('stay on QUIC when both fast paths are off', async () => {
    const { client, server } = await pair({ transports: { shm: false, udp: false } })
    for (let i = 0; i < 50; i++) expect((await client.traceCall(server.nodeId, 'echo.back', i)).transports).toEqual(['quic'])
    expect(client.stats().fastPath).toEqual({ unavailable: 'udp and shm are disabled', links: [] })
    expect(server.stats().fastPath.links).toEqual([])
  })

  it('unlinks the ring files as soon as both sides hold them', async () => {
    const { client, server } = await pair()
    await callUntil(client, server, 'shm')
    const path = client.stats().fastPath.links[0].detail.path as string
    expect(path).toMatch(/kadmesh-[0-9a-f]{32}\.ring$/)
    expect(existsSync(path)).toBe(false)
    expect(existsSync(path.replace(/\.ring$/, '.bell0'))).toBe(false)
  })

  it('refuses a handshake that comes through gateways: the keys must not pass a forwarder', async () => {
    const ids = await identities(3)
    const c = await startMesh({ privateKey: ids[2].key, connectionGater: allowPeers(p => p === ids[1].id) })
    const b = await startMesh({ privateKey: ids[1].key, bootstrap: [c.addresses[0]] })
    const a = await startMesh({ privateKey: ids[0].key, bootstrap: [b.addresses[0]], connectionGater: allowPeers(p => p === ids[1].id) })
    const offer = { v: 1, host: '', uid: 0, udp: { id: 7, key: new Uint8Array(32), port: 9 } }
    const err = await rejection(a.call(c.nodeId, '_mesh.fastpath.hello', offer))
    expect(err).toMatchObject({ code: 'MESH_ERR_FORBIDDEN', node: c.nodeId })
    expect(c.stats().fastPath.links.map(l => l.remote)).not.toContain(a.nodeId)
  })

  it('answers a malformed handshake with MESH_ERR_BAD_REQUEST, counted, and keeps working', async () => {
    const { client, server } = await pair({ transports: { shm: false, udp: false } })
    for (const args of [null, { v: 2 }, { v: 1, host: '', uid: 0, udp: { id: 0, key: new Uint8Array(32), port: 1 } }, { v: 1, host: '', uid: 0, shm: { name: '../x', token: new Uint8Array(32) } }]) {
      const err = await rejection(client.call(server.nodeId, '_mesh.fastpath.hello', args))
      expect(err).toMatchObject({ code: 'MESH_ERR_BAD_REQUEST' })
    }
    expect(server.stats().counters.servedErrors.MESH_ERR_BAD_REQUEST).toBe(4)
    expect(await client.call(server.nodeId, 'echo.back', 'still')).toBe('still')
  })
})
