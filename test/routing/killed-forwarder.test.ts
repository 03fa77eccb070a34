import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { allowPeers, type Context } from '../../src/index.js'
import { killFixtures, spawnFixture } from '../fixtures/spawn.js'
import { deferred, rejection, startMesh } from '../helpers.js'
import { identities } from './topology.js'

afterEach(killFixtures)

describe('a forwarder killed mid-run', () => {
  it('fails the calls routed through it with a clear error, none hangs, and later calls take another gateway', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      // a and d may not connect to each other; b1 (a child process) and b2 link them
      const [a, b1, b2, d] = await identities(4)
      const allowed = (_self: string, peers: string[]) => allowPeers(peer => peers.includes(peer))
      const dest = await startMesh({ privateKey: d.key, connectionGater: allowed(d.id, [b1.id, b2.id]) })
      let started = 0
      const enough = deferred()
      dest.actor('svc', {
        whoami: (_: unknown, ctx: Context) => ctx.caller,
        slow: async (_: unknown, ctx: Context) => {
          if (++started === 20) enough.resolve()
          await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve) })
        }
      }, { concurrency: 100 })
      const keyFile = join(await mkdtemp(join(tmpdir(), 'kadmesh-fw-')), 'b1.key')
      await writeFile(keyFile, b1.key, { mode: 0o600 })
      const forwarder = await spawnFixture('echo-node', { KADMESH_KEY: keyFile, KADMESH_ALLOW: [a.id, d.id].join(','), KADMESH_BOOTSTRAP: dest.addresses[0] })
      const origin = await startMesh({ privateKey: a.key, bootstrap: forwarder.addresses, connectionGater: allowed(a.id, [forwarder.nodeId, b2.id]) })
      expect(forwarder.nodeId).toBe(b1.id)
      const first = await origin.traceCall(dest.nodeId, 'svc.whoami', null, { timeout: 8_000 })
      expect(first.value).toBe(origin.nodeId)
      expect(first.path).toEqual([origin.nodeId, forwarder.nodeId, dest.nodeId])

      // a second gateway joins; calls in flight through the first one when it dies
      await startMesh({ privateKey: b2.key, bootstrap: [dest.addresses[0], origin.addresses[0]], connectionGater: allowed(b2.id, [a.id, d.id]) })
      const inflight = Array.from({ length: 20 }, async () => rejection(origin.call(dest.nodeId, 'svc.slow', null, { timeout: 8_000 })))
      await enough.promise
      forwarder.child.kill('SIGKILL')
      for (const err of await Promise.all(inflight)) {
        expect(err.code).toBe('MESH_ERR_CONNECTION_LOST')
        expect(err.node).toBe(forwarder.nodeId)
      }
      const after = await origin.traceCall(dest.nodeId, 'svc.whoami', null, { timeout: 8_000 })
      expect(after.value).toBe(origin.nodeId)
      expect(after.path).toEqual([origin.nodeId, b2.id, dest.nodeId])
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
