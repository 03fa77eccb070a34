/**
 * Benchmark entry point: `npm run bench` (builds, then runs dist/bench/run.js).
 *
 * Starts the server as a child process, runs the RPC comparison from this process, prints the
 * results and the target checks, and writes everything to bench/results/rpc-latest.json.
 *
 * Environment: BENCH_SECONDS (per measurement, default 3), BENCH_WARMUP (default 1),
 * BENCH_PAYLOADS (default 64,1024,65536), BENCH_ONLY (kadmesh,raw-reused,raw-stream,local,function),
 * BENCH_INFLIGHT (default 64), BENCH_MAX_CALLS (per loop, default 5_000_000), BENCH_OUT (JSON path).
 *
 * Then runs the routing benchmark (bench/routing.ts), the fast-path benchmark (bench/fastpath.ts)
 * and the pub/sub benchmark (bench/pubsub.ts), each as a process of its own. BENCH_SUITES (default
 * rpc,routing,fastpath,pubsub) picks the suites; the routing suite's variables are in
 * bench/routing-config.ts, the fast-path and pub/sub suites' in their own files.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { environment, loadavg } from './environment.js'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BenchConfig, readConfig } from './config.js'
import { checkTargets, pairedTable, resultsTable, scenarioLegend, targetsTable } from './report.js'
import { type Measurement, type PairedLatency, type RpcRun, runRpcComparison } from './rpc.js'
import { ServerProcess } from './server-process.js'
import { readSuites, type Suite } from './routing-config.js'
import { runRoutingSuite, runSuiteProcess } from './routing-suite.js'
import type { Counters } from '../src/index.js'
import { formatBytes, formatRate, formatUs } from './stats.js'

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results/rpc-latest.json', import.meta.url))

function progress (m: Measurement): void {
  const what = `${m.scenario} @ ${formatBytes(m.payload)}`.padEnd(22)
  if (m.error !== undefined) { console.log(`  ${what} ERROR ${m.error}`); return }
  console.log(`  ${what} p50 ${formatUs(m.latency?.p50)} µs, p99 ${formatUs(m.latency?.p99)} µs, ` +
    `${formatRate(m.throughput?.callsPerSecond)} calls/s${m.notes !== undefined ? ` (${m.notes.join('; ')})` : ''}`)
}

function progressPaired (p: PairedLatency): void {
  const what = `interleaved @ ${formatBytes(p.payload)}`.padEnd(22)
  if (p.error !== undefined) { console.log(`  ${what} ERROR ${p.error}`); return }
  console.log(`  ${what} kadmesh p50 ${formatUs(p.kadmesh?.p50)} µs, raw-reused p50 ${formatUs(p.rawReused?.p50)} µs`)
}

/** The counters that say whether the mesh misbehaved during the run. */
function countersLine (who: string, c: Counters): string {
  const errors = (r: Record<string, number>): string => Object.keys(r).length === 0 ? 'none' : JSON.stringify(r)
  return `${who} mesh: calls sent ${c.callsSent.toLocaleString('en-US')}, received ${c.callsReceived.toLocaleString('en-US')}; ` +
    `streams opened ${c.streamsOpened}, accepted ${c.streamsAccepted}, lost ${c.streamsLost}; call errors ${errors(c.callErrors)}; ` +
    `served errors ${errors(c.servedErrors)}; flow violations ${c.flowViolations}, bad frames ${c.badFrames}`
}

async function main (config: BenchConfig): Promise<number> {
  const startedAt = new Date()
  const loadBefore = loadavg()
  console.log(`kadmesh RPC benchmark: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${loadBefore}`)
  console.log(`  ${config.seconds} s per measurement, ${config.warmup} s warm-up, payloads ${config.payloads.map(formatBytes).join(', ')}, ` +
    `${config.inflight} in flight for throughput, at most ${config.maxCalls.toLocaleString('en-US')} calls per loop`)

  const server = await ServerProcess.start()
  const stopServer = (): void => { server.stop().catch(() => {}) }
  const onSignal = (): void => { stopServer(); process.exit(130) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  console.log(`  server pid ${server.pid}, client pid ${process.pid}\n`)

  let measurements: Measurement[]
  let paired: PairedLatency[]
  let nodes: { client: string, server: string }
  let meshStats: RpcRun['meshStats']
  try {
    const run = await runRpcComparison(config, server, progress, progressPaired)
    measurements = run.measurements
    paired = run.paired
    meshStats = run.meshStats
    nodes = { client: run.clientNodeId, server: run.serverNodeId }
  } finally {
    await server.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  const targets = checkTargets(measurements, paired, config)
  const loadAfter = loadavg()
  console.log(`\nResults (p50/p99: 1 call in flight; calls/s and CPU: ${config.inflight} in flight; ` +
    'CPU = process.cpuUsage per completed call; RSS after the row, cumulative over the run; ' +
    'other procs = CPUs busy with other processes during the latency / throughput runs)\n')
  console.log(resultsTable(measurements, config.inflight))
  console.log(`\n${scenarioLegend(config.only)}`)
  if (paired.length > 0) {
    console.log('\nkadmesh vs raw-reused latency, interleaved (calls alternate, 1 in flight, same moments on the machine)\n')
    console.log(pairedTable(paired, measurements))
  }
  console.log('\nTargets (from this run)\n')
  console.log(targetsTable(targets))
  console.log(`\n${countersLine('client', meshStats.client.counters)}`)
  if (meshStats.server !== undefined) console.log(countersLine('server', meshStats.server.counters))
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (other work on the machine skews the numbers)`)

  const document = {
    benchmark: 'rpc',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore, loadAfter),
    config,
    nodes,
    units: { latency: 'µs', cpuUsPerCall: 'µs', rss: 'bytes', throughput: 'calls/s' },
    measurements,
    paired,
    targets,
    meshStats
  }
  await mkdir(dirname(config.out), { recursive: true })
  await writeFile(config.out, JSON.stringify(document, null, 2) + '\n')
  console.log(`\nwrote ${config.out}`)
  return measurements.some(m => m.error !== undefined) || paired.some(p => p.error !== undefined) ? 1 : 0
}

let config: BenchConfig
let suites: Suite[]
try {
  config = readConfig(process.env, DEFAULT_OUT)
  suites = readSuites(process.env)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}

const rpc = suites.includes('rpc') ? main(config) : Promise.resolve(0)
rpc.then(async (code) => {
  if (!suites.includes('routing')) return code
  if (suites.includes('rpc')) console.log('\n')
  return Math.max(code, await runRoutingSuite())
}).then(async (code) => {
  if (!suites.includes('fastpath')) return code
  console.log('\n')
  return Math.max(code, await runSuiteProcess('fastpath.js'))
}).then(async (code) => {
  if (!suites.includes('pubsub')) return code
  console.log('\n')
  return Math.max(code, await runSuiteProcess('pubsub.js'))
}).then((code) => {
  process.exitCode = code
  // libp2p/QUIC may hold native handles until GC (notes P22); do not let them keep the process up.
  setTimeout(() => process.exit(code), 1_000).unref()
}, (err: unknown) => {
  console.error('benchmark failed:', err instanceof Error ? (err.stack ?? err.message) : err)
  process.exit(1)
})
