/** The messages between the demo's main process and its node processes (over the fork IPC channel). */
import type { NodePlan } from './topology.js'

/** Parent → node: start with this plan, key and bootstrap addresses. */
export interface Start {
  type: 'start'
  plan: NodePlan
  /** Ed25519 key (libp2p protobuf bytes). */
  key: Uint8Array
  bootstrap: string[]
  /** Node ids this node may connect to; undefined: any. */
  allow?: string[]
}

/** Parent → node requests; each is answered by a {@link Reply} with the same id. */
export type Request = { id: number } & (
  | { type: 'call', to: string, method: string, args: unknown, timeout: number }
  | { type: 'load', to: string, method: string, args: unknown, inFlight: number, maxCalls: number, maxMs: number }
  | { type: 'probe', to: string, method: string, args: unknown, killAfter: number, recoverAfter: number, maxMs: number }
  | { type: 'stats' }
  | { type: 'subscribe', pattern: string }
  | { type: 'collect', pattern: string, count: number, maxMs: number }
  | { type: 'publish', topic: string, count: number }
)

/** Parent → node: the gateway the probe asked for is dead now; node → parent answers nothing. */
export interface Killed { type: 'killed' }

/** Parent → node: stop the mesh and exit 0. */
export interface Stop { type: 'stop' }

export type ToNode = Start | Request | Killed | Stop

/** How one call ended. */
export type CallOutcome =
  | { ok: true, value: unknown, path: string[], transports: string[], ms: number }
  | { ok: false, code: string, message: string, node?: string, ms: number }

export interface LoadResult {
  calls: number
  /** Failed calls by error code. */
  errors: Record<string, number>
  seconds: number
  /** Latency of each successful call, ms (sorted). */
  latencies: number[]
}

export interface ProbeResult {
  /** The path of the calls before the kill. */
  before: string[]
  okBefore: number
  /** Failed calls, by error code and the node that raised it; times in ms after the kill (-1: before it). */
  failures: Array<{ code: string, node?: string, count: number, firstMs: number, lastMs: number }>
  /** The first call after the kill that succeeded, and its path; undefined if none did in time. */
  recovered?: { atMs: number, path: string[] }
  okAfter: number
  /** Calls that failed after the first success after the kill. */
  failedAfterRecovery: number
}

/** Node → parent. */
export type FromNode =
  | { type: 'ready', nodeId: string, addresses: string[] }
  | { type: 'kill', path: string[] }
  | { type: 'reply', id: number, result: unknown }
  | { type: 'failed', id: number, message: string }

/** What a subscriber node received on one pattern. */
export interface Collected {
  /** Messages in arrival order: topic, publisher, seq, and ms from publish to arrival. */
  messages: Array<{ topic: string, from: string, seq: number, latencyMs: number }>
  /** Messages the subscription lost (buffer overflow or sequence gaps). */
  dropped: number
}

export interface Published {
  published: number
  /** Subscriber nodes the publisher knew of, by node id (from the acknowledged publishes). */
  subscribers: string[]
  /** Publishes some subscriber node did not acknowledge, by error code. */
  failed: Record<string, number>
}
