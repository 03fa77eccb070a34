/** The `kadmesh` command line: dispatch, help, and the one-line error format. */
import { readFileSync } from 'node:fs'
import { MeshError, UsageError } from '../errors.js'
import { COMMANDS, mainHelp } from './commands.js'
import type { Io } from './io.js'
import { type Command, commandHelp, parseCommand, type ParsedCommand } from './spec.js'

/** What a command line asks for: text to print (help, version), or a command to run. */
export type CommandLine = { print: () => string } | { command: Command, parsed: ParsedCommand }

/** Parses a command line (without `node` and the script); bad input is a UsageError. Pure. */
export function parseCommandLine (argv: readonly string[]): CommandLine {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const help = helpFor(rest[0])
    return { print: () => help }
  }
  if (name === 'version' || name === '--version') return { print: version }
  const command = COMMANDS.get(name)
  if (command === undefined) throw new UsageError(`unknown command ${name}; see kadmesh --help`)
  const parsed = parseCommand(command.spec, rest)
  if (parsed.help) return { print: () => commandHelp(command.spec) }
  return { command, parsed }
}

/** Runs one command line (without `node` and the script) and resolves to the exit status. */
export async function runCli (argv: readonly string[], io: Io): Promise<number> {
  try {
    const line = parseCommandLine(argv)
    if ('print' in line) {
      io.out(line.print())
      return 0
    }
    return await line.command.run(line.parsed, io)
  } catch (err) {
    io.err(errorLine(err))
    return err instanceof UsageError ? 2 : 1
  }
}

/** `kadmesh: <code>: <message>`, on one line; names the node that raised a remote error. */
export function errorLine (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown, node?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : 'MESH_ERR_INTERNAL'
  let message = typeof e?.message === 'string' ? e.message : String(err)
  if (err instanceof MeshError && err.node !== undefined && !message.includes(err.node)) message += ` (node ${err.node})`
  return `kadmesh: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}`
}

function helpFor (name: string | undefined): string {
  if (name === undefined) return mainHelp()
  const command = COMMANDS.get(name)
  if (command === undefined) throw new UsageError(`unknown command ${name}; see kadmesh --help`)
  return commandHelp(command.spec)
}

function version (): string {
  // dist/src/cli/main.js → the package's package.json
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
