/**
 * Routing under a tight connection limit (issue 3's acceptance scenario, not yet met): N nodes in
 * this process (default 40), each with `maxConnections` (default 8) and three random earlier
 * nodes as bootstrap, then CALLS random calls (default 500, 8 at a time, 20 s timeout each)
 * between random pairs. Prints the hop-count distribution and the failures by code.
 *
 * Run after `npm run build`: `node_modules/.bin/node dist/bench/routing-limit.js`
 * (env N, MAXC, CALLS, WARM: ms to wait after every node has 2 connections, FAST=0: QUIC only).
 */
import { createMesh, type Mesh } from '../src/index.js'
import { prng } from '../test/prng.js'

const N = Number(process.env.N ?? 40)
const MAXC = Number(process.env.MAXC ?? 8)
const CALLS = Number(process.env.CALLS ?? 500)
const WARM = Number(process.env.WARM ?? 0)
const SETTLE_MS = 30_000
const rnd = prng(7)
const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]
const degrees = (meshes: Mesh[]): string => {
  const d = meshes.map(m => m.libp2p.getConnections().length)
  return `min/avg/max ${Math.min(...d)} ${(d.reduce((a, b) => a + b) / d.length).toFixed(1)} ${Math.max(...d)}`
}

const meshes: Mesh[] = []
let t = performance.now()
for (let i = 0; i < N; i++) {
  const bootstrap = meshes.length === 0 ? [] : [...new Set(Array.from({ length: 3 }, () => pick(meshes).addresses[0]))]
  const m = await createMesh({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], bootstrap, maxConnections: MAXC, ...(process.env.FAST === '0' ? { transports: { udp: false, shm: false } } : {}) })
  m.actor('t', { id: () => m.nodeId })
  meshes.push(m)
}
console.log(`started ${N} nodes in ${((performance.now() - t) / 1000).toFixed(1)} s`)
t = performance.now()
while (meshes.some(m => m.libp2p.getConnections().length < 2) && performance.now() - t < SETTLE_MS) await new Promise(resolve => setTimeout(resolve, 200))
await new Promise(resolve => setTimeout(resolve, WARM))
console.log(`connections ${degrees(meshes)}`)

const hops: Record<number, number> = {}
const failures: Record<string, number> = {}
t = performance.now()
let next = 0
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < CALLS) {
    next++
    const a = pick(meshes)
    const b = pick(meshes.filter(m => m !== a))
    try {
      const trace = await a.traceCall(b.nodeId, 't.id', null, { timeout: 20_000 })
      hops[trace.path.length - 1] = (hops[trace.path.length - 1] ?? 0) + 1
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'UNKNOWN'
      failures[code] = (failures[code] ?? 0) + 1
    }
  }
}))
const ok = Object.values(hops).reduce((a, b) => a + b, 0)
console.log(`${ok}/${CALLS} calls succeeded in ${((performance.now() - t) / 1000).toFixed(1)} s; hops ${JSON.stringify(hops)} (target: all, at most ${Math.ceil(Math.log2(N)) + 2}); failures ${JSON.stringify(failures)}`)
console.log(`connections after ${degrees(meshes)}`)
await Promise.all(meshes.map(async m => m.stop()))
