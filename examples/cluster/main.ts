/**
 * `npm start`: a kadmesh cluster of N node processes on loopback. Some nodes are outbound-only
 * behind two gateways; actors (kv, counter, hash) live on several nodes. The demo makes calls
 * across the cluster and prints their paths, measures latency and throughput, SIGKILLs the gateway
 * a stream of calls goes through and shows the calls recovering through the other one, then
 * prints a summary. Exits 0 when every check passed, 1 otherwise, 2 on bad options.
 *
 *   npm start -- --nodes 8 --duration 20
 *   node dist/examples/cluster/main.js --quick
 */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isDeepStrictEqual } from 'node:util'
import { sha256Rounds } from './actors.js'
import { NodeProcess, stopAll } from './control.js'
import type { CallOutcome, Collected, LoadResult, ProbeResult, Published } from './messages.js'
import { Checks, count, ms, percentile, route, show } from './report.js'
import { DIAL_TIMEOUT, parseSettings, type Settings, USAGE } from './settings.js'
import { plan, pubsubScript, script } from './topology.js'

/** The errors a call in flight through a dying gateway may end with: it was lost, or the route was. */
const RETRYABLE = ['MESH_ERR_CONNECTION_LOST', 'MESH_ERR_UNREACHABLE']
/** How long the failover probe may take, and how many calls must succeed after the kill. */
const PROBE_MS = 30_000
const RECOVER_AFTER = 20

let options: Settings
try {
  const parsed = parseSettings(process.argv.slice(2))
  if (parsed === 'help') {
    console.log(USAGE)
    process.exit(0)
  }
  options = parsed
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}

const checks = new Checks()
const cluster: NodeProcess[] = []
const byName = new Map<string, NodeProcess>()
const nameOf = (id: string): string => cluster.find(n => n.nodeId === id)?.plan.name ?? id.slice(-6)
const node = (name: string): NodeProcess => byName.get(name) as NodeProcess
/** Calls made: succeeded, failed as the demo meant them to (typed error, dead gateway), failed otherwise. */
const calls = { ok: 0, meant: 0, failed: 0 }
const tally = (ok: boolean, meant: boolean, n = 1): void => { calls[ok ? 'ok' : meant ? 'meant' : 'failed'] += n }
let killedName: string | undefined

// a last resort: a demo that hangs anyway is stopped, with its children, and fails
const watchdog = setTimeout(() => {
  console.error('\ndemo: gave up (it should have ended long ago); killing the node processes')
  for (const n of cluster) n.kill()
  process.exit(1)
}, 5 * 60_000 + options.loadMs * 4)
watchdog.unref()

try {
  await startCluster()
  await scriptedCalls()
  await pubsub()
  await measure()
  await failover()
  await nodeStats()
} catch (err) {
  checks.check('the demo ran to the end', false, (err as Error).message)
}
const codes = await stopAll(cluster)
const survivors = [...codes.entries()]
checks.check('every surviving node stopped cleanly (exit 0)', survivors.every(([, code]) => code === 0),
  survivors.filter(([, code]) => code !== 0).map(([name, code]) => `${name} exited ${code}`).join(', '))
summary()
process.exit(checks.passed === checks.total ? 0 : 1)

async function startCluster (): Promise<void> {
  const plans = plan(options.nodes)
  const keys = await Promise.all(plans.map(async () => generateKeyPair('Ed25519')))
  for (const p of plans) {
    const n = new NodeProcess(p)
    cluster.push(n)
    byName.set(p.name, n)
  }
  const idOf = new Map(plans.map((p, i) => [p.name, peerIdFromPrivateKey(keys[i]).toString()]))
  const startNode = async (i: number): Promise<void> => cluster[i].start({
    key: privateKeyToProtobuf(keys[i]),
    bootstrap: plans[i].bootstrap.flatMap(name => node(name).addresses),
    allow: plans[i].allow?.map(name => idOf.get(name) as string)
  })
  // the seed first, then the public nodes through it, then the edges through the gateways
  await startNode(0)
  await Promise.all(plans.map((p, i) => p.role !== 'seed' && p.role !== 'edge' ? startNode(i) : undefined))
  await Promise.all(plans.map((p, i) => p.role === 'edge' ? startNode(i) : undefined))

  console.log(`kadmesh cluster: ${cluster.length} nodes in ${cluster.length} processes on 127.0.0.1 (dialTimeout ${DIAL_TIMEOUT / 1000} s: docs/operations.md, tuning)\n`)
  for (const n of cluster) {
    const where = n.plan.allow === undefined ? n.addresses[0] : `dials out to ${n.plan.allow.join(', ')} only`
    const actors = n.plan.actors.length > 0 ? n.plan.actors.join(', ') : '(forwards only)'
    console.log(`  ${n.plan.name.padEnd(7)} ${n.plan.reachability.padEnd(13)} …${n.nodeId.slice(-8)}  pid ${String(n.pid).padEnd(7)} ${actors.padEnd(16)} ${where}`)
  }
  checks.check('every node started and joined', cluster.every(n => n.nodeId !== ''))
}

