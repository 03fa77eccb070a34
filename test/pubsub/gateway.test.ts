import { describe, expect, it } from 'vitest'
import { startMesh } from '../helpers.js'

describe('pub/sub through a gateway that has just started', () => {
  // kad-dht answers a provider lookup with the providers' addresses from the peer store, and libp2p
  // writes a node's own addresses there only a second after it starts listening: a gateway's `sub`
  // record (which names the gateway itself) was dropped from its answers for that second.
  it('an outbound-only publisher finds an outbound-only subscriber once its ready resolved', async () => {
    const gateway = await startMesh()
    const subscriber = await startMesh({ reachability: 'outbound-only', bootstrap: [gateway.addresses[0]] })
    const sub = subscriber.subscribe('sensors/*')
    await sub.ready
    const publisher = await startMesh({ reachability: 'outbound-only', bootstrap: [gateway.addresses[0]] })
    const result = await publisher.publish('sensors/kitchen', { c: 21.5 }, { ack: true })
    expect(result).toEqual({ subscribers: [subscriber.nodeId], acked: [subscriber.nodeId], failed: [] })
    for await (const message of sub) {
      expect(message).toMatchObject({ topic: 'sensors/kitchen', data: { c: 21.5 }, from: publisher.nodeId, seq: 1 })
      break
    }
  })
})
