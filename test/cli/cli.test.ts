import { existsSync } from 'node:fs'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ACTORS, kadmesh, killKadmesh, type RunningNode, startNode } from './kadmesh-process.js'

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/udp/0/quic-v1']
/** One line on standard error in the CLI's error format. */
const errorLine = (code: string): RegExp => new RegExp(`^kadmesh: ${code}: [^\\n]+\\n$`)

let runtime: string
/** Environment with a private runtime directory, so default admin sockets stay in this test's. */
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  runtime = await mkdtemp(join(tmpdir(), 'kadmesh-cli-'))
  env = { XDG_RUNTIME_DIR: runtime }
})

describe('kadmesh --help', () => {
  it('prints the commands, and for each command its usage and every option, exiting 0', async () => {
    const main = await kadmesh(['--help'])
    expect(main.code).toBe(0)
    for (const command of ['node', 'call', 'publish', 'subscribe', 'routes', 'stats', 'keygen']) expect(main.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    const options: Record<string, string[]> = {
      node: ['--listen', '--bootstrap', '--key', '--reachability', '--actors', '--config', '--admin', '--no-admin'],
      call: ['--bootstrap', '--key', '--timeout', '--hops', '--trace', '--pretty'],
      publish: ['--bootstrap', '--key', '--ack', '--timeout', '--pretty'],
      subscribe: ['--bootstrap', '--key', '--count', '--duration', '--buffer', '--overflow'],
      routes: ['--admin', '--node', '--pretty'],
      stats: ['--admin', '--node', '--pretty'],
      keygen: []
    }
    const outcomes = await Promise.all(Object.keys(options).map(async command => kadmesh([command, '--help'])))
    Object.entries(options).forEach(([command, flags], i) => {
      expect(outcomes[i].code).toBe(0)
      expect(outcomes[i].stdout).toMatch(new RegExp(`^usage: kadmesh ${command}`))
      for (const flag of [...flags, '--help']) expect(outcomes[i].stdout).toContain(flag)
    })
    const viaHelp = await kadmesh(['help', 'call'])
    expect(viaHelp.stdout).toBe(outcomes[Object.keys(options).indexOf('call')].stdout)
  })
})

describe('a bad command line', () => {
  it.each([
    ['an unknown command', ['frobnicate']],
    ['an unknown option', ['node', '--frobnicate']],
    ['a missing argument', ['call', '12D3KooW']],
    ['a missing required option', ['call', '12D3KooW', 'kv.get']],
    ['arguments that are not JSON', ['call', '12D3KooW', 'kv.get', '{key:', '--bootstrap', '/ip4/127.0.0.1/udp/1/quic-v1']],
    ['a malformed tag in the arguments', ['call', '12D3KooW', 'kv.get', '{"$bigint":"1.5"}', '--bootstrap', '/ip4/127.0.0.1/udp/1/quic-v1']],
    ['an integer option that is not one', ['call', '12D3KooW', 'kv.get', '--timeout', 'soon', '--bootstrap', '/x']],
    ['an integer out of bounds', ['call', '12D3KooW', 'kv.get', '--hops', '99', '--bootstrap', '/x']],
    ['a value not among the choices', ['node', '--reachability', 'sometimes']],
    ['too many arguments', ['keygen', 'a', 'b']],
    ['help for an unknown command', ['help', 'frobnicate']]
  ])('%s: one MESH_ERR_USAGE line, exit status 2', async (_what, args) => {
    const { code, stdout, stderr } = await kadmesh(args)
    expect(stderr).toMatch(errorLine('MESH_ERR_USAGE'))
    expect(stdout).toBe('')
    expect(code).toBe(2)
  })
})

describe('kadmesh node and kadmesh call', () => {
  let node: RunningNode

  beforeAll(async () => {
    node = await startNode([...LOOPBACK, '--actors', ACTORS], env)
  })
  afterAll(killKadmesh)

  it('prints the node id, its addresses and its admin socket (0600, in a 0700 directory)', async () => {
    expect(node.nodeId).toMatch(/^12D3KooW/)
    expect(node.addresses[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/udp/\\d+/quic-v1/p2p/${node.nodeId}$`))
    expect(node.admin).toBe(join(runtime, 'kadmesh', `${node.nodeId}.sock`))
    expect((await stat(node.admin as string)).mode & 0o777).toBe(0o600)
    expect((await stat(dirname(node.admin as string))).mode & 0o777).toBe(0o700)
  })

  it('calls a method and prints its result as one JSON line, values JSON cannot hold tagged both ways', async () => {
    const args = '{"n":{"$bigint":"12345678901234567890"},"bytes":{"$bytes":"AAEC/w=="},"when":{"$date":"2025-01-02T03:04:05.006Z"},"map":{"$map":[[1,"one"]]},"set":{"$set":["a"]},"nan":{"$number":"NaN"},"literal":{"$object":{"$bytes":"not bytes"}},"plain":[1,"two",null]}'
    const { code, stdout, stderr } = await kadmesh(['call', node.nodeId, 'echo.back', args, '--bootstrap', node.addresses[0]])
    expect(stderr).toBe('')
    expect(stdout).toBe(args + '\n')
    expect(code).toBe(0)
  })

  it('prints null for a call without a result, and indents with --pretty', async () => {
    const none = await kadmesh(['call', node.nodeId, 'echo.back', '--bootstrap', node.addresses[0]])
    expect(none.stdout).toBe('null\n')
    const pretty = await kadmesh(['call', node.nodeId, 'echo.back', '{"a":[1]}', '--pretty', '--bootstrap', node.addresses[0]])
    expect(pretty.stdout).toBe('{\n  "a": [\n    1\n  ]\n}\n')
  })

  it('--trace prints the value with the path and the transport of each hop', async () => {
    const { code, stdout } = await kadmesh(['call', node.nodeId, 'echo.back', '"hi"', '--trace', '--bootstrap', node.addresses[0]])
    const trace = JSON.parse(stdout) as { value: unknown, path: string[], transports: string[], ms: number }
    expect(trace.value).toBe('hi')
    expect(trace.path).toHaveLength(2)
    expect(trace.path[1]).toBe(node.nodeId)
    // QUIC, or a fast path if the node set one up to this process first
    expect(trace.transports).toHaveLength(1)
    expect(['quic', 'udp', 'shm']).toContain(trace.transports[0])
    expect(trace.ms).toBeGreaterThan(0)
    expect(code).toBe(0)
  })

  it('--trace of a call without a result prints "value": null', async () => {
    const { stdout } = await kadmesh(['call', node.nodeId, 'echo.back', '--trace', '--bootstrap', node.addresses[0]])
    expect(JSON.parse(stdout)).toMatchObject({ value: null, path: [expect.any(String), node.nodeId] })
  })

  it("prints a handler's error as its code and message, naming the node, and exits 1", async () => {
    const { code, stdout, stderr } = await kadmesh(['call', node.nodeId, 'echo.fail', '--bootstrap', node.addresses[0]])
    expect(stderr).toBe(`kadmesh: E_REFUSED: the handler refused (node ${node.nodeId})\n`)
    expect(stdout).toBe('')
    expect(code).toBe(1)
  })

  it('an unknown method is MESH_ERR_NO_SUCH_METHOD, exit 1', async () => {
    const { code, stderr } = await kadmesh(['call', node.nodeId, 'echo.nope', '--bootstrap', node.addresses[0]])
    expect(stderr).toMatch(errorLine('MESH_ERR_NO_SUCH_METHOD'))
    expect(code).toBe(1)
  })

  it('a node nobody knows is MESH_ERR_UNREACHABLE, exit 1', async () => {
    const stranger = JSON.parse((await kadmesh(['keygen', join(runtime, 'stranger.key')])).stdout) as { nodeId: string }
    const { code, stderr } = await kadmesh(['call', stranger.nodeId, 'echo.back', '--bootstrap', node.addresses[0]])
    expect(stderr).toMatch(errorLine('MESH_ERR_UNREACHABLE'))
    expect(stderr).toContain(stranger.nodeId)
    expect(code).toBe(1)
  })

  it('a string that is no node id is MESH_ERR_BAD_REQUEST, exit 1', async () => {
    const { code, stderr } = await kadmesh(['call', 'not-a-node', 'echo.back', '--bootstrap', node.addresses[0]])
    expect(stderr).toMatch(errorLine('MESH_ERR_BAD_REQUEST'))
    expect(code).toBe(1)
  })

  it('a bootstrap node that does not answer is MESH_ERR_UNREACHABLE, exit 1', async () => {
    const silent = `/ip4/127.0.0.1/udp/9/quic-v1/p2p/${node.nodeId}`
    const { code, stderr } = await kadmesh(['call', node.nodeId, 'echo.back', '--bootstrap', silent])
    expect(stderr).toMatch(errorLine('MESH_ERR_UNREACHABLE'))
    expect(stderr).toContain('could not join')
    expect(code).toBe(1)
  })

  it('keygen writes a 0600 key file once; call --key acts as that node id', async () => {
    const file = join(runtime, 'caller.key')
    const made = await kadmesh(['keygen', file])
    const { nodeId } = JSON.parse(made.stdout) as { nodeId: string }
    expect(made.code).toBe(0)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const again = await kadmesh(['keygen', file])
    expect(again.stderr).toMatch(errorLine('MESH_ERR_INVALID_OPTIONS'))
    expect(again.code).toBe(1)
    const { stdout } = await kadmesh(['call', node.nodeId, 'echo.whoami', '--key', file, '--bootstrap', node.addresses[0]])
    expect(JSON.parse(stdout)).toBe(nodeId)
  })
})

describe('kadmesh routes and kadmesh stats', () => {
  let a: RunningNode
  let b: RunningNode
  let bAdmin: string

  beforeAll(async () => {
    a = await startNode([...LOOPBACK, '--actors', ACTORS], env)
    bAdmin = join(await mkdtemp(join(tmpdir(), 'kadmesh-admin-')), 'b.sock')
    b = await startNode([...LOOPBACK, '--actors', ACTORS, '--bootstrap', a.addresses[0], '--admin', bAdmin], env)
    // b calls a, so b has a route to a
    const relayed = await kadmesh(['call', b.nodeId, 'relay.call', JSON.stringify({ to: a.nodeId, method: 'echo.back', args: 7 }), '--bootstrap', b.addresses[0]])
    expect(relayed.stdout).toBe('7\n')
  })
  afterAll(killKadmesh)

  it("routes lists a running node's routes", async () => {
    const { code, stdout } = await kadmesh(['routes', '--admin', bAdmin])
    expect(JSON.parse(stdout)).toContainEqual({ destination: a.nodeId, path: [b.nodeId, a.nodeId], kind: 'direct' })
    expect(code).toBe(0)
  })

  it("stats shows a running node's counters, connections, pools, actors and admin requests", async () => {
    const { code, stdout } = await kadmesh(['stats', '--admin', bAdmin])
    const stats = JSON.parse(stdout) as {
      nodeId: string, connections: number, counters: { callsSent: number, callsReceived: number },
      pools: Array<{ remote: string }>, actors: Array<{ name: string }>, admin: { requests: number }
    }
    expect(stats.nodeId).toBe(b.nodeId)
    expect(stats.connections).toBeGreaterThanOrEqual(1)
    expect(stats.counters.callsSent).toBeGreaterThanOrEqual(1)
    expect(stats.counters.callsReceived).toBeGreaterThanOrEqual(1)
    expect(stats.pools.map(p => p.remote)).toContain(a.nodeId)
    expect(stats.actors.map(actor => actor.name)).toEqual(expect.arrayContaining(['echo', 'relay']))
    expect(stats.admin.requests).toBeGreaterThanOrEqual(1)
    expect(code).toBe(0)
  })

  it('finds a node by --node in the default admin directory', async () => {
    const { stdout } = await kadmesh(['stats', '--node', a.nodeId], env)
    expect((JSON.parse(stdout) as { nodeId: string }).nodeId).toBe(a.nodeId)
  })

  it('an admin socket nobody serves is MESH_ERR_UNREACHABLE, exit 1', async () => {
    const { code, stderr } = await kadmesh(['stats', '--admin', join(runtime, 'nobody.sock')])
    expect(stderr).toMatch(errorLine('MESH_ERR_UNREACHABLE'))
    expect(code).toBe(1)
  })
})

describe('kadmesh node options', () => {
  afterEach(killKadmesh)

  it('--config sets createMesh options (its key path relative to the file); flags override it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kadmesh-config-'))
    const { nodeId } = JSON.parse((await kadmesh(['keygen', join(dir, 'node.key')])).stdout) as { nodeId: string }
    await writeFile(join(dir, 'node.json'), JSON.stringify({ privateKey: 'node.key', listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], reachability: 'outbound-only', timeout: 5_000 }))
    const node = await startNode(['--config', join(dir, 'node.json'), '--reachability', 'public', '--no-admin'], env)
    expect(node.nodeId).toBe(nodeId)
    // the flag won over the file's outbound-only: the node listens
    expect(node.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/udp\/\d+\/quic-v1\//)
    expect(node.admin).toBeNull()
  })

  it.each([
    ['a config option out of bounds', async (dir: string) => {
      await writeFile(join(dir, 'bad.json'), '{"timeout": 0}')
      return ['--config', join(dir, 'bad.json')]
    }, 'options.timeout'],
    ['a config file that is not JSON', async (dir: string) => {
      await writeFile(join(dir, 'bad.json'), 'timeout=5')
      return ['--config', join(dir, 'bad.json')]
    }, 'bad.json'],
    ['an actors module that does not exist', async (dir: string) => ['--actors', join(dir, 'missing.js')], 'cannot be loaded'],
    ['an actors module without a default function', async (dir: string) => {
      await writeFile(join(dir, 'actors.mjs'), 'export const x = 1\n')
      return ['--actors', join(dir, 'actors.mjs')]
    }, 'no default export'],
    ['a listen address that is no multiaddr', async () => ['--listen', 'localhost:4001'], 'localhost:4001 is not a multiaddr'],
    ['a listen address that is not QUIC', async () => ['--listen', '/ip4/127.0.0.1/tcp/4001'], 'is not a QUIC address']
  ])('%s: MESH_ERR_INVALID_OPTIONS naming it, exit 1, nothing left running', async (_what, args, named) => {
    const dir = await mkdtemp(join(tmpdir(), 'kadmesh-bad-'))
    const { code, stdout, stderr } = await kadmesh(['node', '--no-admin', ...await args(dir)])
    expect(stderr).toMatch(errorLine('MESH_ERR_INVALID_OPTIONS'))
    expect(stderr).toContain(named)
    expect(stdout).toBe('')
    expect(code).toBe(1)
  })
})

describe('stopping a node', () => {
  afterEach(killKadmesh)

  it.each(['SIGTERM', 'SIGINT'] as const)('%s stops it cleanly: exit 0, admin socket removed', async (signal) => {
    const dir = await mkdtemp(join(tmpdir(), 'kadmesh-stop-'))
    const node = await startNode([...LOOPBACK], { XDG_RUNTIME_DIR: dir })
    expect(existsSync(node.admin as string)).toBe(true)
    // the only node in its default directory: found without --admin
    const found = await kadmesh(['stats'], { XDG_RUNTIME_DIR: dir })
    expect((JSON.parse(found.stdout) as { nodeId: string }).nodeId).toBe(node.nodeId)
    node.child.kill(signal)
    expect(await node.exited).toBe(0)
    expect(node.stderr()).toContain(`kadmesh: ${signal}: stopping node ${node.nodeId}`)
    expect(node.stderr()).toContain('kadmesh: stopped')
    expect(existsSync(node.admin as string)).toBe(false)
    const none = await kadmesh(['stats'], { XDG_RUNTIME_DIR: dir })
    expect(none.stderr).toMatch(errorLine('MESH_ERR_UNREACHABLE'))
  })
})