async function scriptedCalls (): Promise<void> {
  console.log('\ncalls across the cluster (path and transport per hop, from traceCall)\n')
  const calls = script(cluster.map(n => n.plan), sha256Rounds)
  let right = 0
  const wrongPaths: string[] = []
  for (const c of calls) {
    const outcome = await node(c.from).ask<CallOutcome>({ type: 'call', to: node(c.to).nodeId, method: c.method, args: c.args, timeout: 10_000 })
    const expected = 'code' in c.expect ? !outcome.ok && outcome.code === c.expect.code : outcome.ok && isDeepStrictEqual(outcome.value, c.expect.value)
    if (expected) right++
    tally(outcome.ok, expected)
    const head = `  ${expected ? 'ok  ' : 'FAIL'} ${c.from.padEnd(7)} → ${c.to.padEnd(7)} ${c.method.padEnd(12)}`
    if (!outcome.ok) {
      console.log(`${head} ${outcome.code}: ${outcome.message}${'code' in c.expect ? ' (expected)' : ''}`)
      continue
    }
    const hops = outcome.path.length - 1
    console.log(`${head} ${route(outcome.path, nameOf).padEnd(26)} ${outcome.transports.join(',').padEnd(10)} ${String(hops)} hop${hops === 1 ? ' ' : 's'} ${ms(outcome.ms).padStart(9)}  ${show(outcome.value)}`)
    // an edge connects to its gateways only: next to an edge on any path there must be one of them
    const names = outcome.path.map(nameOf)
    const throughGateways = names.every((name, i) => {
      const allow = byName.get(name)?.plan.allow
      return allow === undefined || [names[i - 1], names[i + 1]].every(next => next === undefined || allow.includes(next))
    })
    if (!throughGateways) wrongPaths.push(`${c.from} → ${c.to}: ${route(outcome.path, nameOf)}`)
  }
  checks.check('every scripted call returned what it should (or the error it should)', right === calls.length, `${calls.length - right} did not`)
  checks.check('calls to and from outbound-only nodes went through their gateways', wrongPaths.length === 0, wrongPaths.join('; '))
}

async function pubsub (): Promise<void> {
  const { publishers, subscribers } = pubsubScript(cluster.map(n => n.plan))
  const count = options.messages
  console.log(`\npub/sub: ${publishers.map(p => `${p.node} publishes ${p.topic}`).join(', ')}; ${count} acknowledged messages each\n`)
  await Promise.all(subscribers.map(async s => node(s.node).ask({ type: 'subscribe', pattern: s.pattern })))
  const collected = subscribers.map(async s => node(s.node).ask<Collected>({ type: 'collect', pattern: s.pattern, count: count * s.hears.length, maxMs: 30_000 }))
  const published = await Promise.all(publishers.map(async p => node(p.node).ask<Published>({ type: 'publish', topic: p.topic, count })))
  const wrong: string[] = []
  published.forEach((p, i) => {
    const failed = Object.values(p.failed).reduce((a, b) => a + b, 0)
    tally(true, false, p.published - failed)
    tally(false, false, failed)
    if (failed > 0) wrong.push(`${publishers[i].node}: ${failed} publishes not acknowledged ${JSON.stringify(p.failed)}`)
  })
  for (const [i, c] of (await Promise.all(collected)).entries()) {
    const s = subscribers[i]
    // per publisher: seq 1, 2, … count in arrival order, nothing twice, nothing missing
    const inOrder = s.hears.every(name => {
      const seqs = c.messages.filter(m => m.from === node(name).nodeId).map(m => m.seq)
      return seqs.length === count && seqs.every((seq, k) => seq === k + 1)
    })
    const strangers = c.messages.filter(m => !s.hears.some(name => node(name).nodeId === m.from)).length
    const latencies = c.messages.map(m => m.latencyMs).sort((a, b) => a - b)
    const expected = count * s.hears.length
    console.log(`  ${s.node.padEnd(7)} ${s.pattern.padEnd(16)} ${String(c.messages.length).padStart(5)} of ${String(expected).padEnd(5)} ` +
      `${inOrder ? 'in order per publisher' : 'OUT OF ORDER OR MISSING'}   delivery p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}` +
      `${c.dropped > 0 ? `   ${c.dropped} dropped` : ''}`)
    if (!inOrder || strangers > 0 || c.dropped > 0) wrong.push(`${s.node} ${s.pattern}: ${c.messages.length} of ${expected}, ${strangers} unexpected, ${c.dropped} dropped`)
  }
  checks.check('every subscriber got each matching message once, in publish order per publisher', wrong.length === 0, wrong.join('; '))
}

