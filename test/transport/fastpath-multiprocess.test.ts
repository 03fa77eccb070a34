/**
 * Fast paths between two processes on this host: which transport they pick, and what happens to
 * calls in flight when the other process is killed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Mesh } from '../../src/index.js'
import type { TransportName } from '../../src/transport/interfaces.js'
import { type ChildNode, killFixtures, spawnFixture } from '../fixtures/spawn.js'
import { rejection, startMesh } from '../helpers.js'
import { native } from './native/native-env.js'

afterEach(killFixtures)

/** Calls until the route trace shows `transport`; returns how the calls went. */
async function callUntil (mesh: Mesh, nodeId: string, transport: TransportName): Promise<TransportName[]> {
  const seen: TransportName[] = []
  for (let i = 0; i < 2_000; i++) {
    const t = await mesh.traceCall(nodeId, 'echo.back', i)
    expect(t.value).toBe(i)
    seen.push(t.transports[0])
    if (t.transports[0] === transport) return seen
  }
  throw new Error(`no call went over ${transport}: ${[...new Set(seen)].join(', ')}`)
}

async function child (fastPaths: string, caller: Mesh): Promise<ChildNode> {
  return spawnFixture('echo-node', { KADMESH_FASTPATHS: fastPaths, KADMESH_BOOTSTRAP: caller.addresses.join(',') })
}

/**
 * Kills `node` with slow calls and a stream of quick ones in flight: every call must end, none by
 * its deadline. Returns the caller's connection count when the slow calls had failed.
 */
async function killMidStream (caller: Mesh, node: ChildNode): Promise<number> {
  const slow = Array.from({ length: 50 }, async () => rejection(caller.call(node.nodeId, 'echo.slow', null, { timeout: 20_000 })))
  await node.started(50)
  let stop = false
  const stream = (async () => {
    const outcomes: Array<'ok' | string> = []
    for (let i = 0; i < 100_000 && !stop; i++) {
      outcomes.push(await caller.call(node.nodeId, 'echo.back', i, { timeout: 20_000 }).then(() => 'ok', (err: Error & { code: string }) => err.code))
    }
    return outcomes
  })()
  node.child.kill('SIGKILL')
  const errors = await Promise.all(slow)
  const connections = caller.stats().connections
  stop = true
  const outcomes = await stream
  for (const err of errors) expect(err).toMatchObject({ code: 'MESH_ERR_CONNECTION_LOST', retryable: true })
  // quick calls: answered before the kill, or failed soon after it (retryable); never timed out
  for (const outcome of outcomes) expect(['ok', 'MESH_ERR_CONNECTION_LOST', 'MESH_ERR_UNREACHABLE']).toContain(outcome)
  await node.exited
  return connections
}

describe.skipIf(native === undefined)('fast paths between two processes', () => {
  it('pick shared memory; with it off UDP; with both off QUIC', async () => {
    const caller = await startMesh()
    const [both, udpOnly, none] = await Promise.all([child('shm,udp', caller), child('udp', caller), child('none', caller)])
    await callUntil(caller, both.nodeId, 'shm')
    await callUntil(caller, udpOnly.nodeId, 'udp')
    for (let i = 0; i < 50; i++) expect((await caller.traceCall(none.nodeId, 'echo.back', i)).transports).toEqual(['quic'])
    const links = caller.stats().fastPath.links
    expect(links.map(l => [l.remote, l.transport])).toEqual(expect.arrayContaining([[both.nodeId, 'shm'], [udpOnly.nodeId, 'udp']]))
    expect(links.some(l => l.remote === none.nodeId)).toBe(false)
  })

  for (const [transport, fastPaths] of [['shm', 'shm,udp'], ['udp', 'udp']] as const) {
    it(`ends every call when the peer is killed mid-stream over ${transport}`, async () => {
      const caller = await startMesh()
      const node = await child(fastPaths, caller)
      await callUntil(caller, node.nodeId, transport)
      const connections = await killMidStream(caller, node)
      // the link that carried the calls ended and was counted; the node may have set up a second
      // one when it called the caller (a neighbour's `_mesh.keep`), which may end here too or, idle,
      // at its dead-peer timeout
      expect(caller.stats().counters.fastPathsFailed).toBeGreaterThanOrEqual(1)
      expect(caller.stats().counters.fastPathsFailed).toBeLessThanOrEqual(2)
      // a process that the ring pair saw exit takes its QUIC connection with it, not at QUIC's idle
      // timeout: a call to a process restarted with the same key must not go to the old connection
      if (transport === 'shm') expect(connections).toBe(0)
    })
  }
})
