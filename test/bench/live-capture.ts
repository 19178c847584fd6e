// Live-capture benchmark: two network namespaces joined by a bridge in the root namespace (the layout of
// Calico's host-side veths); a sender in one namespace blasts UDP at the other at a fixed rate while the tap
// captures on the host-side veth. All addresses live inside the namespaces created here.
import { spawn } from 'node:child_process'

import { openTapSource } from '../../agent/src/tap/native-tap-source.js'
import { BridgedPair } from '../e2e/helpers/netns.js'
import { buildUdpFlood } from '../e2e/helpers/udp-flood.js'

export interface LiveResult {
  sent: number
  sentPps: number
  captured: number
  capturedPps: number
  kernelDropped: number
  kernelReceived: number
  ringOverflowRecords: number
  flows: number
  seconds: number
  elapsedSeconds: number
}

export async function runLiveBenchmark (pps: number, seconds: number): Promise<LiveResult> {
  const flood = buildUdpFlood()
  const net = BridgedPair.create('sfbench')
  try {
    const source = openTapSource(`pcap:${net.hostA}`, { idleTimeoutMs: 60_000 })
    source.start()
    let captured = 0
    const drain = (async () => {
      for await (const batch of source) {
        for (const r of batch.records()) {
          if ((r.kind === 'end' || r.kind === 'evicted') && r.protocol === 17 && r.dstAddr === net.addrB4) captured += r.packetsFwd
        }
      }
    })()
    await new Promise(resolve => setTimeout(resolve, 300))
    const t0 = performance.now()
    const sender = spawn('ip', ['netns', 'exec', net.nsA, flood, net.addrB4, '9', String(pps), String(seconds), '64'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    sender.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>(resolve => sender.on('exit', resolve))
    const elapsed = (performance.now() - t0) / 1000
    if (code !== 0) throw new Error(`udp-flood exited with ${code}`)
    const sent = Number(/sent=(\d+)/.exec(out)?.[1] ?? NaN)
    // The sender's own clock: on a loaded machine it may take longer than asked, so rates use what it measured.
    const sendSeconds = Number(/seconds=([\d.]+)/.exec(out)?.[1] ?? seconds)
    await new Promise(resolve => setTimeout(resolve, 500))  // let the last ring blocks retire
    source.close()  // ends every flow (flush), so the drain loop sees their final counts
    await drain
    const stats = source.stats()
    return {
      sent,
      sentPps: sent / sendSeconds,
      captured,
      capturedPps: captured / sendSeconds,
      kernelDropped: stats.kernel?.dropped ?? NaN,
      kernelReceived: stats.kernel?.received ?? NaN,
      ringOverflowRecords: stats.ringOverflowRecords,
      flows: stats.flowsCreated,
      seconds: sendSeconds,
      elapsedSeconds: elapsed
    }
  } finally {
    net.destroy()
  }
}
