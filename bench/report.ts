/** Turns measurements into the printed table, the target checks and the JSON document. */
import { type BenchConfig, SCENARIO_TITLES, type ScenarioName } from './config.js'
import type { Measurement, PairedLatency } from './rpc.js'
import { formatBytes, formatMb, formatRate, formatUs, renderTable } from './stats.js'

export type Verdict = 'PASS' | 'MISS' | 'n/a'

export interface TargetCheck {
  target: string
  value: number | undefined
  unit: string
  /** The value must be at most / at least this. */
  limit: number
  direction: 'max' | 'min'
  verdict: Verdict
  /** Why the verdict is n/a, or what went into the value. */
  note?: string
}

export function resultsTable (rows: Measurement[], inflight: number): string {
  const header = [
    'scenario', 'payload', 'p50 µs', 'p99 µs', `calls/s (${inflight} in flight)`,
    'CPU µs/call client', 'server', 'total', 'RSS MB client', 'server', 'other procs (cores)', 'note'
  ]
  const body = rows.map(m => [
    m.scenario,
    formatBytes(m.payload),
    formatUs(m.latency?.p50),
    formatUs(m.latency?.p99),
    formatRate(m.throughput?.callsPerSecond),
    formatUs(m.throughput?.cpuUsPerCall.client),
    formatUs(m.throughput?.cpuUsPerCall.server),
    formatUs(m.throughput?.cpuUsPerCall.total),
    formatMb(m.rss?.client),
    formatMb(m.rss?.server),
    `${formatCores(m.latency?.otherCores)} / ${formatCores(m.throughput?.otherCores)}`,
    m.error ?? m.notes?.join('; ') ?? ''
  ])
  return renderTable([header, ...body], new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
}

/** The interleaved kadmesh/raw-reused latency run, next to the difference of the two separate rows. */
export function pairedTable (paired: PairedLatency[], rows: Measurement[]): string {
  const header = ['payload', 'kadmesh p50 µs', 'raw-reused p50 µs', 'Δ p50 µs', 'kadmesh p99 µs', 'raw-reused p99 µs', 'Δ p50 of the separate rows', 'other procs (cores)', 'note']
  const body = paired.map(p => {
    const k = find(rows, 'kadmesh', p.payload)?.latency?.p50
    const r = find(rows, 'raw-reused', p.payload)?.latency?.p50
    return [
      formatBytes(p.payload),
      formatUs(p.kadmesh?.p50),
      formatUs(p.rawReused?.p50),
      p.deltaP50 === undefined ? '-' : p.deltaP50.toFixed(1),
      formatUs(p.kadmesh?.p99),
      formatUs(p.rawReused?.p99),
      k !== undefined && r !== undefined ? (k - r).toFixed(1) : '-',
      formatCores(p.otherCores),
      p.error ?? ''
    ]
  })
  return renderTable([header, ...body], new Set([0, 1, 2, 3, 4, 5, 6, 7]))
}

export function scenarioLegend (names: ScenarioName[]): string {
  return names.map(n => `  ${n.padEnd(10)} ${SCENARIO_TITLES[n]}`).join('\n')
}

function find (rows: Measurement[], scenario: ScenarioName, payload: number): Measurement | undefined {
  return rows.find(m => m.scenario === scenario && m.payload === payload)
}

function check (target: string, value: number | undefined, unit: string, limit: number, direction: 'max' | 'min', missing: string): TargetCheck {
  if (value === undefined || Number.isNaN(value)) return { target, value: undefined, unit, limit, direction, verdict: 'n/a', note: missing }
  const ok = direction === 'max' ? value <= limit : value >= limit
  return { target, value, unit, limit, direction, verdict: ok ? 'PASS' : 'MISS' }
}

/** The targets, computed from this run's rows only. */
export function checkTargets (rows: Measurement[], paired: PairedLatency[], config: BenchConfig): TargetCheck[] {
  const checks: TargetCheck[] = []
  const notMeasured = (what: string): string => `not measured in this run (${what})`

  for (const payload of config.payloads) {
    const delta = paired.find(p => p.payload === payload)?.deltaP50
    checks.push(check(`kadmesh p50 − raw-reused p50 @ ${formatBytes(payload)} (interleaved)`,
      delta, 'µs', 20, 'max', notMeasured('needs kadmesh and raw-reused')))
  }
  checks.push(check('kadmesh calls/s @ 64 B', find(rows, 'kadmesh', 64)?.throughput?.callsPerSecond,
    'calls/s', 160_000, 'min', notMeasured('needs kadmesh at 64 B')))
  checks.push(check('kadmesh calls/s @ 1 KiB', find(rows, 'kadmesh', 1024)?.throughput?.callsPerSecond,
    'calls/s', 60_000, 'min', notMeasured('needs kadmesh at 1 KiB')))
  const k64 = find(rows, 'kadmesh', 65536)?.throughput?.callsPerSecond
  const r64 = find(rows, 'raw-reused', 65536)?.throughput?.callsPerSecond
  checks.push(check('kadmesh ÷ raw-reused calls/s @ 64 KiB', k64 !== undefined && r64 !== undefined && r64 > 0 ? k64 / r64 : undefined,
    '×', 2, 'min', notMeasured('needs kadmesh and raw-reused at 64 KiB')))
  for (const payload of config.payloads) {
    checks.push(check(`local calls/s @ ${formatBytes(payload)}`, find(rows, 'local', payload)?.throughput?.callsPerSecond,
      'calls/s', 2_000_000, 'min', notMeasured('needs local')))
  }
  return checks
}

export function targetsTable (checks: TargetCheck[]): string {
  const header = ['target', 'value', 'limit', 'verdict']
  const body = checks.map(c => [
    c.target,
    c.value === undefined ? '-' : `${formatValue(c.value, c.unit)} ${c.unit}`,
    `${c.direction === 'max' ? '≤' : '≥'} ${formatValue(c.limit, c.unit)} ${c.unit}`,
    c.verdict === 'n/a' ? `n/a: ${c.note ?? ''}` : c.verdict
  ])
  return renderTable([header, ...body], new Set([1, 2]))
}

function formatCores (cores: number | undefined): string {
  return cores === undefined ? '-' : cores.toFixed(2)
}

function formatValue (value: number, unit: string): string {
  if (unit === '×') return value.toFixed(2)
  if (unit === 'µs') return value.toFixed(1)
  return formatRate(value)
}
