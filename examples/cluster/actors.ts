/**
 * The cluster demo's actors: a key-value store, a counter and a CPU-heavy hash. Each registers
 * itself on a mesh; the default export registers all three, so this module also works with
 * `kadmesh node --actors dist/examples/cluster/actors.js`.
 */
import { createHash } from 'node:crypto'
import { BadRequestError, type Mesh } from '../../src/index.js'

/** Most hash rounds one call may ask for (about 10 ms of CPU per 10,000 rounds on the demo machine). */
const MAX_ROUNDS = 1_000_000

/** `kv.get({ key })`, `kv.put({ key, value })`, `kv.keys()`: one map, one call at a time. */
export function kv (mesh: Mesh): void {
  const store = new Map<string, unknown>()
  mesh.actor('kv', {
    get: ({ key }: { key: string }) => store.get(checkKey(key)),
    put: ({ key, value }: { key: string, value: unknown }) => { store.set(checkKey(key), value) },
    keys: () => [...store.keys()]
  }, { concurrency: 1 })
}

/** `counter.add({ by })` returns the new total; `counter.get()` the total. */
export function counter (mesh: Mesh): void {
  let total = 0
  mesh.actor('counter', {
    add: ({ by }: { by: number }) => {
      if (!Number.isSafeInteger(by)) throw new BadRequestError('counter.add: by must be an integer')
      total += by
      return total
    },
    get: () => total
  })
}

/** `hash.sha256({ data, rounds })`: SHA-256 applied `rounds` times; two calls run at once. */
export function hash (mesh: Mesh): void {
  mesh.actor('hash', {
    sha256: ({ data, rounds }: { data: Uint8Array, rounds: number }) => {
      if (!(data instanceof Uint8Array)) throw new BadRequestError('hash.sha256: data must be bytes')
      if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw new BadRequestError(`hash.sha256: rounds must be 1 to ${MAX_ROUNDS}`)
      return sha256Rounds(data, rounds)
    }
  }, { concurrency: 2 })
}

/** SHA-256 applied `rounds` times (what hash.sha256 computes). */
export function sha256Rounds (data: Uint8Array, rounds: number): Uint8Array {
  let digest = data
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
  return new Uint8Array(digest)
}

export const ACTORS = { kv, counter, hash } as const
export type ActorName = keyof typeof ACTORS

function checkKey (key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw new BadRequestError('kv: key must be a string of 1 to 256 characters')
  return key
}

/** Registers every actor of this module (for `kadmesh node --actors`). */
export default function register (mesh: Mesh): void {
  for (const add of Object.values(ACTORS)) add(mesh)
}
