// Builds native/tools/tcx-tool.c (TCX queries and attachments, which Debian 12's bpftool 7.1 predates) for the
// eBPF tests and benchmark, and wraps its query.
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

let built: string | undefined

/** Compiles tcx-tool (once per process) into a temporary directory and returns the binary's path. */
export function buildTcxTool (): string {
  if (built !== undefined) return built
  const src = fileURLToPath(new URL('../../../../native/tools/tcx-tool.c', import.meta.url))
  const out = join(mkdtempSync(join(tmpdir(), 'shadowflow-tcx-')), 'tcx-tool')
  const cc = spawnSync('cc', ['-O2', '-Wall', '-o', out, src, '-lbpf'], { encoding: 'utf8' })
  if (cc.status !== 0) throw new Error(`cannot build tcx-tool: ${cc.stderr || cc.error?.message}`)
  built = out
  return out
}

/** Program ids attached with TCX to a device's ingress and egress hooks, in hook order (the kernel's query). */
export function tcxPrograms (dev: string): { ingress: number[], egress: number[] } {
  const r = spawnSync(buildTcxTool(), ['query', dev], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tcx-tool query ${dev} failed: ${r.stderr}`)
  const ids = (hook: string): number[] => (new RegExp(`^${hook}((?: \\d+)*)$`, 'm').exec(r.stdout)?.[1] ?? '').trim().split(' ').filter(Boolean).map(Number)
  return { ingress: ids('ingress'), egress: ids('egress') }
}
