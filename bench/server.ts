/**
 * The benchmark's server process, forked by bench/run.ts: one kadmesh node with the `bench.echo`
 * actor and the raw echo protocol on its libp2p node. It reports its addresses once ready and its
 * own CPU time and RSS when asked. It exits when its parent disconnects, so it never outlives the
 * run; the parent stops it with child.kill() (SIGTERM).
 */
import { createSocket } from 'node:dgram'
import { createMesh } from '../src/index.js'
import { handleEcho } from './echo-protocol.js'
import { failToParent, serveParent } from './ipc.js'

async function main (): Promise<void> {
  if (process.send === undefined) throw new Error('bench/server.js must be started by bench/run.js (it needs an IPC channel)')
  // BENCH_SPIN_US: fast-path polling budget (bench/fastpath.ts); unset: the mesh's defaults
  const spin = process.env.BENCH_SPIN_US === undefined ? undefined : Number(process.env.BENCH_SPIN_US)
  const mesh = await createMesh({
    listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
    ...(spin === undefined ? {} : { transports: { shm: { idleSpinUs: spin }, udp: { busyPollUs: spin } } })
  })
  mesh.actor('bench', { echo: (x: unknown) => x }, { concurrency: 64, mailbox: 4096 })
  await handleEcho(mesh.libp2p)
  // the fast-path benchmark's floor: Node dgram ping-pong against this process
  const dgram = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 })
  dgram.on('message', (msg, from) => { dgram.send(msg, from.port, from.address) })
  await new Promise<void>(resolve => dgram.bind(0, '127.0.0.1', resolve))

  serveParent(mesh, { dgramPort: dgram.address().port }, () => { dgram.close() })
}

main().catch((err: unknown) => { failToParent('bench server', err) })
