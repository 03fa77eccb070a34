import type { Mesh, MeshStats } from '../src/index.js'

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

/** Sends a message to the parent over the fork IPC channel. */
export function sendToParent (message: ToClient): void {
  process.send?.(message)
}

/**
 * The child's side of the channel, once its mesh is up: answers usage requests, stops the mesh
 * and exits on SIGTERM, SIGINT or the parent's disconnect (bounded: a stuck stop must not keep the
 * process alive, so it never outlives the run), then reports ready with `extra` fields.
 */
export function serveParent (mesh: Mesh, extra: Pick<ReadyMessage, 'dgramPort'> = {}, onStop: () => void = () => {}): void {
  let stopping = false
  const stop = (code: number): void => {
    if (stopping) return
    stopping = true
    setTimeout(() => process.exit(code), 2_000).unref()
    onStop()
    mesh.stop().finally(() => process.exit(code))
  }
  process.on('SIGTERM', () => { stop(0) })
  process.on('SIGINT', () => { stop(0) })
  process.on('disconnect', () => { stop(0) })
  process.on('message', (message: unknown) => {
    if (!isToServer(message)) return
    const memory = process.memoryUsage()
    sendToParent({ type: 'usage', id: message.id, cpu: process.cpuUsage(), rss: memory.rss, heapUsed: memory.heapUsed, mesh: mesh.stats() })
  })
  sendToParent({ type: 'ready', nodeId: mesh.nodeId, addresses: mesh.addresses, pid: process.pid, ...extra })
}

/** Reports a failed start to the parent and exits 1. */
export function failToParent (label: string, err: unknown): never {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
  console.error(`${label} failed:`, message)
  sendToParent({ type: 'failed', message })
  process.exit(1)
}
