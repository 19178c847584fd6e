// Human-readable rendering of verdicts and traces for `explain`.
import type { PipelineVerdict, PolicyHit } from '../policy/policy-hit.js'

/** ANSI styling that disappears when output is not a terminal. */
export interface Style {
  bold: (s: string) => string
  green: (s: string) => string
  red: (s: string) => string
  yellow: (s: string) => string
  dim: (s: string) => string
}

/** Styles for a terminal (`tty`) or plain text. */
export function makeStyle (tty: boolean): Style {
  const wrap = (code: string) => (s: string): string => tty ? `\u001b[${code}m${s}\u001b[0m` : s
  return { bold: wrap('1'), green: wrap('32'), red: wrap('31'), yellow: wrap('33'), dim: wrap('2') }
}

/** One line describing a hit: tier, policy, rule and action. */
export function describeHit (hit: PolicyHit): string {
  const ns = (h: { namespace: string }): string => h.namespace === '' ? '' : `${h.namespace}/`
  if (hit.kind === 'Profile') return `profile ${hit.name}: ${hit.action}`
  if (hit.kind === 'EndOfTier') {
    if (hit.trigger === undefined) return `end of ${hit.tier === '__PROFILE__' ? 'profiles (no profile allows)' : `tier ${hit.tier}`}: ${hit.action}`
    return `tier ${hit.tier}: end of tier, default action ${hit.action} (policies applied, no rule matched; first: ${hit.trigger.kind} ${ns(hit.trigger)}${hit.trigger.name})`
  }
  return `tier ${hit.tier}: ${hit.kind} ${ns(hit)}${hit.name} rule ${hit.ruleIndex}: ${hit.action}`
}

function actionText (action: string, style: Style): string {
  return action === 'Allow' ? style.green(action) : style.red(action)
}

/** Renders one pipeline's verdict with both traces. */
export function formatPipeline (title: string, verdict: PipelineVerdict, srcLabel: string, dstLabel: string, style: Style, changed: boolean): string {
  const lines = [`${style.bold(title.padEnd(9))}${actionText(verdict.action, style)}${changed ? style.yellow('  (differs from enforced)') : ''}`]
  const trace = (label: string, hits: readonly PolicyHit[], what: string): void => {
    if (hits.length === 0) { lines.push(`  ${what} on ${label}: ${style.dim('not a cluster endpoint, not evaluated')}`); return }
    lines.push(`  ${what} on ${label}:`)
    for (const h of hits) lines.push(`    ${h.policyIndex + 1}. ${describeHit(h)}`)
  }
  trace(srcLabel, verdict.src, 'egress')
  trace(dstLabel, verdict.dst, 'ingress')
  return lines.join('\n')
}
