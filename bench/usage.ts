/**
 * CPU time and memory of the two benchmark processes, and the machine's, sampled around each
 * measurement and turned into per-call figures.
 */
import { machineBusyUs } from './machine.js'
import type { ServerProcess } from './server-process.js'

export interface CpuPerCall {
  /** µs of CPU per completed call, client process. */
  client: number
  /** µs of CPU per completed call, server process (absent for in-process scenarios). */
  server?: number
  total: number
}

export interface CpuSnapshot {
  at: number
  client: number
  server?: number
  machine?: number
  clientRss: number
  serverRss?: number
  clientHeapUsed: number
  serverHeapUsed?: number
}

/** Both processes' CPU time and memory, and the machine's busy time. The server is asked even for in-process rows (for `otherCores`). */
export async function cpuNow (server: ServerProcess): Promise<CpuSnapshot> {
  const theirs = server.exited === undefined ? await server.usage() : undefined
  const own = process.cpuUsage()
  const memory = process.memoryUsage()
  return {
    at: performance.now(),
    client: own.user + own.system,
    machine: machineBusyUs(),
    clientRss: memory.rss,
    clientHeapUsed: memory.heapUsed,
    server: theirs?.cpuUs,
    serverRss: theirs?.rss,
    serverHeapUsed: theirs?.heapUsed
  }
}

export function perCall (before: CpuSnapshot, after: CpuSnapshot, calls: number, remote: boolean): CpuPerCall {
  const n = Math.max(1, calls)
  const client = (after.client - before.client) / n
  if (!remote || after.server === undefined || before.server === undefined) return { client, total: client }
  const server = (after.server - before.server) / n
  return { client, server, total: client + server }
}

/** CPUs' worth of time that went to other processes between two snapshots (0 to the core count). */
export function otherCores (before: CpuSnapshot, after: CpuSnapshot): number | undefined {
  if (before.machine === undefined || after.machine === undefined) return undefined
  const ours = (after.client - before.client) + ((after.server ?? 0) - (before.server ?? 0))
  const wallUs = (after.at - before.at) * 1000
  if (wallUs <= 0) return undefined
  return Math.max(0, (after.machine - before.machine - ours) / wallUs)
}
