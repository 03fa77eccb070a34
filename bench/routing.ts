/**
 * Routing benchmark (issue #3): `node dist/bench/routing.js` after `npm run build`; `npm run bench`
 * runs it after the RPC comparison (BENCH_SUITES=routing runs it alone).
 *
 * Parts, in order (BENCH_ROUTING_ONLY=line,warm,cold,steady picks some):
 *  - line:   multi-hop call latency and throughput, 1, 2 and 3 hops, on a line of gated nodes
 *            (B, C, D in child processes unless BENCH_ROUTING_LINE=in-process);
 *  - warm:   warm resolution in ns per lookup against libp2p's cached findPeer;
 *  - cold:   a mesh of BENCH_ROUTING_NODES (30) nodes in this process; fresh nodes resolve nodes
 *            they have no connection to (libp2p network findPeer with its DHT hops, kadmesh's first call);
 *  - steady: random calls between mesh nodes that have already talked; the share that needed no
 *            resolution and no DHT query.
 * Prints the tables and the targets and writes bench/results/routing-latest.json.
 *
 * Environment: BENCH_SECONDS (each line measurement, and the steady run; default 3), BENCH_WARMUP (1),
 * BENCH_INFLIGHT (64), BENCH_MAX_CALLS (per loop, 5_000_000), and the BENCH_ROUTING_* variables of
 * bench/routing-config.ts (NODES, FRESH, LOOKUPS, STEADY_NODES, SETTLE, PAYLOAD, LINE, TABLE, SEED,
 * CPU_PROF, OUT, ONLY).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { environment, loadavg } from './environment.js'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readRoutingConfig, type RoutingConfig } from './routing-config.js'
import { runLine } from './routing-line.js'
import { TestMesh } from './routing-mesh.js'
import { buildLine, checkRoutingTargets, coldTable, lineTable, type RoutingResults, routingTargetsTable, steadyTable, warmTable } from './routing-report.js'
import { message } from './routing-util.js'
import { runWarm } from './routing-warm.js'

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results/routing-latest.json', import.meta.url))

function log (line: string): void {
  console.log(line)
}

/**
 * Rejections nobody handled (libp2p/QUIC can leak some when connections close, notes §9): counted
 * and reported rather than ending the run before its results are written.
 */
const unhandled: string[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(message(reason)) })

