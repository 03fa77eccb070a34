import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/** A node's key and id, made before the node starts so gaters can name it. */
export interface Identity { key: Uint8Array, id: string }

export async function identities (n: number): Promise<Identity[]> {
  return Promise.all(Array.from({ length: n }, async () => {
    const key = await generateKeyPair('Ed25519')
    return { key: privateKeyToProtobuf(key), id: peerIdFromPrivateKey(key).toString() }
  }))
}

/** A gater that lets this node connect (either way) only to the peers `allowed` says. */
export function onlyPeers (allowed: (peer: string) => boolean): ConnectionGater {
  const deny = (peer: PeerId): boolean => !allowed(peer.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny
  }
}
