import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'

const CACHE_LIMIT = 65_536
const keys = new Map<string, Uint8Array>()

/**
 * A node's position in Kademlia's XOR space: sha256 of its peer id multihash, as kad-dht computes
 * it (notes §5), so "closer" here means closer in the DHT's own routing table.
 */
export function kadKey (nodeId: string): Uint8Array {
  let key = keys.get(nodeId)
  if (key === undefined) {
    key = createHash('sha256').update(peerIdFromString(nodeId).toMultihash().bytes).digest()
    if (keys.size >= CACHE_LIMIT) keys.clear()
    keys.set(nodeId, key)
  }
  return key
}

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance (a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da - db
  }
  return 0
}

/** Bits two keys share from the top: the k-bucket one falls in as seen from the other. */
export function commonPrefixLength (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i]
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return a.length * 8
}

/** Node ids sorted by XOR distance of their keys to `target`'s key, closest first. */
export function byDistanceTo (target: string, nodeIds: string[]): string[] {
  const t = kadKey(target)
  return nodeIds
    .map(id => ({ id, key: kadKey(id) }))
    .sort((x, y) => compareDistance(x.key, y.key, t))
    .map(x => x.id)
}
