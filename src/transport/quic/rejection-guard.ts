import { createRequire } from 'node:module'
import { logger } from '@libp2p/logger'

const log = logger('kadmesh:transport:quic')

/**
 * `@chainsafe/libp2p-quic` 2.x starts native promises nobody observes: `QuicStream.sendReset` does
 * `void stream.resetWrite(); void stream.stopRead()`, and the muxer races
 * `connection.inboundStream()` against an AbortSignal and drops the loser. When a connection closes,
 * those promises reject ("closed by peer"), and Node 24 exits on an unhandled rejection. We attach a
 * counting no-op handler to every promise the native classes return. Callers that await a promise
 * still see its rejection; only rejections nobody would ever observe are absorbed. Installed once
 * per process, the first time a mesh starts.
 */
let installed = false

export function installQuicRejectionGuard (): void {
  if (installed) return
  installed = true
  const binding = loadNativeBinding()
  if (binding === undefined) {
    log.error('could not find the QUIC native binding; unobserved QUIC rejections are not guarded')
    return
  }
  for (const name of ['Stream', 'Connection', 'Server', 'Client'] as const) {
    const proto = (binding[name] as { prototype?: Record<string, unknown> } | undefined)?.prototype
    if (proto === undefined) continue
    for (const key of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)
      const original = descriptor?.value
      if (key === 'constructor' || typeof original !== 'function') continue
      proto[key] = function (this: unknown, ...args: unknown[]): unknown {
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
