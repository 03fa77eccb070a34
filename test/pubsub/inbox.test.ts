import { describe, expect, it } from 'vitest'
import { Inbox, type Message, Subscription, subscriptionSettings, Taken } from '../../src/pubsub/subscription.js'
import { compilePattern } from '../../src/pubsub/topic.js'

function inbox (buffer: number, overflow: 'drop-oldest' | 'drop-newest' | 'error'): { box: Inbox, drops: number[] } {
  const drops: number[] = []
  return { box: new Inbox(1, compilePattern('a/*'), subscriptionSettings({ buffer, overflow }), (n) => drops.push(n)), drops }
}

const msg = (seq: number): Message => ({ topic: 'a/b', data: seq, from: 'p', seq })

describe('subscription buffer', () => {
  it('drop-oldest keeps the newest messages and counts the rest', async () => {
    const { box, drops } = inbox(2, 'drop-oldest')
    expect([1, 2, 3, 4].map(n => box.offer(msg(n)))).toEqual([Taken.ACCEPTED, Taken.ACCEPTED, Taken.ACCEPTED, Taken.ACCEPTED])
    expect(box.dropped).toBe(2)
    expect(drops).toEqual([1, 1])
    expect((await box.next()).value.seq).toBe(3)
    expect((await box.next()).value.seq).toBe(4)
  })

  it('drop-newest and error keep the oldest; error refuses', async () => {
    for (const [overflow, refusal] of [['drop-newest', Taken.DROPPED], ['error', Taken.REFUSED]] as const) {
      const { box } = inbox(2, overflow)
      expect([1, 2, 3].map(n => box.offer(msg(n)))).toEqual([Taken.ACCEPTED, Taken.ACCEPTED, refusal])
      expect(box.dropped).toBe(1)
      expect((await box.next()).value.seq).toBe(1)
    }
  })

  it('hands a message straight to a waiting consumer, and ends the consumer on close', async () => {
    const { box } = inbox(1, 'drop-oldest')
    const waiting = box.next()
    box.offer(msg(1))
    expect((await waiting).value.seq).toBe(1)
    const pending = box.next()
    box.close()
    expect(await pending).toEqual({ value: undefined, done: true })
    expect(box.offer(msg(2))).toBe(Taken.REFUSED)
  })

  it('refuses bad options with MESH_ERR_INVALID_OPTIONS', () => {
    for (const bad of [{ buffer: 0 }, { buffer: 1.5 }, { buffer: 2_000_000 }, { overflow: 'drop-all' }, { signal: 'no' }]) {
      expect(() => subscriptionSettings(bad as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'MESH_ERR_INVALID_OPTIONS' }))
    }
  })

  it('a Subscription ends its loop when broken out of, unsubscribes once, and refuses a second loop', async () => {
    const { box } = inbox(4, 'drop-oldest')
    let unsubscribed = 0
    const sub = new Subscription(box, Promise.resolve(), async () => { unsubscribed++ })
    box.offer(msg(1)); box.offer(msg(2))
    for await (const m of sub) { expect(m.seq).toBe(1); break }
    expect(sub.closed).toBe(true)
    expect(unsubscribed).toBe(1)
    await sub.close()
    expect(unsubscribed).toBe(1)
    expect(() => sub[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'MESH_ERR_INVALID_OPTIONS' }))
  })
})
