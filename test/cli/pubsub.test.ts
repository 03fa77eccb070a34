import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kadmesh, killKadmesh, type RunningNode, startKadmesh, startNode } from './kadmesh-process.js'

let seed: RunningNode

beforeAll(async () => {
  seed = await startNode(['--listen', '/ip4/127.0.0.1/udp/0/quic-v1'], { XDG_RUNTIME_DIR: await mkdtemp(join(tmpdir(), 'kadmesh-ps-')) })
})
afterAll(killKadmesh)

describe('kadmesh subscribe and kadmesh publish', () => {
  it('prints each message published to the pattern as one JSON line, tags included, and stops after --count', async () => {
    const sub = startKadmesh(['subscribe', 'sensors/*', '--count', '2', '--bootstrap', seed.addresses[0]])
    const subscribed = await sub.stderrLine(/^kadmesh: subscribed to sensors\/\* as 12D3KooW/)
    const subscriber = subscribed.split(' as ')[1]
    const first = await kadmesh(['publish', 'sensors/kitchen', '{"c":21.5,"at":{"$date":"2025-01-02T03:04:05.006Z"}}', '--ack', '--bootstrap', seed.addresses[0]])
    expect(JSON.parse(first.stdout)).toEqual({ subscribers: [subscriber], acked: [subscriber], failed: [] })
    expect(first.code).toBe(0)
    // not matched by sensors/*: one level only
    await kadmesh(['publish', 'sensors/kitchen/door', '"open"', '--bootstrap', seed.addresses[0]])
    await kadmesh(['publish', 'sensors/hall', '{"n":{"$bigint":"12345678901234567890"}}', '--ack', '--bootstrap', seed.addresses[0]])
    expect(await sub.exited).toBe(0)
    const lines = sub.stdout().trimEnd().split('\n').map(line => JSON.parse(line) as { topic: string, data: unknown, from: string, seq: number })
    expect(lines.map(l => [l.topic, l.data, l.seq])).toEqual([
      ['sensors/kitchen', { c: 21.5, at: { $date: '2025-01-02T03:04:05.006Z' } }, 1],
      ['sensors/hall', { n: { $bigint: '12345678901234567890' } }, 1]
    ])
    expect(lines[0].from).toMatch(/^12D3KooW/)
  })

  it('a publish nobody subscribed to reports no subscribers and exits 0', async () => {
    const { code, stdout } = await kadmesh(['publish', 'nobody/listens', '1', '--bootstrap', seed.addresses[0]])
    expect(JSON.parse(stdout)).toEqual({ subscribers: [], acked: [], failed: [] })
    expect(code).toBe(0)
  })

  it('stops after --duration, and on SIGTERM, exiting 0', async () => {
    const timed = await kadmesh(['subscribe', 'quiet/**', '--duration', '1', '--bootstrap', seed.addresses[0]])
    expect(timed.stdout).toBe('')
    expect(timed.code).toBe(0)
    const sub = startKadmesh(['subscribe', 'quiet/**', '--bootstrap', seed.addresses[0]])
    await sub.stderrLine(/subscribed/)
    sub.child.kill('SIGTERM')
    expect(await sub.exited).toBe(0)
  })

  it('an invalid pattern is MESH_ERR_BAD_REQUEST, exit 1; data that is not JSON is a usage error, exit 2', async () => {
    const pattern = await kadmesh(['subscribe', 'a/**/b', '--bootstrap', seed.addresses[0]])
    expect(pattern.stderr).toMatch(/^kadmesh: MESH_ERR_BAD_REQUEST: [^\n]+\n$/)
    expect(pattern.code).toBe(1)
    const data = await kadmesh(['publish', 'a/b', 'not json', '--bootstrap', seed.addresses[0]])
    expect(data.stderr).toMatch(/^kadmesh: MESH_ERR_USAGE: <json> is not JSON/)
    expect(data.code).toBe(2)
  })
})
