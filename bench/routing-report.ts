/** The routing benchmark's printed tables and target checks. Pure: no I/O. */
import type { TargetCheck } from './report.js'
import type { RoutingConfig } from './routing-config.js'
import type { LineResult } from './routing-line.js'
import type { ColdResult, MeshBuild, SteadyRow } from './routing-mesh.js'
import type { WarmResult } from './routing-warm.js'
import { formatRate, formatUs, renderTable } from './stats.js'
import type { SmallSummary } from './routing-util.js'

export interface RoutingResults {
  warm?: WarmResult
  build?: MeshBuild
  cold?: ColdResult
  line?: LineResult
  steady?: SteadyRow[]
}

/** Forwarding adds at most this to p50, per hop (µs). */
export const HOP_P50_LIMIT_US = 100
/** Routed throughput at least this share of direct. */
export const ROUTED_THROUGHPUT_SHARE = 0.5
/** Warm resolution at most this (ns). */
export const WARM_LIMIT_NS = 1_000
/** Share of calls to known nodes with no resolution and no DHT query. */
export const STEADY_SHARE = 0.99

export function warmTable (warm: WarmResult): string {
  const baseline = warm.ops.find(o => o.name.startsWith('libp2p peerRouting.findPeer'))
  const header = ['operation', 'ns/op (median batch)', 'min', 'max', 'batches × ops', 'findPeer ÷ this', 'what']
  const body = warm.ops.map(o => [
    o.name,
    ns(o.nsPerOp),
    ns(o.minNsPerOp),
    ns(o.maxNsPerOp),
    `${o.batches} × ${o.opsPerBatch.toLocaleString('en-US')}`,
    baseline === undefined || o === baseline ? '' : `${(baseline.nsPerOp / o.nsPerOp).toFixed(0)}×`,
    o.what
  ])
  return renderTable([header, ...body], new Set([1, 2, 3, 4, 5]))
}

export function buildLine (b: MeshBuild): string {
  return `${b.nodes} nodes in this process, started in ${b.buildSeconds.toFixed(1)} s, ` +
    `${b.settled ? 'settled' : 'NOT settled (tables still changing)'} after ${b.settleSeconds.toFixed(1)} s more; ` +
    `DHT routing table ${range(b.routingTable)}, connections ${range(b.connections)} (min/median/max per node)`
}

export function coldTable (cold: ColdResult): string {
  const header = ['resolution', 'ok', 'median ms', 'p90 ms', 'max ms', 'DHT hops med/p90/max', 'peers answered (median)', 'of which DHT lookup ms med/p90', 'path taken']
  const body = cold.rows.map(r => [
    r.kind,
    `${r.ok}/${r.samples}`,
    ms(r.ms.median),
    ms(r.ms.p90),
    ms(r.ms.max),
    r.hops === undefined ? '' : `${r.hops.median ?? '-'} / ${r.hops.p90 ?? '-'} / ${r.hops.max ?? '-'}`,
    r.peersQueried?.median === undefined ? '' : String(r.peersQueried.median),
    r.dhtMs === undefined || r.dhtMs.n === 0 ? '' : `${ms(r.dhtMs.median)} / ${ms(r.dhtMs.p90)} (${r.dhtMs.n} calls)`,
    r.via === undefined ? '' : Object.entries(r.via).map(([k, v]) => `${k}: ${v}`).join('; ')
  ])
  return renderTable([header, ...body], new Set([1, 2, 3, 4]))
}

export function lineTable (line: LineResult): string {
  const direct = line.routes.find(r => r.hops === 1)
  const header = ['route', 'path', 'p50 µs', 'p99 µs', 'Δ p50 vs one hop fewer', 'calls/s', '÷ direct', 'CPU µs/call A', 'B', 'C', 'D', 'total', 'other procs (cores)', 'note']
  const body = line.routes.map(r => {
    const fewer = line.routes.find(x => x.hops === r.hops - 1)
    const cpu = r.throughput?.cpuUsPerCall
    return [
      r.name,
      r.path.join(' → '),
      formatUs(r.latency?.p50),
      formatUs(r.latency?.p99),
      fewer?.latency === undefined || r.latency === undefined ? '' : (r.latency.p50 - fewer.latency.p50).toFixed(1),
      formatRate(r.throughput?.callsPerSecond),
      r.hops === 1 || direct?.throughput === undefined || r.throughput === undefined ? '' : (r.throughput.callsPerSecond / direct.throughput.callsPerSecond).toFixed(2),
      formatUs(cpu?.A),
      formatUs(cpu?.B),
      formatUs(cpu?.C),
      formatUs(cpu?.D),
      formatUs(cpu?.total),
      r.throughput?.otherCores === undefined ? '-' : r.throughput.otherCores.toFixed(2),
      r.error ?? ''
    ]
  })
  return renderTable([header, ...body], new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))
}

