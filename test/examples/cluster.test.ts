import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../dist/examples/cluster/main.js', import.meta.url))

describe('the npm start cluster demo', () => {
  it('runs six node processes, calls through gateways, recovers from a killed gateway, passes every check and exits 0 (quick mode)', async () => {
    expect(existsSync(script), 'run `npm run build` first (npm test does)').toBe(true)
    const child = spawn(process.execPath, [script, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const code = await new Promise(resolve => child.once('exit', resolve))
    expect(out).toMatch(/^kadmesh cluster: 6 nodes in 6 processes/m)
    expect(out).toMatch(/^ {2}ok {3}app {5}→ edge-1 {2}kv\.put {7}app → (\S+ → )*gw-[ab] → edge-1 /m)
    expect(out).toMatch(/SIGKILL gw-[ab] \(pid \d+\)/)
    expect(out).toMatch(/recovered: app → .*gw-[ab] → edge-1/)
    expect(out).toMatch(/^ {2}calls .* 0 failed otherwise$/m)
    const [, passed, total] = /^ {2}checks +(\d+) of (\d+) passed$/m.exec(out) ?? []
    expect(Number(total)).toBeGreaterThanOrEqual(10)
    expect(passed).toBe(total)
    expect(out).not.toMatch(/FAIL/)
    expect(code).toBe(0)
  }, 120_000)
})
