/** Messages between the pub/sub benchmark (bench/pubsub.ts, the publisher) and its subscriber processes (bench/pubsub-node.ts). */
import type { PubsubCounters } from '../src/index.js'
import type { LatencySummary } from './stats.js'

/** How a message reached a subscriber process: a pub/sub subscription, or a plain `cast` to its `sink` actor (the baseline). */
export type Path = 'pubsub' | 'cast'

export type ToNode =
  /** Subscribe to `topic` (closing any earlier subscription); answered `subscribed` once ready. */
  | { type: 'subscribe', topic: string, buffer: number }
  /** Count and time from zero; in `latency` mode, answer every message with `got`, else send `progress` every `every` messages. */
  | { type: 'reset', latency: boolean, every: number }
  | { type: 'report' }

export type FromNode =
  | { type: 'ready', nodeId: string, addresses: string[], pid: number }
  | { type: 'subscribed' }
  | { type: 'progress', received: number }
  | { type: 'got' }
  | { type: 'report', report: NodeReport }
  | { type: 'failed', message: string }

export interface NodeReport {
  /** Messages received since the last reset, by path. */
  received: Record<Path, number>
  /** Publish (or cast) → receive, µs, by path (the sender's timestamp in the first 8 bytes of the payload). */
  latency: Record<Path, LatencySummary>
  /** Messages the subscription lost since it started (overflow or gaps). */
  dropped: number
  /** The node's pub/sub counters (cumulative). */
  counters: PubsubCounters
  cpuUs: number
  rss: number
}

/** µs on the host's monotonic clock (CLOCK_MONOTONIC is shared by all processes, so sender and receiver stamps compare). */
export function monotonicUs (): number {
  return Number(process.hrtime.bigint()) / 1_000
}

/**
 * A payload of `size` bytes (≥ 8) stamped with the current time: a Buffer, Node's binary type,
 * which msgpack carries as `bin` (a plain Uint8Array takes kadmesh's typed-array extension, ~1 µs
 * more each way; that would be the wire format's cost, the same for pub/sub and the cast baseline).
 */
export function stamped (size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size).fill(0, 8)
  bytes.writeDoubleBE(monotonicUs(), 0)
  return bytes
}

/** µs since the stamp in `payload` (msgpack gives a bin back as a Buffer or a Uint8Array, depending on the bytes it read). */
export function age (payload: Uint8Array): number {
  return monotonicUs() - new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0)
}

export function isFromNode (value: unknown): value is FromNode {
  const type = (value as { type?: unknown } | null)?.type
  return typeof type === 'string' && ['ready', 'subscribed', 'progress', 'got', 'report', 'failed'].includes(type)
}
