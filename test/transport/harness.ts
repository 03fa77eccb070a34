/**
 * One client → server link per transport, built from the real parts: real libp2p QUIC nodes on
 * loopback, real native UDP sockets and shared-memory rings, real Gateways and Channels. The
 * compliance suite (compliance.ts) runs the same tests against each.
 */
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { Gateway } from '../../src/actors/gateway.js'
import { ClosedError, ConnectionLostError } from '../../src/errors.js'
import { loadPrivateKey } from '../../src/identity.js'
import { meshConfig, RPC_PROTOCOL } from '../../src/options.js'
import { type Counters, createCounters } from '../../src/stats.js'
import { FastLink } from '../../src/transport/fastpath/link.js'
import type { FrameStream, PeerLink, TransportName } from '../../src/transport/interfaces.js'
import { createQuicNode, type MeshLibp2p } from '../../src/transport/quic/node.js'
import { StreamPool } from '../../src/transport/quic/stream-pool.js'
import type { NativeBinding } from '../../src/transport/native/binding.js'
import { NativeUdpSocket } from '../../src/transport/native/udp.js'
import { ShmStream } from '../../src/transport/shm/stream.js'
import { DATAGRAM_OVERHEAD } from '../../src/transport/udp/datagram.js'
import { type DatagramSocket, UdpEndpoint } from '../../src/transport/udp/endpoint.js'
import type { UdpSession } from '../../src/transport/udp/session.js'
import { countCode } from '../../src/stats.js'
import { until } from '../helpers.js'
import { memoryPair, type MemoryStream } from './memory-stream.js'

export const MAX_FRAME = 4 * 1024 * 1024
export const UDP_DATAGRAM = 1452
/** Short, so a dead peer is noticed quickly in tests. */
export const DEAD_AFTER = 1_000

export interface Side {
  nodeId: string
  counters: Counters
  gateway: Gateway
}

export interface TransportHarness {
  transport: TransportName
  client: Side
  server: Side
  /** The client's link to the server. */
  link: PeerLink
  /** Hostile or corrupt bytes reach the server's receive path the way this transport lets a peer send them. */
  garbage: (bytes: Uint8Array) => Promise<void>
  /** The server stops abruptly, finishing nothing. */
  killServer: () => Promise<void>
  /** The server closes its end in order, answering what it serves with MESH_ERR_CLOSED. */
  stopServer: () => void
  close: () => Promise<void>
}

function side (nodeId: string): Side {
  const counters = createCounters()
  const gateway = new Gateway({
    nodeId,
    counters,
    onCastError: () => {},
    route: (req) => { req.fail(new Error('no routing in this harness'), false) }
  })
  return { nodeId, counters, gateway }
}

function refuse (calls: Array<{ reject: (err: unknown) => void }>, reason: Error): void {
  for (const call of calls) call.reject(reason)
}

function pool (local: Side, remote: string, openStream: () => Promise<FrameStream>): StreamPool {
  return new StreamPool({
    remote,
    maxStreams: 4,
    maxQueued: 10_000,
    openStream,
    channel: { local: local.nodeId, maxFrameSize: MAX_FRAME, handler: local.gateway, counters: local.counters },
    onIdle: () => {},
    onUnreachable: refuse,
    drainTimeout: 1_000
  })
}

/** The in-memory transport: stream pools over in-memory stream pairs. */
export async function memoryHarness (): Promise<TransportHarness> {
  const client = side('client')
  const server = side('server')
  const serverPool = pool(server, 'client', async () => { throw new Error('the server does not dial') })
  const serverEnds: MemoryStream[] = []
  const open = (): MemoryStream => {
    const [a, b] = memoryPair()
    serverEnds.push(b)
    serverPool.addStream(b)
    return a
  }
  const link = pool(client, 'server', async () => open())
  return {
    transport: 'quic',
    client,
    server,
    link,
    garbage: async (bytes) => { open().send(bytes) },
    killServer: async () => { for (const end of serverEnds) end.abort(new ConnectionLostError('server killed')) },
    stopServer: () => { serverPool.close(new ClosedError('server stopped')) },
    close: async () => {
      link.close(new ConnectionLostError('harness closed'))
      serverPool.close(new ConnectionLostError('harness closed'))
    }
  }
}

