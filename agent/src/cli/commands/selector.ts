// `shadowflow selector`: parse a Calico selector, print its canonical form and whether it matches labels;
// `--jsonl` is the batch form of the conformance contract.
import { createInterface } from 'node:readline'
import { SelectorSyntaxError, ShadowflowError, UsageError } from '../../errors.js'
import { compileSelectorText, selectorUniqueId, SelectorCache } from '../../policy/selector/index.js'
import { HELP_FLAG, booleanFlag, formatFlags, parseArgs, stringFlag, type FlagSpec } from '../args.js'
import type { Command } from '../command.js'
import { makeStyle } from '../format-verdicts.js'

const FLAGS: readonly FlagSpec[] = [
  { name: 'labels', short: 'l', type: 'string', valueName: 'k=v,…', help: 'labels to match against (comma-separated key=value)' },
  { name: 'jsonl', type: 'boolean', help: 'batch: read {"selector","labels"} lines on stdin, write {"match","canonical"} or {"error"} lines' },
  HELP_FLAG
]

/** Parses `k=v,k2=v2` (a key without `=` has the empty value). */
export function parseLabelList (text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const part of text.split(',')) {
    if (part.trim() === '') continue
    const eq = part.indexOf('=')
    const key = (eq < 0 ? part : part.slice(0, eq)).trim()
    if (key === '') throw new UsageError(`empty label key in "${part}"`)
    labels[key] = eq < 0 ? '' : part.slice(eq + 1)
  }
  return labels
}

function isLabelMap (v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(x => typeof x === 'string')
}

export const selectorCommand: Command = {
  name: 'selector',
  summary: 'parse a Calico selector, print its canonical form, match it against labels',
  usage: "selector 'EXPR' [--labels k=v,…]\n       selector --jsonl < cases.jsonl",
  flags: FLAGS,
  async run (argv, io) {
    const args = parseArgs(argv, FLAGS)
    if (booleanFlag(args, 'help')) { io.stdout.write(`Usage: shadowflow ${this.usage}\n\n${formatFlags(FLAGS)}\n`); return 0 }
    if (booleanFlag(args, 'jsonl')) {
      if (args.positionals.length > 0) throw new UsageError('--jsonl reads selectors from stdin; give no selector argument')
      const cache = new SelectorCache()
      let failures = 0
      for await (const line of createInterface({ input: io.stdin, crlfDelay: Infinity })) {
        if (line.trim() === '') continue
        let out: object
        try {
          const value: unknown = JSON.parse(line)
          const o = (typeof value === 'object' && value !== null ? value : {}) as { selector?: unknown, labels?: unknown }
          if (typeof o.selector !== 'string') throw new UsageError('each line needs "selector" (a string)')
          const labels = o.labels ?? {}
          if (!isLabelMap(labels)) throw new UsageError('"labels" must map strings to strings')
          const compiled = cache.compile(o.selector)
          out = { match: compiled.matches(labels), canonical: compiled.canonical }
        } catch (error) {
          if (!(error instanceof ShadowflowError) && !(error instanceof SyntaxError)) throw error
          failures++
          out = { error: error instanceof ShadowflowError ? error.message : `not JSON: ${error.message}` }
        }
        io.stdout.write(JSON.stringify(out) + '\n')
      }
      return failures > 0 ? 1 : 0
    }
    if (args.positionals.length !== 1) throw new UsageError("give exactly one selector, quoted: shadowflow selector 'role == \"db\"'")
    const text = args.positionals[0] as string
    const style = makeStyle(io.isTty)
    let compiled
    try {
      compiled = compileSelectorText(text)
    } catch (error) {
      if (!(error instanceof SelectorSyntaxError)) throw error
      const column = error.location.column ?? 1
      io.stderr.write(`shadowflow selector: ${error.message} [${error.code}]\n  ${text}\n  ${' '.repeat(Math.max(0, column - 1))}^\n`)
      return 2
    }
    io.stdout.write(`canonical: ${compiled.canonical}\nunique id: ${selectorUniqueId(compiled.node)}\n`)
    const labelText = stringFlag(args, 'labels')
    if (labelText === undefined) return 0
    const matched = compiled.matches(parseLabelList(labelText))
    io.stdout.write(`labels:    ${labelText}\nresult:    ${matched ? style.green('match') : style.red('no match')}\n`)
    return matched ? 0 : 1
  }
}
