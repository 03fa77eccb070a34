/**
 * The admin endpoint of a running `kadmesh node`: a Unix domain socket (mode 0600, in a private
 * directory by default) speaking JSON lines. A request is `{"id": 1, "command": "stats"}`; the
 * answer is `{"id": 1, "result": …}` or `{"id": 1, "error": {"code": …, "message": …}}`. Read only:
 * the commands report state, none changes it. Decisions and limits: docs/operations.md.
 */
import { lstat, mkdir, readdir, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BadRequestError, InvalidOptionsError, MeshError, OverloadedError, TimeoutError, UnreachableError, UsageError } from '../errors.js'
import { toJson } from './json.js'

/** Longest request line the server reads; a longer one is refused and the connection closed. */
export const MAX_REQUEST_BYTES = 64 * 1024
/** Admin connections served at once; more are refused with MESH_ERR_OVERLOADED. */
export const MAX_ADMIN_CONNECTIONS = 16
/** An admin connection idle this long (ms) is closed. */
const IDLE_TIMEOUT = 30_000
/** Longest answer a client reads (a route table of 10,000 entries is ~2 MB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024
/** Linux's limit for a socket path (sun_path, 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107

/** What the admin server counts; `kadmesh stats` shows it next to the mesh's own counters. */
export interface AdminStats {
  connections: number
  requests: number
  /** Requests refused: not JSON, not an object, unknown command, line too long. */
  badRequests: number
  /** Connections refused because MAX_ADMIN_CONNECTIONS were open. */
  refused: number
}

export interface AdminServerInit {
  path: string
  /** The commands, by name; each returns the result to send (tagged JSON, see json.ts). */
  commands: Readonly<Record<string, () => unknown>>
}

/** The admin socket server. */
export class AdminServer {
  readonly path: string
  readonly #server: Server
  readonly #commands: Readonly<Record<string, () => unknown>>
  readonly #sockets = new Set<Socket>()
  readonly #stats: AdminStats = { connections: 0, requests: 0, badRequests: 0, refused: 0 }

  private constructor (init: AdminServerInit) {
    this.path = init.path
    this.#commands = init.commands
    this.#server = createServer(socket => { this.#accept(socket) })
  }

  /** Listens on `init.path` (mode 0600); a stale socket there is replaced, a live one is an error. */
  static async listen (init: AdminServerInit): Promise<AdminServer> {
    await clearStaleSocket(init.path)
    const admin = new AdminServer(init)
    // the socket is created with the process umask: make it 0600 from the start, not after a chmod
    const umask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        admin.#server.once('error', reject)
        admin.#server.listen(init.path, () => { admin.#server.off('error', reject); resolve() })
      })
    } catch (err) {
      throw new InvalidOptionsError(`cannot listen on admin socket ${init.path}: ${(err as Error).message}`)
    } finally {
      process.umask(umask)
    }
    return admin
  }

  stats (): AdminStats {
    return { ...this.#stats, connections: this.#sockets.size }
  }

  /** Stops listening, closes open admin connections and removes the socket file. Idempotent. */
  async close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    if (!this.#server.listening) return
    await new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
  }

  #accept (socket: Socket): void {
    socket.on('error', () => {})
    socket.setTimeout(IDLE_TIMEOUT, () => { socket.destroy() })
    if (this.#sockets.size >= MAX_ADMIN_CONNECTIONS) {
      this.#stats.refused++
      socket.end(answerLine(null, new OverloadedError(`more than ${MAX_ADMIN_CONNECTIONS} admin connections`)), () => { socket.destroy() })
      return
    }
    this.#sockets.add(socket)
    socket.once('close', () => { this.#sockets.delete(socket) })
    let pending = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      pending += chunk
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        if (line.trim() !== '') socket.write(this.#answer(line))
      }
      if (Buffer.byteLength(pending) > MAX_REQUEST_BYTES) {
        this.#stats.badRequests++
        socket.removeAllListeners('data')
        socket.end(answerLine(null, new BadRequestError(`request line longer than ${MAX_REQUEST_BYTES} bytes`)), () => { socket.destroy() })
      }
    })
  }

  #answer (line: string): string {
    this.#stats.requests++
    let id: unknown = null
    try {
      let request: unknown
      try {
        request = JSON.parse(line)
      } catch {
        throw new BadRequestError('request is not JSON')
      }
      if (request === null || typeof request !== 'object' || Array.isArray(request)) throw new BadRequestError('request must be a JSON object')
      const { id: given, command } = request as { id?: unknown, command?: unknown }
      id = given ?? null
      if (typeof command !== 'string' || !Object.hasOwn(this.#commands, command)) {
        throw new BadRequestError(`unknown command ${JSON.stringify(command)}; known: ${Object.keys(this.#commands).join(', ')}`)
      }
      return JSON.stringify({ id: toJson(id), result: toJson(this.#commands[command]()) }) + '\n'
    } catch (err) {
      if (err instanceof BadRequestError) this.#stats.badRequests++
      return answerLine(id, err)
    }
  }
}

function answerLine (id: unknown, err: unknown): string {
  const code = err instanceof MeshError ? err.code : 'MESH_ERR_REMOTE'
  return JSON.stringify({ id: toJson(id), error: { code, message: (err as Error).message } }) + '\n'
}

/**
 * Sends one command to the admin socket at `path` and resolves to its result. No node there is
 * MESH_ERR_UNREACHABLE; an error answer is rebuilt as a MeshError with its code.
 */
export async function adminRequest (path: string, command: string, timeout = 5_000): Promise<unknown> {
  const socket = createConnection(path)
  socket.setEncoding('utf8')
  const timer = setTimeout(() => { socket.destroy(new TimeoutError(`no answer from the admin socket ${path} within ${timeout} ms`)) }, timeout)
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let received = ''
      socket.once('connect', () => { socket.write(JSON.stringify({ id: 1, command }) + '\n') })
      socket.on('data', (chunk: string) => {
        received += chunk
        const newline = received.indexOf('\n')
        if (newline >= 0) resolve(received.slice(0, newline))
        else if (received.length > MAX_ANSWER_BYTES) reject(new BadRequestError(`answer from ${path} is larger than ${MAX_ANSWER_BYTES} bytes`))
      })
      socket.once('error', err => { reject(connectError(path, err)) })
      socket.once('close', () => { reject(new UnreachableError(`the admin socket ${path} closed without answering`)) })
    })
    const answer = JSON.parse(line) as { result?: unknown, error?: { code: string, message: string } }
    if (answer.error !== undefined) throw new MeshError(answer.error.code, answer.error.message)
    return answer.result
  } finally {
    clearTimeout(timer)
    socket.destroy()
  }
}

