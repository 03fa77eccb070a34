/**
 * The benchmark's server process, forked by bench/run.ts: one kadmesh node with the `bench.echo`
 * actor and the raw echo protocol on its libp2p node. It reports its addresses once ready and its
 * own CPU time and RSS when asked. It exits when its parent disconnects, so it never outlives the
 * run; the parent stops it with child.kill() (SIGTERM).
 */
import { createSocket } from 'node:dgram'
import { createMesh, type Mesh } from '../src/index.js'
import { handleEcho } from './echo-protocol.js'
import { isToServer, type ToClient } from './ipc.js'

function send (message: ToClient): void {
  process.send?.(message)
}

async function main (): Promise<void> {
  if (process.send === undefined) throw new Error('bench/server.js must be started by bench/run.js (it needs an IPC channel)')
  // BENCH_SPIN_US: fast-path polling budget (bench/fastpath.ts); unset: the mesh's defaults
  const spin = process.env.BENCH_SPIN_US === undefined ? undefined : Number(process.env.BENCH_SPIN_US)
  const mesh: Mesh = await createMesh({
    listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
    ...(spin === undefined ? {} : { transports: { shm: { idleSpinUs: spin }, udp: { busyPollUs: spin } } })
  })
  mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
  await handleEcho(mesh.libp2p)
  // the fast-path benchmark's floor: Node dgram ping-pong against this process
  const dgram = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
  dgram.on('message', (msg, from) => { dgram.send(msg, from.port, from.address) })
  await new Promise<void>(resolve => dgram.bind(0, '127.0.0.1', resolve))

  let stopping = false
  const stop = (code: number): void => {
    if (stopping) return
    stopping = true
    // Bounded: a stuck stop must not keep the process alive.
    setTimeout(() => process.exit(code), 2_000).unref()
    dgram.close()
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
  send({ type: 'ready', nodeId: mesh.nodeId, addresses: mesh.addresses, pid: process.pid, dgramPort: dgram.address().port })
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
  console.error('bench server failed:', message)
  send({ type: 'failed', message })
  process.exit(1)
})
