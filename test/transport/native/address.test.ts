import { describe, expect, it } from 'vitest'
import { ADDRESS_SIZE, AddressFormatter, addressPort, encodeAddress, formatAddress } from '../../../src/transport/native/address.js'

function roundTrip (host: string, port = 4242, family?: 4 | 6): { text: string, port: number, record: Uint8Array } {
  const record = new Uint8Array(ADDRESS_SIZE + 8)
  encodeAddress(host, port, record, 8, family)
  return { text: formatAddress(record, 8), port: addressPort(record, 8), record }
}

describe('socket address records', () => {
  it('round-trips IPv4 with the port big-endian', () => {
    const { text, port, record } = roundTrip('127.0.0.1', 0x1234)
    expect(text).toBe('127.0.0.1')
    expect(port).toBe(0x1234)
    expect([...record.subarray(8, 16)]).toEqual([4, 0, 0x12, 0x34, 127, 0, 0, 1])
  })

  it('formats IPv6 canonically (RFC 5952), like the WHATWG URL serializer', () => {
    for (const host of ['::1', '::', 'fe80::1', '2001:db8::8:800:200c:417a', '2001:db8:0:0:1:0:0:1', '1:0:0:2:0:0:0:3',
      '2001:DB8:0:0:0:0:0:1', '1:2:3:4:5:6:7:8', '0:0:1::', 'ff02::1:ff00:1', '1::2:0:0:3']) {
      const expected = new URL(`http://[${host}]/`).hostname.slice(1, -1)
      expect(roundTrip(host).text, host).toBe(expected)
    }
  })

  it('writes IPv4 as IPv4-mapped for an IPv6 socket, and formats it dotted', () => {
    expect(roundTrip('10.1.2.3', 80, 6).text).toBe('::ffff:10.1.2.3')
    expect(roundTrip('::ffff:127.0.0.1').text).toBe('::ffff:127.0.0.1')
    expect(roundTrip('::1.2.3.4').text).toBe('::102:304')
  })

  it('keeps numeric IPv6 zones and refuses named ones', () => {
    expect(roundTrip('fe80::1%3').text).toBe('fe80::1%3')
    expect(() => roundTrip('fe80::1%eth0')).toThrow(TypeError)
  })

  it('refuses host names, bad ports and IPv6 on an IPv4 socket', () => {
    expect(() => roundTrip('localhost')).toThrow(TypeError)
    expect(() => roundTrip('127.0.0.1', 70000)).toThrow(RangeError)
    expect(() => roundTrip('::1', 1, 4)).toThrow(TypeError)
    expect(() => formatAddress(new Uint8Array(ADDRESS_SIZE), 0)).toThrow(TypeError)
  })

  it('caches formatted addresses per peer', () => {
    const f = new AddressFormatter(2)
    const a = roundTrip('192.168.1.2').record
    const b = roundTrip('::1').record
    expect(f.format(a, 8)).toBe('192.168.1.2')
    expect(f.format(a, 8)).toBe('192.168.1.2')
    expect(f.format(b, 8)).toBe('::1')
    for (let i = 0; i < 5; i++) expect(f.format(roundTrip(`10.0.0.${i}`).record, 8)).toBe(`10.0.0.${i}`)
  })
})
