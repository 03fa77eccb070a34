import { describe, expect, it } from 'vitest'
import type { Batch } from '../../src/pubsub/batch.js'
import { Registry } from '../../src/pubsub/registry.js'
import { Inbox, type Message, type Overflow, subscriptionSettings } from '../../src/pubsub/subscription.js'
import { compilePattern } from '../../src/pubsub/topic.js'
import { createPubsubCounters } from '../../src/stats.js'
import { encodePayload } from '../../src/wire/payload.js'

function setup (): { registry: Registry, counters: ReturnType<typeof createPubsubCounters>, unknown: string[], publishers: string[], clock: { now: number }, add: (id: number, pattern: string, buffer?: number, overflow?: Overflow) => Inbox } {
  const counters = createPubsubCounters()
  const unknown: string[] = []
  const publishers: string[] = []
  const clock = { now: 0 }
  const registry = new Registry({ counters, now: () => clock.now, onUnknown: (p, t) => unknown.push(`${p}:${t}`), onPublisher: (p, k) => publishers.push(`${p}:${k}`) })
  const add = (id: number, pattern: string, buffer = 100, overflow: Overflow = 'drop-oldest'): Inbox => {
    const inbox = new Inbox(id, compilePattern(pattern), subscriptionSettings({ buffer, overflow }), (n) => { counters.dropped += n })
    registry.add(inbox)
    return inbox
  }
  return { registry, counters, unknown, publishers, clock, add }
}

const batch = (epoch: number, topic: string, items: Array<[sub: number, seq: number, data: unknown, ack?: boolean]>): Batch => ({
  epoch,
  topics: [topic],
  entries: items.map(([sub, seq, data, ack]) => ({ topic: 0, ack: ack === true, subs: [sub, seq], data: encodePayload(data) }))
})

async function drain (inbox: Inbox): Promise<Message[]> {
  const out: Message[] = []
  while (inbox.buffered > 0) out.push((await inbox.next()).value as Message)
  return out
}

describe('Registry', () => {
  it('delivers each publisher epoch in seq order, once, and counts what it refuses', async () => {
    const { registry, counters, publishers, add } = setup()
    const inbox = add(7, 'a/*')
    registry.deliver('P', batch(1, 'a/b', [[7, 2, 'two'], [7, 1, 'one'], [7, 2, 'again']]))
    registry.deliver('P', batch(1, 'a/b', [[7, 3, 'three']]))
    registry.deliver('Q', batch(9, 'a/c', [[7, 1, 'q1']]))
    expect((await drain(inbox)).map(m => `${m.from}:${m.seq}:${String(m.data)}`)).toEqual(['P:1:one', 'P:2:two', 'P:3:three', 'Q:1:q1'])
    expect(counters.delivered).toBe(4)
    expect(counters.duplicates).toBe(1)
    expect(publishers).toEqual(['P:a', 'Q:a'])
    // a new epoch of the same publisher is a new sequence
    registry.deliver('P', batch(2, 'a/b', [[7, 1, 'restarted']]))
    expect((await drain(inbox)).map(m => m.data)).toEqual(['restarted'])
  })

  it('tells the owner about unknown subscriptions and refuses topics the pattern does not match', () => {
    const { registry, counters, unknown, add } = setup()
    add(7, 'a/*')
    registry.deliver('P', batch(1, 'a/b', [[8, 1, 'x']]))
    registry.deliver('P', batch(1, 'b/c', [[7, 1, 'x']]))
    expect(unknown).toEqual(['P:a/b'])
    expect(counters.unknown).toBe(1)
    expect(counters.badInput).toBe(1)
    expect(counters.delivered).toBe(0)
  })

  it('gives up on a gap after the wait and counts it as dropped', async () => {
    const { registry, counters, clock, add } = setup()
    const inbox = add(7, 'a/**')
    registry.deliver('P', batch(1, 'a', [[7, 1, 1], [7, 4, 4]]))
    expect(registry.holding).toBe(true)
    clock.now = 100
    registry.sweep(500)
    expect(inbox.buffered).toBe(1)
    clock.now = 600
    registry.sweep(500)
    expect(registry.holding).toBe(false)
    expect((await drain(inbox)).map(m => m.seq)).toEqual([1, 4])
    expect(inbox.dropped).toBe(2)
    expect(counters.dropped).toBe(2)
  })

  it('counts undecodable data as a drop', async () => {
    const { registry, counters, add } = setup()
    const inbox = add(7, 'a')
    registry.deliver('P', { epoch: 1, topics: ['a'], entries: [{ topic: 0, ack: false, subs: [7, 1], data: Uint8Array.of(0xc1, 0xc1) }, { topic: 0, ack: false, subs: [7, 2], data: encodePayload('ok') }] })
    expect((await drain(inbox)).map(m => m.seq)).toEqual([2])
    expect(counters.badInput).toBe(1)
    expect(inbox.dropped).toBe(1)
  })

  it('acknowledges taken messages and reports refusals, unknown subscriptions and closed ones', async () => {
    const { registry, add } = setup()
    add(1, 'a', 1, 'error')
    add(2, 'b', 1, 'drop-newest')
    expect(await registry.deliver('P', batch(1, 'a', [[1, 1, 'x', true], [1, 2, 'y', true], [1, 3, 'z']]))).toEqual([[1, 'MESH_ERR_OVERLOADED']])
    // drop-newest applies the policy and acknowledges; an unknown subscription answers CLOSED
    expect(await registry.deliver('P', batch(1, 'b', [[2, 1, 'x', true], [2, 2, 'y', true], [3, 1, 'z', true]]))).toEqual([[2, 'MESH_ERR_CLOSED']])
    // an acknowledgement held behind a gap is answered when its subscription goes away
    const held = registry.deliver('P', batch(1, 'b', [[2, 5, 'later', true]]))
    registry.remove(2)
    expect(await held).toEqual([[0, 'MESH_ERR_CLOSED']])
    expect(registry.deliver('P', batch(1, 'b', [[2, 6, 'x']]))).toBeUndefined()
  })
})