function connectError (path: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return new UnreachableError(`no kadmesh node is listening on ${path}`)
  if (code === 'EACCES') return new InvalidOptionsError(`${path}: permission denied (the admin socket is for the user running the node)`)
  return err
}

/**
 * The directory holding admin sockets by default: `$XDG_RUNTIME_DIR/kadmesh`, else
 * `<tmpdir>/kadmesh-<uid>` (the same place tmux keeps its sockets, for the same reasons).
 */
export function adminDirectory (env: NodeJS.ProcessEnv): string {
  const runtime = env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '') return join(runtime, 'kadmesh')
  return join(tmpdir(), `kadmesh-${process.getuid?.() ?? 'user'}`)
}

/** The default admin socket of node `nodeId`, in a private (0700) directory created if missing. */
export async function defaultAdminPath (env: NodeJS.ProcessEnv, nodeId: string): Promise<string> {
  const dir = adminDirectory(env)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const info = await lstat(dir)
  const uid = process.getuid?.()
  if (!info.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0) {
    throw new InvalidOptionsError(`${dir} must be a directory only its owner (this user) can use (mode 0700); fix it or pass --admin <path>`)
  }
  return checkSocketPath(join(dir, `${nodeId}.sock`))
}

/**
 * Finds the admin socket a command should talk to: `--admin <path>` as given; `--node <id>` in the
 * default directory; otherwise the one live socket in the default directory.
 */
export async function findAdminSocket (env: NodeJS.ProcessEnv, options: { admin?: string, node?: string }): Promise<string> {
  if (options.admin !== undefined) return options.admin
  const dir = adminDirectory(env)
  if (options.node !== undefined) return join(dir, `${options.node}.sock`)
  let names: string[]
  try {
    names = (await readdir(dir)).filter(name => name.endsWith('.sock'))
  } catch {
    names = []
  }
  const live = (await Promise.all(names.map(async name => await isLive(join(dir, name)) ? name : undefined)))
    .filter(name => name !== undefined)
  if (live.length === 1) return join(dir, live[0])
  if (live.length === 0) throw new UnreachableError(`no running kadmesh node has an admin socket in ${dir}; pass --admin <path>`)
  throw new UsageError(`${live.length} nodes run here (${live.map(n => n.slice(0, -5)).join(', ')}); pick one with --node <nodeId> or --admin <path>`)
}

/** Removes a socket file nobody listens on; refuses a live socket or a file that is not a socket. */
async function clearStaleSocket (path: string): Promise<void> {
  checkSocketPath(path)
  let info
  try {
    info = await lstat(path)
  } catch {
    return
  }
  if (!info.isSocket()) throw new InvalidOptionsError(`admin socket path ${path} exists and is not a socket`)
  if (await isLive(path)) throw new InvalidOptionsError(`another process is serving the admin socket ${path}`)
  await unlink(path)
}

function checkSocketPath (path: string): string {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new InvalidOptionsError(`admin socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes; pass a shorter --admin <path>`)
  }
  return path
}

async function isLive (path: string): Promise<boolean> {
  return new Promise(resolve => {
    const socket = createConnection(path)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}
