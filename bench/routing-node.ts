/**
 * One node of the routing benchmark's line, in its own process (forked by bench/routing-line.ts).
 * Configured by environment: ROUTING_NODE_KEY (Ed25519 key, libp2p protobuf, hex),
 * ROUTING_NODE_ALLOW (comma-separated node ids it may connect to, either way),
 * ROUTING_NODE_BOOTSTRAP (comma-separated multiaddrs). Serves `bench.echo`, reports its addresses
 * over IPC once ready and its CPU time, memory and mesh counters when asked, and exits when its
 * parent disconnects or stops it (SIGTERM), so it never outlives the run.
 */
import type { PeerId } from '@libp2p/interface'
import { createMesh, type Mesh } from '../src/index.js'
import { isToServer, type ToClient } from './ipc.js'

function send (message: ToClient): void {
  process.send?.(message)
}

function env (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

async function main (): Promise<void> {
  if (process.send === undefined) throw new Error('bench/routing-node.js must be forked by the routing benchmark (it needs an IPC channel)')
  const allowed = new Set(env('ROUTING_NODE_ALLOW').split(',').filter(s => s !== ''))
  const deny = (peer: PeerId): boolean => !allowed.has(peer.toString())
  const bootstrap = (process.env.ROUTING_NODE_BOOTSTRAP ?? '').split(',').filter(s => s !== '')
  const mesh: Mesh = await createMesh({
    listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
    bootstrap,
    privateKey: Uint8Array.from(Buffer.from(env('ROUTING_NODE_KEY'), 'hex')),
    connectionGater: {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
      denyInboundUpgradedConnection: deny,
      denyOutboundUpgradedConnection: deny
    }
  })
  mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })

  let stopping = false
  const stop = (code: number): void => {
    if (stopping) return
    stopping = true
    setTimeout(() => process.exit(code), 2_000).unref()
    mesh.stop().finally(() => process.exit(code))
  }
  process.on('SIGTERM', () => { stop(0) })
  process.on('SIGINT', () => { stop(0) })
  process.on('disconnect', () => { stop(0) })
  process.on('message', (message: unknown) => {
    if (!isToServer(message)) return
    const memory = process.memoryUsage()
    send({ type: 'usage', id: message.id, cpu: process.cpuUsage(), rss: memory.rss, heapUsed: memory.heapUsed, mesh: mesh.stats() })
  })
  send({ type: 'ready', nodeId: mesh.nodeId, addresses: mesh.addresses, pid: process.pid })
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
  console.error('routing bench node failed:', message)
  send({ type: 'failed', message })
  process.exit(1)
})