async function measure (): Promise<void> {
  const caller = cluster.find(n => n.plan.role === 'app') ?? node('seed')
  const target = cluster.find(n => n.plan.role === 'edge') as NodeProcess
  const seed = node('seed')
  const name = caller.plan.name
  console.log(`\nlatency and throughput, ${name} calling counter.add (${cluster.length} nodes share this machine's cores: figures are indicative)\n`)
  console.log(`  ${''.padEnd(44)} ${'calls'.padStart(8)} ${'p50'.padStart(9)} ${'p99'.padStart(9)} ${'calls/s'.padStart(9)}`)
  const runs = [
    { label: `1 in flight, direct (${name} → seed)`, to: seed, inFlight: 1, maxCalls: options.sequentialCalls },
    { label: `1 in flight, through a gateway (→ ${target.plan.name})`, to: target, inFlight: 1, maxCalls: options.sequentialCalls },
    { label: `64 in flight, direct (${name} → seed)`, to: seed, inFlight: 64, maxCalls: 1_000_000 },
    { label: `64 in flight, through a gateway (→ ${target.plan.name})`, to: target, inFlight: 64, maxCalls: 1_000_000 }
  ]
  let errors = 0
  for (const run of runs) {
    const r = await caller.ask<LoadResult>({ type: 'load', to: run.to.nodeId, method: 'counter.add', args: { by: 1 }, inFlight: run.inFlight, maxCalls: run.maxCalls, maxMs: options.loadMs })
    const failed = Object.values(r.errors).reduce((a, b) => a + b, 0)
    errors += failed
    tally(true, false, r.calls - failed)
    tally(false, false, failed)
    console.log(`  ${run.label.padEnd(44)} ${count(r.calls).padStart(8)} ${ms(percentile(r.latencies, 50)).padStart(9)} ${ms(percentile(r.latencies, 99)).padStart(9)} ${count((r.calls - failed) / r.seconds).padStart(9)}${failed > 0 ? `  errors: ${JSON.stringify(r.errors)}` : ''}`)
  }
  checks.check('no call failed under load', errors === 0, `${errors} failed`)
}