export function steadyTable (rows: SteadyRow[]): string {
  const header = ['scope', 'calls', 'failed', 'new resolutions', 'discoveries', 'dhtLookups (kadmesh)', 'DHT network queries', 'calls with no lookup', 'note']
  const body = rows.map(r => [
    r.scope,
    r.calls.toLocaleString('en-US'),
    String(r.failed),
    String(r.resolutions),
    String(r.discoveries),
    String(r.dhtLookups),
    r.dhtNetworkQueries === undefined ? '-' : String(r.dhtNetworkQueries),
    Number.isNaN(r.noLookupShare) ? '-' : `${(r.noLookupShare * 100).toFixed(3)} %`,
    r.error ?? r.note ?? ''
  ])
  return renderTable([header, ...body], new Set([1, 2, 3, 4, 5, 6, 7]))
}

function check (target: string, value: number | undefined, unit: string, limit: number, direction: 'max' | 'min', missing: string, note?: string): TargetCheck {
  if (value === undefined || Number.isNaN(value)) return { target, value: undefined, unit, limit, direction, verdict: 'n/a', note: missing }
  const ok = direction === 'max' ? value <= limit : value >= limit
  return { target, value, unit, limit, direction, verdict: ok ? 'PASS' : 'MISS', ...(note === undefined ? {} : { note }) }
}

/** The targets, from this run's results only. */
export function checkRoutingTargets (r: RoutingResults, config: RoutingConfig): TargetCheck[] {
  const checks: TargetCheck[] = []
  const notRun = (what: string): string => `not measured in this run (${what})`
  const op = (name: string): number | undefined => r.warm?.ops.find(o => o.name === name)?.nsPerOp
  const baseline = r.warm?.ops.find(o => o.name.startsWith('libp2p peerRouting.findPeer'))?.nsPerOp
  const vs = (v: number | undefined): string | undefined => v === undefined || baseline === undefined ? undefined : `findPeer (cached) ${ns(baseline)} ns in the same run`
  checks.push(check(`warm resolve: RouteTable.get, ${r.warm?.tableSize ?? config.tableSize} routes`, op('RouteTable.get'), 'ns', WARM_LIMIT_NS, 'max', notRun('warm'), vs(op('RouteTable.get'))))
  checks.push(check('warm resolve: Resolver.resolve of a cached route (await)', op('Resolver.resolve (cached route)'), 'ns', WARM_LIMIT_NS, 'max', notRun('warm'), vs(op('Resolver.resolve (cached route)'))))

  const routes = r.line?.routes ?? []
  const hop = (h: number): typeof routes[number] | undefined => routes.find(x => x.hops === h && x.error === undefined)
  const mode = r.line === undefined ? '' : `, ${r.line.mode}`
  for (const h of [2, 3]) {
    const a = hop(h - 1)?.latency?.p50
    const b = hop(h)?.latency?.p50
    checks.push(check(`forwarding hop ${h - 1}→${h}: p50 added (interleaved${mode})`, a === undefined || b === undefined ? undefined : b - a,
      'µs', HOP_P50_LIMIT_US, 'max', notRun(`needs the ${h - 1}- and ${h}-hop routes`)))
  }
  const direct = hop(1)?.throughput?.callsPerSecond
  for (const h of [2, 3]) {
    const t = hop(h)?.throughput?.callsPerSecond
    checks.push(check(`${h}-hop calls/s ÷ direct calls/s (${config.inflight} in flight${mode})`,
      t === undefined || direct === undefined || direct === 0 ? undefined : t / direct, '×', ROUTED_THROUGHPUT_SHARE, 'min', notRun(`needs direct and ${h}-hop`)))
  }
  for (const row of r.steady ?? []) {
    checks.push(check(`steady state, ${row.scope.split(':')[0]}: calls with no resolution or DHT query`, row.noLookupShare * 100, '%', STEADY_SHARE * 100, 'min',
      notRun('no calls'), `${row.calls.toLocaleString('en-US')} calls, ${row.resolutions} resolutions, ${row.dhtNetworkQueries ?? 0} DHT queries`))
  }
  if (r.steady === undefined || r.steady.length === 0) checks.push(check('steady state: calls with no resolution or DHT query', undefined, '%', STEADY_SHARE * 100, 'min', notRun('steady')))
  return checks
}

export function routingTargetsTable (checks: TargetCheck[]): string {
  const header = ['target', 'value', 'limit', 'verdict', 'context']
  const body = checks.map(c => [
    c.target,
    c.value === undefined ? '-' : `${value(c.value, c.unit)} ${c.unit}`,
    `${c.direction === 'max' ? '≤' : '≥'} ${value(c.limit, c.unit)} ${c.unit}`,
    c.verdict === 'n/a' ? `n/a: ${c.note ?? ''}` : c.verdict,
    c.verdict === 'n/a' ? '' : c.note ?? ''
  ])
  return renderTable([header, ...body], new Set([1, 2]))
}

function value (v: number, unit: string): string {
  if (unit === 'ns') return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')
  if (unit === 'µs') return v.toFixed(1)
  if (unit === '×') return v.toFixed(2)
  if (unit === '%') return v.toFixed(3)
  return formatRate(v)
}

function ns (v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-'
  return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')
}

function ms (v: number | undefined): string {
  if (v === undefined) return '-'
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')
}

function range (s: SmallSummary): string {
  return s.n === 0 ? '-' : `${s.min}/${s.median}/${s.max}`
}
