import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../dist/examples/demo/main.js', import.meta.url))

describe('the npm start demo', () => {
  it('runs three nodes in three processes whose calls to each other all succeed, and exits 0', async () => {
    expect(existsSync(script), 'run `npm run build` first (npm test does)').toBe(true)
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const code = await new Promise(resolve => child.once('exit', resolve))
    expect(out).toMatch(/18 of 18 calls succeeded/)
    expect(out).not.toMatch(/ERR /)
    expect(code).toBe(0)
  })
})
