// Runs a tap source to its end and returns every record, the final stats and the error that ended it (if any).
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { FlowRecord } from '../../../agent/src/flows/flow-record.js'
import { openTapSource } from '../../../agent/src/tap/native-tap-source.js'
import type { TapStats } from '../../../agent/src/tap/tap-source.js'
import type { TapSourceOptions } from '../../../agent/src/tap/tap-source-spec.js'

export interface Collected {
  records: FlowRecord[]
  stats: TapStats
  error: (Error & { code?: string }) | undefined
}

export async function collect (spec: string, options: TapSourceOptions = {}): Promise<Collected> {
  const source = openTapSource(spec, options)
  const records: FlowRecord[] = []
  let error: Collected['error']
  try {
    for await (const batch of source) records.push(...batch.records())
  } catch (e) {
    error = e as Collected['error']
  }
  return { records, stats: source.stats(), error }
}

let dir: string | undefined

/** Writes `bytes` to a fresh file in a per-process temporary directory and returns its path. */
export function tempFile (name: string, bytes: Buffer | string): string {
  dir ??= mkdtempSync(join(tmpdir(), 'shadowflow-tap-'))
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

/** The records that close a flow (END or EVICTED): one per flow, with its final counts. */
export function finalRecords (records: FlowRecord[]): FlowRecord[] {
  return records.filter(r => r.kind === 'end' || r.kind === 'evicted')
}

/**
 * Asserts what consumers rely on FlowRecord.slot for: every record of a flow carries the same slot, in
 * [1, maxSlot], and a slot passes to another flow only after the flow holding it emitted its end/evicted record.
 */
export function assertSlotDiscipline (records: readonly FlowRecord[], maxSlot: number): void {
  const slotOf = new Map<number, number>()
  const holder = new Map<number, number>()
  for (const r of records) {
    assert.ok(Number.isInteger(r.slot) && r.slot >= 1 && r.slot <= maxSlot, `flow ${r.flowId}: slot ${r.slot} outside [1, ${maxSlot}]`)
    const known = slotOf.get(r.flowId)
    if (known === undefined) {
      const other = holder.get(r.slot)
      assert.equal(other, undefined, `slot ${r.slot} given to flow ${r.flowId} while flow ${other} still holds it`)
      slotOf.set(r.flowId, r.slot)
    } else {
      assert.equal(r.slot, known, `flow ${r.flowId} moved from slot ${known} to ${r.slot}`)
    }
    if (r.kind === 'end' || r.kind === 'evicted') holder.delete(r.slot)
    else holder.set(r.slot, r.flowId)
  }
}
