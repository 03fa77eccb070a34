import { describe, expect, it } from 'vitest'
import { encodeRouteHeader, nextHop, parseRouteHeader, type RouteHeader } from '../../src/routing/route-header.js'

const header: RouteHeader = { hop: 1, budget: 8, path: ['origin', 'gateway', 'destination'], timestamp: 1_763_700_000_000, nonce: new Uint8Array(8).fill(7), mac: new Uint8Array(32).fill(9) }

describe('route header', () => {
  it('round-trips, and only the hop byte changes on the way', () => {
    const bytes = encodeRouteHeader(header)
    expect(parseRouteHeader(bytes)).toEqual(header)
    expect(parseRouteHeader(nextHop(bytes))).toEqual({ ...header, hop: 2 })
  })

  it('refuses malformed headers with MESH_ERR_BAD_REQUEST, and says so when the origin still signs', () => {
    const bytes = encodeRouteHeader(header)
    const refused = (b: Uint8Array, why: RegExp): void => {
      expect(() => parseRouteHeader(b)).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST', message: expect.stringMatching(why) }))
    }
    refused(Uint8Array.from(bytes, (x, i) => i === 2 ? 0 : x), /signed headers are retired/)
    refused(Uint8Array.from(bytes, (x, i) => i === 2 ? 3 : x), /unknown flags/)
    refused(Uint8Array.from(bytes, (x, i) => i === 0 ? 3 : x), /hop outside the path/)
    refused(bytes.subarray(0, bytes.byteLength - 1), /MAC length does not match/)
    refused(bytes.subarray(0, 30), /too short|out of bounds/)
  })
})
