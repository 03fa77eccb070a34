import { defineConfig } from 'vitest/config'

/** Tests that need the machine to themselves: they run after all others, alone. */
const alone = ['test/routing/limited-mesh.test.ts']

const shared = {
  testTimeout: 30_000,
  hookTimeout: 30_000,
  // real libp2p nodes on 2 cores: a few files at a time keeps timings sane
  maxWorkers: 2
}

export default defineConfig({
  test: {
    // CI reads the totals from the JSON report (.ci/run prints "N passed, N failed")
    reporters: process.env.CI !== undefined ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    projects: [
      { test: { ...shared, name: 'tests', include: ['test/**/*.test.ts'], exclude: alone } },
      // the 40-node mesh takes both cores; sharing them slows its discovery into timeouts and
      // starves the multi-process tests next to it
      { test: { ...shared, name: 'alone', include: alone, sequence: { groupOrder: 1 } } }
    ]
  }
})
