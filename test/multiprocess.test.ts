import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { killFixtures, spawnFixture } from './fixtures/spawn.js'
import { rejection, startMesh } from './helpers.js'

afterEach(killFixtures)

describe('a peer process killed mid-call', () => {
  it('rejects all 100 in-flight calls with a retryable error, keeps serving others, and recovers after a restart with the same key', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      const keyFile = join(await mkdtemp(join(tmpdir(), 'kadmesh-mp-')), 'child.key')
      const caller = await startMesh()
      caller.actor('svc', { ping: () => 'pong' })
      const bystander = await startMesh({ bootstrap: caller.addresses })
      const env = { KADMESH_KEY: keyFile, KADMESH_BOOTSTRAP: caller.addresses.join(',') }
      const child = await spawnFixture('echo-node', env)
      expect(await caller.call(child.nodeId, 'echo.back', 'first')).toBe('first')

      // 5 s deadline: a call still pending when the peer's death is noticed late would end in TIMEOUT
      const inflight = Array.from({ length: 100 }, async () => rejection(caller.call(child.nodeId, 'echo.slow', null, { timeout: 5_000 })))
      await child.started(100)
      child.child.kill('SIGKILL')
      const [errors, served] = await Promise.all([
        Promise.all(inflight),
        Promise.all(Array.from({ length: 20 }, async () => bystander.call(caller.nodeId, 'svc.ping')))
      ])
      expect(served).toEqual(Array(20).fill('pong'))
      for (const err of errors) {
        expect(err.code).toBe('MESH_ERR_CONNECTION_LOST')
        expect((err as { retryable?: boolean }).retryable).toBe(true)
      }
      await child.exited

      const port = new URL(`http://x:${child.addresses[0].split('/')[4]}`).port
      const restarted = await spawnFixture('echo-node', { ...env, KADMESH_PORT: port })
      expect(restarted.nodeId).toBe(child.nodeId)
      expect(await caller.call(restarted.nodeId, 'echo.back', 'again')).toBe('again')
      expect(caller.stats().counters.streamsLost).toBeGreaterThan(0)
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
