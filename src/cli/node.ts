/** `kadmesh node`: runs a node with an admin socket until SIGINT or SIGTERM. */
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { InvalidOptionsError, MeshError } from '../errors.js'
import { createMesh, type Mesh, type MeshInit } from '../index.js'
import { AdminServer, defaultAdminPath } from './admin.js'
import type { Io } from './io.js'
import { fromJson, type Json } from './json.js'
import { within } from '../util/within.js'
import type { Command, ParsedCommand } from './spec.js'

/** How long a node may take to stop after SIGINT/SIGTERM before the CLI gives up (ms). */
const STOP_TIMEOUT = 10_000

/** What an `--actors` module exports by default. */
type RegisterActors = (mesh: Mesh) => void | Promise<void>

export const nodeCommand: Command = {
  spec: {
    name: 'node',
    summary: 'run a node until SIGINT or SIGTERM',
    description: [
      'Starts a node, prints {"nodeId", "addresses", "admin"} as one JSON line on standard output and',
      'serves until SIGINT or SIGTERM; then calls in flight end with MESH_ERR_CLOSED, the admin socket',
      'is removed and the process exits 0. A second signal exits at once. Logs go to standard error',
      '(set DEBUG=kadmesh:* for more). Flags override the --config file.'
    ].join('\n'),
    positionals: [],
    options: {
      listen: { type: 'string', multiple: true, arg: '<multiaddr>', help: 'address to listen on (default /ip4/0.0.0.0/udp/0/quic-v1)' },
      bootstrap: { type: 'string', multiple: true, arg: '<multiaddr>', help: 'node to join through, ending in /p2p/<nodeId>' },
      key: { type: 'string', arg: '<file>', help: 'key file, created (mode 0600) when missing (default: a new key, a new node id, each start)' },
      reachability: { type: 'choice', choices: ['public', 'outbound-only'], arg: '<public|outbound-only>', help: 'outbound-only: listen nowhere, be reached through gateways (default public)' },
      actors: { type: 'string', arg: '<module>', help: 'ES module whose default export (mesh) => void registers actors' },
      config: { type: 'string', arg: '<file>', help: 'JSON file of createMesh options (docs/configuration.md)' },
      admin: { type: 'string', arg: '<path>', help: 'admin socket (default $XDG_RUNTIME_DIR/kadmesh/<nodeId>.sock, else <tmpdir>/kadmesh-<uid>/<nodeId>.sock)' },
      'no-admin': { type: 'boolean', help: 'serve no admin socket' }
    }
  },
  run: runNode
}

async function runNode ({ values }: ParsedCommand, io: Io): Promise<number> {
  // listen for SIGINT/SIGTERM from the start: one during start-up stops the node once it is up
  const stopSignal = io.stopSignal()
  const init = await meshInit(values, io.cwd)
  const register = values.actors === undefined ? undefined : await loadActors(values.actors as string, io.cwd)
  const mesh = await createMesh(init)
  let admin: AdminServer | undefined
  try {
    if (register !== undefined) await registerActors(register, mesh, values.actors as string)
    if (values['no-admin'] !== true) {
      const path = values.admin === undefined ? await defaultAdminPath(io.env, mesh.nodeId) : resolve(io.cwd, values.admin as string)
      admin = await AdminServer.listen({ path, commands: adminCommands(mesh, () => admin) })
    }
  } catch (err) {
    await mesh.stop()
    throw err
  }
  io.out(JSON.stringify({ nodeId: mesh.nodeId, addresses: mesh.addresses, admin: admin?.path ?? null }))
  const signal = await stopSignal
  io.err(`kadmesh: ${signal}: stopping node ${mesh.nodeId}`)
  await within(Promise.all([admin?.close(), mesh.stop()]), STOP_TIMEOUT, 'the node did not stop')
  io.err('kadmesh: stopped')
  return 0
}

/** The read-only commands the admin socket serves. */
function adminCommands (mesh: Mesh, admin: () => AdminServer | undefined): Record<string, () => unknown> {
  return {
    info: () => ({ nodeId: mesh.nodeId, addresses: mesh.addresses }),
    routes: () => mesh.routes(),
    stats: () => ({ ...mesh.stats(), admin: admin()?.stats() })
  }
}

/** createMesh options: the --config file, then the flags over it. Relative key paths: see docs/operations.md. */
async function meshInit (values: ParsedCommand['values'], cwd: string): Promise<MeshInit> {
  const init: MeshInit = values.config === undefined ? {} : await readConfig(resolve(cwd, values.config as string))
  if (values.listen !== undefined) init.listen = values.listen as string[]
  if (values.bootstrap !== undefined) init.bootstrap = values.bootstrap as string[]
  if (values.key !== undefined) init.privateKey = resolve(cwd, values.key as string)
  if (values.reachability !== undefined) init.reachability = values.reachability as MeshInit['reachability']
  return init
}

async function readConfig (file: string): Promise<MeshInit> {
  let config: unknown
  try {
    config = fromJson(JSON.parse(await readFile(file, 'utf8')) as Json, `--config ${file}`)
  } catch (err) {
    if (err instanceof MeshError) throw err
    throw new InvalidOptionsError(`--config ${file}: ${(err as Error).message}`)
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new InvalidOptionsError(`--config ${file} must hold a JSON object`)
  const init = config as MeshInit
  // a key file named in the config file is relative to that file, like any config file's paths
  if (typeof init.privateKey === 'string' && !isAbsolute(init.privateKey)) init.privateKey = resolve(dirname(file), init.privateKey)
  return init
}

async function loadActors (module: string, cwd: string): Promise<RegisterActors> {
  let mod: { default?: unknown }
  try {
    mod = await import(pathToFileURL(resolve(cwd, module)).href) as { default?: unknown }
  } catch (err) {
    throw new InvalidOptionsError(`--actors ${module} cannot be loaded: ${(err as Error).message}`)
  }
  if (typeof mod.default !== 'function') throw new InvalidOptionsError(`--actors ${module} has no default export function (mesh) => void`)
  return mod.default as RegisterActors
}

async function registerActors (register: RegisterActors, mesh: Mesh, module: string): Promise<void> {
  try {
    await register(mesh)
  } catch (err) {
    if (err instanceof MeshError) throw err
    throw new InvalidOptionsError(`--actors ${module} failed to register its actors: ${(err as Error).message}`)
  }
}
