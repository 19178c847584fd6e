// `npm run bench -- ebpf`: what the eBPF tap costs and delivers, each figure against a baseline in the same run
// (needs root; all traffic stays between two network namespaces created here).
//  - forwarding: packets/s that cross a bridged veth pair (A -> host veth -> bridge -> host veth -> B, counted as
//    host veth B's tx_packets, which veth takes from B's rx counter) with the program attached to both host veths,
//    against the same pair without it. One sender runs throughout; each round measures a short window of every
//    configuration, in ABC then CBA order, so load on a shared machine hits all alike; the ratio is the median of
//    the per-round ratios. A third configuration attaches an empty TC program the same way, to separate the
//    hook's cost from the tap's.
//  - records: records/s delivered to TypeScript by the ebpf source against the libpcap source, both tapping the
//    same interface at the same time while many short UDP flows cross it (active timeout 1 s, so long flows
//    also report updates), with each source's packet count and every drop counter.
//  - cpu: this process's CPU time per 1000 records, each source alone on the same traffic (what the agent pays).
// Environment: SHADOWFLOW_BENCH_EBPF_SECONDS (per forwarding window, default 0.5), SHADOWFLOW_BENCH_EBPF_ROUNDS
// (default 15), SHADOWFLOW_BENCH_EBPF_FLOWS (default 20000), SHADOWFLOW_BENCH_EBPF_PPS (records phase, 100000).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import type { FlowRecord } from '../../agent/src/flows/flow-record.js'
import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import type { TapSource } from '../../agent/src/tap/tap-source.js'
import { BridgedPair } from '../e2e/helpers/netns.js'
import { buildUdpFlood } from '../e2e/helpers/udp-flood.js'

function emit (fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ bench: 'ebpf', ...fields }) + '\n')
}

