/** Latency samples, percentiles and the text formatting of the report. Pure: no I/O. */

const MIN_US = 0.01
const MAX_US = 1e8
const GROWTH = 1.005
const LOG_GROWTH = Math.log(GROWTH)
const BUCKETS = Math.ceil(Math.log(MAX_US / MIN_US) / LOG_GROWTH) + 1

/**
 * A latency histogram with log-spaced buckets 0.5 % wide, from 0.01 µs to 100 s: constant memory
 * (so a run of millions of calls does not inflate the client's RSS, which is one of the figures
 * reported) and percentiles within 0.5 %. Min, max and mean are exact.
 */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #sum = 0
  #min = Infinity
  #max = -Infinity

  get count (): number { return this.#count }

  /** Records one latency in µs. */
  record (us: number): void {
    this.#count++
    this.#sum += us
    if (us < this.#min) this.#min = us
    if (us > this.#max) this.#max = us
    this.#counts[this.#bucket(us)]++
  }

  /** Nearest-rank percentile, `p` in (0, 100]: the midpoint of the bucket holding that rank, clamped to [min, max]. */
  percentile (p: number): number {
    if (this.#count === 0) return Number.NaN
    const rank = Math.min(this.#count, Math.max(1, Math.ceil((p / 100) * this.#count)))
    let seen = 0
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]
      if (seen >= rank) {
        const mid = MIN_US * GROWTH ** (i + 0.5)
        return Math.min(this.#max, Math.max(this.#min, mid))
      }
    }
    return this.#max
  }

  summary (): LatencySummary {
    const empty = this.#count === 0
    return {
      samples: this.#count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      min: empty ? Number.NaN : this.#min,
      max: empty ? Number.NaN : this.#max,
      mean: empty ? Number.NaN : this.#sum / this.#count
    }
  }

  #bucket (us: number): number {
    if (us <= MIN_US) return 0
    const i = Math.floor(Math.log(us / MIN_US) / LOG_GROWTH)
    return Math.min(i, this.#counts.length - 1)
  }
}

export interface LatencySummary {
  samples: number
  p50: number
  p90: number
  p99: number
  min: number
  max: number
  mean: number
}

/** `64 B`, `1 KiB`, `64 KiB`, `1.5 MiB`. */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${trim(n / 1024)} KiB`
  return `${trim(n / (1024 * 1024))} MiB`
}

/** Microseconds with sensible precision: `0.31`, `12.4`, `258`, `1,204`. */
export function formatUs (us: number | undefined): string {
  if (us === undefined || Number.isNaN(us)) return '-'
  if (us < 10) return us.toFixed(2)
  if (us < 100) return us.toFixed(1)
  return Math.round(us).toLocaleString('en-US')
}

/** Calls per second, rounded, with thousands separators. */
export function formatRate (perSecond: number | undefined): string {
  if (perSecond === undefined || Number.isNaN(perSecond)) return '-'
  return Math.round(perSecond).toLocaleString('en-US')
}

export function formatMb (bytes: number | undefined): string {
  if (bytes === undefined) return '-'
  return (bytes / (1024 * 1024)).toFixed(0)
}

function trim (n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}

/** A plain-text table: the first row is the header; columns listed in `right` are right-aligned. */
export function renderTable (rows: string[][], right: ReadonlySet<number>): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map(r => (r[col] ?? '').length)))
  const line = (r: string[]): string => r.map((cell, col) => {
    const text = cell ?? ''
    return right.has(col) ? text.padStart(widths[col]) : text.padEnd(widths[col])
  }).join('  ').trimEnd()
  const rule = widths.map(w => '-'.repeat(w)).join('  ')
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n')
}
