import { describe, expect, it } from 'vitest'
import { allowPeers, type Mesh, type Message } from '../../src/index.js'
import { startMesh } from '../helpers.js'
import { identities } from '../routing/topology.js'
import { expectInOrder, reader, startNodes } from './helpers.js'

const PER_PUBLISHER = 300
const BURST = 10

/** Publishes PER_PUBLISHER messages `{ i }` to `topic`, BURST at a time (one batch per burst and node). */
async function publishAll (mesh: Mesh, topic: string): Promise<void> {
  for (let i = 0; i < PER_PUBLISHER; i += BURST) {
    await Promise.all(Array.from({ length: BURST }, async (_, k) => mesh.publish(topic, { i: i + k })))
  }
}

describe('pub/sub across a 20-node mesh', () => {
  it('delivers every message of 3 publishers to 5 subscribers, one of them outbound-only behind gateways, in order per publisher and without duplicates', async () => {
    const nodes = await startNodes(19)
    // the outbound-only node may connect to its two gateways only: everything reaches it through them
    const [outId] = await identities(1)
    const gateways = [nodes[1], nodes[2]]
    const out = await startMesh({
      privateKey: outId.key,
      reachability: 'outbound-only',
      bootstrap: gateways.map(g => g.addresses[0]),
      connectionGater: allowPeers(peer => gateways.some(g => g.nodeId === peer))
    })
    expect(out.addresses).toEqual([])

    const subscribers = [
      nodes[5].subscribe<{ i: number }>('fleet/**'),
      nodes[9].subscribe<{ i: number }>('fleet/*/pos'),
      nodes[13].subscribe<{ i: number }>('**'),
      nodes[17].subscribe<{ i: number }>('*/*/pos'),
      out.subscribe<{ i: number }>('fleet/**', { buffer: 4096 })
    ]
    await Promise.all(subscribers.map(async s => s.ready))
    const publishers = [nodes[0], nodes[8], nodes[15]]
    const readers = subscribers.map(s => reader(s))
    const received = readers.map(async r => r.take(PER_PUBLISHER * publishers.length, 60_000))
    await Promise.all(publishers.map(async (p, k) => publishAll(p, `fleet/truck-${k}/pos`)))

    for (const [k, messages] of (await Promise.all(received)).entries()) {
      expectInOrder(messages as Array<Message<{ i: number }>>, PER_PUBLISHER, publishers.map(p => p.nodeId))
      expect(subscribers[k].dropped).toBe(0)
    }
    // the outbound-only subscriber got its messages as routed calls, through the gateways
    expect(out.stats().counters.routedDelivered).toBeGreaterThan(0)
    expect(out.stats().connections).toBeLessThanOrEqual(2)
    for (const p of publishers) {
      expect(p.stats().counters.pubsub).toMatchObject({ published: PER_PUBLISHER, sent: PER_PUBLISHER * 5, sendDropped: 0 })
    }
  }, 180_000)
})
