import { describe, expect, it } from 'vitest'
import type { Mesh, Message } from '../../src/index.js'
import { encodeBatch, entrySize, topicsSize } from '../../src/pubsub/batch.js'
import { PUBSUB_LIMITS } from '../../src/pubsub/pubsub.js'
import { encodePayload } from '../../src/wire/payload.js'
import { rejection, until } from '../helpers.js'
import { reader, startNodes } from './helpers.js'

/**
 * Publishes to `topic` in bursts of 20 until `count` messages `{ i }` are out, letting I/O run
 * between bursts (publish resolves without I/O, so a loop of them would otherwise hand the network
 * everything at once, and any subscriber a burst of `count` messages within one read).
 */
async function publishMany (mesh: Mesh, topic: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, count - i) }, async (_, k) => mesh.publish(topic, { i: i + k })))
    await new Promise(resolve => setImmediate(resolve))
  }
}

describe('pub/sub semantics', () => {
  it('delivers to wildcard subscriptions on another node exactly the topics docs/pubsub.md says they match', async () => {
    const [pub, subNode] = await startNodes(2)
    const patterns = ['sensors/*/temp', 'sensors/**', '**', 'sensors/kitchen/temp', '*', 'a*', '*/temp']
    const subs = patterns.map(p => subNode.subscribe(p))
    await Promise.all(subs.map(async s => s.ready))
    const topics = ['sensors/kitchen/temp', 'sensors/temp', 'sensors', 'sensors//temp', 'sensors/a/b/temp', 'other/x', 'x', 'a*', 'ab', '/temp']
    // with acknowledgements: once a publish resolves, its message is in the subscriptions' buffers
    for (const topic of topics) {
      const { acked, failed } = await pub.publish(topic, topic, { ack: true })
      expect(failed).toEqual([])
      expect(acked.length).toBeLessThanOrEqual(1)
    }
    const expected: Record<string, string[]> = {
      'sensors/*/temp': ['sensors/kitchen/temp', 'sensors//temp'],
      'sensors/**': ['sensors/kitchen/temp', 'sensors/temp', 'sensors', 'sensors//temp', 'sensors/a/b/temp'],
      '**': topics,
      'sensors/kitchen/temp': ['sensors/kitchen/temp'],
      '*': ['sensors', 'x', 'a*', 'ab'],
      'a*': ['a*'],
      '*/temp': ['sensors/temp', '/temp']
    }
    for (const sub of subs) {
      const got = await reader(sub).take(sub.buffered, 1_000)
      expect(got.map(m => m.topic), sub.pattern).toEqual(expected[sub.pattern])
      expect(got.every(m => m.data === m.topic && m.from === pub.nodeId)).toBe(true)
    }
  })

  it('delivers to subscriptions on the publishing node itself', async () => {
    const [a] = await startNodes(1)
    const sub = a.subscribe<number>('self/*')
    await sub.ready
    expect((await a.publish('self/x', 7)).subscribers).toEqual([a.nodeId])
    expect(await reader(sub).take(1, 1_000)).toEqual([{ topic: 'self/x', data: 7, from: a.nodeId, seq: 1 }])
  })

  it('a late subscriber starts receiving within the documented bound, and gets every message published after it is ready, numbered from 1', async () => {
    const [pub, , late] = await startNodes(3)
    let published = 0
    let stopAt = Infinity
    // publishes every ms or so until told to stop (bounded: 20,000 messages, 60 s)
    const publishing = (async () => {
      const end = performance.now() + 60_000
      while (published < stopAt && published < 20_000 && performance.now() < end) {
        await pub.publish('ticks/now', { i: published++ })
        await new Promise(resolve => setTimeout(resolve, 1))
      }
    })()
    await until(() => published >= 50, 'the publisher to be under way')
    const sub = late.subscribe<{ i: number }>('ticks/*')
    const r = reader(sub)
    // the bound (docs/pubsub.md): one lookup and one control call after subscribe()
    const [first] = await r.take(1, PUBSUB_LIMITS.lookupTimeout + PUBSUB_LIMITS.controlTimeout)
    expect(first.seq).toBe(1)
    await sub.ready
    const readyAt = published
    stopAt = readyAt + 100
    await publishing
    const rest = await r.take(published - first.data.i - 1, 10_000)
    const all = [first, ...rest] as Array<Message<{ i: number }>>
    expect(all.map(m => m.seq)).toEqual(all.map((_, k) => k + 1))
    expect(all.map(m => m.data.i)).toEqual(all.map((_, k) => first.data.i + k))
    expect(all.at(-1)?.data.i).toBe(published - 1)
    expect(first.data.i).toBeLessThan(readyAt)
    expect(sub.dropped).toBe(0)
  }, 90_000)

  it('stops delivery when the consumer breaks out of its loop, closes, or aborts: publishers no longer send there', async () => {
    const [pub, a, b, c] = await startNodes(4)
    const abort = new AbortController()
    const subs = [a.subscribe('u/x'), b.subscribe('u/x'), c.subscribe('u/x', { signal: abort.signal })]
    await Promise.all(subs.map(async s => s.ready))
    expect([...(await pub.publish('u/x', 1)).subscribers].sort()).toEqual([a, b, c].map(m => m.nodeId).sort())
    for await (const m of subs[0]) {
      expect(m.data).toBe(1)
      break
    }
    expect(subs[0].closed).toBe(true)
    expect((await pub.publish('u/x', 2)).subscribers).not.toContain(a.nodeId)
    await subs[1].close()
    abort.abort()
    await until(() => subs[2].closed, 'the aborted subscription to close')
    await subs[2].close()
    expect((await pub.publish('u/x', 3)).subscribers).toEqual([])
  })

  it('reports who acknowledged; a full subscription with overflow "error" answers MESH_ERR_OVERLOADED', async () => {
    const [pub, strict, easy] = await startNodes(3)
    const full = strict.subscribe('orders/new', { buffer: 1, overflow: 'error' })
    const open = easy.subscribe('orders/*')
    await Promise.all([full.ready, open.ready])
    const first = await pub.publish('orders/new', { id: 1 }, { ack: true })
    expect([...first.acked].sort()).toEqual([strict.nodeId, easy.nodeId].sort())
    expect(first.failed).toEqual([])
    const second = await pub.publish('orders/new', { id: 2 }, { ack: true, timeout: 10_000 })
    expect(second.acked).toEqual([easy.nodeId])
    expect(second.failed.map(f => [f.node, f.error.code])).toEqual([[strict.nodeId, 'MESH_ERR_OVERLOADED']])
    expect(full.dropped).toBe(1)
    expect((await reader(open).take(2, 1_000)).map(m => m.seq)).toEqual([1, 2])
    // an aborted publish rejects at once
    const err = await rejection(pub.publish('orders/new', 3, { ack: true, signal: AbortSignal.abort() }))
    expect(err.code).toBe('MESH_ERR_ABORTED')
  })

  it('a slow subscriber loses messages (counted, and as a gap in seq) with a bounded buffer, while a fast one on the same publisher gets them all', async () => {
    const [pub, slowNode, fastNode] = await startNodes(3)
    const oldest = slowNode.subscribe<{ i: number }>('feed/*', { buffer: 16, overflow: 'drop-oldest' })
    const newest = slowNode.subscribe<{ i: number }>('feed/**', { buffer: 16, overflow: 'drop-newest' })
    const fast = fastNode.subscribe<{ i: number }>('feed/a')
    await Promise.all([oldest.ready, newest.ready, fast.ready])
    const taking = reader(fast).take(2_000, 60_000)
    await publishMany(pub, 'feed/a', 2_000)
    const got = await taking
    expect(got.map(m => m.seq)).toEqual(got.map((_, k) => k + 1))
    expect(fast.dropped).toBe(0)
    await until(() => oldest.dropped + newest.dropped === 2 * (2_000 - 16), 'the slow subscriptions to see every message')
    expect([oldest.buffered, newest.buffered]).toEqual([16, 16])
    expect(slowNode.stats().counters.pubsub.dropped).toBe(2 * (2_000 - 16))
    expect((await reader(oldest).take(16, 1_000)).map(m => m.seq)).toEqual(Array.from({ length: 16 }, (_, k) => 2_000 - 15 + k))
    expect((await reader(newest).take(16, 1_000)).map(m => m.seq)).toEqual(Array.from({ length: 16 }, (_, k) => k + 1))
    expect(pub.stats().counters.pubsub.sendDropped).toBe(0)
  }, 90_000)

  it('refuses malformed requests to its _pubsub actor and invalid topics, patterns and options with typed errors, counted, and keeps delivering', async () => {
    const [victim, attacker, pub] = await startNodes(3)
    const sub = victim.subscribe<string>('v/*')
    await sub.ready
    const utf8 = new TextEncoder()
    const mismatched = encodeBatch(1, [utf8.encode('w/x')], [{ topic: 0, ack: false, subs: [1, 1], data: encodePayload('x') }], topicsSize([3]) + entrySize(1, 2))
    const bad: Array<[string, unknown]> = [
      ['deliver', Uint8Array.of(1, 2, 3)],
      ['deliver', 'not a batch'],
      ['deliver', { topic: 'v/x' }],
      ['subscriptions', 'x'],
      ['subscriptions', { key: 'a/b' }],
      ['update', { key: 3, subs: [] }],
      ['update', { key: 'a', subs: [[1, 'b']] }],
      ['update', { key: 'a', subs: [[-1, 'a']] }],
      ['proxy', { key: 'a', subs: [], ttl: -1 }],
      ['proxy', { key: 'a', subs: 'all' }]
    ]
    for (const [method, args] of bad) {
      const err = await rejection(attacker.call(victim.nodeId, `_pubsub.${method}`, args))
      expect(err.code, `${method} ${JSON.stringify(args)}`).toBe('MESH_ERR_BAD_REQUEST')
    }
    // a well-formed batch for a subscription this node does not have, and one for a topic it does not match
    await attacker.call(victim.nodeId, '_pubsub.deliver', mismatched)
    expect(victim.stats().counters.pubsub).toMatchObject({ badInput: bad.length, unknown: 1 })

    expect(() => victim.subscribe('**/x')).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    expect(() => victim.subscribe('v', { buffer: 0 })).toThrow(expect.objectContaining({ code: 'MESH_ERR_INVALID_OPTIONS' }))
    expect(() => victim.subscribe('v', { overflow: 'block' as never })).toThrow(expect.objectContaining({ code: 'MESH_ERR_INVALID_OPTIONS' }))
    expect((await rejection(victim.publish('v/*', 1))).code).toBe('MESH_ERR_BAD_REQUEST')
    expect((await rejection(victim.publish('', 1))).code).toBe('MESH_ERR_BAD_REQUEST')
    expect((await rejection(victim.publish('v/x', Symbol('no')))).code).toBe('MESH_ERR_BAD_REQUEST')
    expect((await rejection(victim.publish('v/x', 1, { timeout: -5 }))).code).toBe('MESH_ERR_INVALID_OPTIONS')
    expect((await rejection(victim.publish('v/x', new Uint8Array(5 * 1024 * 1024)))).code).toBe('MESH_ERR_TOO_LARGE')
    expect(victim.stats().counters.pubsub.invalid).toBe(8)

    await pub.publish('v/ok', 'still here')
    expect((await reader(sub).take(1, 5_000)).map(m => m.data)).toEqual(['still here'])
  })
})
