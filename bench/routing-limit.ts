/**
 * Routing under a tight connection limit (issue 3's acceptance scenario, also a test:
 * test/routing/limited-mesh.test.ts): N nodes in this process (default 40), each with
 * `maxConnections` (default 8) and three random earlier nodes as bootstrap, then CALLS random
 * calls (default 500, 8 at a time, 20 s timeout each) between random pairs. Prints the hop-count
 * distribution and the failures by code.
 *
 * Run after `npm run build`: `node_modules/.bin/node dist/bench/routing-limit.js`
 * (env N, MAXC, CALLS, WARM: ms to wait after every node has 2 connections, FAST=0: QUIC only).
 */
import { runLimitedMesh, summary } from '../test/routing/limited-mesh.js'

const n = Number(process.env.N ?? 40)
const result = await runLimitedMesh({
  n,
  maxConnections: Number(process.env.MAXC ?? 8),
  calls: Number(process.env.CALLS ?? 500),
  warm: Number(process.env.WARM ?? 10_000),
  quicOnly: process.env.FAST === '0',
  log: console.log
})
const ok = Object.values(result.hops).reduce((a, b) => a + b, 0)
const calls = ok + Object.values(result.failures).reduce((a, b) => a + b, 0)
console.log(`${ok}/${calls} calls succeeded in ${result.seconds.toFixed(1)} s; hops ${JSON.stringify(result.hops)} (target: all, at most ${Math.ceil(Math.log2(n)) + 2}); failures ${JSON.stringify(result.failures)}`)
console.log(`connections after ${summary(result.degrees)}; k-buckets without a connection ${result.buckets.uncovered} of ${result.buckets.total}`)
