/**
 * Benchmark settings, read once from environment variables. Every value is validated and a bad one
 * names its variable, so a typo fails loudly instead of silently running the defaults.
 */
import { list, nonNegativeNumber, positiveInteger, positiveNumber, raw } from './env.js'

/** The scenarios of the RPC comparison, in the order they run and print. */
export const SCENARIOS = ['kadmesh', 'raw-reused', 'raw-stream', 'local', 'function'] as const
export type ScenarioName = typeof SCENARIOS[number]

export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  kadmesh: 'kadmesh call over the stream pool (two processes)',
  'raw-reused': 'raw libp2p, one reused stream, pipelined, 4-byte request id (two processes)',
  'raw-stream': 'raw libp2p, a new stream per call (two processes)',
  local: 'kadmesh call to an actor on the same node (in process)',
  function: 'plain async function call (in process, the floor)'
}

export interface BenchConfig {
  /** Seconds of each measurement (the 1-in-flight latency run and the N-in-flight throughput run). BENCH_SECONDS, default 3. */
  seconds: number
  /** Seconds of warm-up before each scenario × payload. BENCH_WARMUP, default 1. */
  warmup: number
  /** Payload sizes in bytes. BENCH_PAYLOADS, default 64,1024,65536. */
  payloads: number[]
  /** Scenarios to run. BENCH_ONLY, default all of {@link SCENARIOS}. */
  only: ScenarioName[]
  /** Calls kept outstanding in the throughput run. BENCH_INFLIGHT, default 64. */
  inflight: number
  /** Most calls of any one loop, whatever its duration. BENCH_MAX_CALLS, default 5_000_000. */
  maxCalls: number
  /** Where the JSON results go. BENCH_OUT, default bench/results/rpc-latest.json in the package. */
  out: string
}

export function readConfig (env: NodeJS.ProcessEnv, defaultOut: string): BenchConfig {
  return {
    seconds: positiveNumber(env, 'BENCH_SECONDS', 3, 600),
    warmup: nonNegativeNumber(env, 'BENCH_WARMUP', 1, 600),
    payloads: payloadList(env),
    only: scenarioList(env),
    inflight: positiveInteger(env, 'BENCH_INFLIGHT', 64, 4096),
    maxCalls: positiveInteger(env, 'BENCH_MAX_CALLS', 5_000_000, 1_000_000_000),
    out: env.BENCH_OUT !== undefined && env.BENCH_OUT !== '' ? env.BENCH_OUT : defaultOut
  }
}

function payloadList (env: NodeJS.ProcessEnv): number[] {
  const text = raw(env, 'BENCH_PAYLOADS')
  if (text === undefined) return [64, 1024, 65536]
  const sizes = text.split(',').map(s => Number(s.trim()))
  // 1 byte minimum: the raw per-call protocol sends the bare payload as one frame, and an empty
  // frame would be dropped by LengthPrefixedDecoder (notes P16).
  if (sizes.some(n => !Number.isInteger(n) || n < 1 || n > 1 << 20)) {
    throw new Error(`BENCH_PAYLOADS must be comma-separated byte counts from 1 to 1048576, got '${text}'`)
  }
  return [...new Set(sizes)]
}

function scenarioList (env: NodeJS.ProcessEnv): ScenarioName[] {
  return list(env, 'BENCH_ONLY', SCENARIOS)
}
