/** The parent's side of the demo's node processes: fork, ask, kill, stop. */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FromNode, Request, Start } from './messages.js'
import type { NodePlan } from './topology.js'

const SCRIPT = fileURLToPath(new URL('./node.js', import.meta.url))
/** Longest the parent waits for a node to start or answer a request (ms); none should come close. */
const REQUEST_LIMIT = 60_000

type RequestBody = Request extends infer R ? R extends { id: number } ? Omit<R, 'id'> : never : never

/** A node process of the demo. */
export class NodeProcess {
  readonly plan: NodePlan
  readonly child: ChildProcess
  nodeId = ''
  addresses: string[] = []
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void }>()
  #onKill: ((path: string[]) => void) | undefined

  constructor (plan: NodePlan) {
    this.plan = plan
    // 'advanced' serialization carries Uint8Array, Map and bigint to and from the node
    this.child = fork(SCRIPT, [plan.name], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.exited = new Promise(resolve => this.child.once('exit', code => {
      for (const p of this.#pending.values()) p.reject(new Error(`${plan.name} exited`))
      this.#pending.clear()
      resolve(code)
    }))
    this.child.on('message', (message: FromNode) => { this.#onMessage(message) })
  }

  get pid (): number { return this.child.pid ?? -1 }
  get alive (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** Starts the node's mesh and resolves once it is ready. */
  async start (start: Omit<Start, 'type' | 'plan'>): Promise<void> {
    const ready = this.#expect<{ nodeId: string, addresses: string[] }>(-1)
    this.child.send({ type: 'start', plan: this.plan, ...start })
    const { nodeId, addresses } = await ready
    this.nodeId = nodeId
    this.addresses = addresses
  }

  /** Sends a request and resolves with the node's answer. */
  async ask<T> (request: RequestBody): Promise<T> {
    const id = this.#nextId++
    const answer = this.#expect<T>(id)
    this.child.send({ ...request, id })
    return answer
  }

  /** Called when the node asks for a kill (its probe). */
  onKill (handler: (path: string[]) => void): void {
    this.#onKill = handler
  }

  tell (message: { type: 'killed' | 'stop' }): void {
    if (this.child.connected) this.child.send(message)
  }

  /** SIGKILL, by PID. */
  kill (): void {
    this.child.kill('SIGKILL')
  }

  #expect<T> (id: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(id); reject(new Error(`${this.plan.name} did not answer within ${REQUEST_LIMIT} ms`)) }, REQUEST_LIMIT)
      this.#pending.set(id, {
        resolve: value => { clearTimeout(timer); resolve(value as T) },
        reject: err => { clearTimeout(timer); reject(err) }
      })
    })
  }

  #onMessage (message: FromNode): void {
    if (message.type === 'kill') {
      this.#onKill?.(message.path)
      return
    }
    const id = message.type === 'ready' ? -1 : message.id
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    if (message.type === 'failed') pending.reject(new Error(message.message))
    else pending.resolve(message.type === 'ready' ? message : message.result)
  }
}

/** Stops every live node (asks, then waits for its exit; SIGKILL if it does not exit in time). */
export async function stopAll (nodes: NodeProcess[], graceMs = 10_000): Promise<Map<string, number | null>> {
  const codes = new Map<string, number | null>()
  await Promise.all(nodes.filter(n => n.alive).map(async n => {
    n.tell({ type: 'stop' })
    const timer = setTimeout(() => { n.kill() }, graceMs)
    codes.set(n.plan.name, await n.exited)
    clearTimeout(timer)
  }))
  return codes
}