async function failover (): Promise<void> {
  const caller = cluster.find(n => n.plan.role === 'app') ?? node('seed')
  const edges = cluster.filter(n => n.plan.role === 'edge')
  const [target, other] = edges
  console.log(`\nkilling a gateway: ${caller.plan.name} calls kv.get on ${target.plan.name} back to back; the gateway in front of ${target.plan.name} is SIGKILLed\n`)
  caller.onKill(path => {
    // the gateway in front of the edge (the calls may pass other forwarders first)
    const victim = cluster.find(n => n.nodeId === path[path.length - 2])
    if (victim === undefined || victim.plan.role !== 'gateway') {
      console.log(`  the calls take ${route(path, nameOf)}: no gateway to kill`)
      return
    }
    killedName = victim.plan.name
    console.log(`  calls take ${route(path, nameOf)}; SIGKILL ${victim.plan.name} (pid ${victim.pid})`)
    victim.kill()
    caller.tell({ type: 'killed' })
  })
  const probe = await caller.ask<ProbeResult>({ type: 'probe', to: target.nodeId, method: 'kv.get', args: { key: 'greeting' }, killAfter: options.killAfter, recoverAfter: RECOVER_AFTER, maxMs: PROBE_MS })
  tally(true, false, probe.okBefore + probe.okAfter)
  // failing over is what the demo is about: the failures until the calls recovered are meant
  for (const f of probe.failures) tally(false, true, f.count)
  for (const f of probe.failures) {
    const at = (t: number): string => t < 0 ? 'at the kill' : `+${ms(t)} after the kill`
    const when = f.count === 1 ? at(f.firstMs) : `${at(f.firstMs)} … ${at(f.lastMs)}`
    console.log(`  ${String(f.count).padStart(4)} call${f.count === 1 ? ' ' : 's'} failed: ${f.code}${f.node === undefined ? '' : ` (raised by ${nameOf(f.node)})`}, ${when}`)
  }
  const victimId = cluster.find(n => n.plan.name === killedName)?.nodeId
  if (probe.recovered !== undefined) {
    console.log(`  +${ms(probe.recovered.atMs).padStart(9)}  recovered: ${route(probe.recovered.path, nameOf)} (${probe.okBefore} calls before the kill, ${probe.okAfter} after)`)
  }
  checks.check('a gateway on the route was killed', killedName !== undefined)
  // the first failure is the call that was in flight through the gateway when it died
  const first = [...probe.failures].sort((a, b) => a.firstMs - b.firstMs)[0]
  checks.check('the call in flight through the killed gateway failed with a retryable error',
    first === undefined || RETRYABLE.includes(first.code), first?.code)
  checks.check(`calls recovered through another gateway within ${PROBE_MS / 1000} s, and none failed after that`,
    probe.recovered !== undefined && victimId !== undefined && !probe.recovered.path.includes(victimId) && probe.okAfter >= RECOVER_AFTER && probe.failedAfterRecovery === 0,
    probe.recovered === undefined ? 'no call succeeded after the kill' : `recovered path ${route(probe.recovered.path, nameOf)}, ${probe.okAfter} ok, ${probe.failedAfterRecovery} failed after`)
  if (victimId === undefined) return

  // the rest of the cluster routes around the dead gateway too; kv.get is idempotent, so a caller
  // retries it once after a retryable error (a route through the gateway may not have timed out yet)
  let after = await other.ask<CallOutcome>({ type: 'call', to: target.nodeId, method: 'kv.get', args: { key: 'greeting' }, timeout: 10_000 })
  if (!after.ok && RETRYABLE.includes(after.code)) {
    tally(false, true)
    console.log(`  ${other.plan.name} → ${target.plan.name}: ${after.code} (${after.message}); retrying once`)
    after = await other.ask<CallOutcome>({ type: 'call', to: target.nodeId, method: 'kv.get', args: { key: 'greeting' }, timeout: 10_000 })
  }
  tally(after.ok, false)
  console.log(`  ${other.plan.name} → ${target.plan.name}: ${after.ok ? route(after.path, nameOf) : `${after.code}: ${after.message}`}`)
  checks.check(`${other.plan.name} reaches ${target.plan.name} without the dead gateway`, after.ok && !after.path.includes(victimId))
  const dead = await node('seed').ask<CallOutcome>({ type: 'call', to: victimId, method: 'counter.get', args: undefined, timeout: 10_000 })
  tally(dead.ok, !dead.ok && dead.code !== 'MESH_ERR_TIMEOUT')
  console.log(`  seed → ${killedName} (dead): ${dead.ok ? 'answered?!' : `${dead.code} after ${ms(dead.ms)}`}`)
  checks.check('a call to the dead node fails with a clear error, not a timeout', !dead.ok && dead.code !== 'MESH_ERR_TIMEOUT', dead.ok ? 'it answered' : dead.code)
}

async function nodeStats (): Promise<void> {
  console.log('\nper node (survivors): calls sent, served, forwarded for others\n')
  for (const n of cluster.filter(c => c.alive)) {
    const c = await n.ask<{ callsSent: number, callsReceived: number, routedForwarded: number }>({ type: 'stats' })
    console.log(`  ${n.plan.name.padEnd(7)} sent ${count(c.callsSent).padStart(8)}   served ${count(c.callsReceived).padStart(8)}   forwarded ${count(c.routedForwarded).padStart(8)}`)
  }
}

function summary (): void {
  console.log('\nsummary')
  const killed = killedName === undefined ? '' : `, ${killedName} killed on purpose`
  console.log(`  nodes    ${cluster.length} started${killed}`)
  console.log(`  calls    ${count(calls.ok)} ok, ${count(calls.meant)} failed as meant to (the typed error, failing over from the killed gateway), ${count(calls.failed)} failed otherwise`)
  console.log(`  checks   ${checks.passed} of ${checks.total} passed`)
  for (const f of checks.failures) console.log(`  FAILED   ${f.name}${f.detail === '' ? '' : `: ${f.detail}`}`)
}