async function main (config: RoutingConfig): Promise<number> {
  const startedAt = new Date()
  const loadBefore = loadavg()
  console.log(`kadmesh routing benchmark: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${loadBefore}, pid ${process.pid}`)
  console.log(`  parts ${config.only.join(', ')}; ${config.seconds} s per measurement, ${config.warmup} s warm-up, ${config.payload}-byte echo payload, ` +
    `${config.inflight} in flight for throughput; mesh of ${config.nodes} nodes, ${config.fresh} fresh nodes × ${config.lookups} lookups of each kind\n`)
  const results: RoutingResults = {}
  const errors: string[] = []

  if (config.only.includes('line')) {
    console.log('Multi-hop calls')
    results.line = await runLine(config, log)
    if (results.line.error !== undefined) errors.push(`line: ${results.line.error}`)
    for (const r of results.line.routes) if (r.error !== undefined) errors.push(`line ${r.name}: ${r.error}`)
    console.log('')
  }

  const needMesh = config.only.some(p => p === 'warm' || p === 'cold' || p === 'steady')
  if (needMesh) {
    const payload = new Uint8Array(config.payload).map((_, i) => (i * 31 + 7) & 0xff)
    const mesh = new TestMesh(config.seed, payload)
    try {
      console.log('Mesh')
      results.build = await mesh.build(config.nodes, config.settleSeconds, log)
      console.log(`  ${buildLine(results.build)}`)
      if (config.only.includes('warm')) {
        console.log('  warm resolution micro-benchmarks')
        const node = mesh.meshes[0]
        const peer = node.libp2p.getPeers()[0]?.toString() ?? mesh.meshes[1].nodeId
        results.warm = await runWarm(node, peer, config.tableSize)
        if (results.warm.error !== undefined) errors.push(`warm: ${results.warm.error}`)
      }
      if (config.only.includes('cold')) {
        console.log('  cold resolution from fresh nodes')
        results.cold = await mesh.cold(config, log)
      }
      if (config.only.includes('steady')) {
        const steady = await mesh.steady(config, log)
        results.steady = [...steady.rows]
        for (const r of steady.rows) if (r.error !== undefined) errors.push(`steady: ${r.error}`)
      }
    } catch (err) {
      errors.push(`mesh: ${message(err)}`)
      console.log(`  mesh failed: ${message(err)}`)
    } finally {
      await mesh.stop()
    }
  }
  if (results.line?.steady !== undefined) (results.steady ??= []).push(results.line.steady)

  if (unhandled.length > 0) errors.push(`${unhandled.length} unhandled promise rejections, the first: ${unhandled[0]}`)
  const targets = checkRoutingTargets(results, config)
  const loadAfter = loadavg()
  console.log('\nResults\n')
  if (results.line !== undefined) {
    console.log(`Multi-hop calls: line of gated nodes, ${results.line.mode === 'processes' ? 'A here, B, C, D one child process each' : 'all four nodes in this process'}; ` +
      `${results.line.payload}-byte echo; p50/p99: the routes interleaved, 1 in flight` +
      `${results.line.latencyOtherCores === undefined ? '' : ` (other procs ${results.line.latencyOtherCores.toFixed(2)} cores)`}; ` +
      `calls/s and CPU: each route alone, ${config.inflight} in flight\n`)
    console.log(lineTable(results.line))
    if (results.line.forwarded !== undefined) console.log(`\n  calls forwarded by the gateways over the run: ${Object.entries(results.line.forwarded).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}`)
    const auth = results.line.originAuth
    if (auth !== undefined) {
      console.log(`  fixed cost of every routed call, whatever its hops (timed here after the line stopped): origin MAC ${auth.sealUs.toFixed(1)} µs ` +
        `(OriginAuth.seal), destination check ${auth.verifyUs.toFixed(1)} µs (OriginAuth.verify); a direct call does neither. ` +
        `Baseline, same run: an Ed25519 signature ${auth.signUs.toFixed(0)} µs and its check ${auth.checkUs.toFixed(0)} µs (the scheme the MAC replaced)`)
    }
    if (results.line.error !== undefined) console.log(`  line failed: ${results.line.error}`)
    console.log('')
  }
  if (results.warm !== undefined) {
    console.log(`Warm resolution (ns per lookup; baseline on node ${short(results.warm.baselineNode)} ` +
      `with ${results.warm.baselineRoutingTable ?? '?'} peers in its DHT table and ${results.warm.baselinePeerStore ?? '?'} in its peer store, looking up connected peer ${short(results.warm.baselinePeer)})\n`)
    console.log(warmTable(results.warm))
    if (results.warm.error !== undefined) console.log(`  ${results.warm.error}`)
    console.log('')
  }
  if (results.cold !== undefined) {
    const c = results.cold
    console.log(`Cold resolution from ${c.freshNodes} fresh nodes joining the ${results.build?.nodes ?? '?'}-node mesh (each measured after its first DHT self-query: ` +
      `${c.selfQuerySeen}/${c.freshNodes} seen; unconnected mesh nodes left to resolve at the start: ${c.unconnectedAtStart.min}/${c.unconnectedAtStart.median}/${c.unconnectedAtStart.max} min/median/max` +
      `${c.skipped > 0 ? `; ${c.skipped} lookups skipped: no unconnected target left` : ''})\n`)
    console.log(coldTable(c))
    const failures = c.samples.filter(s => !s.ok)
    if (failures.length > 0) console.log(`\n  failures: ${failures.slice(0, 5).map(s => `${s.kind}: ${s.error ?? '?'}`).join('; ')}${failures.length > 5 ? ' …' : ''}`)
    console.log('')
  }
  if (results.steady !== undefined && results.steady.length > 0) {
    console.log('Steady state: calls to nodes already talked to (counter deltas over the run; DHT network queries counted by wrapping each node\'s dht.findPeer)\n')
    console.log(steadyTable(results.steady))
    console.log('')
  }
  console.log('Targets (from this run)\n')
  console.log(routingTargetsTable(targets))
  if (errors.length > 0) console.log(`\nerrors:\n  ${errors.join('\n  ')}`)
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (other work on the machine skews the numbers)`)

  const document = {
    benchmark: 'routing',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore, loadAfter),
    config,
    units: { latency: 'µs', warm: 'ns per operation', cold: 'ms', throughput: 'calls/s', cpuUsPerCall: 'µs' },
    ...results,
    targets,
    errors
  }
  await mkdir(dirname(config.out), { recursive: true })
  await writeFile(config.out, JSON.stringify(document, null, 2) + '\n')
  console.log(`\nwrote ${config.out}`)
  return errors.length > 0 ? 1 : 0
}

function short (id: string | undefined): string {
  return id === undefined ? '?' : `…${id.slice(-6)}`
}

let config: RoutingConfig
try {
  config = readRoutingConfig(process.env, DEFAULT_OUT)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}

main(config).then((code) => {
  process.exitCode = code
  // libp2p/QUIC may hold native handles until GC (notes P22); do not let them keep the process up.
  setTimeout(() => process.exit(code), 1_000).unref()
}, (err: unknown) => {
  console.error('routing benchmark failed:', err instanceof Error ? (err.stack ?? err.message) : err)
  process.exit(1)
})
