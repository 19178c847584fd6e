// `npm run bench -- ebpf`: what the eBPF tap costs and delivers, each figure against a baseline in the same run
// (needs root; all traffic stays between two network namespaces created here).
//  - forwarding: packets/s that cross a bridged veth pair (A -> host veth -> bridge -> host veth -> B, counted as
//    host veth B's tx_packets, which veth takes from B's rx counter) with the program attached to both host veths,
//    against the same pair without it. One sender runs throughout; each round measures a short window of every
//    configuration, in ABCDE then EDCBA order, so load on a shared machine hits all alike; the ratio is the median
//    of the per-round ratios. The headline is the tap as it attaches by default (`attach: 'auto'`: TCX links on
//    Linux 6.6+, else clsact); the same tap forced to clsact, and an empty TC program attached each way, are
//    measured in the same rounds, so the hook's cost is told apart from the tap's and older kernels' figure
//    (clsact) is there too.
//  - records: records/s delivered to TypeScript by the ebpf source against the libpcap source, both tapping the
//    same interface at the same time while many short UDP flows cross it (active timeout 1 s, so long flows
//    also report updates), with each source's packet count and every drop counter.
//  - cpu: this process's CPU time per 1000 records, each source alone on the same traffic (what the agent pays).
// Environment: SHADOWFLOW_BENCH_EBPF_SECONDS (per forwarding window, default 0.5), SHADOWFLOW_BENCH_EBPF_ROUNDS
// (default 41: with 15 the median of one run still moved by ±3 points between runs on a 2-core VM; 41 rounds of
// five 0.5 s windows take under two minutes), SHADOWFLOW_BENCH_EBPF_FLOWS (default 20000), SHADOWFLOW_BENCH_EBPF_PPS (records phase, 100000).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import type { FlowRecord } from '../../agent/src/flows/flow-record.js'
import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import type { TapSource } from '../../agent/src/tap/tap-source.js'
import { BridgedPair } from '../e2e/helpers/netns.js'
import { buildTcxTool, tcxPrograms } from '../e2e/helpers/tcx-tool.js'
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

/**
 * none: no program; tap: the tap as it attaches by default (auto); tapClsact: the tap with attach: 'clsact';
 * hookTcx / hookClsact: the empty program (native/bpf/tc-pass.bpf.c) on the same hooks through a TCX link or a
 * clsact filter.
 */
