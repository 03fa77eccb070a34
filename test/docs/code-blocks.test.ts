/**
 * The code blocks of the README and docs/ are checked: ```ts blocks type-check against the package
 * (each block is a module of its own, `kadmesh` mapped to src/index.ts); ```sh blocks' kadmesh
 * and npm command lines parse with the real parsers (the CLI's, the cluster demo's, package.json's
 * scripts); ```json blocks parse. A block right after `<!-- not-checked -->` is skipped: keep those
 * rare, for fragments that cannot stand alone. Other languages (diagrams, ```js excerpts) are text.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/main.js'
import { parseSettings } from '../../examples/cluster/settings.js'
import { shellCommands } from './shell.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const NOT_CHECKED = '<!-- not-checked -->'

interface Block { file: string, line: number, lang: string, code: string }

/** The fenced blocks of a Markdown file, except those marked not-checked. */
function blocks (file: string, text: string): Block[] {
  const out: Block[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i])
    if (open === null) continue
    const start = i
    while (++i < lines.length && !/^```\s*$/.test(lines[i]));
    let before = start - 1
    while (before >= 0 && lines[before].trim() === '') before--
    if (lines[before]?.trim() !== NOT_CHECKED) out.push({ file, line: start + 1, lang: open[1], code: lines.slice(start + 1, i).join('\n') })
  }
  return out
}

const files = ['README.md', ...(await readdir(join(root, 'docs'))).filter(f => f.endsWith('.md')).sort().map(f => `docs/${f}`)]
const all = (await Promise.all(files.map(async f => blocks(f, await readFile(join(root, f), 'utf8'))))).flat()
const scripts = Object.keys((JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)
const NPM_BUILTINS = ['install', 'i', 'ci', 'test', 'start']

/** Checks one command line from a sh block; returns what is wrong with it, or undefined. */
function checkCommand (words: string[]): string | undefined {
  const [program, ...args] = words
  try {
    if (program === 'kadmesh') parseCommandLine(args)
    else if (program === 'npx' && args[0] === 'kadmesh') parseCommandLine(args.slice(1))
    else if (/^(node|node_modules\/\.bin\/node)$/.test(program) && /kadmesh\.js$/.test(args[0] ?? '')) parseCommandLine(args.slice(1))
    else if (/^(node|node_modules\/\.bin\/node)$/.test(program) && /cluster\/main\.js$/.test(args[0] ?? '')) parseSettings(args.slice(1))
    else if (program === 'npm') {
      const [sub, ...rest] = args
      if (sub === 'run' && !scripts.includes(rest[0])) return `npm run ${rest[0]}: no such script in package.json`
      if (sub !== 'run' && !NPM_BUILTINS.includes(sub)) return `npm ${sub}: not a command these docs should use`
      if (sub === 'start' && rest[0] === '--') parseSettings(rest.slice(1))
    }
  } catch (err) {
    return (err as Error).message.split('\n')[0]
  }
  return undefined
}

describe('the code blocks in README.md and docs/', () => {
  it('has blocks to check (the extraction works)', () => {
    expect(all.filter(b => b.lang === 'ts').length).toBeGreaterThan(0)
    expect(all.filter(b => b.lang === 'sh').length).toBeGreaterThan(0)
  })

  it('sh blocks: every kadmesh and npm command line parses', () => {
    const wrong: string[] = []
    for (const block of all.filter(b => ['sh', 'bash', 'shell'].includes(b.lang))) {
      for (const words of shellCommands(block.code)) {
        const problem = checkCommand(words)
        if (problem !== undefined) wrong.push(`${block.file}:${block.line}: ${words.join(' ')}: ${problem}`)
      }
    }
    expect(wrong, 'a command line in the docs does not parse').toEqual([])
  })

  it('json blocks parse', () => {
    const wrong = all.filter(b => b.lang === 'json').flatMap(b => {
      try {
        JSON.parse(b.code)
        return []
      } catch (err) {
        return [`${b.file}:${b.line}: ${(err as Error).message}`]
      }
    })
    expect(wrong).toEqual([])
  })

  describe('ts blocks', () => {
    const cache = join(root, 'node_modules', '.cache', 'kadmesh-doc-blocks')
    let dir: string | undefined
    afterAll(async () => { if (dir !== undefined) await rm(dir, { recursive: true, force: true }) })

    it('type-check against the package', async () => {
      await mkdir(cache, { recursive: true })
      dir = await mkdtemp(join(cache, 'run-'))
      const ts = all.filter(b => b.lang === 'ts')
      const names = ts.map((b, i) => `${b.file.replace(/\W/g, '_')}_${b.line}_${i}.mts`)
      await Promise.all(ts.map(async (b, i) => writeFile(join(dir as string, names[i]), b.code)))
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2024', 'ESNext.Disposable'],
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          paths: { kadmesh: [join(root, 'src', 'index.ts')] }
        },
        files: names
      }))
      const tsc = spawn(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      tsc.stdout.on('data', (d: Buffer) => { out += d.toString() })
      tsc.stderr.on('data', (d: Buffer) => { out += d.toString() })
      const code = await new Promise(resolve => tsc.once('exit', resolve))
      // name the Markdown file and line of each error, not the temp file
      const report = out.replace(/([\w.]+\.mts)\((\d+),(\d+)\)/g, (_m, name: string, line: string) => {
        const b = ts[names.indexOf(name)]
        return b === undefined ? _m : `${b.file}:${b.line + Number(line)}`
      })
      expect(report, 'a ts block in the docs does not compile: fix it, or mark a fragment with <!-- not-checked --> on the line before').toBe('')
      expect(code).toBe(0)
    }, 120_000)
  })
})
