import { createRequire } from 'node:module'
import { logger } from '@libp2p/logger'

const log = logger('kadmesh:transport:quic')

/**
 * Bytes asked of the QUIC binding per native stream read. `@chainsafe/libp2p-quic` 2.x asks for
 * 4 KiB (`CHUNK_SIZE`), so a 64 KiB frame takes 16 native round trips through the tokio runtime;
 * measured here, asking for 64 KiB raised 1 KiB calls from ~25k to ~38k calls/s and 64 KiB calls
 * from ~740 to ~1,340 calls/s (docs/benchmarks.md). The binding returns buffers of the size
 * actually read, so small reads cost no extra memory.
 */
export const QUIC_READ_SIZE = 64 * 1024

let adapted = false

/**
 * Adapts the QUIC binding the first time a mesh starts in this process (it is process-wide):
 *
 * - Stream reads ask for {@link QUIC_READ_SIZE} bytes instead of 4 KiB.
 * - Every promise the native classes return gets a handler. The package starts native promises
 *   nobody observes: `QuicStream.sendReset` does `void stream.resetWrite(); void stream.stopRead()`,
 *   and the muxer races `connection.inboundStream()` against an AbortSignal and drops the loser.
 *   Should one reject ("closed by peer"), Node 24 would exit on the unhandled rejection. Callers
 *   that await a promise still see its rejection; only unobserved rejections are absorbed.
 */
export function adaptQuicBinding (): void {
  if (adapted) return
  adapted = true
  const binding = loadNativeBinding()
  if (binding === undefined) {
    log.error('could not find the QUIC native binding; it is used as it is')
    return
  }
  for (const name of ['Stream', 'Connection', 'Server', 'Client'] as const) {
    const proto = (binding[name] as { prototype?: Record<string, unknown> } | undefined)?.prototype
    if (proto === undefined) continue
    for (const key of Object.getOwnPropertyNames(proto)) {
      const original = Object.getOwnPropertyDescriptor(proto, key)?.value
      if (key === 'constructor' || typeof original !== 'function') continue
      const readSize = name === 'Stream' && key === 'read'
      proto[key] = function (this: unknown, ...args: unknown[]): unknown {
        if (readSize) args[0] = QUIC_READ_SIZE
        const result = (original as (...a: unknown[]) => unknown).apply(this, args)
        if (result instanceof Promise) result.catch(ignore)
        return result
      }
    }
  }
}

function ignore (err: unknown): void {
  log.trace('QUIC binding promise rejected: %s', (err as Error)?.message)
}

/** The napi-rs binding the QUIC package loaded (the same module object, from the require cache). */
function loadNativeBinding (): Record<string, unknown> | undefined {
  const require = createRequire(import.meta.resolve('@chainsafe/libp2p-quic'))
  const platform = `${process.platform}-${process.arch}`
  for (const suffix of ['-gnu', '-musl', '-msvc', '']) {
    try {
      return require(`@chainsafe/libp2p-quic-${platform}${suffix}`) as Record<string, unknown>
    } catch {}
  }
  return undefined
}
