/**
 * A subscriber process of the pub/sub benchmark (forked by bench/pubsub.ts): one kadmesh node that
 * receives the publisher's messages two ways, through a subscription and through a `sink.take`
 * actor for the plain-cast baseline, counts them, and times each from the sender's stamp.
 * Environment: PUBSUB_BOOTSTRAP (the publisher's address), PUBSUB_FAST_PATHS (`1`: native fast
 * paths allowed, else QUIC only). Exits when its parent disconnects.
 */
import { createMesh, type Subscription } from '../src/index.js'
import { age, type FromNode, type NodeReport, type Path, type ToNode } from './pubsub-ipc.js'
import { LatencyHistogram } from './stats.js'

function send (message: FromNode): void {
  process.send?.(message)
}

async function main (): Promise<void> {
  if (process.send === undefined) throw new Error('bench/pubsub-node.js must be forked by bench/pubsub.js (it needs an IPC channel)')
  const fast = process.env.PUBSUB_FAST_PATHS === '1'
  const mesh = await createMesh({
    listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
    bootstrap: [process.env.PUBSUB_BOOTSTRAP ?? ''],
    ...(fast ? {} : { transports: { udp: false, shm: false } })
  })
  let received: Record<Path, number> = { pubsub: 0, cast: 0 }
  let histograms: Record<Path, LatencyHistogram> = { pubsub: new LatencyHistogram(), cast: new LatencyHistogram() }
  let latencyMode = false
  let every = 1024
  let sub: Subscription<Uint8Array> | undefined

  const take = (path: Path, payload: Uint8Array): void => {
    histograms[path].record(age(payload))
    const n = ++received[path]
    if (latencyMode) send({ type: 'got' })
    else if (n % every === 0) send({ type: 'progress', received: n })
  }
  mesh.actor('sink', { take: (payload: Uint8Array) => { take('cast', payload) } }, { concurrency: 1_000_000, mailbox: 1_000_000 })

  const consume = async (s: Subscription<Uint8Array>): Promise<void> => {
    for await (const message of s) take('pubsub', message.data)
  }

  process.on('message', (message: ToNode) => {
    if (message.type === 'subscribe') {
      const previous = sub
      sub = mesh.subscribe<Uint8Array>(message.topic, { buffer: message.buffer })
      void consume(sub)
      void Promise.all([previous?.close(), sub.ready]).then(() => { send({ type: 'subscribed' }) })
    } else if (message.type === 'reset') {
      received = { pubsub: 0, cast: 0 }
      histograms = { pubsub: new LatencyHistogram(), cast: new LatencyHistogram() }
      latencyMode = message.latency
      every = message.every
    } else if (message.type === 'report') {
      const cpu = process.cpuUsage()
      const report: NodeReport = {
        received,
        latency: { pubsub: histograms.pubsub.summary(), cast: histograms.cast.summary() },
        dropped: sub?.dropped ?? 0,
        counters: mesh.stats().counters.pubsub,
        cpuUs: cpu.user + cpu.system,
        rss: process.memoryUsage().rss
      }
      send({ type: 'report', report })
    }
  })
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    setTimeout(() => process.exit(0), 2_000).unref()
    mesh.stop().finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  send({ type: 'ready', nodeId: mesh.nodeId, addresses: mesh.addresses, pid: process.pid })
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
  console.error('pub/sub bench node failed:', message)
  send({ type: 'failed', message })
  process.exit(1)
})
