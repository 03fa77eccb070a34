import type { ConnectionGater } from '@libp2p/interface'
import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionsError } from './errors.js'
import { DEFAULT_MAX_FRAME_SIZE } from './wire/frame.js'

/** The RPC protocol every kadmesh stream speaks (the wire version is in each frame too). */
export const RPC_PROTOCOL = '/kadmesh/rpc/1.0.0'
/** kadmesh's own Kademlia protocol, so a mesh never mixes with the public IPFS DHT. */
export const DHT_PROTOCOL = '/kadmesh/kad/1.0.0'

/** QUIC transport options. */
export interface QuicInit {
  /**
   * Milliseconds without a packet from a peer after which its connection is dead and the calls on
   * it fail with MESH_ERR_CONNECTION_LOST. This is how fast a killed peer is noticed.
   * Default 3_000 (QUIC's own default is 10_000); 1_000 to 600_000.
   */
  maxIdleTimeout?: number
  /** Milliseconds between QUIC keep-alive PINGs; must be below `maxIdleTimeout`. Default 1_000. */
  keepAliveInterval?: number
  /** Most RPC streams kept to one peer (both directions together). Default 4; 1 to 16. */
  streamsPerPeer?: number
}

/**
 * UDP fast-path options: calls to peers on loopback, private or link-local addresses travel in
 * authenticated datagrams over the native addon's batched UDP socket (docs/transports.md).
 */
export interface UdpInit {
  /** Use the UDP fast path (it also needs the native addon). `udp: false` means `{ enabled: false }`. Default true. */
  enabled?: boolean
  /** Address literal the UDP socket binds. Default: the host of the first `listen` address (`0.0.0.0` when there is none). */
  host?: string
  /** UDP port. Default 0 (a free port; peers learn it in the handshake). */
  port?: number
  /**
   * Largest datagram in bytes, header and tag included; a call whose frame does not fit goes over
   * QUIC. Default 1452 (a 1500-byte Ethernet MTU less IPv6 and UDP headers); 576 to 65,507.
   */
  maxDatagramSize?: number
  /**
   * µs to keep polling the socket on every event-loop turn after the last datagram before sleeping
   * in the event loop: lower latency when both ends have a core to spare, much worse when they do
   * not (docs/transports.md). Default 0: never poll. Up to 1,000,000.
   */
  busyPollUs?: number
}

/** Shared-memory fast-path options: calls to peers on the same host travel through a pair of rings. */
export interface ShmInit {
  /** Use the shared-memory fast path (it also needs the native addon). `shm: false` means `{ enabled: false }`. Default true. */
  enabled?: boolean
  /** Data bytes of each ring (one per direction), a power of two from 64 KiB to 256 MiB. Default 4 MiB. */
  ringSize?: number
  /**
   * µs the reader keeps polling after the last record before sleeping on its doorbell: lower
   * latency when both ends have a core to spare, much worse when they do not (docs/transports.md).
   * Default 0: sleep as soon as the ring is empty. Up to 1,000,000.
   */
  idleSpinUs?: number
}

/** Options of {@link createMesh}. */
export interface MeshInit {
  /** Multiaddrs to listen on. Default: all IPv4 interfaces, random UDP port (`/ip4/0.0.0.0/udp/0/quic-v1`). */
  listen?: string[]
  /** Multiaddrs ending in `/p2p/<nodeId>` of nodes to join the mesh through. Default none. */
  bootstrap?: string[]
  /**
   * The node's Ed25519 key: libp2p protobuf bytes, or a key file path (created with a new key when
   * missing). Default: a new key, hence a new node id, on every start.
   */
  privateKey?: Uint8Array | string
  /**
   * `public`: listens and can be dialled. `outbound-only`: listens nowhere, only dials out (behind
   * NAT or a firewall). Default `public`.
   */
  reachability?: 'public' | 'outbound-only'
  /** Default timeout of a call in milliseconds, when the call gives none. Default 30_000; 1 to 2^31-1. */
  timeout?: number
  /** Largest frame, in bytes, this node sends or accepts. Default 4 MiB; 1 KiB to 16 MiB. */
  maxFrameSize?: number
  /** Calls that may wait for a stream to one peer before further calls fail with MESH_ERR_OVERLOADED. Default 10_000. */
  maxQueuedPerPeer?: number
  /** Milliseconds allowed to open a connection and stream to a peer. Default 10_000. */
  dialTimeout?: number
  /** Most open connections; beyond it libp2p refuses inbound connections and prunes idle ones. Default 300; 2 to 100,000. */
  maxConnections?: number
  /**
   * A libp2p connection gater: decides which peers and addresses this node may dial or accept
   * (allow-lists, deny-lists). Nodes it keeps apart reach each other through gateways.
   */
  connectionGater?: ConnectionGater
  /**
   * Per-transport options. QUIC is always on (it carries the handshakes and everything the fast
   * paths cannot); `udp` and `shm` are the native fast paths, on by default when the addon is built.
   */
  transports?: { quic?: QuicInit, udp?: UdpInit | boolean, shm?: ShmInit | boolean }
}

/** Every option with its default filled in. */
export interface MeshConfig {
  listen: string[]
  bootstrap: string[]
  privateKey: Uint8Array | string | undefined
  reachability: 'public' | 'outbound-only'
  timeout: number
  maxFrameSize: number
  maxQueuedPerPeer: number
  dialTimeout: number
  maxConnections: number
  connectionGater: ConnectionGater | undefined
  quic: Required<QuicInit>
  udp: Required<Omit<UdpInit, 'host'>> & { host: string | undefined }
  shm: Required<ShmInit>
}

