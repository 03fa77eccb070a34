import { quic } from '@chainsafe/libp2p-quic'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { kadDHT, type KadDHTInit, passthroughMapper, type SingleKadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL, type MeshConfig } from '../../options.js'
import { adaptQuicBinding } from './binding.js'

export type MeshLibp2p = Libp2p<{ dht: SingleKadDHT, identify: unknown, ping: unknown }>

/** QUIC options we pass on (the package's own option type is broken: see notes P2). */
interface QuicTransportOptions {
  maxIdleTimeout: number
  keepAliveInterval: number
  maxConcurrentStreamLimit: number
  ipv6: boolean
}

/**
 * A libp2p node as kadmesh uses it: QUIC only (TLS 1.3 and multiplexing built in, so no
 * encrypter or muxer), identify and ping (kad-dht needs both), and kad-dht in server mode on
 * kadmesh's own protocol with an address mapper that keeps loopback and LAN addresses (the default
 * strips them, and the default client mode never answers queries on a LAN).
 */
export async function createQuicNode (config: MeshConfig, privateKey: PrivateKey, records: Pick<KadDHTInit, 'validators' | 'selectors'> = {}): Promise<MeshLibp2p> {
  adaptQuicBinding()
  const quicOptions: QuicTransportOptions = {
    maxIdleTimeout: config.quic.maxIdleTimeout,
    keepAliveInterval: config.quic.keepAliveInterval,
    maxConcurrentStreamLimit: 256,
    ipv6: config.listen.some(a => a.startsWith('/ip6/'))
  }
  const outboundOnly = config.reachability === 'outbound-only'
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: outboundOnly ? [] : config.listen },
    transports: [quic(quicOptions)],
    ...(config.connectionGater === undefined ? {} : { connectionGater: config.connectionGater }),
    connectionManager: {
      maxConnections: config.maxConnections,
      // the default (5 per second per IP) refuses most of a local cluster joining at once
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 100,
      dialTimeout: config.dialTimeout
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: outboundOnly,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
        ...records
      })
    }
  }) as MeshLibp2p
  await storeOwnAddresses(node)
  return node
}

/**
 * Writes the node's listen addresses to its own peer store entry at once. libp2p does it a second
 * after the transports start listening (debounced), and kad-dht answers a provider lookup with each
 * provider's addresses from the peer store, leaving out providers without any: during that second a
 * node left itself out of its answers, so a record it provided (a gateway's pub/sub `sub` record,
 * docs/pubsub.md) was not found by a lookup that asked it.
 */
async function storeOwnAddresses (node: Libp2p): Promise<void> {
  const self = `/p2p/${node.peerId.toString()}`
  const multiaddrs = node.getMultiaddrs().map(ma => ma.toString().endsWith(self) ? ma.decapsulate(self) : ma)
  if (multiaddrs.length > 0) await node.peerStore.patch(node.peerId, { multiaddrs })
}
