import { describe, expect, it } from 'vitest'
import { formatJson, fromJson, type Json, parseJsonArgument, toJson } from '../../src/cli/json.js'
import { encodePayload, decodePayload } from '../../src/wire/payload.js'
import { prng } from '../prng.js'

describe('the CLI JSON rule', () => {
  it('tags what JSON cannot hold and reads the tags back to the same values', () => {
    const value = {
      big: 2n ** 70n,
      negative: -5n,
      bytes: new Uint8Array([0, 1, 2, 255]),
      when: new Date('2025-01-02T03:04:05.006Z'),
      map: new Map<unknown, unknown>([[1, 'one'], ['k', new Map([[true, null]])]]),
      set: new Set(['a', 1]),
      nan: NaN,
      inf: -Infinity,
      nested: [{ deeper: [1n] }]
    }
    const json = toJson(value)
    expect(json).toEqual({
      big: { $bigint: '1180591620717411303424' },
      negative: { $bigint: '-5' },
      bytes: { $bytes: 'AAEC/w==' },
      when: { $date: '2025-01-02T03:04:05.006Z' },
      map: { $map: [[1, 'one'], ['k', { $map: [[true, null]] }]] },
      set: { $set: ['a', 1] },
      nan: { $number: 'NaN' },
      inf: { $number: '-Infinity' },
      nested: [{ deeper: [{ $bigint: '1' }] }]
    })
    expect(fromJson(JSON.parse(JSON.stringify(json)) as Json)).toEqual(value)
  })

  it('escapes an object that looks like a tag, so it reads back as that object', () => {
    const value = { $bytes: 'not base64 at all' }
    expect(toJson(value)).toEqual({ $object: { $bytes: 'not base64 at all' } })
    expect(fromJson(toJson(value))).toEqual(value)
    // an object with a $ key among others is no tag
    expect(toJson({ $bytes: 'x', other: 1 })).toEqual({ $bytes: 'x', other: 1 })
  })

  it('prints undefined as JSON does, other typed arrays as numbers, and keeps a __proto__ key a key', () => {
    expect(formatJson(undefined)).toBe('null')
    expect(formatJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}')
    expect(formatJson(new Float64Array([1.5, 2]))).toBe('[1.5,2]')
    const parsed = parseJsonArgument('{"__proto__":{"polluted":true}}', 'args') as Record<string, unknown>
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
    expect(Object.keys(parsed)).toEqual(['__proto__'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it.each([
    ['{"$bigint":"1.5"}', '$bigint must be a string of decimal digits'],
    ['{"$bigint":12}', '$bigint must be a string of decimal digits'],
    ['{"$bytes":"a=b"}', '$bytes must be a base64 string'],
    ['{"$date":"yesterday"}', '$date must be an ISO 8601 date string'],
    ['{"$map":[[1]]}', '$map must be an array of [key, value] pairs'],
    ['{"$set":{}}', '$set must be an array'],
    ['{"$number":"1e999"}', '$number must be "NaN", "Infinity" or "-Infinity"'],
    ['{"$object":[]}', '$object must be an object'],
    ['{oops', 'args is not JSON']
  ])('refuses %s with a usage error', (text, message) => {
    expect(() => parseJsonArgument(text, 'args')).toThrow(expect.objectContaining({ code: 'MESH_ERR_USAGE', message: expect.stringContaining(message) }))
  })

  it('round-trips random msgpack values through print and read (seeded)', () => {
    const random = prng(6)
    const leaf = (): unknown => {
      const pick = Math.floor(random() * 9)
      switch (pick) {
        case 0: return BigInt(Math.floor(random() * 2 ** 53)) * (random() < 0.5 ? -1n : 1n) * 1000n
        case 1: return new Uint8Array(Array.from({ length: Math.floor(random() * 8) }, () => Math.floor(random() * 256)))
        case 2: return new Date(Math.floor(random() * 4e12))
        case 3: return random() < 0.5 ? NaN : Infinity
        case 4: return Math.floor(random() * 1e6) / 8
        case 5: return random().toString(36)
        case 6: return random() < 0.5
        case 7: return null
        default: return { $set: 'looks like a tag' }
      }
    }
    const tree = (depth: number): unknown => {
      if (depth === 0 || random() < 0.3) return leaf()
      const n = Math.floor(random() * 4)
      switch (Math.floor(random() * 4)) {
        case 0: return Array.from({ length: n }, () => tree(depth - 1))
        case 1: return new Map(Array.from({ length: n }, () => [tree(depth - 1), tree(depth - 1)]))
        case 2: return new Set(Array.from({ length: n }, () => leaf()))
        default: return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, tree(depth - 1)]))
      }
    }
    for (let i = 0; i < 500; i++) {
      // what a remote node sends: a value as msgpack decodes it
      const value = decodePayload(encodePayload(tree(4)))
      const printed = formatJson(value)
      expect(parseJsonArgument(printed, 'args')).toEqual(value)
    }
  })
})
