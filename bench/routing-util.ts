/** Small helpers shared by the routing benchmark's parts. */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMesh, type Mesh, type MeshInit } from '../src/index.js'
import { withTimeout } from './timeout.js'

/** A node's key and id, made before the node starts so gaters can name it. */
export interface Identity { key: Uint8Array, id: string }

export async function identities (n: number): Promise<Identity[]> {
  return Promise.all(Array.from({ length: n }, async () => {
    const key = await generateKeyPair('Ed25519')
    return { key: privateKeyToProtobuf(key), id: peerIdFromPrivateKey(key).toString() }
  }))
}

/** A seeded PRNG (mulberry32): the same seed picks the same bootstrap peers, targets and pairs. */
export function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` distinct items of `from`, in random order. */
export function pick<T> (rng: () => number, from: readonly T[], count: number): T[] {
  const copy = [...from]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    const t = copy[i]; copy[i] = copy[j]; copy[j] = t
  }
  return copy.slice(0, count)
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}


export function message (err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  const inner = (err as { error?: unknown } | null)?.error
  if (inner instanceof Error) return `${inner.name}: ${inner.message}`
  return String(err)
}

/** Nearest-rank percentile of a small sample (exact; `p` in (0, 100]). */
export function percentile (values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]
}

export interface SmallSummary { n: number, median?: number, p90?: number, min?: number, max?: number }

export function summarize (values: readonly number[]): SmallSummary {
  if (values.length === 0) return { n: 0 }
  return {
    n: values.length,
    median: percentile(values, 50),
    p90: percentile(values, 90),
    min: Math.min(...values),
    max: Math.max(...values)
  }
}

/**
 * createMesh, bounded: a node that has not started within `ms` fails the caller, and is stopped
 * whenever it does finish starting, so nothing this benchmark started outlives it.
 */
export async function startMesh (init: MeshInit, what: string, ms = 30_000): Promise<Mesh> {
  const starting = createMesh(init)
  try {
    return await withTimeout(starting, ms, what)
  } catch (err) {
    starting.then(async m => m.stop(), () => {}).catch(() => {})
    throw err
  }
}

export { withTimeout }
