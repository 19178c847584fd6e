// Queries the system tests ask a running aggregator, and the reduction of its flows to the totals that
// capture-facts.ts computes from the capture, so the two can be compared with deepEqual.
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { callUnary, createGrpcClient } from '../../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../../agent/src/grpc/load-protos.js'
import type { WireFilter, WireFlow, WireFlowListRequest } from '../../../agent/src/grpc/wire-types.js'
import { totalsKey, type ExpectedTotals } from './capture-facts.js'

export function emptyFilter (fields: Partial<WireFilter> = {}): WireFilter {
  return { sourceNames: [], sourceNamespaces: [], destNames: [], destNamespaces: [], protocols: [], destPorts: [], actions: [], policies: [], ...fields }
}

export function listRequest (fields: Partial<WireFlowListRequest> = {}): WireFlowListRequest {
  return { startTimeGte: 0, startTimeLt: 0, page: 0, pageSize: 0, sortBy: [], filter: null, aggregationInterval: 0, ...fields }
}

/** Every flow the aggregator holds (one per key over the whole retention window unless asked otherwise). */
export async function listFlows (address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(), request: Partial<WireFlowListRequest> = {}): Promise<WireFlow[]> {
  const client = createGrpcClient(loadProtos().goldmane.Flows, address, credentials)
  try {
    const result = await callUnary(client, 'List', listRequest(request), { deadlineMs: 5000 })
    return result.flows.map(r => r.flow).filter((f): f is WireFlow => f !== null && f !== undefined)
  } finally {
    client.close()
  }
}

/** The comparison identity of a wire flow (see totalsKey). */
export function wireTotalsKey (flow: WireFlow): string {
  const k = flow.Key
  if (k === null || k === undefined) throw new Error('a flow without a key')
  return totalsKey(k.reporter, `${k.sourceNamespace}/${k.sourceName}`, `${k.destNamespace}/${k.destName}`, k.proto, k.destPort)
}

/** Sums flows per totalsKey. */
export function totalsOf (flows: readonly WireFlow[]): Map<string, ExpectedTotals> {
  const out = new Map<string, ExpectedTotals>()
  for (const f of flows) {
    const key = wireTotalsKey(f)
    const e = out.get(key) ?? { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, connections: 0 }
    e.packetsIn += f.packetsIn; e.packetsOut += f.packetsOut; e.bytesIn += f.bytesIn; e.bytesOut += f.bytesOut; e.connections += f.numConnectionsStarted
    out.set(key, e)
  }
  return out
}

/** Maps as sorted entry lists, so assert.deepEqual shows a readable difference. */
export function sortedEntries<V> (map: ReadonlyMap<string, V>): Array<[string, V]> {
  return [...map.entries()].sort((a, b) => a[0].localeCompare(b[0]))
}

/** Polls the aggregator until its totals equal `expected`; returns the flows (fails with the last difference). */
export async function waitForTotals (address: string, expected: ReadonlyMap<string, ExpectedTotals>, timeoutMs = 20_000, credentials?: grpc.ChannelCredentials): Promise<WireFlow[]> {
  const deadline = Date.now() + timeoutMs
  const want = JSON.stringify(sortedEntries(expected))
  let last: WireFlow[] = []
  for (;;) {
    try {
      last = await listFlows(address, credentials)
      if (JSON.stringify(sortedEntries(totalsOf(last))) === want) return last
    } catch {
      // The aggregator may be restarting: keep polling until the deadline.
    }
    if (Date.now() > deadline) {
      assert.deepEqual(sortedEntries(totalsOf(last)), sortedEntries(expected), `the aggregator's totals did not converge to the capture's within ${timeoutMs} ms`)
      throw new Error('unreachable')
    }
    await new Promise(resolve => setTimeout(resolve, 150))
  }
}
