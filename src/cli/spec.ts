/**
 * A small declarative layer over `node:util` parseArgs: each command declares its positionals and
 * options once; parsing, validation and the `--help` text all come from that declaration. Pure: no
 * I/O, so the docs test can parse the CLI lines in the docs with it.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.js'
import type { Io } from './io.js'
import { parseJsonArgument } from './json.js'

export interface OptionSpec {
  /** `integer` and `choice` arrive as strings and are checked (and integers converted). */
  type: 'string' | 'boolean' | 'integer' | 'choice'
  help: string
  /** Placeholder in the help text, e.g. `<multiaddr>`. */
  arg?: string
  multiple?: boolean
  required?: boolean
  short?: string
  /** For `integer`: inclusive bounds. */
  min?: number
  max?: number
  /** For `choice`: the allowed values. */
  choices?: readonly string[]
}

export interface PositionalSpec {
  name: string
  optional?: boolean
  /** Parsed as JSON with the CLI's tags (see json.ts). */
  json?: boolean
}

export interface CommandSpec {
  name: string
  summary: string
  /** A paragraph for `kadmesh <command> --help`. */
  description: string
  positionals: readonly PositionalSpec[]
  options: Readonly<Record<string, OptionSpec>>
}

export type OptionValue = string | number | boolean | string[] | undefined

/** A parsed command line: option values (integers converted) and positionals (JSON ones parsed). */
export interface ParsedCommand {
  spec: CommandSpec
  values: Record<string, OptionValue>
  positionals: unknown[]
  /** `--help` was given: nothing else was checked. */
  help: boolean
}

/** Parses a command's arguments (after the command name) as its spec says; bad input is a UsageError. */
export function parseCommand (spec: CommandSpec, args: readonly string[]): ParsedCommand {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, {
          type: o.type === 'boolean' ? 'boolean' as const : 'string' as const,
          ...(o.multiple === true ? { multiple: true } : {}),
          ...(o.short === undefined ? {} : { short: o.short })
        }])),
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    // parseArgs appends advice about `--` to unknown options; our pointer to --help is enough
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '')
    throw new UsageError(`${message} (see kadmesh ${spec.name} --help)`)
  }
  if (parsed.values.help === true) return { spec, values: {}, positionals: [], help: true }
  const positionals = checkPositionals(spec, parsed.positionals)
  const values: Record<string, OptionValue> = {}
  for (const [name, option] of Object.entries(spec.options)) {
    values[name] = checkOption(spec, name, option, parsed.values[name] as string | boolean | string[] | undefined)
  }
  return { spec, values, positionals, help: false }
}

/** The `--help` text of one command. */
export function commandHelp (spec: CommandSpec): string {
  const args = spec.positionals.map(p => p.optional === true ? `[${p.name}]` : `<${p.name}>`)
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.arg === undefined ? '' : ` ${o.arg}`}`
    const notes = [o.required === true ? 'required' : '', o.multiple === true ? 'repeatable' : ''].filter(n => n !== '')
    return [flag, notes.length > 0 ? `${o.help} (${notes.join(', ')})` : o.help]
  })
  rows.push(['-h, --help', 'this text'])
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  return [
    `usage: kadmesh ${[spec.name, ...args].join(' ')} [options]`,
    '',
    spec.description,
    '',
    'options:',
    ...rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`)
  ].join('\n')
}

function checkOption (spec: CommandSpec, name: string, option: OptionSpec, raw: string | boolean | string[] | undefined): OptionValue {
  const flag = `--${name}`
  if (raw === undefined) {
    if (option.required === true) throw new UsageError(`kadmesh ${spec.name} needs ${flag}`)
    return undefined
  }
  if (option.type === 'integer') {
    const text = raw as string
    const value = Number(text)
    const min = option.min ?? 0
    const max = option.max ?? Number.MAX_SAFE_INTEGER
    if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not ${text}`)
    return value
  }
  if (option.type === 'choice' && !(option.choices ?? []).includes(raw as string)) {
    throw new UsageError(`${flag} must be one of ${(option.choices ?? []).join(', ')}, not ${raw as string}`)
  }
  if (Array.isArray(raw) && raw.some(v => v === '')) throw new UsageError(`${flag} needs a value`)
  if (raw === '') throw new UsageError(`${flag} needs a value`)
  return raw
}

function checkPositionals (spec: CommandSpec, given: string[]): unknown[] {
  const min = spec.positionals.filter(p => p.optional !== true).length
  const max = spec.positionals.length
  if (given.length < min) {
    throw new UsageError(`kadmesh ${spec.name} needs ${spec.positionals.slice(given.length, min).map(p => `<${p.name}>`).join(' ')}`)
  }
  if (given.length > max) throw new UsageError(`kadmesh ${spec.name} takes at most ${max} argument${max === 1 ? '' : 's'}; got ${given.length}`)
  return given.map((text, i) => spec.positionals[i].json === true ? parseJsonArgument(text, `<${spec.positionals[i].name}>`) : text)
}

/** A command: its spec, and what runs it (resolves to the exit status). */
export interface Command {
  spec: CommandSpec
  run: (parsed: ParsedCommand, io: Io) => Promise<number>
}
