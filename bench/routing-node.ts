/**
 * One node of the routing benchmark's line, in its own process (forked by bench/routing-line.ts).
 * Configured by environment: ROUTING_NODE_KEY (Ed25519 key, libp2p protobuf, hex),
 * ROUTING_NODE_ALLOW (comma-separated node ids it may connect to, either way),
 * ROUTING_NODE_BOOTSTRAP (comma-separated multiaddrs). Serves `bench.echo`, reports its addresses
 * over IPC once ready and its CPU time, memory and mesh counters when asked, and exits when its
 * parent disconnects or stops it (SIGTERM), so it never outlives the run.
 */
import { allowPeers, createMesh } from '../src/index.js'
import { failToParent, serveParent } from './ipc.js'

function env (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

async function main (): Promise<void> {
  if (process.send === undefined) throw new Error('bench/routing-node.js must be forked by the routing benchmark (it needs an IPC channel)')
  const allowed = new Set(env('ROUTING_NODE_ALLOW').split(',').filter(s => s !== ''))
  const bootstrap = (process.env.ROUTING_NODE_BOOTSTRAP ?? '').split(',').filter(s => s !== '')
  const mesh = await createMesh({
    listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
    bootstrap,
    privateKey: Uint8Array.from(Buffer.from(env('ROUTING_NODE_KEY'), 'hex')),
    connectionGater: allowPeers(id => allowed.has(id))
  })
  mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })

  serveParent(mesh)
}

main().catch((err: unknown) => { failToParent('routing bench node', err) })