function round (n: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Runs udp-flood in namespace A; resolves with what it sent and its own measured duration. */
async function flood (net: BridgedPair, binary: string, port: number, pps: number, seconds: number, flows: number): Promise<{ sent: number, seconds: number }> {
  const sender = spawn('ip', ['netns', 'exec', net.nsA, binary, net.addrB4, String(port), String(pps), String(seconds), String(flows)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  sender.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => sender.on('exit', resolve))
  if (code !== 0) throw new Error(`udp-flood exited with ${code}`)
  return { sent: Number(/sent=(\d+)/.exec(out)?.[1] ?? NaN), seconds: Number(/seconds=([\d.]+)/.exec(out)?.[1] ?? seconds) }
}

/** Drains a source, counting records (and decoding each, as the agent would). */
function drain (source: TapSource): { done: Promise<void>, count: () => number, finals: FlowRecord[] } {
  let n = 0
  const finals: FlowRecord[] = []
  const done = (async () => {
    for await (const batch of source) {
      for (const r of batch.records()) {
        n++
        if (r.kind === 'end' || r.kind === 'evicted') finals.push(r)
      }
    }
  })()
  return { done, count: () => n, finals }
}

type Attachment = 'none' | 'tap' | 'hook'

/** CPU time (ns, /proc/PID/schedstat) of `pid` plus every ksoftirqd thread: what forwarding costs, whoever ran it. */
function forwardingCpu (pid: number): () => number {
  const softirqThreads = readdirSync('/proc').filter(entry => {
    try {
      return /^\d+$/.test(entry) && readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('ksoftirqd/')
    } catch {
      return false  // gone meanwhile
    }
  })
  const ns = (p: number | string): number => {
    try {
      return Number(readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      return 0
    }
  }
  return () => softirqThreads.reduce((total, p) => total + ns(p), ns(pid))
}

async function forwarding (net: BridgedPair, binary: string): Promise<void> {
  const seconds = Number(process.env.SHADOWFLOW_BENCH_EBPF_SECONDS ?? 0.5)
  const rounds = Number(process.env.SHADOWFLOW_BENCH_EBPF_ROUNDS ?? 15)
  const settleMs = 150
  const rx = (): number => Number(readFileSync(`/sys/class/net/${net.hostB}/statistics/tx_packets`, 'utf8'))
  const passObject = buildPassProgram()
  // One sender for the whole phase, as fast as the stack takes it (one flow, so one CPU queue); only the TC
  // configuration changes between measurement windows, so no window pays for a sender's start.
  const sender = spawn('ip', ['netns', 'exec', net.nsA, binary, net.addrB4, '9', '1000000000', '3600', '1'], { stdio: 'ignore' })
  const exited = new Promise(resolve => sender.once('exit', resolve))
  const cpuNs = forwardingCpu(sender.pid!)
  /** Attaches a configuration; returns its detach, which resolves with the packets the tap counted. */
  const attach = (what: Attachment): () => Promise<number> => {
    if (what === 'tap') {
      const source = openTapSource(`ebpf:${net.hostA},${net.hostB}`, { idleTimeoutMs: 60_000 })
      const sink = drain(source)
      return async () => {
        source.close()
        await sink.done
        return sink.finals.filter(f => f.protocol === 17 && f.dstAddr === net.addrB4).reduce((n, f) => n + f.packetsFwd, 0)
      }
    }
    if (what === 'hook') {
      for (const [dev, dir] of [[net.hostA, 'ingress'], [net.hostB, 'egress']] as const) {
        spawnSync('tc', ['qdisc', 'add', 'dev', dev, 'clsact'])
        spawnSync('tc', ['filter', 'add', 'dev', dev, dir, 'pref', '1', 'bpf', 'da', 'obj', passObject, 'sec', 'tc'])
      }
      return async () => {
        for (const dev of [net.hostA, net.hostB]) spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'clsact'])
        return 0
      }
    }
    return async () => 0
  }
  /** Packets/s leaving host veth B towards namespace B, and packets per CPU-second of forwarding, over one window. */
  const window = async (): Promise<{ pps: number, ppcs: number }> => {
    const cpu0 = cpuNs()
    const rx0 = rx()
    const t0 = performance.now()
    await sleep(seconds * 1000)
    const received = rx() - rx0
    const elapsed = (performance.now() - t0) / 1000
    const cpuSeconds = (cpuNs() - cpu0) / 1e9
    return { pps: received / elapsed, ppcs: received / cpuSeconds }
  }
  const measured: Record<Attachment, { pps: number, ppcs: number }[]> = { none: [], tap: [], hook: [] }
  let taps = 0
  let costed = { runNs: 0, runs: 0 }
  let costedHook = { runNs: 0, runs: 0 }
  try {
    await sleep(300)  // ramp-up: neighbour resolution, caches
    await window()
    for (let i = 0; i < rounds; i++) {
      // ABC, CBA, ...: load that drifts during a round weighs on the first and the last configuration alike.
      const order: Attachment[] = i % 2 === 0 ? ['none', 'tap', 'hook'] : ['hook', 'tap', 'none']
      for (const what of order) {
        const detach = attach(what)
        await sleep(settleMs)
        measured[what].push(await window())
        taps += await detach()
      }
      const [a, b, h] = [measured.none[i]!.pps, measured.tap[i]!.pps, measured.hook[i]!.pps]
      const [ca, cb, ch] = [measured.none[i]!.ppcs, measured.tap[i]!.ppcs, measured.hook[i]!.ppcs]
      process.stderr.write(`ebpf forwarding round ${i + 1}: without ${Math.round(a)}/s, with ${Math.round(b)}/s, empty TC program ${Math.round(h)}/s; per CPU-second ${Math.round(ca)}, ${Math.round(cb)}, ${Math.round(ch)}\n`)
    }
    // The kernel's own per-program accounting, in two more windows: it costs two clock reads per run, so it stays
    // off while throughput is measured. The empty program's figure is that accounting's own floor.
    for (const what of ['tap', 'hook'] as const) {
      const detach = attach(what)
      await sleep(settleMs)
      const stats = await withBpfStats(async () => {
        await window()
        return programRunStats(net.hostA, what === 'tap' ? 'sf_tap' : 'sf_pass')
      })
      await detach()
      if (what === 'tap') costed = stats
      else costedHook = stats
    }
  } finally {
    sender.kill('SIGKILL')  // our own child: `ip netns exec` execs udp-flood in place
    await exited
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  const pps = (w: Attachment): number[] => measured[w].map(m => m.pps)
  const ppcs = (w: Attachment): number[] => measured[w].map(m => m.ppcs)
  const withProgram = pps('tap')
  const without = pps('none')
  const withHook = pps('hook')
  // Each round pairs a measurement without and one with the program moments apart, so the median of the pair
  // ratios is less sensitive to load that drifts over the run than a ratio of medians.
  const ratio = median(withProgram.map((w, i) => w / without[i]!))
  const nsPerRun = costed.runs > 0 ? costed.runNs / costed.runs : NaN
  const cpuRatio = median(ppcs('tap').map((w, i) => w / ppcs('none')[i]!))
  emit({
    metric: 'veth_forwarding_packets_per_s_with_program', value: Math.round(median(withProgram)), unit: 'packets/s',
    baseline: Math.round(median(without)), baseline_name: 'the same veth pair without the program (median of alternating windows)',
    ratio: round(ratio), ratio_kind: 'median of per-round ratios', ratio_of_medians: round(median(withProgram) / median(without)),
    throughput_loss: round(1 - ratio), target_loss: 0.1, rounds, seconds_per_round: seconds,
    best_ratio: round(Math.max(...withProgram) / Math.max(...without)),
    rounds_with: withProgram.map(Math.round), rounds_without: without.map(Math.round),
    // The same hooks with an empty program (native/bpf/tc-pass.bpf.c): what any TC-attached tap costs before it
    // does anything, and the tap against that.
    empty_program_ratio: round(median(withHook.map((w, i) => w / without[i]!))),
    ratio_vs_empty_program: round(median(withProgram.map((w, i) => w / withHook[i]!))),
    rounds_empty_program: withHook.map(Math.round),
    // Packets per CPU-second spent forwarding (the sender, whose system calls run the whole path, and ksoftirqd):
    // the same comparison with the time other processes took from the sender's CPU taken out.
    cpu_normalized_ratio: round(cpuRatio),
    cpu_normalized_empty_program_ratio: round(median(ppcs('hook').map((w, i) => w / ppcs('none')[i]!))),
    // Kernel-measured cost (kernel.bpf_stats_enabled, on for one extra window only): time in the program per run.
    // Each packet runs it twice here (host A ingress, host B egress); the share of a packet's forwarding time:
    program_ns_per_run: round(nsPerRun, 1),
    empty_program_ns_per_run: round(costedHook.runs > 0 ? costedHook.runNs / costedHook.runs : NaN, 1),
    program_share_of_packet_time: round((2 * nsPerRun) / (1e9 / median(without))),
    packets_counted_by_program: taps
  })
}

/** Compiles native/bpf/tc-pass.bpf.c (an empty TC program) into a temporary directory. */
function buildPassProgram (): string {
  const src = fileURLToPath(new URL('../../../native/bpf/tc-pass.bpf.c', import.meta.url))
  const out = join(mkdtempSync(join(tmpdir(), 'shadowflow-pass-')), 'tc-pass.bpf.o')
  const arch = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim()
  const cc = spawnSync('clang', ['-target', 'bpf', '-O2', '-ffreestanding', `-I/usr/include/${arch}-linux-gnu`, '-c', src, '-o', out], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`cannot build tc-pass.bpf.c: ${cc.stderr || cc.error?.message}`)
  return out
}

/** Run time and run count of the program `name` attached to `dev` (needs kernel.bpf_stats_enabled). */
function programRunStats (dev: string, name: string): { runNs: number, runs: number } {
  const filters = spawnSync('tc', ['filter', 'show', 'dev', dev, 'ingress'], { encoding: 'utf8' }).stdout
  const id = new RegExp(`\\bid (\\d+) name ${name}\\b`).exec(filters)?.[1]
  if (id === undefined) return { runNs: 0, runs: 0 }
  const info = JSON.parse(spawnSync('bpftool', ['-j', 'prog', 'show', 'id', id], { encoding: 'utf8' }).stdout) as { run_time_ns?: number, run_cnt?: number }
  return { runNs: info.run_time_ns ?? 0, runs: info.run_cnt ?? 0 }
}

function withBpfStats<T> (fn: () => Promise<T>): Promise<T> {
  const path = '/proc/sys/kernel/bpf_stats_enabled'
  const previous = readFileSync(path, 'utf8').trim()
  writeFileSync(path, '1')
  return fn().finally(() => writeFileSync(path, previous))
}

async function records (net: BridgedPair, binary: string): Promise<void> {
  const flows = Number(process.env.SHADOWFLOW_BENCH_EBPF_FLOWS ?? 20_000)
  const pps = Number(process.env.SHADOWFLOW_BENCH_EBPF_PPS ?? 100_000)
  const seconds = 3
  const options = { idleTimeoutMs: 60_000, activeTimeoutMs: 1000, maxFlows: 262_144 }
  const ebpf = openTapSource(`ebpf:${net.hostA}`, options)
  const pcap = openTapSource(`pcap:${net.hostA}`, options)
  const e = drain(ebpf)
  const p = drain(pcap)
  await sleep(300)
  const t0 = performance.now()
  const sent = await flood(net, binary, 10_000, pps, seconds, flows)
  await sleep(600)
  // Close both: every flow ends (flush) and is delivered; the window runs until the last record arrived.
  ebpf.close()
  pcap.close()
  await Promise.all([e.done, p.done])
  const elapsed = (performance.now() - t0) / 1000
  const es = ebpf.stats()
  const ps = pcap.stats()
  const ebpfRate = e.count() / elapsed
  const pcapRate = p.count() / elapsed
  const packets = (fs: FlowRecord[]): number => fs.filter(f => f.protocol === 17 && f.dstAddr === net.addrB4).reduce((n, f) => n + f.packetsFwd, 0)
  emit({
    metric: 'records_per_s_delivered_to_typescript', value: Math.round(ebpfRate), unit: 'records/s',
    baseline: Math.round(pcapRate), baseline_name: 'libpcap source on the same interface and traffic, same run',
    ratio: round(ebpfRate / pcapRate), records: e.count(), baseline_records: p.count(), flows_sent: flows,
    packets_sent: sent.sent, send_seconds: round(sent.seconds), window_seconds: round(elapsed),
    packets_counted: packets(e.finals), baseline_packets_counted: packets(p.finals),
    ringbuf_lost: es.ebpf?.ringbufLost, map_full: es.ebpf?.mapFull, evictions: es.evictions,
    ring_overflow_records: es.ringOverflowRecords, baseline_ring_overflow_records: ps.ringOverflowRecords,
    baseline_kernel_dropped: ps.kernel?.dropped, last_sweep_ms: es.ebpf?.lastSweepMs
  })
}

/** User+system CPU time of this process (capture threads included) per 1000 records, each source alone. */
async function cpuPerRecords (net: BridgedPair, binary: string): Promise<void> {
  const flows = Number(process.env.SHADOWFLOW_BENCH_EBPF_FLOWS ?? 20_000)
  const pps = Number(process.env.SHADOWFLOW_BENCH_EBPF_PPS ?? 100_000)
  const measure = async (spec: string): Promise<{ cpuMs: number, records: number }> => {
    const source = openTapSource(spec, { idleTimeoutMs: 60_000, activeTimeoutMs: 1000 })
    const sink = drain(source)
    await sleep(300)
    const c0 = process.cpuUsage()
    await flood(net, binary, 10_000, pps, 3, flows)
    await sleep(600)
    source.close()
    await sink.done
    const c = process.cpuUsage(c0)
    return { cpuMs: (c.user + c.system) / 1000, records: sink.count() }
  }
  const e = await measure(`ebpf:${net.hostA}`)
  const p = await measure(`pcap:${net.hostA}`)
  const perK = (r: { cpuMs: number, records: number }): number => r.cpuMs / (r.records / 1000)
  emit({
    metric: 'agent_cpu_ms_per_1000_records', value: round(perK(e)), unit: 'ms', baseline: round(perK(p)),
    baseline_name: 'libpcap source alone on the same traffic (parsing and flow table in user space)',
    ratio: round(perK(e) / perK(p)), cpu_ms: round(e.cpuMs), baseline_cpu_ms: round(p.cpuMs), records: e.records,
    baseline_records: p.records, packets_sent: Math.round(pps * 3)
  })
}

const binary = buildUdpFlood()
const net = BridgedPair.create('sfbeb', 14)
try {
  net.exec(net.nsA, 'ping', ['-c', '1', '-W', '2', net.addrB4])
  const only = process.env.SHADOWFLOW_BENCH_ONLY?.split(',')
  if (only === undefined || only.includes('forwarding')) await forwarding(net, binary)
  if (only === undefined || only.includes('records')) await records(net, binary)
  if (only === undefined || only.includes('cpu')) await cpuPerRecords(net, binary)
} catch (e) {
  emit({ error: (e as Error).message })
  process.exitCode = 1
} finally {
  net.destroy()
}
