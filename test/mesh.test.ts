import { describe, expect, it } from 'vitest'
import { ClosedError, createMesh, RemoteError, type Context } from '../src/index.js'
import { deferred, LOOPBACK, rejection, startMesh } from './helpers.js'

async function pair (): Promise<{ server: Awaited<ReturnType<typeof startMesh>>, client: Awaited<ReturnType<typeof startMesh>> }> {
  const server = await startMesh()
  const client = await startMesh({ bootstrap: server.addresses })
  return { server, client }
}

describe('calls between two nodes over QUIC', () => {
  it('round-trips every supported value type', async () => {
    const { server, client } = await pair()
    server.actor('echo', { back: (value: unknown) => value })
    const values: unknown[] = [
      null, true, false, 0, -1, 1.5, 2 ** 40, -(2 ** 53), NaN, Infinity, 'text', 'ünïcødé ✓', '',
      10n, -(2n ** 63n), 2n ** 100n,
      new Uint8Array([0, 1, 2, 255]), new Uint8Array(0),
      new Date(1_700_000_000_123),
      new Map<unknown, unknown>([['a', 1], [2, 'two'], [true, new Map([['nested', [1, 2]]])]]),
      [1, 'two', [3], { four: 4 }, undefined],
      { a: 1, b: 'x', c: undefined, d: { e: [new Date(0), new Uint8Array([9])] }, f: new Map([['k', 'v']]) }
    ]
    for (const value of values) {
      const back = await client.call(server.nodeId, 'echo.back', value)
      expect(back).toStrictEqual(value)
    }
    const obj = await client.call(server.nodeId, 'echo.back', { plain: 1 })
    expect(obj).not.toBeInstanceOf(Map)
  })

  it('completes 1,000 concurrent calls with the right results', async () => {
    const { server, client } = await pair()
    server.actor('math', { square: (n: number) => n * n }, { concurrency: 16 })
    const results = await Promise.all(Array.from({ length: 1000 }, async (_, i) => client.call(server.nodeId, 'math.square', i)))
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i * i))
  })

  it('passes the authenticated caller, the method and the deadline to the handler', async () => {
    const { server, client } = await pair()
    let seen: { caller: string, method: string, deadline: number } | undefined
    server.actor('who', { am: (_: unknown, ctx: Context) => { seen = { caller: ctx.caller, method: ctx.method, deadline: ctx.deadline } } })
    const before = Date.now()
    await client.call(server.nodeId, 'who.am', null, { timeout: 60_000 })
    expect(seen?.caller).toBe(client.nodeId)
    expect(seen?.method).toBe('who.am')
    expect(seen?.deadline).toBeGreaterThan(before + 50_000)
    expect(seen?.deadline).toBeLessThanOrEqual(Date.now() + 60_000)
  })

  it('answers an unknown method with MESH_ERR_NO_SUCH_METHOD', async () => {
    const { server, client } = await pair()
    server.actor('a', { b: () => 1 })
    const err = await rejection(client.call(server.nodeId, 'a.nope'))
    expect(err.code).toBe('MESH_ERR_NO_SUCH_METHOD')
    expect(err.node).toBe(server.nodeId)
    expect(server.stats().counters.servedErrors.MESH_ERR_NO_SUCH_METHOD).toBe(1)
    expect(await client.call(server.nodeId, 'a.b')).toBe(1)
  })

  it('delivers a handler throw as a RemoteError with code, message, node and data', async () => {
    const { server, client } = await pair()
    server.actor('f', {
      coded: () => { throw Object.assign(new Error('not found'), { code: 'E_NOT_FOUND', data: { key: 'k' } }) },
      plain: async () => { throw new TypeError('bad type') }
    })
    const coded = await rejection(client.call(server.nodeId, 'f.coded'))
    expect(coded).toBeInstanceOf(RemoteError)
    expect(coded).toMatchObject({ code: 'E_NOT_FOUND', message: 'not found', node: server.nodeId, data: { key: 'k' } })
    const plain = await rejection(client.call(server.nodeId, 'f.plain'))
    expect(plain).toBeInstanceOf(RemoteError)
    expect(plain).toMatchObject({ code: 'MESH_ERR_REMOTE', message: 'bad type', node: server.nodeId })
  })

  it('times out with MESH_ERR_TIMEOUT and aborts the remote ctx.signal', async () => {
    const { server, client } = await pair()
    const aborted = deferred<unknown>()
    server.actor('slow', {
      wait: async (_: unknown, ctx: Context) => new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => { aborted.resolve(ctx.signal.reason); reject(ctx.signal.reason) })
      })
    })
    const err = await rejection(client.call(server.nodeId, 'slow.wait', null, { timeout: 200 }))
    expect(err.code).toBe('MESH_ERR_TIMEOUT')
    const reason = await aborted.promise
    expect(reason).toMatchObject({ code: 'MESH_ERR_ABORTED' })
  })

  it('rejects with MESH_ERR_ABORTED when the caller aborts, and aborts the remote ctx.signal', async () => {
    const { server, client } = await pair()
    const started = deferred()
    const aborted = deferred()
    server.actor('slow', {
      wait: async (_: unknown, ctx: Context) => new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => { aborted.resolve(); reject(ctx.signal.reason) })
        started.resolve()
      })
    })
    const controller = new AbortController()
    const call = client.call(server.nodeId, 'slow.wait', null, { signal: controller.signal })
    await started.promise
    controller.abort()
    expect((await rejection(call)).code).toBe('MESH_ERR_ABORTED')
    await aborted.promise
    // an already aborted signal never sends the call
    expect((await rejection(client.call(server.nodeId, 'slow.wait', null, { signal: controller.signal }))).code).toBe('MESH_ERR_ABORTED')
  })

  it('refuses calls beyond a full mailbox with MESH_ERR_OVERLOADED and serves the rest', async () => {
    const { server, client } = await pair()
    const gate = deferred()
    const started = deferred()
    server.actor('one', {
      block: async () => { started.resolve(); await gate.promise; return 'done' }
    }, { concurrency: 1, mailbox: 2 })
    const running = client.call(server.nodeId, 'one.block')
    await started.promise
    const queued = [client.call(server.nodeId, 'one.block'), client.call(server.nodeId, 'one.block')]
    const refused = await rejection(client.call(server.nodeId, 'one.block'))
    expect(refused.code).toBe('MESH_ERR_OVERLOADED')
    expect(refused.node).toBe(server.nodeId)
    gate.resolve()
    expect(await Promise.all([running, ...queued])).toEqual(['done', 'done', 'done'])
  })

  it('runs calls to a concurrency-1 actor one at a time in arrival order', async () => {
    const { server, client } = await pair()
    const order: number[] = []
    let active = 0
    let maxActive = 0
    server.actor('seq', {
      step: async (i: number) => {
        active++
        maxActive = Math.max(maxActive, active)
        await new Promise(resolve => setImmediate(resolve))
        order.push(i)
        active--
      }
    })
    await Promise.all(Array.from({ length: 200 }, async (_, i) => client.call(server.nodeId, 'seq.step', i)))
    expect(maxActive).toBe(1)
    expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i))
  })

  it('delivers casts without a reply and counts the ones the remote cannot serve', async () => {
    const { server, client } = await pair()
    const got: number[] = []
    const all = deferred()
    server.actor('sink', { put: (n: number) => { got.push(n); if (got.length === 100) all.resolve() } })
    for (let i = 0; i < 100; i++) client.cast(server.nodeId, 'sink.put', i)
    await all.promise
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i))
    client.cast(server.nodeId, 'sink.missing', 1)
    // a call after the cast on the same stream proves the cast was processed first
    await expect(client.call(server.nodeId, 'sink.put', -1)).resolves.toBeUndefined()
    expect(server.stats().counters.castsDropped).toBe(1)
    expect(server.stats().counters.servedErrors.MESH_ERR_NO_SUCH_METHOD).toBe(1)
  })

  it('rejects arguments that cannot be encoded or exceed the frame size, before sending', async () => {
    const { server, client } = await pair()
    server.actor('echo', { back: (v: unknown) => v })
    const small = await startMesh({ maxFrameSize: 1024, bootstrap: server.addresses })
    expect((await rejection(small.call(server.nodeId, 'echo.back', new Uint8Array(2048)))).code).toBe('MESH_ERR_TOO_LARGE')
    expect((await rejection(client.call(server.nodeId, 'echo.back', null, { timeout: -1 }))).code).toBe('MESH_ERR_INVALID_OPTIONS')
    expect((await rejection(client.call('not-a-node-id', 'echo.back'))).code).toBe('MESH_ERR_BAD_REQUEST')
    expect((await rejection(client.call(server.nodeId, ''))).code).toBe('MESH_ERR_BAD_REQUEST')
    expect(await client.call(server.nodeId, 'echo.back', 'still fine')).toBe('still fine')
  })

  it('answers a result larger than the frame size with MESH_ERR_TOO_LARGE', async () => {
    const server = await startMesh({ maxFrameSize: 4096 })
    const client = await startMesh({ bootstrap: server.addresses })
    server.actor('big', { make: () => new Uint8Array(10_000) })
    const err = await rejection(client.call(server.nodeId, 'big.make'))
    expect(err.code).toBe('MESH_ERR_TOO_LARGE')
    expect(err.node).toBe(server.nodeId)
  })

  it('fails a call to a node nobody can find with MESH_ERR_UNREACHABLE', async () => {
    const server = await startMesh()
    const client = await startMesh({ bootstrap: server.addresses, dialTimeout: 1_000 })
    const stranger = await createMesh({ listen: LOOPBACK })
    const strangerId = stranger.nodeId
    await stranger.stop()
    const err = await rejection(client.call(strangerId, 'x.y', null, { timeout: 5_000 }))
    expect(err.code).toBe('MESH_ERR_UNREACHABLE')
  })
})

