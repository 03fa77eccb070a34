import { describe, expect, it } from 'vitest'
import { type BatchEntry, decodeBatch, encodeBatch, entrySize, MAX_U48, topicsSize } from '../../src/pubsub/batch.js'
import { encodePayload } from '../../src/wire/payload.js'
import { prng } from '../prng.js'

const utf8 = new TextEncoder()

function build (epoch: number, topics: string[], entries: BatchEntry[]): Uint8Array {
  const topicBytes = topics.map(t => utf8.encode(t))
  const size = topicsSize(topicBytes.map(t => t.byteLength)) + entries.reduce((n, e) => n + entrySize(e.subs.length / 2, e.data.byteLength), 0)
  return encodeBatch(epoch, topicBytes, entries, size)
}

const sample = (): Uint8Array => build(MAX_U48, ['a/b', 'ünï/x'], [
  { topic: 0, ack: false, subs: [1, 1], data: encodePayload({ n: 1 }) },
  { topic: 1, ack: true, subs: [MAX_U48, 2 ** 40 + 7, 5, 3], data: encodePayload('x'.repeat(300)) }
])

describe('DELIVER batch', () => {
  it('round-trips every field, 48-bit ids and seqs included', () => {
    const batch = decodeBatch(sample())
    expect(batch.epoch).toBe(MAX_U48)
    expect(batch.topics).toEqual(['a/b', 'ünï/x'])
    expect(batch.entries.map(e => ({ ...e, data: [...e.data] }))).toEqual([
      { topic: 0, ack: false, subs: [1, 1], data: [...encodePayload({ n: 1 })] },
      { topic: 1, ack: true, subs: [MAX_U48, 2 ** 40 + 7, 5, 3], data: [...encodePayload('x'.repeat(300))] }
    ])
  })

  it('refuses every truncation with MESH_ERR_BAD_REQUEST', () => {
    const bytes = sample()
    for (let n = 0; n < bytes.byteLength; n++) {
      expect(() => decodeBatch(bytes.subarray(0, n)), `first ${n} bytes`).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    }
  })

  it('refuses trailing bytes, bad versions, flags, indexes, seq 0, empty data, bad topics and non-bytes', () => {
    const bytes = sample()
    const mutate = (at: number, value: number): Uint8Array => { const b = bytes.slice(); b[at] = value; return b }
    const cases: Array<[string, unknown]> = [
      ['trailing', Uint8Array.from([...bytes, 0])],
      ['version', mutate(0, 2)],
      ['flags', mutate(1, 1)],
      ['no topics', build(1, [], [{ topic: 0, ack: false, subs: [1, 1], data: Uint8Array.of(1) }])],
      ['no entries', build(1, ['a'], [])],
      ['topic index', build(1, ['a'], [{ topic: 1, ack: false, subs: [1, 1], data: Uint8Array.of(1) }])],
      ['seq 0', build(1, ['a'], [{ topic: 0, ack: false, subs: [1, 0], data: Uint8Array.of(1) }])],
      ['no subscriptions', build(1, ['a'], [{ topic: 0, ack: false, subs: [], data: Uint8Array.of(1) }])],
      ['empty data', build(1, ['a'], [{ topic: 0, ack: false, subs: [1, 1], data: new Uint8Array(0) }])],
      ['wildcard topic', build(1, ['a/*'], [{ topic: 0, ack: false, subs: [1, 1], data: Uint8Array.of(1) }])],
      ['not UTF-8', (() => { const b = build(1, ['ab'], [{ topic: 0, ack: false, subs: [1, 1], data: Uint8Array.of(1) }]); b[12] = 0xff; return b })()],
      ['entry flags', (() => { const b = build(1, ['a'], [{ topic: 0, ack: false, subs: [1, 1], data: Uint8Array.of(1) }]); b[17 + 2] = 4; return b })()],
      ['huge count', (() => { const b = build(1, ['a'], [{ topic: 0, ack: false, subs: [1, 1], data: Uint8Array.of(1) }]); b.set([0xff, 0xff, 0xff, 0xff], 13); return b })()],
      ['string', 'hello'],
      ['object', { a: 1 }],
      ['undefined', undefined]
    ]
    for (const [name, input] of cases) {
      expect(() => decodeBatch(input as Uint8Array), name).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    }
  })

  it('refuses random bytes cleanly (never another kind of error)', () => {
    const rng = prng(7)
    for (let i = 0; i < 2_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(rng() * 64) }, () => Math.floor(rng() * 256))
      if (i % 2 === 0 && bytes.length > 0) bytes[0] = 1
      try {
        decodeBatch(bytes)
      } catch (err) {
        expect((err as { code?: string }).code).toBe('MESH_ERR_BAD_REQUEST')
      }
    }
  })
})
