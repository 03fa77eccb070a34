import type { MeshStats } from '../src/index.js'

/** Messages between the benchmark client (parent) and the server (child process) over the fork IPC channel. */

/** The parent asks for the server's CPU time and RSS; the server answers with the same `id`. */
export interface UsageRequest { type: 'usage', id: number }

export type ToServer = UsageRequest

/** `dgramPort`: bench/server.ts's plain Node `dgram` echo socket (the fast-path benchmark's floor). */
export interface ReadyMessage { type: 'ready', nodeId: string, addresses: string[], pid: number, dgramPort?: number }
export interface UsageReply { type: 'usage', id: number, cpu: NodeJS.CpuUsage, rss: number, heapUsed: number, mesh: MeshStats }
export interface FailedMessage { type: 'failed', message: string }

export type ToClient = ReadyMessage | UsageReply | FailedMessage

/** A process's CPU time (µs, user + system, cumulative), RSS and V8 heap in use (bytes), and its mesh's stats. */
export interface Usage { cpuUs: number, rss: number, heapUsed: number, mesh: MeshStats }

export function isToClient (value: unknown): value is ToClient {
  const type = (value as { type?: unknown } | null)?.type
  return type === 'ready' || type === 'usage' || type === 'failed'
}

export function isToServer (value: unknown): value is ToServer {
  return (value as { type?: unknown } | null)?.type === 'usage'
}
