// The shop capture as repeatable "phases" of live traffic for agents reading a CaptureFifo: phase k is the shop
// capture re-stamped to start 120·k seconds after a base ten minutes ago, followed by filler records 90 s later
// that make the agent's source publish it and close its 15 s interval (and its idle UDP/ICMP flows: 60 s). So
// after phase k has been written, the agent has emitted the flow logs of phases 0..k, and each phase adds
// exactly the capture's totals once more.
import { join } from 'node:path'
import { conversationsOf, expectedFlowTotals, fillerRecords, pcapHeaderOf, readCapturePackets, readPodsByIp, restampedRecords, type ExpectedTotals } from './capture-facts.js'
import { SHOP_CAPTURE, SHOP_DIR } from './system-harness.js'

const PHASE_SECONDS = 120
const FILLER_AFTER_SECONDS = 90

/** Phases of shop traffic and what they add up to. */
export class ShopTraffic {
  readonly header = pcapHeaderOf(SHOP_CAPTURE)
  /** First second of phase 0: ten minutes ago, one second into a 15 s bucket (a phase's 3 s stay in one bucket). */
  readonly baseSeconds = Math.floor(Date.now() / 1000 / 15) * 15 - 600 + 1
  readonly pods = readPodsByIp(join(SHOP_DIR, 'pods.yaml'))
  readonly conversations = conversationsOf(readCapturePackets(SHOP_CAPTURE))

  /** The pcap records of phase k (traffic, then filler). */
  phase (k: number): Buffer {
    const start = BigInt(this.baseSeconds + PHASE_SECONDS * k) * 1_000_000_000n
    return Buffer.concat([restampedRecords(SHOP_CAPTURE, start), fillerRecords(this.header, start + BigInt(FILLER_AFTER_SECONDS) * 1_000_000_000n)])
  }

  /** Totals of `phases` phases, for the given nodes' reports (all nodes when omitted). */
  expected (phases: number, nodes?: readonly string[]): Map<string, ExpectedTotals> {
    const one = expectedFlowTotals(this.conversations, this.pods, nodes === undefined ? undefined : new Set(nodes))
    return new Map([...one].map(([k, t]) => [k, { packetsIn: t.packetsIn * phases, packetsOut: t.packetsOut * phases, bytesIn: t.bytesIn * phases, bytesOut: t.bytesOut * phases, connections: t.connections * phases }]))
  }

  /** Flow logs one node emits per phase (one per key: a phase stays in one interval). */
  flowLogsPerPhase (node: string): number {
    return expectedFlowTotals(this.conversations, this.pods, new Set([node])).size
  }
}
