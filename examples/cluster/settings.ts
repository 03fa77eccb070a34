/** The demo's command line (`npm start -- --nodes 8 --duration 20`), parsed without side effects. */
import { parseArgs } from 'node:util'
import { MAX_NODES, MIN_NODES } from './topology.js'

/**
 * The nodes' dialTimeout (ms). On loopback or a LAN a dial succeeds in milliseconds or not at all.
 * The default (10 s) is for the internet; here it would make a call to a node behind a dead gateway
 * wait that long for a direct dial to fail before route discovery looks for another gateway
 * (docs/operations.md, tuning).
 */
export const DIAL_TIMEOUT = 2_000

export const USAGE = `usage: npm start -- [--nodes ${MIN_NODES}-${MAX_NODES}] [--duration <seconds>] [--quick]
  --nodes     node processes (default 6)
  --duration  seconds of load traffic, split over four runs (default 8; 2 with --quick)
  --quick     fewer calls, shorter runs (what the test runs)`

export interface Settings {
  nodes: number
  /** Length of each of the four load runs (ms). */
  loadMs: number
  /** Most calls of a 1-in-flight latency run. */
  sequentialCalls: number
  /** Successful calls the failover probe makes before the gateway is killed. */
  killAfter: number
  /** Messages each publisher publishes. */
  messages: number
}

/** Parses the demo's arguments; `help` for --help; bad arguments throw a RangeError carrying the usage. */
export function parseSettings (argv: string[]): Settings | 'help' {
  let values
  try {
    values = parseArgs({ args: argv, options: { nodes: { type: 'string' }, duration: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values
  } catch (err) {
    throw new RangeError(`${(err as Error).message}\n${USAGE}`)
  }
  if (values.help === true) return 'help'
  const quick = values.quick === true
  const nodes = Number(values.nodes ?? 6)
  const seconds = Number(values.duration ?? (quick ? 2 : 8))
  if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES) throw new RangeError(`--nodes must be ${MIN_NODES} to ${MAX_NODES}\n${USAGE}`)
  if (!(seconds > 0 && seconds <= 600)) throw new RangeError(`--duration must be more than 0 and at most 600 seconds\n${USAGE}`)
  return { nodes, loadMs: (seconds * 1000) / 4, sequentialCalls: quick ? 300 : 5_000, killAfter: quick ? 20 : 200, messages: quick ? 50 : 500 }
}
