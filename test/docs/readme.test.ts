import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The ```ts blocks of a Markdown file. */
async function tsBlocks (file: string): Promise<string[]> {
  const text = await readFile(join(root, file), 'utf8')
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1])
}

/** Runs a TypeScript snippet with Node's type stripping, `kadmesh` resolved to the build. */
async function runSnippet (code: string): Promise<{ code: number | null, out: string }> {
  const entry = pathToFileURL(join(root, 'dist/src/index.js')).href
  const file = join(await mkdtemp(join(tmpdir(), 'kadmesh-doc-')), 'snippet.mts')
  await writeFile(file, code.replaceAll("from 'kadmesh'", `from '${entry}'`))
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exit = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code: exit, out }
}

describe('the README', () => {
  it('has a first example that runs and prints what it says', async () => {
    const [example] = await tsBlocks('README.md')
    expect(example).toContain("import { createMesh } from 'kadmesh'")
    const { code, out } = await runSnippet(example)
    expect(out).toContain("Map(1) { 1 => 'one' }")
    expect(code).toBe(0)
  })

  it('has a subscription example that runs and prints what it says', async () => {
    const example = (await tsBlocks('README.md')).find(block => block.includes('.subscribe('))
    expect(example).toBeDefined()
    const { code, out } = await runSnippet(example as string)
    expect(out).toContain('sensors/kitchen { c: 21.5 } true 1')
    expect(code).toBe(0)
  })
})
