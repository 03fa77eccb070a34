import { afterEach, describe, expect, it } from 'vitest'
import type { Message } from '../../src/index.js'
import { killFixtures, spawnFixture } from '../fixtures/spawn.js'
import { expectInOrder, reader, startNodes, within } from './helpers.js'

afterEach(killFixtures)

const TOTAL = 3_000

describe('a subscriber process killed mid-stream', () => {
  it('leaves the other subscribers receiving every message, publishes resolve without error, and the publisher forgets the dead node', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      const [pub, local] = await startNodes(2)
      const env = { KADMESH_BOOTSTRAP: pub.addresses[0], KADMESH_PATTERN: 'stream/*', KADMESH_BUFFER: String(TOTAL) }
      const [doomed, survivor] = await Promise.all([spawnFixture('pubsub-node', env), spawnFixture('pubsub-node', env)])
      const sub = local.subscribe<{ i: number }>('stream/*', { buffer: TOTAL })
      await sub.ready
      const all = reader(sub).take(TOTAL, 60_000)
      void doomed.started(200).then(() => { doomed.child.kill('SIGKILL') })

      for (let i = 0; i < TOTAL; i += 20) {
        const results = await Promise.all(Array.from({ length: 20 }, async (_, k) => pub.publish('stream/a', { i: i + k })))
        if (i === 0) expect(results[0].subscribers).toHaveLength(3)
        await new Promise(resolve => setImmediate(resolve))
      }
      await within(doomed.exited, 10_000, 'the killed subscriber to exit')
      expectInOrder(await all as Array<Message<{ i: number }>>, TOTAL, [pub.nodeId])
      expect(sub.dropped).toBe(0)
      await within(survivor.started(TOTAL), 30_000, `the surviving subscriber process to receive all ${TOTAL} messages`)

      // the dead node's link fails (QUIC idle timeout, then no route): the publisher forgets it
      const end = performance.now() + 30_000
      for (let i = TOTAL; pub.stats().counters.pubsub.forgotten === 0 && performance.now() < end; i++) {
        await pub.publish('stream/a', { i })
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      expect(pub.stats().counters.pubsub.forgotten).toBe(1)
      const after = await pub.publish('stream/a', { i: -1 })
      expect([...after.subscribers].sort()).toEqual([local.nodeId, survivor.nodeId].sort())
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  }, 120_000)
})