describe('calls to an actor on the same node', () => {
  it('calls local actors with the same semantics as remote ones', async () => {
    const mesh = await startMesh()
    mesh.actor('local', {
      add: ({ a, b }: { a: number, b: number }, ctx: Context) => ({ sum: a + b, caller: ctx.caller }),
      fail: () => { throw Object.assign(new Error('local failure'), { code: 'E_LOCAL' }) }
    })
    expect(await mesh.call(mesh.nodeId, 'local.add', { a: 2, b: 3 })).toEqual({ sum: 5, caller: mesh.nodeId })
    const err = await rejection(mesh.call(mesh.nodeId, 'local.fail'))
    expect(err).toBeInstanceOf(RemoteError)
    expect(err).toMatchObject({ code: 'E_LOCAL', node: mesh.nodeId })
    expect((await rejection(mesh.call(mesh.nodeId, 'local.none'))).code).toBe('MESH_ERR_NO_SUCH_METHOD')
  })

  it('times out a local call and aborts its handler', async () => {
    const mesh = await startMesh()
    const aborted = deferred<unknown>()
    mesh.actor('slow', {
      wait: async (_: unknown, ctx: Context) => new Promise(() => {
        ctx.signal.addEventListener('abort', () => { aborted.resolve(ctx.signal.reason) })
      })
    })
    expect((await rejection(mesh.call(mesh.nodeId, 'slow.wait', null, { timeout: 50 }))).code).toBe('MESH_ERR_TIMEOUT')
    expect(await aborted.promise).toMatchObject({ code: 'MESH_ERR_TIMEOUT' })
  })

  it('refuses a duplicate actor and invalid actor options', async () => {
    const mesh = await startMesh()
    mesh.actor('a', { b: () => 1 })
    expect(() => { mesh.actor('a', { c: () => 1 }) }).toThrow(/already registered/)
    expect(() => { mesh.actor('x', { y: () => 1 }, { concurrency: 0 }) }).toThrow(/options.concurrency/)
    expect(() => { mesh.actor('x', { y: 'nope' as unknown as () => void }) }).toThrow(/must be a function/)
  })
})

