/** What the demo prints and checks, kept apart from the processes: pure functions and a tally. */
import { formatJson } from '../../src/cli/json.js'

/** The demo's checks: each passes or fails with a reason; the exit code follows them. */
export class Checks {
  readonly #results: Array<{ name: string, ok: boolean, detail: string }> = []

  check (name: string, ok: boolean, detail = ''): boolean {
    this.#results.push({ name, ok, detail })
    return ok
  }

  get passed (): number { return this.#results.filter(r => r.ok).length }
  get total (): number { return this.#results.length }
  get failures (): Array<{ name: string, detail: string }> { return this.#results.filter(r => !r.ok) }
}

/** The p-th percentile (0–100) of sorted numbers; NaN when there are none. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** A duration for people: `0.42 ms`, `38 ms`, `5.11 s`. */
export function ms (value: number): string {
  if (Number.isNaN(value)) return '—'
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(0)} ms`
}

export function count (value: number): string {
  return Math.round(value).toLocaleString('en')
}

/** A value, short enough for one line: bytes as hex, the rest as the CLI prints it. */
export function show (value: unknown, width = 40): string {
  if (value === undefined) return '(no value)'
  const text = value instanceof Uint8Array ? `<${value.byteLength} bytes ${Buffer.from(value.subarray(0, 8)).toString('hex')}…>` : formatJson(value)
  return text.length > width ? `${text.slice(0, width - 1)}…` : text
}

/** A path of node ids as names: `app → gw-a → edge-1`. */
export function route (path: readonly string[], nameOf: (id: string) => string): string {
  return path.map(nameOf).join(' → ')
}
