/**
 * Which transports to offer a peer, from where its QUIC connection comes from. Pure.
 *
 * - same host → shm: the peer's address is loopback or one of this host's own addresses (the
 *   handshake then confirms it: same boot id and user, and the peer can open the files);
 * - loopback, private (RFC 1918, fc00::/7) or link-local address → udp;
 * - anything else → quic only (no congestion control on the UDP path, and NATs and firewalls
 *   between networks drop unsolicited datagrams).
 */
import { isIP } from 'node:net'

export type AddressScope = 'loopback' | 'private' | 'link-local' | 'public'

export interface TransportsEnabled {
  shm: boolean
  udp: boolean
}

/** What kind of network an IP address is on. Anything unparseable counts as public. */
export function addressScope (ip: string): AddressScope {
  const family = isIP(ip)
  if (family === 4) return ipv4Scope(ip)
  if (family !== 6) return 'public'
  const lower = ip.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (mapped !== null) return ipv4Scope(mapped[1])
  if (lower === '::1') return 'loopback'
  const first = parseInt(lower.split(':')[0] || '0', 16)
  if ((first & 0xffc0) === 0xfe80) return 'link-local'
  if ((first & 0xfe00) === 0xfc00) return 'private'
  return 'public'
}

function ipv4Scope (ip: string): AddressScope {
  const [a, b] = ip.split('.').map(Number)
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private'
  if (a === 169 && b === 254) return 'link-local'
  return 'public'
}

/**
 * The fast paths worth offering a peer reached at `remoteIp`, given what this node has enabled and
 * its own addresses (`localIps`).
 */
export function transportsFor (remoteIp: string, localIps: ReadonlySet<string>, enabled: TransportsEnabled): TransportsEnabled {
  const scope = addressScope(remoteIp)
  return {
    shm: enabled.shm && (scope === 'loopback' || localIps.has(remoteIp)),
    udp: enabled.udp && scope !== 'public'
  }
}