interface QuicPair {
  client: Side
  server: Side
  clientNode: MeshLibp2p
  serverNode: MeshLibp2p
  link: StreamPool
  serverPool: StreamPool
}

async function quicPair (): Promise<QuicPair> {
  const config = meshConfig({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] })
  const [serverNode, clientNode] = await Promise.all([1, 2].map(async () => createQuicNode(config, await loadPrivateKey(undefined))))
  const server = side(serverNode.peerId.toString())
  const client = side(clientNode.peerId.toString())
  const serverPool = pool(server, client.nodeId, async () => { throw new Error('the server does not dial') })
  await serverNode.handle(RPC_PROTOCOL, (stream) => { serverPool.addStream(stream) }, { maxInboundStreams: 32, maxOutboundStreams: 32 })
  const address = serverNode.getMultiaddrs()[0]
  const link = pool(client, server.nodeId, async () => clientNode.dialProtocol(address, RPC_PROTOCOL))
  return { client, server, clientNode, serverNode, link, serverPool }
}

async function stopQuic (q: QuicPair): Promise<void> {
  q.link.close(new ConnectionLostError('harness closed'))
  q.serverPool.close(new ConnectionLostError('harness closed'))
  await Promise.all([q.clientNode.stop(), q.serverNode.stop()])
}

/** Real QUIC: two libp2p nodes on loopback, stream pools on the RPC protocol. */
export async function quicHarness (): Promise<TransportHarness> {
  const q = await quicPair()
  return {
    transport: 'quic',
    client: q.client,
    server: q.server,
    link: q.link,
    garbage: async (bytes) => {
      const stream: Stream = await q.clientNode.dialProtocol(q.serverNode.getMultiaddrs()[0], RPC_PROTOCOL)
      stream.send(bytes)
    },
    killServer: async () => { await q.serverNode.stop() },
    stopServer: () => { q.serverPool.close(new ClosedError('server stopped')) },
    close: async () => { await stopQuic(q) }
  }
}

/** Options of the fast-path harnesses. */
export interface FastHarnessOptions {
  /** Wraps each side's UDP socket (loss injection, taps). */
  wrapSocket?: (socket: DatagramSocket, side: 'client' | 'server') => DatagramSocket
  /** ms a datagram may go unacknowledged before its session is dead (default DEAD_AFTER). */
  deadAfter?: number
}

/** A FastLink over `stream` for `local`, talking to `remote`, with `fallback` behind it. */
function fastLink (local: Side, remote: string, transport: 'udp' | 'shm', stream: FrameStream, ready: () => boolean, maxFrame: number, fallback: PeerLink): FastLink {
  return new FastLink({
    remote,
    transport,
    stream,
    channel: { local: local.nodeId, maxFrameSize: MAX_FRAME, handler: local.gateway, counters: local.counters },
    maxQueued: 10_000,
    maxFrame,
    ready,
    detail: () => ({}),
    fallback: () => fallback,
    onClose: () => {}
  })
}

/**
 * UDP: a native socket and endpoint per side, one session agreed directly (the mesh agrees it over
 * QUIC with `_mesh.fastpath.hello`), FastLinks with the QUIC pool behind the client's.
 */
