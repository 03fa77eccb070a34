/**
 * One node of the cluster demo, in its own process (forked by main.ts). It waits for its plan,
 * starts a mesh node with the actors the plan names, reports its id and addresses, then makes the
 * calls the parent asks for and reports how they went.
 */
import { allowPeers, createMesh, type MeshError, type Subscription } from '../../src/index.js'
import { ACTORS } from './actors.js'
import { DIAL_TIMEOUT } from './settings.js'
import type { CallOutcome, Collected, FromNode, LoadResult, ProbeResult, Published, Request, Start, ToNode } from './messages.js'

/** ms the probe waits after a failed call before the next one. */
const FAILURE_BACKOFF = 100

const send = (message: FromNode): void => { process.send?.(message) }
const start = await new Promise<Start>(resolve => {
  process.once('message', (message: ToNode) => { if (message.type === 'start') resolve(message) })
})
const mesh = await createMesh({
  listen: ['/ip4/127.0.0.1/udp/0/quic-v1'],
  privateKey: start.key,
  reachability: start.plan.reachability,
  bootstrap: start.bootstrap,
  dialTimeout: DIAL_TIMEOUT,
  ...(start.allow === undefined ? {} : { connectionGater: allowPeers(id => start.allow?.includes(id) === true) })
})
for (const actor of start.plan.actors) ACTORS[actor](mesh)
send({ type: 'ready', nodeId: mesh.nodeId, addresses: mesh.addresses })

let killed: number | undefined
process.on('message', (message: ToNode) => {
  if (message.type === 'stop') void mesh.stop().then(() => process.exit(0))
  else if (message.type === 'killed') killed = performance.now()
  else if (message.type !== 'start') {
    serve(message).then(result => { send({ type: 'reply', id: message.id, result }) },
      (err: unknown) => { send({ type: 'failed', id: message.id, message: (err as Error).message }) })
  }
})
// the parent going away (it crashed, or was killed) ends this node too
process.on('disconnect', () => { void mesh.stop().then(() => process.exit(0)) })

async function serve (request: Request): Promise<unknown> {
  switch (request.type) {
    case 'call': return call(request.to, request.method, request.args, request.timeout)
    case 'load': return load(request)
    case 'probe': return probe(request)
    case 'stats': return mesh.stats().counters
    case 'subscribe': return subscribe(request.pattern)
    case 'collect': return collect(request.pattern, request.count, request.maxMs)
    case 'publish': return publish(request.topic, request.count)
  }
}

async function call (to: string, method: string, args: unknown, timeout: number): Promise<CallOutcome> {
  const begin = performance.now()
  try {
    const { value, path, transports } = await mesh.traceCall(to, method, args, { timeout })
    return { ok: true, value, path, transports, ms: performance.now() - begin }
  } catch (err) {
    const e = err as MeshError
    return { ok: false, code: e.code, message: e.message, node: e.node, ms: performance.now() - begin }
  }
}

/** `inFlight` callers, each calling back to back, until `maxCalls` calls or `maxMs` have passed. */
async function load (r: Extract<Request, { type: 'load' }>): Promise<LoadResult> {
  const result: LoadResult = { calls: 0, errors: {}, seconds: 0, latencies: [] }
  const begin = performance.now()
  const end = begin + r.maxMs
  let started = 0
  await Promise.all(Array.from({ length: r.inFlight }, async () => {
    while (started < r.maxCalls && performance.now() < end) {
      started++
      const t = performance.now()
      try {
        await mesh.call(r.to, r.method, r.args, { timeout: 5_000 })
        result.latencies.push(performance.now() - t)
      } catch (err) {
        const code = (err as MeshError).code
        result.errors[code] = (result.errors[code] ?? 0) + 1
      }
      result.calls++
    }
  }))
  result.seconds = (performance.now() - begin) / 1000
  result.latencies.sort((a, b) => a - b)
  return result
}

/**
 * Calls back to back; after `killAfter` successes asks the parent to kill a gateway on the path,
 * then goes on until `recoverAfter` calls have succeeded after the kill (or `maxMs` passed).
 */
async function probe (r: Extract<Request, { type: 'probe' }>): Promise<ProbeResult> {
  const result: ProbeResult = { before: [], okBefore: 0, failures: [], okAfter: 0, failedAfterRecovery: 0 }
  const end = performance.now() + r.maxMs
  killed = undefined
  let asked = false
  while (performance.now() < end && result.okAfter < r.recoverAfter) {
    const outcome = await call(r.to, r.method, r.args, 5_000)
    const since = killed === undefined ? undefined : performance.now() - killed
    if (!outcome.ok) {
      if (result.recovered !== undefined) result.failedAfterRecovery++
      const at = since ?? -1
      const same = result.failures.find(f => f.code === outcome.code && f.node === outcome.node)
      if (same === undefined) result.failures.push({ code: outcome.code, node: outcome.node, count: 1, firstMs: at, lastMs: at })
      else { same.count++; same.lastMs = at }
      // as a client would: back off a little before trying again
      await new Promise(resolve => setTimeout(resolve, FAILURE_BACKOFF))
    } else if (since === undefined) {
      result.okBefore++
      result.before = outcome.path
      if (result.okBefore >= r.killAfter && !asked) {
        asked = true
        send({ type: 'kill', path: outcome.path })
      }
    } else {
      result.recovered ??= { atMs: since, path: outcome.path }
      result.okAfter++
    }
  }
  return result
}

const subscriptions = new Map<string, Subscription<{ sentAt: number }>>()

/** Subscribes to `pattern` and resolves once publishers can find the subscription. */
async function subscribe (pattern: string): Promise<void> {
  const sub = mesh.subscribe<{ sentAt: number }>(pattern, { buffer: 10_000 })
  subscriptions.set(pattern, sub)
  await sub.ready
}

/** Takes `count` messages from the subscription to `pattern` (fewer if `maxMs` pass first), then closes it. */
async function collect (pattern: string, count: number, maxMs: number): Promise<Collected> {
  const sub = subscriptions.get(pattern)
  if (sub === undefined) throw new Error(`not subscribed to ${pattern}`)
  const result: Collected = { messages: [], dropped: 0 }
  const timer = setTimeout(() => { void sub.close() }, maxMs)
  for await (const { topic, from, seq, data } of sub) {
    result.messages.push({ topic, from, seq, latencyMs: Date.now() - data.sentAt })
    if (result.messages.length >= count) break
  }
  clearTimeout(timer)
  result.dropped = sub.dropped
  subscriptions.delete(pattern)
  return result
}

/** Publishes `count` messages to `topic`, each acknowledged by the subscriber nodes, one after another. */
async function publish (topic: string, count: number): Promise<Published> {
  const result: Published = { published: 0, subscribers: [], failed: {} }
  const subscribers = new Set<string>()
  for (let i = 0; i < count; i++) {
    const outcome = await mesh.publish(topic, { sentAt: Date.now(), i }, { ack: true, timeout: 5_000 })
    result.published++
    for (const node of outcome.subscribers) subscribers.add(node)
    for (const { error } of outcome.failed) result.failed[error.code] = (result.failed[error.code] ?? 0) + 1
  }
  result.subscribers = [...subscribers]
  return result
}