const MAX_TIMEOUT = 2 ** 31 - 1

export function meshConfig (init: MeshInit = {}): MeshConfig {
  const quic = init.transports?.quic ?? {}
  const config: MeshConfig = {
    listen: listenAddresses(init.listen) ?? ['/ip4/0.0.0.0/udp/0/quic-v1'],
    bootstrap: stringList(init.bootstrap, 'options.bootstrap') ?? [],
    privateKey: init.privateKey,
    reachability: init.reachability ?? 'public',
    timeout: integer(init.timeout, 'options.timeout', 30_000, 1, MAX_TIMEOUT),
    maxFrameSize: integer(init.maxFrameSize, 'options.maxFrameSize', DEFAULT_MAX_FRAME_SIZE, 1024, 16 * 1024 * 1024),
    maxQueuedPerPeer: integer(init.maxQueuedPerPeer, 'options.maxQueuedPerPeer', 10_000, 1, 1_000_000),
    dialTimeout: integer(init.dialTimeout, 'options.dialTimeout', 10_000, 100, MAX_TIMEOUT),
    maxConnections: integer(init.maxConnections, 'options.maxConnections', 300, 2, 100_000),
    connectionGater: init.connectionGater,
    quic: {
      maxIdleTimeout: integer(quic.maxIdleTimeout, 'options.transports.quic.maxIdleTimeout', 3_000, 1_000, 600_000),
      keepAliveInterval: integer(quic.keepAliveInterval, 'options.transports.quic.keepAliveInterval', 1_000, 100, 600_000),
      streamsPerPeer: integer(quic.streamsPerPeer, 'options.transports.quic.streamsPerPeer', 4, 1, 16)
    },
    udp: udpConfig(init.transports?.udp),
    shm: shmConfig(init.transports?.shm)
  }
  if (config.reachability !== 'public' && config.reachability !== 'outbound-only') {
    throw new InvalidOptionsError("options.reachability must be 'public' or 'outbound-only'")
  }
  if (config.quic.keepAliveInterval >= config.quic.maxIdleTimeout) {
    throw new InvalidOptionsError('options.transports.quic.keepAliveInterval must be below maxIdleTimeout')
  }
  if (config.privateKey !== undefined && typeof config.privateKey !== 'string' && !(config.privateKey instanceof Uint8Array)) {
    throw new InvalidOptionsError('options.privateKey must be key bytes or a key file path')
  }
  return config
}

function udpConfig (init: UdpInit | boolean | undefined): MeshConfig['udp'] {
  const udp = fastPathInit(init, 'udp')
  if (udp.host !== undefined && (typeof udp.host !== 'string' || isIP(udp.host) === 0)) {
    throw new InvalidOptionsError('options.transports.udp.host must be an IP address literal')
  }
  return {
    enabled: udp.enabled ?? true,
    host: udp.host,
    port: integer(udp.port, 'options.transports.udp.port', 0, 0, 65_535),
    maxDatagramSize: integer(udp.maxDatagramSize, 'options.transports.udp.maxDatagramSize', 1452, 576, 65_507),
    busyPollUs: integer(udp.busyPollUs, 'options.transports.udp.busyPollUs', 0, 0, 1_000_000)
  }
}

function shmConfig (init: ShmInit | boolean | undefined): MeshConfig['shm'] {
  const shm = fastPathInit(init, 'shm')
  const ringSize = integer(shm.ringSize, 'options.transports.shm.ringSize', 4 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024)
  if ((ringSize & (ringSize - 1)) !== 0) throw new InvalidOptionsError('options.transports.shm.ringSize must be a power of two')
  return {
    enabled: shm.enabled ?? true,
    ringSize,
    idleSpinUs: integer(shm.idleSpinUs, 'options.transports.shm.idleSpinUs', 0, 0, 1_000_000)
  }
}

/** `true`/`false`/an object/undefined, as an object (booleans set `enabled`). */
function fastPathInit<T extends { enabled?: boolean }> (init: T | boolean | undefined, name: string): T {
  if (init === undefined) return {} as T
  if (typeof init === 'boolean') return { enabled: init } as T
  if (typeof init !== 'object' || init === null) throw new InvalidOptionsError(`options.transports.${name} must be a boolean or an object`)
  if (init.enabled !== undefined && typeof init.enabled !== 'boolean') throw new InvalidOptionsError(`options.transports.${name}.enabled must be a boolean`)
  return init
}

/** Validates a per-call timeout (ms). */
export function callTimeout (value: number | undefined, fallback: number): number {
  return integer(value, 'options.timeout', fallback, 1, MAX_TIMEOUT)
}

export function integer (value: number | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(`${name} must be an integer from ${min} to ${max}`)
  }
  return value
}

/** Listen addresses are QUIC multiaddrs (the one transport a node listens with), checked here rather than by libp2p at start. */
function listenAddresses (value: string[] | undefined): string[] | undefined {
  const list = stringList(value, 'options.listen')
  for (const address of list ?? []) {
    let protocols: string[]
    try {
      protocols = multiaddr(address).getComponents().map(c => c.name)
    } catch (err) {
      throw new InvalidOptionsError(`options.listen: ${address} is not a multiaddr: ${(err as Error).message}`)
    }
    if (!protocols.includes('quic-v1')) throw new InvalidOptionsError(`options.listen: ${address} is not a QUIC address (…/udp/<port>/quic-v1)`)
  }
  return list
}

function stringList (value: string[] | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.some(v => typeof v !== 'string')) {
    throw new InvalidOptionsError(`${name} must be an array of multiaddr strings`)
  }
  return value
}
