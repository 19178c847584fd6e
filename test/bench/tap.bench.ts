// `npm run bench -- tap`: the native tap's throughput, each figure against a baseline measured in the same run.
//  - replay: pcap-file packets/s (parse + flow table + records decoded in TypeScript) vs `tcpdump -r FILE -w /dev/null`
//  - synthetic: records/s decoded into FlowRecord objects in TypeScript vs raw batch delivery (no decoding)
//  - live: packets/s captured on a veth pair at ~200,000 packets/s with the kernel drop count (needs root)
// Environment: SHADOWFLOW_BENCH_CAPTURE_MB (default 1024), SHADOWFLOW_BENCH_SYNTHETIC_RECORDS (default 10,000,000),
// SHADOWFLOW_BENCH_LIVE_PPS (default 200000), SHADOWFLOW_BENCH_LIVE_SECONDS (default 5).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import { generateCapture, type GeneratedCapture } from './capture-generator.js'
import { runLiveBenchmark } from './live-capture.js'

const GENERATOR_VERSION = 2

function emit (fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ bench: 'tap', ...fields }) + '\n')
}

function round (n: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

function captureFile (): { path: string, info: GeneratedCapture } {
  const mb = Number(process.env.SHADOWFLOW_BENCH_CAPTURE_MB ?? 1024)
  const dir = '/tmp/shadowflow-bench'
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `replay-${mb}mb.pcap`)
  const meta = `${path}.json`
  if (existsSync(path) && existsSync(meta)) {
    const saved = JSON.parse(readFileSync(meta, 'utf8')) as GeneratedCapture & { version: number }
    if (saved.version === GENERATOR_VERSION && statSync(path).size === saved.bytes) return { path, info: saved }
  }
  const t0 = performance.now()
  const info = generateCapture(path, mb * 1024 * 1024)
  writeFileSync(meta, JSON.stringify({ ...info, version: GENERATOR_VERSION }))
  process.stderr.write(`generated ${path}: ${info.packets} packets, ${(info.bytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  return { path, info }
}

function timeTcpdump (path: string): number {
  const t0 = performance.now()
  const run = spawnSync('tcpdump', ['-r', path, '-w', '/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] })
  const seconds = (performance.now() - t0) / 1000
  if (run.status !== 0) throw new Error(`tcpdump failed: ${run.stderr?.toString() ?? run.error?.message}`)
  return seconds
}

async function timeReplay (path: string): Promise<{ seconds: number, packets: number, records: number, flows: number }> {
  const t0 = performance.now()
  const source = openTapSource(`pcap-file:${path}`)
  let records = 0
  for await (const batch of source) records += batch.records().length
  const seconds = (performance.now() - t0) / 1000
  const stats = source.stats()
  return { seconds, packets: stats.packets, records, flows: stats.flowsCreated }
}

async function replay (): Promise<void> {
  const { path, info } = captureFile()
  // Best of three for both, alternating, after one warm-up read that puts the file in the page cache.
  timeTcpdump(path)
  let tcpdump = Infinity
  let ours = { seconds: Infinity, packets: 0, records: 0, flows: 0 }
  for (let i = 0; i < 3; i++) {
    tcpdump = Math.min(tcpdump, timeTcpdump(path))
    const r = await timeReplay(path)
    if (r.seconds < ours.seconds) ours = r
  }
  if (ours.packets !== info.packets) throw new Error(`replay saw ${ours.packets} packets, the capture has ${info.packets}`)
  const value = ours.packets / ours.seconds
  const baseline = info.packets / tcpdump
  emit({
    metric: 'pcap_file_replay_packets_per_s', value: Math.round(value), unit: 'packets/s', baseline: Math.round(baseline),
    ratio: round(value / baseline), target_ratio: 0.7, baseline_name: 'tcpdump -r FILE -w /dev/null',
    capture_bytes: info.bytes, packets: info.packets, flows: ours.flows, records: ours.records,
    seconds: round(ours.seconds), baseline_seconds: round(tcpdump)
  })
}

async function synthetic (): Promise<void> {
  const limit = Number(process.env.SHADOWFLOW_BENCH_SYNTHETIC_RECORDS ?? 10_000_000)
  const run = async (decode: boolean): Promise<number> => {
    const source = openTapSource('synthetic:10000,0', { limit, endpoints: 5000, skew: 1.1 })
    let n = 0
    let check = 0
    const t0 = performance.now()
    for await (const batch of source) {
      if (decode) {
        for (let i = 0; i < batch.count; i++) check += batch.record(i).packetsFwd
      }
      n += batch.count
    }
    const seconds = (performance.now() - t0) / 1000
    if (n !== limit) throw new Error(`synthetic delivered ${n} records, expected ${limit}`)
    if (decode && check === 0) throw new Error('decoded nothing')
    return n / seconds
  }
  await run(true)  // warm-up (JIT, caches)
  const raw = Math.max(await run(false), await run(false))
  const decoded = Math.max(await run(true), await run(true))
  emit({
    metric: 'synthetic_records_per_s', value: Math.round(decoded), unit: 'records/s', baseline: Math.round(raw),
    ratio: round(decoded / raw), target: 2_000_000, baseline_name: 'raw batch delivery without decoding',
    records: limit
  })
}

async function live (): Promise<void> {
  const pps = Number(process.env.SHADOWFLOW_BENCH_LIVE_PPS ?? 200_000)
  const seconds = Number(process.env.SHADOWFLOW_BENCH_LIVE_SECONDS ?? 5)
  try {
    const r = await runLiveBenchmark(pps, seconds)
    emit({
      metric: 'live_capture_packets_per_s', value: Math.round(r.capturedPps), unit: 'packets/s', baseline: Math.round(r.sentPps),
      ratio: round(r.capturedPps / r.sentPps), baseline_name: 'packets/s sent on the veth pair', target_pps: pps,
      kernel_dropped: r.kernelDropped, kernel_received: r.kernelReceived, sent: r.sent, captured: r.captured,
      flows: r.flows, ring_overflow_records: r.ringOverflowRecords, seconds: round(r.seconds)
    })
  } catch (e) {
    emit({ metric: 'live_capture_packets_per_s', value: null, unit: 'packets/s', error: (e as Error).message })
    process.exitCode = 1
  }
}

const only = process.env.SHADOWFLOW_BENCH_ONLY?.split(',')
if (only === undefined || only.includes('replay')) await replay()
if (only === undefined || only.includes('synthetic')) await synthetic()
if (only === undefined || only.includes('live')) await live()
