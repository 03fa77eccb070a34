import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/** A node's key and id, made before the node starts so gaters can name it. */
export interface Identity { key: Uint8Array, id: string }

export async function identities (n: number): Promise<Identity[]> {
  return Promise.all(Array.from({ length: n }, async () => {
    const key = await generateKeyPair('Ed25519')
    return { key: privateKeyToProtobuf(key), id: peerIdFromPrivateKey(key).toString() }
  }))
}
