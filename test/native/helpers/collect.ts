// Runs a tap source to its end and returns every record, the final stats and the error that ended it (if any).
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
