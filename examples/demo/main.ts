/**
 * `npm start`: three kadmesh nodes in three processes on loopback call each other's actors.
 * Exits 0 when every call succeeded, 1 otherwise.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Ready { name: string, nodeId: string, addresses: string[] }
interface Result { to: string, method: string, ok: boolean, value: string, ms: number }
interface Report { results: Result[], burst: { to: string, calls: number, perSecond: number } }

const NAMES = ['alpha', 'beta', 'gamma']
const script = fileURLToPath(new URL('./node.js', import.meta.url))
const children: ChildProcess[] = []

function start (name: string, bootstrap: string[]): Promise<Ready> {
  const child = fork(script, { env: { ...process.env, DEMO_NAME: name, DEMO_BOOTSTRAP: bootstrap.join(',') } })
  children.push(child)
  return new Promise((resolve, reject) => {
    child.once('exit', code => { reject(new Error(`${name} exited early with code ${code}`)) })
    child.on('message', (msg: { ready?: Ready }) => { if (msg.ready !== undefined) resolve(msg.ready) })
  })
}

function report (child: ChildProcess): Promise<Report> {
  return new Promise(resolve => {
    child.on('message', (msg: Partial<Report>) => { if (msg.results !== undefined) resolve(msg as Report) })
  })
}

let failures = 0
try {
  const first = await start(NAMES[0], [])
  const nodes = [first, ...await Promise.all(NAMES.slice(1).map(async n => start(n, first.addresses)))]
  console.log('kadmesh demo: three nodes, three processes, QUIC on loopback\n')
  for (const n of nodes) console.log(`  ${n.name.padEnd(6)} ${n.nodeId}  ${n.addresses[0]}`)
  console.log()

  const reports = await Promise.all(children.map(async (child, i) => {
    const pending = report(child)
    child.send({ peers: nodes.filter((_, j) => j !== i).map(n => ({ name: n.name, nodeId: n.nodeId })) })
    return pending
  }))
  reports.forEach((r, i) => {
    for (const call of r.results) {
      if (!call.ok) failures++
      const mark = call.ok ? 'ok ' : 'ERR'
      console.log(`  ${mark} ${nodes[i].name.padEnd(6)} → ${call.to.padEnd(6)} ${call.method.padEnd(18)} ${call.ms.toFixed(2).padStart(7)} ms  ${call.value}`)
    }
  })
  console.log()
  reports.forEach((r, i) => {
    console.log(`  burst: ${nodes[i].name} → ${r.burst.to}: ${r.burst.calls} concurrent calls, ${r.burst.perSecond.toLocaleString('en')} calls/s`)
  })
  const total = reports.reduce((n, r) => n + r.results.length, 0)
  console.log(`\n${total - failures} of ${total} calls succeeded`)
} catch (err) {
  failures++
  console.error('demo failed:', (err as Error).message)
} finally {
  for (const child of children) {
    child.removeAllListeners('exit')
    if (child.connected) child.send({ stop: true })
  }
  await Promise.all(children.map(async child => new Promise(resolve => {
    if (child.exitCode !== null) resolve(undefined)
    else child.once('exit', resolve)
  })))
}
process.exit(failures === 0 ? 0 : 1)
