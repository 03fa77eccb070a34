/**
 * Settings of the routing benchmark (bench/routing.ts), read once from environment variables.
 * The shared ones mean what they mean for the RPC comparison (bench/config.ts): BENCH_SECONDS,
 * BENCH_WARMUP, BENCH_INFLIGHT, BENCH_MAX_CALLS. A bad value names its variable.
 */
import { list, nonNegativeNumber, positiveInteger, positiveNumber, raw } from './env.js'

/** The parts of the routing benchmark, in the order they run. */
export const ROUTING_PARTS = ['line', 'warm', 'cold', 'steady'] as const
export type RoutingPart = typeof ROUTING_PARTS[number]

/** The suites `npm run bench` runs (bench/run.ts). */
export const SUITES = ['rpc', 'routing', 'fastpath', 'pubsub'] as const
export type Suite = typeof SUITES[number]

export interface RoutingConfig {
  /** Seconds of each line measurement (latency run: this per route, interleaved; throughput run: this per route). BENCH_SECONDS, default 3. */
  seconds: number
  /** Seconds of warm-up of each route before it is measured. BENCH_WARMUP, default 1. */
  warmup: number
  /** Calls kept outstanding in the throughput runs. BENCH_INFLIGHT, default 64. */
  inflight: number
  /** Most calls of any one loop. BENCH_MAX_CALLS, default 5_000_000. */
  maxCalls: number
  /** Parts to run. BENCH_ROUTING_ONLY, default all of {@link ROUTING_PARTS}. */
  only: RoutingPart[]
  /** Payload of the echo calls, bytes. BENCH_ROUTING_PAYLOAD, default 64. */
  payload: number
  /** `processes`: the line's gateways and destinations are child processes (one node each); `in-process`: all in this process. BENCH_ROUTING_LINE, default processes. */
  line: 'processes' | 'in-process'
  /** Nodes of the mesh the cold and steady parts use (one process). BENCH_ROUTING_NODES, default 30. */
  nodes: number
  /** Longest wait for the mesh's DHT routing tables to settle, seconds. BENCH_ROUTING_SETTLE, default 20. */
  settleSeconds: number
  /** Fresh nodes that join the settled mesh and resolve from it. BENCH_ROUTING_FRESH, default 8. */
  fresh: number
  /** Lookups of each kind each fresh node makes. BENCH_ROUTING_LOOKUPS, default 3. */
  lookups: number
  /** Mesh nodes that talk to each other in the steady-state part. BENCH_ROUTING_STEADY_NODES, default 12. */
  steadyNodes: number
  /** Routes in the table of the warm-resolution micro-benchmark. BENCH_ROUTING_TABLE, default 1000. */
  tableSize: number
  /** Seed of the random choices (bootstrap peers, targets, pairs). BENCH_ROUTING_SEED, default 1. */
  seed: number
  /** When set, the line's child processes write V8 CPU profiles to this directory. BENCH_ROUTING_CPU_PROF. */
  cpuProfileDir?: string
  /** Where the JSON results go. BENCH_ROUTING_OUT, default bench/results/routing-latest.json in the package. */
  out: string
}

export function readRoutingConfig (env: NodeJS.ProcessEnv, defaultOut: string): RoutingConfig {
  const line = raw(env, 'BENCH_ROUTING_LINE') ?? 'processes'
  if (line !== 'processes' && line !== 'in-process') throw new Error(`BENCH_ROUTING_LINE must be processes or in-process, got '${line}'`)
  return {
    seconds: positiveNumber(env, 'BENCH_SECONDS', 3, 600),
    warmup: nonNegativeNumber(env, 'BENCH_WARMUP', 1, 600),
    inflight: positiveInteger(env, 'BENCH_INFLIGHT', 64, 4096),
    maxCalls: positiveInteger(env, 'BENCH_MAX_CALLS', 5_000_000, 1_000_000_000),
    only: list(env, 'BENCH_ROUTING_ONLY', ROUTING_PARTS),
    payload: positiveInteger(env, 'BENCH_ROUTING_PAYLOAD', 64, 1 << 20),
    line,
    nodes: positiveInteger(env, 'BENCH_ROUTING_NODES', 30, 200, 4),
    settleSeconds: positiveNumber(env, 'BENCH_ROUTING_SETTLE', 20, 600),
    fresh: positiveInteger(env, 'BENCH_ROUTING_FRESH', 8, 100),
    lookups: positiveInteger(env, 'BENCH_ROUTING_LOOKUPS', 3, 50),
    steadyNodes: positiveInteger(env, 'BENCH_ROUTING_STEADY_NODES', 12, 200, 2),
    tableSize: positiveInteger(env, 'BENCH_ROUTING_TABLE', 1000, 1_000_000),
    seed: positiveInteger(env, 'BENCH_ROUTING_SEED', 1, 2 ** 31 - 1),
    cpuProfileDir: raw(env, 'BENCH_ROUTING_CPU_PROF'),
    out: raw(env, 'BENCH_ROUTING_OUT') ?? defaultOut
  }
}

/** BENCH_SUITES: which suites `npm run bench` runs, default rpc,routing,fastpath,pubsub. */
export function readSuites (env: NodeJS.ProcessEnv): Suite[] {
  return list(env, 'BENCH_SUITES', SUITES)
}
