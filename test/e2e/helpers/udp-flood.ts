// Builds native/tools/udp-flood.c (a paced sendmmsg UDP sender) for the live benchmark and the drop-count test.
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Compiles udp-flood into a temporary directory and returns the binary's path. */
export function buildUdpFlood (): string {
  const src = fileURLToPath(new URL('../../../../native/tools/udp-flood.c', import.meta.url))
  const out = join(mkdtempSync(join(tmpdir(), 'shadowflow-flood-')), 'udp-flood')
  const cc = spawnSync('cc', ['-O2', '-o', out, src], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`cannot build udp-flood: ${cc.stderr || cc.error?.message}`)
  return out
}
