/** The parent's handle on a forked benchmark node (bench/server.ts, bench/routing-node.ts). */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { isToClient, type ReadyMessage, type ToServer, type Usage } from './ipc.js'

const READY_TIMEOUT_MS = 30_000
const USAGE_TIMEOUT_MS = 10_000

export interface ForkOptions {
  /** The child's script, relative to this file (compiled). Default: the RPC benchmark's server. */
  script?: string
  /** How errors name the child. */
  label?: string
  execArgv?: string[]
  env?: NodeJS.ProcessEnv
}

export class ServerProcess {
  readonly nodeId: string
  readonly addresses: string[]
  readonly pid: number
  /** Port of the server's `dgram` echo socket on 127.0.0.1. */
  readonly dgramPort: number | undefined
  readonly #child: ChildProcess
  readonly #label: string
  readonly #waiting = new Map<number, { resolve: (u: Usage) => void, reject: (e: Error) => void }>()
  #nextId = 0
  #exited: Error | undefined

  /** Set once the process has exited: why. */
  get exited (): Error | undefined { return this.#exited }

  private constructor (child: ChildProcess, ready: ReadyMessage, label: string) {
    this.#child = child
    this.#label = label
    this.nodeId = ready.nodeId
    this.addresses = ready.addresses
    this.pid = ready.pid
    this.dgramPort = ready.dgramPort
    child.on('message', (message: unknown) => {
      if (!isToClient(message) || message.type !== 'usage') return
      const waiter = this.#waiting.get(message.id)
      this.#waiting.delete(message.id)
      waiter?.resolve({ cpuUs: message.cpu.user + message.cpu.system, rss: message.rss, heapUsed: message.heapUsed, mesh: message.mesh })
    })
    child.once('exit', (code, signal) => {
      this.#exited = new Error(`${label} (pid ${child.pid}) exited: code ${code}, signal ${signal}`)
      for (const waiter of this.#waiting.values()) waiter.reject(this.#exited)
      this.#waiting.clear()
    })
  }

  /** Forks the node with this process's Node binary (libp2p v3 needs Node ≥ 22) and waits until it listens. */
  static async start (options: ForkOptions = {}): Promise<ServerProcess> {
    const { label = 'bench server' } = options
    const script = fileURLToPath(new URL(options.script ?? './server.js', import.meta.url))
    // No inherited execArgv by default (flags such as --input-type or --cpu-prof meant for the
    // client); NODE_OPTIONS still reaches both processes.
    const child = fork(script, [], { execPath: process.execPath, execArgv: options.execArgv ?? [], env: options.env ?? process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    try {
      const ready = await new Promise<ReadyMessage>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${label} not ready after ${READY_TIMEOUT_MS} ms`)) }, READY_TIMEOUT_MS)
        child.on('message', (message: unknown) => {
          if (!isToClient(message)) return
          if (message.type === 'ready') { clearTimeout(timer); resolve(message) }
          if (message.type === 'failed') { clearTimeout(timer); reject(new Error(`${label} failed: ${message.message}`)) }
        })
        child.once('error', (err) => { clearTimeout(timer); reject(err) })
        child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${label} exited before ready: code ${code}, signal ${signal}`)) })
      })
      return new ServerProcess(child, ready, label)
    } catch (err) {
      await stopChild(child)
      throw err
    }
  }

  /** The node's cumulative CPU time, current memory and mesh stats. */
  async usage (): Promise<Usage> {
    if (this.#exited !== undefined) throw this.#exited
    const id = this.#nextId++
    return new Promise<Usage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`${this.#label} did not report its usage within ${USAGE_TIMEOUT_MS} ms`))
      }, USAGE_TIMEOUT_MS)
      this.#waiting.set(id, {
        resolve: (u) => { clearTimeout(timer); resolve(u) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      const request: ToServer = { type: 'usage', id }
      this.#child.send(request)
    })
  }

  /** Stops the child by its pid: SIGTERM, then SIGKILL if it has not exited within 3 s. */
  async stop (): Promise<void> {
    await stopChild(this.#child)
  }
}

export async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, 3_000) })
  const timedOut = await Promise.race([exited.then(() => false), late])
  clearTimeout(timer)
  if (timedOut) {
    child.kill('SIGKILL')
    await exited
  }
}
