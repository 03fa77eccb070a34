import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // real libp2p nodes on 2 cores: a few files at a time keeps timings sane
    maxWorkers: 2,
    // CI reads the totals from the JSON report (.ci/run prints "N passed, N failed")
    reporters: process.env.CI !== undefined ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' }
  }
})