describe('lifecycle', () => {
  it('rejects calls in flight with MESH_ERR_CLOSED when the caller stops', async () => {
    const { server, client } = await pair()
    const started = deferred()
    server.actor('slow', { wait: async () => { started.resolve(); await new Promise(() => {}) } }, { concurrency: 10 })
    const calls = Array.from({ length: 5 }, async () => rejection(client.call(server.nodeId, 'slow.wait')))
    await started.promise
    await client.stop()
    for (const err of await Promise.all(calls)) expect(err.code).toBe('MESH_ERR_CLOSED')
  })

  it('answers callers with MESH_ERR_CLOSED when the serving node stops', async () => {
    const { server, client } = await pair()
    const started = deferred()
    server.actor('slow', { wait: async () => { started.resolve(); await new Promise(() => {}) } })
    const call = rejection(client.call(server.nodeId, 'slow.wait'))
    await started.promise
    await server.stop()
    expect(['MESH_ERR_CLOSED', 'MESH_ERR_CONNECTION_LOST']).toContain((await call).code)
  })

  it('stops idempotently and refuses calls after stop', async () => {
    const mesh = await startMesh()
    mesh.actor('a', { b: () => 1 })
    await Promise.all([mesh.stop(), mesh.stop()])
    await mesh.stop()
    const err = await rejection(mesh.call(mesh.nodeId, 'a.b'))
    expect(err).toBeInstanceOf(ClosedError)
    expect(() => { mesh.cast(mesh.nodeId, 'a.b') }).toThrow(ClosedError)
  })

  it('stops a mesh declared with await using at the end of its scope', async () => {
    let escaped: Awaited<ReturnType<typeof createMesh>> | undefined
    {
      await using mesh = await createMesh({ listen: LOOPBACK })
      mesh.actor('a', { b: () => 2 })
      expect(await mesh.call(mesh.nodeId, 'a.b')).toBe(2)
      escaped = mesh
    }
    expect((await rejection(escaped.call(escaped.nodeId, 'a.b'))).code).toBe('MESH_ERR_CLOSED')
  })

  it('keeps its node id across restarts with the same key file', async () => {
    const { mkdtemp } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const keyFile = join(await mkdtemp(join(tmpdir(), 'kadmesh-')), 'node.key')
    const first = await startMesh({ privateKey: keyFile })
    const id = first.nodeId
    await first.stop()
    const second = await startMesh({ privateKey: keyFile })
    expect(second.nodeId).toBe(id)
  })

  it('rejects invalid options with a message naming the option', async () => {
    await expect(createMesh({ timeout: 0 })).rejects.toThrow(/options.timeout/)
    await expect(createMesh({ transports: { quic: { keepAliveInterval: 5_000, maxIdleTimeout: 3_000 } } })).rejects.toThrow(/keepAliveInterval/)
    await expect(createMesh({ privateKey: new Uint8Array([1, 2, 3]) })).rejects.toThrow(/privateKey/)
  })
})
