import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The built CLI, run as a user runs it: `node dist/bin/kadmesh.js …`. */
export const KADMESH = fileURLToPath(new URL('../../dist/bin/kadmesh.js', import.meta.url))
export const ACTORS = fileURLToPath(new URL('../../dist/test/fixtures/cli-actors.js', import.meta.url))
/** Longest a one-shot command may run in a test before it is killed (it never should be). */
const COMMAND_LIMIT = 30_000

const running = new Set<ChildProcess>()

function spawnKadmesh (args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  if (!existsSync(KADMESH)) throw new Error(`${KADMESH} is missing: run \`npm run build\` first (npm test does)`)
  const child = spawn(process.execPath, [KADMESH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

export interface Outcome { code: number | null, stdout: string, stderr: string }

/** Runs one kadmesh command to its end. */
export async function kadmesh (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const child = spawnKadmesh(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const limit = setTimeout(() => { child.kill('SIGKILL') }, COMMAND_LIMIT)
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(limit)
  return { code, stdout, stderr }
}

/** A kadmesh command running in the background. */
export interface RunningCommand {
  child: ChildProcess
  /** Standard output and error so far. */
  stdout: () => string
  stderr: () => string
  /** Resolves with the first line of standard output (rejects if the process exits first). */
  firstLine: Promise<string>
  /** Resolves once standard error holds a line matching `pattern` (rejects if the process exits first). */
  stderrLine: (pattern: RegExp) => Promise<string>
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
}

/** Starts a kadmesh command without waiting for it to end. */
export function startKadmesh (args: string[], env: NodeJS.ProcessEnv = {}): RunningCommand {
  const child = spawnKadmesh(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  const beforeExit = <T>(what: string, found: (resolve: (value: T) => void) => void): Promise<T> => new Promise<T>((resolve, reject) => {
    void exited.then(code => { reject(new Error(`kadmesh ${args[0]} exited with ${code} before ${what}: ${stderr}`)) })
    found(resolve)
  })
  const firstLine = beforeExit<string>('its first line', resolve => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
  })
  const stderrLine = (pattern: RegExp): Promise<string> => beforeExit<string>(`printing ${pattern}`, resolve => {
    const already = stderr.split('\n').find(line => pattern.test(line))
    if (already !== undefined) return resolve(already)
    const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream })
    lines.on('line', line => { if (pattern.test(line)) { lines.close(); resolve(line) } })
  })
  firstLine.catch(() => {})
  return { child, stdout: () => stdout, stderr: () => stderr, firstLine, stderrLine, exited }
}

export interface RunningNode extends RunningCommand {
  nodeId: string
  addresses: string[]
  admin: string | null
}

/** Starts `kadmesh node …` and resolves once it has printed its JSON line. */
export async function startNode (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningNode> {
  const command = startKadmesh(['node', ...args], env)
  const info = JSON.parse(await command.firstLine) as { nodeId: string, addresses: string[], admin: string | null }
  return { ...command, ...info }
}

/** Kills (SIGKILL, by PID) every kadmesh process a test started and left running; for afterEach. */
export function killKadmesh (): void {
  for (const child of running) child.kill('SIGKILL')
}