export async function udpHarness (binding: NativeBinding, options: FastHarnessOptions = {}): Promise<TransportHarness & { sessions: [UdpSession, UdpSession], serverPort: number }> {
  const q = await quicPair()
  const sockets = [new NativeUdpSocket(binding), new NativeUdpSocket(binding)]
  const endpoints = sockets.map((socket, i) => {
    const counters = (i === 0 ? q.client : q.server).counters
    return new UdpEndpoint({
      socket: options.wrapSocket?.(socket, i === 0 ? 'client' : 'server') ?? socket,
      maxDatagramSize: UDP_DATAGRAM,
      deadAfter: options.deadAfter ?? DEAD_AFTER,
      keepAlive: 200,
      onDrop: (reason) => { countCode(counters.fastPathDropped, reason) }
    })
  })
  /** A session agreed between the two endpoints: [client end, server end]. */
  const sessions = (): [UdpSession, UdpSession] => {
    const [c, s] = endpoints.map(e => e.createSession())
    s.connect({ id: c.id, key: c.key, address: '127.0.0.1', port: endpoints[0].port }, false)
    c.connect({ id: s.id, key: s.key, address: '127.0.0.1', port: endpoints[1].port }, true)
    return [c, s]
  }
  const maxFrame = UDP_DATAGRAM - DATAGRAM_OVERHEAD
  const [cs, ss] = sessions()
  const link = fastLink(q.client, q.server.nodeId, 'udp', cs, () => cs.usable, maxFrame, q.link)
  const serverLink = fastLink(q.server, q.client.nodeId, 'udp', ss, () => ss.usable, maxFrame, q.serverPool)
  cs.interested = () => link.busy
  ss.interested = () => serverLink.busy
  await cs.whenUsable()
  const serverPort = endpoints[1].port
  return {
    transport: 'udp',
    client: q.client,
    server: q.server,
    link,
    sessions: [cs, ss],
    serverPort,
    garbage: async (bytes) => {
      // from anyone: datagrams that are not authentic
      const raw = createSocket('udp4')
      await new Promise<void>(resolve => raw.send(bytes, serverPort, '127.0.0.1', () => { resolve() }))
      raw.close()
      // from the peer, on a session of its own (as a raw stream on QUIC): authentic datagrams that are not frames
      const [c, s] = sessions()
      fastLink(q.server, q.client.nodeId, 'udp', s, () => s.usable, maxFrame, q.serverPool)
      c.send(bytes)
    },
    killServer: async () => { sockets[1].close() },
    stopServer: () => { serverLink.close(new ClosedError('server stopped')) },
    close: async () => {
      for (const e of endpoints) e.close()
      await stopQuic(q)
    }
  }
}

/** Shared memory: a ring pair created by the client and opened by the server (same process), tokens agreed directly. */
export async function shmHarness (binding: NativeBinding): Promise<TransportHarness & { streams: [ShmStream, ShmStream] }> {
  const q = await quicPair()
  const drop = (counters: Counters) => (reason: string) => { countCode(counters.fastPathDropped, reason) }
  /** A ring pair created by the client and opened by the server, both proven: [client end, server end]. */
  const pair = (): [ShmStream, ShmStream] => {
    const name = randomBytes(16).toString('hex')
    const tokens = [randomBytes(32), randomBytes(32)]
    const c = ShmStream.create(binding, { name, capacity: 1 << 20, expect: tokens[0], onDrop: drop(q.client.counters) })
    const s = ShmStream.open(binding, { name, expect: tokens[1], onDrop: drop(q.server.counters) })
    s.prove(tokens[0])
    c.prove(tokens[1])
    return [c, s]
  }
  const [cs, ss] = pair()
  const link = fastLink(q.client, q.server.nodeId, 'shm', cs, () => cs.proven, MAX_FRAME, q.link)
  const serverLink = fastLink(q.server, q.client.nodeId, 'shm', ss, () => ss.proven, MAX_FRAME, q.serverPool)
  await until(() => link.ready && serverLink.ready, 'the ring pair to be confirmed')
  const extra: ShmStream[] = []
  return {
    transport: 'shm',
    client: q.client,
    server: q.server,
    link,
    streams: [cs, ss],
    garbage: async (bytes) => {
      // from the peer, on a ring pair of its own (as a raw stream on QUIC): records that are not frames
      const [c, s] = pair()
      extra.push(c, s)
      fastLink(q.server, q.client.nodeId, 'shm', s, () => s.proven, MAX_FRAME, q.serverPool)
      c.send(bytes)
    },
    killServer: async () => { ss.abort(new ConnectionLostError('server killed')) },
    stopServer: () => { serverLink.close(new ClosedError('server stopped')) },
    close: async () => {
      for (const stream of [cs, ss, ...extra]) stream.abort(new ConnectionLostError('harness closed'))
      await stopQuic(q)
    }
  }
}
