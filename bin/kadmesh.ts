#!/usr/bin/env node
/**
 * The kadmesh command line (the package's bin). The commands live in src/cli/; this file only
 * connects them to the process: standard streams, environment, signals, exit status.
 */
import { runCli } from '../src/cli/main.js'

let firstSignal: Promise<string> | undefined

/** The first SIGINT/SIGTERM stops the command cleanly; a second one exits at once. */
function stopSignal (): Promise<string> {
  firstSignal ??= new Promise(resolve => {
    const onSignal = (signal: string): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.once('SIGINT', forceExit)
      process.once('SIGTERM', forceExit)
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  return firstSignal
}

function forceExit (signal: string): void {
  process.stderr.write(`kadmesh: ${signal} again: exiting without a clean stop\n`)
  process.exit(1)
}

// a closed pipe (`kadmesh subscribe … | head`) ends the command quietly
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0) })

process.exitCode = await runCli(process.argv.slice(2), {
  out: line => { process.stdout.write(line + '\n') },
  err: line => { process.stderr.write(line + '\n') },
  env: process.env,
  cwd: process.cwd(),
  stopSignal
})
// libp2p may leave timers behind after stop; a command that is done exits
process.exit()
