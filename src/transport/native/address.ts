/**
 * The 24-byte socket address records the addon reads (`sendBatch` `to`) and writes (`recvmmsg`
 * `from`), and their conversion to and from `(address, port)`. Pure; no addon needed.
 *
 * ```
 * offset size
 * 0      1    family: 4 or 6
 * 1      1    flags: bit 0 = the datagram was truncated (received records only)
 * 2      2    port, big-endian
 * 4      16   address: IPv4 in bytes 4..7, IPv6 in 4..19
 * 20     4    IPv6 scope id, host byte order (little-endian on every Linux target kadmesh supports)
 * ```
 */
import { isIPv4, isIPv6 } from 'node:net'

export const ADDRESS_SIZE = 24
export const ADDRESS_TRUNCATED = 1

/**
 * Writes the record for `host` (an IP literal) and `port` at `offset`. With `family: 6` an IPv4
 * host is written as an IPv4-mapped IPv6 address (what an IPv6 socket needs to reach it).
 * Throws a TypeError for anything but an IP literal or a numeric IPv6 zone.
 */
export function encodeAddress (host: string, port: number, out: Uint8Array, offset: number, family?: 4 | 6): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer in [0, 65535], got ${port}`)
  out.fill(0, offset, offset + ADDRESS_SIZE)
  out[offset + 2] = port >>> 8
  out[offset + 3] = port & 0xff
  if (isIPv4(host)) {
    if (family === 6) {
      out[offset] = 6
      out[offset + 14] = 0xff
      out[offset + 15] = 0xff
      writeIPv4(host, out, offset + 16)
    } else {
      out[offset] = 4
      writeIPv4(host, out, offset + 4)
    }
    return
  }
  const zoneAt = host.indexOf('%')
  const bare = zoneAt < 0 ? host : host.slice(0, zoneAt)
  if (!isIPv6(bare)) throw new TypeError(`not an IP address literal: ${host}`)
  if (family === 4) throw new TypeError(`an IPv4 socket cannot send to ${host}`)
  out[offset] = 6
  writeIPv6(bare, out, offset + 4)
  if (zoneAt >= 0) {
    const zone = Number(host.slice(zoneAt + 1))
    if (!Number.isInteger(zone) || zone < 0 || zone > 0xffffffff) throw new TypeError(`only numeric IPv6 zones are supported: ${host}`)
    new DataView(out.buffer, out.byteOffset).setUint32(offset + 20, zone, true)
  }
}

function writeIPv4 (host: string, out: Uint8Array, at: number): void {
  const parts = host.split('.')
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i])
}

function writeIPv6 (host: string, out: Uint8Array, at: number): void {
  // isIPv6 has validated the syntax: at most one '::', an optional dotted IPv4 tail.
  let text = host
  const lastColon = text.lastIndexOf(':')
  const last = text.slice(lastColon + 1)
  if (last.includes('.')) {
    const b = last.split('.').map(Number)
    text = `${text.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const halves = text.split('::')
  const head = halves[0] === '' ? [] : halves[0].split(':')
  const rest = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : []
  const groups: number[] = head.map(h => parseInt(h, 16))
  if (halves.length > 1) {
    for (let i = head.length + rest.length; i < 8; i++) groups.push(0)
    for (const h of rest) groups.push(parseInt(h, 16))
  }
  for (let i = 0; i < 8; i++) {
    out[at + 2 * i] = groups[i] >>> 8
    out[at + 2 * i + 1] = groups[i] & 0xff
  }
}

/** The family byte of a record (4, 6, or anything else for a bad record). */
export function addressFamily (buf: Uint8Array, offset: number): number {
  return buf[offset]
}

export function addressPort (buf: Uint8Array, offset: number): number {
  return (buf[offset + 2] << 8) | buf[offset + 3]
}

export function addressTruncated (buf: Uint8Array, offset: number): boolean {
  return (buf[offset + 1] & ADDRESS_TRUNCATED) !== 0
}

/** Formats the address of a record: dotted IPv4, or RFC 5952 IPv6 (`::ffff:a.b.c.d` when mapped, `%zone` when scoped). */
export function formatAddress (buf: Uint8Array, offset: number): string {
  const a = offset + 4
  if (buf[offset] === 4) return `${buf[a]}.${buf[a + 1]}.${buf[a + 2]}.${buf[a + 3]}`
  if (buf[offset] !== 6) throw new TypeError(`address record has unknown family ${buf[offset]}`)
  const groups = new Array<number>(8)
  for (let i = 0; i < 8; i++) groups[i] = (buf[a + 2 * i] << 8) | buf[a + 2 * i + 1]
  const zone = new DataView(buf.buffer, buf.byteOffset).getUint32(offset + 20, true)
  const suffix = zone === 0 ? '' : `%${zone}`
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${buf[a + 12]}.${buf[a + 13]}.${buf[a + 14]}.${buf[a + 15]}${suffix}`
  }
  // RFC 5952: compress the first longest run of two or more zero groups.
  let bestAt = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestAt = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestAt < 0) return hex.join(':') + suffix
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}${suffix}`
}

/**
 * Formats received addresses with a small cache: datagrams come from few peers, so the string is
 * built once per peer, not once per datagram. IPv4 records are keyed by their 32-bit address.
 */
export class AddressFormatter {
  readonly #v4 = new Map<number, string>()
  readonly #v6 = new Map<string, string>()
  readonly #max: number

  constructor (maxEntries = 1024) {
    this.#max = maxEntries
  }

  format (buf: Uint8Array, offset: number): string {
    if (buf[offset] === 4) {
      const key = ((buf[offset + 4] << 24) | (buf[offset + 5] << 16) | (buf[offset + 6] << 8) | buf[offset + 7]) >>> 0
      let s = this.#v4.get(key)
      if (s === undefined) {
        if (this.#v4.size >= this.#max) this.#v4.clear()
        s = formatAddress(buf, offset)
        this.#v4.set(key, s)
      }
      return s
    }
    const view = new DataView(buf.buffer, buf.byteOffset)
    let key = ''
    for (let i = 4; i < 24; i += 4) key += view.getUint32(offset + i).toString(36) + ','
    let s = this.#v6.get(key)
    if (s === undefined) {
      if (this.#v6.size >= this.#max) this.#v6.clear()
      s = formatAddress(buf, offset)
      this.#v6.set(key, s)
    }
    return s
  }
}
