import { afterEach } from 'vitest'
import { createMesh, type Mesh, type MeshInit } from '../src/index.js'

export const LOOPBACK = ['/ip4/127.0.0.1/udp/0/quic-v1']

const started: Mesh[] = []

/** Starts a mesh on loopback; every mesh a test starts is stopped after it. */
export async function startMesh (init: MeshInit = {}): Promise<Mesh> {
  const mesh = await createMesh({ listen: LOOPBACK, ...init })
  started.push(mesh)
  return mesh
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(async m => m.stop()))
})

export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

export function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
export async function rejection (promise: Promise<unknown>): Promise<Error & { code?: string, node?: string }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected the promise to reject')
}

/** Resolves when `predicate()` holds, checking after each turn of the event loop (bounded). */
export async function until (predicate: () => boolean, what: string, maxTurns = 100_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (predicate()) return
    await new Promise(resolve => setImmediate(resolve))
  }
  throw new Error(`gave up waiting for ${what}`)
}
