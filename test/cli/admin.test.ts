import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AdminServer, adminRequest, defaultAdminPath, MAX_ADMIN_CONNECTIONS, MAX_REQUEST_BYTES } from '../../src/cli/admin.js'
import { rejection } from '../helpers.js'

let dir: string
let server: AdminServer | undefined
let counter = 0

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kadmesh-adm-'))
})
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function listen (path = join(dir, 'admin.sock')): Promise<AdminServer> {
  server = await AdminServer.listen({ path, commands: { count: () => ++counter, big: () => 2n ** 64n } })
  return server
}

/** A raw admin connection: send lines, read answer lines. */
function connect (path: string): { send: (text: string) => void, next: () => Promise<Record<string, unknown>>, closed: Promise<void>, end: () => void } {
  const socket = createConnection(path)
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]()
  return {
    send: text => { socket.write(text) },
    next: async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>,
    closed: new Promise(resolve => socket.once('close', () => { resolve() })),
    end: () => { socket.destroy() }
  }
}

describe('the admin socket', () => {
  it('is created with mode 0600 and answers commands as JSON lines, tagged values included', async () => {
    const admin = await listen()
    expect((await stat(admin.path)).mode & 0o777).toBe(0o600)
    const before = counter
    expect(await adminRequest(admin.path, 'count')).toBe(before + 1)
    expect(await adminRequest(admin.path, 'big')).toEqual({ $bigint: '18446744073709551616' })
  })

  it('answers bad requests with a coded error, counts them, and keeps serving that and other connections', async () => {
    const admin = await listen()
    const c = connect(admin.path)
    c.send('not json\n')
    expect(await c.next()).toEqual({ id: null, error: { code: 'MESH_ERR_BAD_REQUEST', message: 'request is not JSON' } })
    c.send('[1,2]\n')
    expect((await c.next()).error).toEqual({ code: 'MESH_ERR_BAD_REQUEST', message: 'request must be a JSON object' })
    c.send('{"id":7,"command":"shutdown"}\n')
    expect(await c.next()).toMatchObject({ id: 7, error: { code: 'MESH_ERR_BAD_REQUEST', message: expect.stringContaining('unknown command "shutdown"') } })
    c.send('{"id":"x","command":"__proto__"}\n')
    expect((await c.next()).error).toMatchObject({ code: 'MESH_ERR_BAD_REQUEST' })
    c.send('{"id":8,"command":"count"}\n')
    expect(await c.next()).toEqual({ id: 8, result: counter })
    expect(admin.stats()).toMatchObject({ requests: 5, badRequests: 4, connections: 1 })
    c.end()
  })

  it('closes a connection whose request line is too long, and serves the next one', async () => {
    const admin = await listen()
    const c = connect(admin.path)
    c.send('x'.repeat(MAX_REQUEST_BYTES + 1))
    expect((await c.next()).error).toEqual({ code: 'MESH_ERR_BAD_REQUEST', message: `request line longer than ${MAX_REQUEST_BYTES} bytes` })
    await c.closed
    expect(admin.stats().badRequests).toBe(1)
    expect(typeof await adminRequest(admin.path, 'count')).toBe('number')
  })

  it(`refuses connections beyond ${MAX_ADMIN_CONNECTIONS} with MESH_ERR_OVERLOADED and counts them`, async () => {
    const admin = await listen()
    const open = Array.from({ length: MAX_ADMIN_CONNECTIONS }, () => connect(admin.path))
    for (const c of open) {
      c.send('{"command":"count"}\n')
      await c.next()
    }
    const err = await rejection(adminRequest(admin.path, 'count'))
    expect(err.code).toBe('MESH_ERR_OVERLOADED')
    expect(admin.stats().refused).toBe(1)
    for (const c of open) c.end()
    await Promise.all(open.map(async c => c.closed))
  })

  it('replaces a stale socket, refuses a live one or a file that is no socket, and removes its socket on close', async () => {
    const path = join(dir, 'admin.sock')
    const first = await listen(path)
    const live = await rejection(AdminServer.listen({ path, commands: {} }))
    expect(live).toMatchObject({ code: 'MESH_ERR_INVALID_OPTIONS', message: expect.stringContaining('another process') })
    await first.close()
    await expect(stat(path)).rejects.toThrow(/ENOENT/)
    // a socket file left behind by a process killed while listening on it
    const killed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    await new Promise(resolve => killed.once('exit', resolve))
    expect((await stat(path)).isSocket()).toBe(true)
    const replaced = await listen(path)
    expect(typeof await adminRequest(replaced.path, 'count')).toBe('number')
    const file = join(dir, 'plain')
    await writeFile(file, 'x')
    const notSocket = await rejection(AdminServer.listen({ path: file, commands: {} }))
    expect(notSocket).toMatchObject({ code: 'MESH_ERR_INVALID_OPTIONS', message: expect.stringContaining('is not a socket') })
  })

  it('an answer nobody gives is MESH_ERR_UNREACHABLE', async () => {
    expect((await rejection(adminRequest(join(dir, 'none.sock'), 'count'))).code).toBe('MESH_ERR_UNREACHABLE')
  })

  it('puts default sockets in a private directory and refuses one others can read', async () => {
    const path = await defaultAdminPath({ XDG_RUNTIME_DIR: dir }, 'node-a')
    expect(path).toBe(join(dir, 'kadmesh', 'node-a.sock'))
    expect((await stat(join(dir, 'kadmesh'))).mode & 0o777).toBe(0o700)
    const open = join(dir, 'open')
    await mkdir(join(open, 'kadmesh'), { recursive: true })
    await chmod(join(open, 'kadmesh'), 0o755)
    const err = await rejection(defaultAdminPath({ XDG_RUNTIME_DIR: open }, 'node-a'))
    expect(err.code).toBe('MESH_ERR_INVALID_OPTIONS')
  })
})
