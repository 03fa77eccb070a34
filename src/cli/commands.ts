/** Every `kadmesh` command, by name, and the top-level help. */
import { callCommand } from './call.js'
import { routesCommand, statsCommand } from './inspect.js'
import { keygenCommand } from './keygen.js'
import { nodeCommand } from './node.js'
import { publishCommand, subscribeCommand } from './pubsub.js'
import type { Command } from './spec.js'

export const COMMANDS: ReadonlyMap<string, Command> = new Map([
  nodeCommand, callCommand, publishCommand, subscribeCommand, routesCommand, statsCommand, keygenCommand
].map(c => [c.spec.name, c]))

/** `kadmesh --help`. */
export function mainHelp (): string {
  const width = Math.max(...[...COMMANDS.keys(), 'version'].map(n => n.length)) + 2
  return [
    'usage: kadmesh <command> [options]      kadmesh <command> --help for its options',
    '',
    'commands:',
    ...[...COMMANDS.values()].map(c => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    `  ${'help'.padEnd(width)}this text (help <command>: that command's)`,
    `  ${'version'.padEnd(width)}print the version`,
    '',
    'Errors print one line, "kadmesh: <code>: <message>", on standard error; the exit status is',
    '1 for errors, 2 for usage errors. Docs: docs/operations.md.'
  ].join('\n')
}