type Attachment = 'none' | 'tap' | 'tapClsact' | 'hookTcx' | 'hookClsact'

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
  const rounds = Number(process.env.SHADOWFLOW_BENCH_EBPF_ROUNDS ?? 41)
  const settleMs = 150
  const rx = (): number => Number(readFileSync(`/sys/class/net/${net.hostB}/statistics/tx_packets`, 'utf8'))
  const passObject = buildPassProgram()
  // One sender for the whole phase, as fast as the stack takes it (one flow, so one CPU queue); only the TC
  // configuration changes between measurement windows, so no window pays for a sender's start.
  const sender = spawn('ip', ['netns', 'exec', net.nsA, binary, net.addrB4, '9', '1000000000', '3600', '1'], { stdio: 'ignore' })
  const exited = new Promise(resolve => sender.once('exit', resolve))
  const cpuNs = forwardingCpu(sender.pid!)
  const tcxTool = buildTcxTool()
  let defaultMode = ''
  /** Attaches a configuration; returns its detach, which resolves with the packets the tap counted. */
  const attach = async (what: Attachment): Promise<() => Promise<number>> => {
    if (what === 'tap' || what === 'tapClsact') {
      const source = openTapSource(`ebpf:${net.hostA},${net.hostB}`, { idleTimeoutMs: 60_000, attach: what === 'tap' ? 'auto' : 'clsact' })
      if (what === 'tap') defaultMode = source.stats().attach?.mode ?? ''
      const sink = drain(source)
      return async () => {
        source.close()
        await sink.done
        return sink.finals.filter(f => f.protocol === 17 && f.dstAddr === net.addrB4).reduce((n, f) => n + f.packetsFwd, 0)
      }
    }
    if (what === 'hookClsact') {
      for (const [dev, dir] of [[net.hostA, 'ingress'], [net.hostB, 'egress']] as const) {
        spawnSync('tc', ['qdisc', 'add', 'dev', dev, 'clsact'])
        spawnSync('tc', ['filter', 'add', 'dev', dev, dir, 'pref', '1', 'bpf', 'da', 'obj', passObject, 'sec', 'tc'])
      }
      return async () => {
        for (const dev of [net.hostA, net.hostB]) spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'clsact'])
        return 0
      }
    }
    if (what === 'hookTcx') {
      // The links live as long as tcx-tool does: killing it detaches them.
      const holder = spawn(tcxTool, ['attach', passObject, `${net.hostA}:ingress`, `${net.hostB}:egress`], { stdio: ['ignore', 'pipe', 'pipe'] })
      const gone = new Promise(resolve => holder.once('exit', resolve))
      let err = ''
      holder.stderr.on('data', (d: Buffer) => { err += d.toString() })
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => { if (d.toString().includes('attached')) resolve() })
        holder.once('exit', code => reject(new Error(`tcx-tool attach exited with ${code}: ${err.trim()}`)))
      })
      return async () => {
        holder.kill('SIGTERM')
        await gone
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
  const configurations: Attachment[] = ['none', 'tap', 'tapClsact', 'hookTcx', 'hookClsact']
  const measured: Record<Attachment, { pps: number, ppcs: number }[]> = { none: [], tap: [], tapClsact: [], hookTcx: [], hookClsact: [] }
  let taps = 0
  const costed: Partial<Record<Attachment, { runNs: number, runs: number }>> = {}
  try {
    await sleep(300)  // ramp-up: neighbour resolution, caches
    await window()
    for (let i = 0; i < rounds; i++) {
      // ABCDE, EDCBA, ...: load that drifts during a round weighs on the first and the last configuration alike.
      const order = i % 2 === 0 ? configurations : [...configurations].reverse()
      for (const what of order) {
        const detach = await attach(what)
        await sleep(settleMs)
        measured[what].push(await window())
        taps += await detach()
      }
      const line = configurations.map(c => `${c} ${Math.round(measured[c][i]!.pps)}/s (${Math.round(measured[c][i]!.ppcs)}/CPU-s)`).join(', ')
      process.stderr.write(`ebpf forwarding round ${i + 1}: ${line}\n`)
    }
    // The kernel's own per-program accounting, in more windows: it costs two clock reads per run, so it stays
    // off while throughput is measured. The empty program's figure is that accounting's own floor.
    for (const what of ['tap', 'hookTcx', 'tapClsact', 'hookClsact'] as const) {
      const detach = await attach(what)
      await sleep(settleMs)
      costed[what] = await withBpfStats(async () => {
        await window()
        return programRunStats(net.hostA, what.startsWith('tap') ? 'sf_tap' : 'sf_pass')
      })
      await detach()
    }
  } finally {
    sender.kill('SIGKILL')  // our own child: `ip netns exec` execs udp-flood in place
    await exited
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  const pps = (w: Attachment): number[] => measured[w].map(m => m.pps)
  const ppcs = (w: Attachment): number[] => measured[w].map(m => m.ppcs)
  // Each round measures every configuration moments apart, so the median of the per-round ratios is less
  // sensitive to load that drifts over the run than a ratio of medians.
  const ratio = (w: Attachment, base: Attachment = 'none'): number => median(pps(w).map((x, i) => x / pps(base)[i]!))
  const cpuRatio = (w: Attachment, base: Attachment = 'none'): number => median(ppcs(w).map((x, i) => x / ppcs(base)[i]!))
  const nsPerRun = (w: Attachment): number => {
    const c = costed[w]
    return c !== undefined && c.runs > 0 ? round(c.runNs / c.runs, 1) : NaN
  }
  const withProgram = pps('tap')
  const without = pps('none')
  emit({
    metric: 'veth_forwarding_packets_per_s_with_program', attach_mode: defaultMode,
    value: Math.round(median(withProgram)), unit: 'packets/s',
    baseline: Math.round(median(without)), baseline_name: 'the same veth pair without the program (median of alternating windows)',
    ratio: round(ratio('tap')), ratio_kind: 'median of per-round ratios', ratio_of_medians: round(median(withProgram) / median(without)),
    throughput_loss: round(1 - ratio('tap')), target_loss: 0.1, rounds, seconds_per_round: seconds,
    best_ratio: round(Math.max(...withProgram) / Math.max(...without)),
    rounds_with: withProgram.map(Math.round), rounds_without: without.map(Math.round),
    // The same tap attached with clsact (what kernels before 6.6 get), in the same rounds.
    clsact_value: Math.round(median(pps('tapClsact'))), clsact_ratio: round(ratio('tapClsact')),
    clsact_throughput_loss: round(1 - ratio('tapClsact')), rounds_clsact: pps('tapClsact').map(Math.round),
    // The same hooks with an empty program (native/bpf/tc-pass.bpf.c), each way: what any tap attached that way
    // costs before it does anything, and the tap against that.
    empty_program_tcx_ratio: round(ratio('hookTcx')), empty_program_clsact_ratio: round(ratio('hookClsact')),
    ratio_vs_empty_program_tcx: round(ratio('tap', 'hookTcx')), clsact_ratio_vs_empty_program_clsact: round(ratio('tapClsact', 'hookClsact')),
    rounds_empty_program_tcx: pps('hookTcx').map(Math.round), rounds_empty_program_clsact: pps('hookClsact').map(Math.round),
    // Packets per CPU-second spent forwarding (the sender, whose system calls run the whole path, and ksoftirqd):
    // the same comparisons with the time other processes took from the sender's CPU taken out.
    cpu_normalized_ratio: round(cpuRatio('tap')), cpu_normalized_clsact_ratio: round(cpuRatio('tapClsact')),
    cpu_normalized_empty_program_tcx_ratio: round(cpuRatio('hookTcx')),
    cpu_normalized_empty_program_clsact_ratio: round(cpuRatio('hookClsact')),
    // Kernel-measured cost (kernel.bpf_stats_enabled, on for extra windows only): time in the program per run.
    // Each packet runs it twice here (host A ingress, host B egress); the share of a packet's forwarding time:
    program_ns_per_run: nsPerRun('tap'), empty_program_ns_per_run: nsPerRun('hookTcx'),
    clsact_program_ns_per_run: nsPerRun('tapClsact'), clsact_empty_program_ns_per_run: nsPerRun('hookClsact'),
    program_share_of_packet_time: round((2 * nsPerRun('tap')) / (1e9 / median(without))),
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

/** Run time and run count of the program `name` on `dev`'s ingress, TCX or clsact (needs kernel.bpf_stats_enabled). */
function programRunStats (dev: string, name: string): { runNs: number, runs: number } {
  const filters = spawnSync('tc', ['filter', 'show', 'dev', dev, 'ingress'], { encoding: 'utf8' }).stdout
  const ids = [...tcxPrograms(dev).ingress, ...[...filters.matchAll(/\bid (\d+)/g)].map(m => Number(m[1]))]
  for (const id of ids) {
    const info = JSON.parse(spawnSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' }).stdout) as { name?: string, run_time_ns?: number, run_cnt?: number }
    if (info.name === name) return { runNs: info.run_time_ns ?? 0, runs: info.run_cnt ?? 0 }
  }
  return { runNs: 0, runs: 0 }
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
