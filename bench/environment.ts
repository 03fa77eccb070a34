import os from 'node:os'

/** What a benchmark's JSON result says about the machine it ran on. */
export function environment (loadBefore: string, loadAfter: string): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter
  }
}

/** The load averages (1, 5, 15 min) as printed next to the results. */
export function loadavg (): string {
  return os.loadavg().map(n => n.toFixed(2)).join(' ')
}
