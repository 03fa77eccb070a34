/**
 * One demo node, run in its own process by main.ts. It hosts three actors, reports its id and
 * addresses to the parent, calls the other nodes when told to, and reports what happened.
 */
import { createHash } from 'node:crypto'
import { createMesh } from '../../src/index.js'

interface Command { peers?: Array<{ name: string, nodeId: string }>, stop?: true }

const name = process.env.DEMO_NAME ?? 'node'
const bootstrap = (process.env.DEMO_BOOTSTRAP ?? '').split(',').filter(a => a.length > 0)
const mesh = await createMesh({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], bootstrap })

let count = 0
mesh.actor('greeter', { hello: ({ from }: { from: string }) => `hello ${from}, this is ${name}` })
mesh.actor('counter', { increment: () => ++count })
mesh.actor('hash', {
  sha256: ({ data, rounds }: { data: Uint8Array, rounds: number }) => {
    let digest = data
    for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
    return digest
  }
}, { concurrency: 4 })

process.send?.({ ready: { name, nodeId: mesh.nodeId, addresses: mesh.addresses } })

process.on('message', (command: Command) => {
  if (command.stop === true) {
    void mesh.stop().then(() => process.exit(0))
    return
  }
  if (command.peers !== undefined) void callPeers(command.peers)
})

async function callPeers (peers: Array<{ name: string, nodeId: string }>): Promise<void> {
  const results = []
  for (const peer of peers) {
    for (const [method, args] of [
      ['greeter.hello', { from: name }],
      ['counter.increment', null],
      ['hash.sha256', { data: new TextEncoder().encode(name), rounds: 1_000 }]
    ] as const) {
      const start = performance.now()
      try {
        const value = await mesh.call(peer.nodeId, method, args, { timeout: 5_000 })
        results.push({ to: peer.name, method, ok: true, value: show(value), ms: performance.now() - start })
      } catch (err) {
        results.push({ to: peer.name, method, ok: false, value: `${(err as { code?: string }).code}: ${(err as Error).message}`, ms: performance.now() - start })
      }
    }
  }
  // a burst, to show what the pool does with many calls in flight
  const burst = 2_000
  const start = performance.now()
  const target = peers[0]
  await Promise.all(Array.from({ length: burst }, async () => mesh.call(target.nodeId, 'counter.increment')))
  const seconds = (performance.now() - start) / 1000
  process.send?.({ results, burst: { to: target.name, calls: burst, perSecond: Math.round(burst / seconds) } })
}

function show (value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex').slice(0, 16) + '…'
  return JSON.stringify(value)
}
