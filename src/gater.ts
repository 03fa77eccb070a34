import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * A connection gater that lets this node connect, either way, only to the nodes `allowed` accepts
 * (an allow list: a firewall between nodes). Nodes it keeps apart still reach each other through
 * gateways.
 *
 * @example
 * ```ts
 * const gateways = new Set(['12D3KooW…', '12D3KooW…'])
 * const mesh = await createMesh({ reachability: 'outbound-only', connectionGater: allowPeers(id => gateways.has(id)) })
 * ```
 */
export function allowPeers (allowed: (nodeId: string) => boolean): ConnectionGater {
  const deny = (peer: PeerId): boolean => !allowed(peer.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny
  }
}
