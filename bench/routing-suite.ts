/**
 * Runs the routing benchmark (dist/bench/routing.js) as a process of its own, for `npm run bench`
 * (bench/run.ts): its nodes, child processes and native handles then cannot outlive it or skew the
 * RPC comparison. Resolves to its exit code; SIGINT/SIGTERM are passed on to it by its pid.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export async function runRoutingSuite (): Promise<number> {
  return runSuiteProcess('routing.js')
}

/** Runs `dist/bench/<file>` as a process of its own (see above); resolves to its exit code. */
export async function runSuiteProcess (file: string): Promise<number> {
  const script = fileURLToPath(new URL(`./${file}`, import.meta.url))
  const child = spawn(process.execPath, [script], { stdio: 'inherit', env: process.env })
  const forward = (signal: NodeJS.Signals): void => { if (child.exitCode === null) child.kill(signal) }
  const onInt = (): void => { forward('SIGINT') }
  const onTerm = (): void => { forward('SIGTERM') }
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  try {
    return await new Promise<number>((resolve) => {
      child.once('error', (err) => { console.error(`${file} could not start: ${err.message}`); resolve(1) })
      child.once('exit', (code, signal) => { resolve(code ?? (signal === null ? 1 : 128 + 2)) })
    })
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
  }
}
