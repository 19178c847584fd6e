// Parsing and validation of tap source strings and options (all validation lives here, not in C++).
import { TapError } from '../errors.js'

/** A parsed `pcap:`, `pcap-file:`, `synthetic:` or `ebpf:` source string. */
export type TapSourceSpec =
  | { kind: 'pcap', interfaces: string[] }
  | { kind: 'ebpf', interfaces: string[] }
  | { kind: 'pcap-file', path: string }
  | { kind: 'synthetic', flows: number, rate: number }

/** Options shared by every source plus the ones of each kind; all optional. */
export interface TapSourceOptions {
  /** pcap: BPF capture filter (tcpdump syntax). */
  filter?: string
  /** pcap: bytes captured per packet; just large enough for headers by default (256). */
  snaplen?: number
  /** pcap: promiscuous mode (off by default). */
  promiscuous?: boolean
  /** pcap: kernel ring size per interface in bytes (32 MiB). */
  bufferBytes?: number
  /** pcap, ebpf: how often interface globs are re-matched to pick up new interfaces (1000 ms). */
  rescanMs?: number
  /** ebpf: host interfaces (names or globs, e.g. `eth0`) tapped as well as the workload interfaces of the spec. */
  hostInterfaces?: string[]
  /** ebpf: what to do when the kernel or the privileges refuse eBPF: open `pcap:` on the same interfaces, or fail (default). */
  fallback?: 'pcap' | 'none'
  /** ebpf: how often the kernel flow map is swept for active-timeout updates, idle expiry and evictions (1000 ms). */
  sweepMs?: number
  /** ebpf: ring buffer for flow start / TCP close events, in bytes; a power of two (1 MiB). */
  ringBytes?: number
  /**
   * ebpf: how the program is attached to each hook: `tcx` links (Linux 6.6+: no qdisc or classifier layers, gone
   * with the process), `clsact` filters (any kernel the tap runs on), or `auto` (default): tcx when the kernel has
   * it, else clsact. `stats().attach.mode` says which was chosen.
   */
  attach?: 'auto' | 'tcx' | 'clsact'
  /** pcap-file: 0 = as fast as possible (default), 1 = recorded speed, 2 = twice as fast. */
  speed?: number
  /** Flow table: end a flow after this long without packets (60 s). */
  idleTimeoutMs?: number
  /** Flow table: emit an update for a long-lived flow this often (15 s; 0 = never). */
  activeTimeoutMs?: number
  /** Flow table: keep a closed TCP connection this long for stragglers (2 s). */
  closeLingerMs?: number
  /** Flow table: hard bound on flows; the least recently used one is evicted and counted (262144). */
  maxFlows?: number
  /** Flow table: emit a `start` record per new flow (true). */
  emitStart?: boolean
  /** synthetic: number of endpoints (1000). */
  endpoints?: number
  /** synthetic: Zipf exponent of endpoint popularity (1.0; 0 = uniform). */
  skew?: number
  /** synthetic: > 0 gives every flow one end among the first `localEndpoints` endpoints (a node's own pods). */
  localEndpoints?: number
  /** synthetic: stop after this many records (0 = never). */
  limit?: number
  /** synthetic: random seed. */
  seed?: number
  /** Records per native batch (1024). */
  batchRecords?: number
  /** Records the TypeScript side reads per batch delivered to the iterator (4096). */
  readRecords?: number
}

/** How an ebpf: source attaches its program (option `attach`). */
export const ATTACH_MODES = ['auto', 'tcx', 'clsact'] as const

const GLOB_OR_NAME = /^[A-Za-z0-9_.:@*?[\]-]{1,64}$/

function bad (message: string): TapError {
  return new TapError('ERR_TAP_SOURCE', message)
}

function parseCount (text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw bad(`${what} in '${spec}' must be a non-negative integer, got '${text}'`)
  return Number(text)
}

function parseInterfaces (scheme: string, rest: string, spec: string): string[] {
  const interfaces = rest.split(',').map(s => s.trim()).filter(s => s !== '')
  if (interfaces.length === 0) {
    throw bad(scheme === 'pcap'
      ? `'${spec}' names no interface; expected pcap:<iface>[,<iface>…], a glob like pcap:veth* or pcap:any`
      : `'${spec}' names no interface; expected ebpf:<iface>[,<iface>…] or a glob like ebpf:cali*`)
  }
  for (const name of interfaces) {
    if (!GLOB_OR_NAME.test(name)) throw bad(`'${name}' in '${spec}' is not an interface name or glob`)
    if (scheme === 'ebpf' && name === 'any') throw bad(`'${spec}': the ebpf source attaches to real interfaces; use a glob (ebpf:*) rather than 'any'`)
  }
  return interfaces
}

/** Parses `pcap:eth0,veth*`, `pcap:any`, `pcap-file:/path/to.pcap`, `synthetic:<flows>,<rate>`, `ebpf:cali*`. */
export function parseTapSourceSpec (spec: string): TapSourceSpec {
  const colon = spec.indexOf(':')
  const scheme = colon < 0 ? spec : spec.slice(0, colon)
  const rest = colon < 0 ? '' : spec.slice(colon + 1)
  switch (scheme) {
    case 'pcap':
      return { kind: 'pcap', interfaces: parseInterfaces(scheme, rest, spec) }
    case 'ebpf':
      return { kind: 'ebpf', interfaces: parseInterfaces(scheme, rest, spec) }
    case 'pcap-file':
      if (rest === '') throw bad(`'${spec}' names no file; expected pcap-file:<path>`)
      return { kind: 'pcap-file', path: rest }
    case 'synthetic': {
      const parts = rest.split(',')
      if (parts.length !== 2) throw bad(`'${spec}' must be synthetic:<flows>,<rate> (rate in records/s, 0 = unlimited)`)
      const flows = parseCount(parts[0]!, 'flows', spec)
      const rate = parseCount(parts[1]!, 'rate', spec)
      if (flows < 1) throw bad(`flows in '${spec}' must be at least 1`)
      return { kind: 'synthetic', flows, rate }
    }
    default:
      throw bad(`unknown tap source '${spec}'; expected pcap:<iface>[,…], ebpf:<iface>[,…], pcap-file:<path> or synthetic:<flows>,<rate>`)
  }
}

type NumberRule = [key: keyof TapSourceOptions, min: number, max: number, integer: boolean]

const NUMBER_RULES: NumberRule[] = [
  ['snaplen', 64, 65535, true],
  ['bufferBytes', 1 << 16, 1 << 30, true],
  ['rescanMs', 10, 3_600_000, true],
  ['speed', 0, 1e6, false],
  ['idleTimeoutMs', 1, 86_400_000, false],
  ['activeTimeoutMs', 0, 86_400_000, false],
  ['closeLingerMs', 0, 3_600_000, false],
  ['maxFlows', 1, 1 << 26, true],
  ['endpoints', 1, 1 << 24, true],
  ['skew', 0, 10, false],
  ['localEndpoints', 0, 1 << 24, true],
  ['limit', 0, Number.MAX_SAFE_INTEGER, true],
  ['seed', 0, 2 ** 32, true],
  ['batchRecords', 1, 65536, true],
  ['readRecords', 1, 1 << 20, true],
  ['sweepMs', 10, 3_600_000, true],
  ['ringBytes', 1 << 12, 1 << 30, true]
]

const KNOWN = new Set<string>([...NUMBER_RULES.map(r => r[0]), 'filter', 'promiscuous', 'emitStart', 'hostInterfaces', 'fallback', 'attach'])

const TABLE_OPTIONS = ['idleTimeoutMs', 'activeTimeoutMs', 'closeLingerMs', 'maxFlows', 'emitStart']
const COMMON_OPTIONS = ['batchRecords', 'readRecords']
/** Which options each kind of source takes; any other one is a mistake worth reporting, not ignoring. */
const APPLICABLE: Record<TapSourceSpec['kind'], ReadonlySet<string>> = {
  pcap: new Set([...COMMON_OPTIONS, ...TABLE_OPTIONS, 'filter', 'snaplen', 'promiscuous', 'bufferBytes', 'rescanMs']),
  'pcap-file': new Set([...COMMON_OPTIONS, ...TABLE_OPTIONS, 'speed']),
  synthetic: new Set([...COMMON_OPTIONS, 'endpoints', 'skew', 'localEndpoints', 'limit', 'seed']),
  ebpf: new Set([...COMMON_OPTIONS, ...TABLE_OPTIONS, 'rescanMs', 'hostInterfaces', 'fallback', 'sweepMs', 'ringBytes', 'attach'])
}

/**
 * Checks options (for a source of `kind`, when given); every problem is reported at once in one ERR_TAP_SOURCE
 * error.
 */
export function validateTapSourceOptions (options: TapSourceOptions, kind?: TapSourceSpec['kind']): void {
  const problems: string[] = []
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) problems.push(`unknown option '${key}'`)
    else if (kind !== undefined && !APPLICABLE[kind].has(key)) problems.push(`option '${key}' does not apply to ${kind} sources`)
  }
  for (const [key, min, max, integer] of NUMBER_RULES) {
    const v = options[key]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(v)}`)
    }
  }
  if (options.filter !== undefined && typeof options.filter !== 'string') problems.push('filter must be a string')
  for (const key of ['promiscuous', 'emitStart'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') problems.push(`${key} must be a boolean`)
  }
  if (options.ringBytes !== undefined && Number.isInteger(options.ringBytes) && (options.ringBytes & (options.ringBytes - 1)) !== 0) {
    problems.push(`ringBytes must be a power of two, got ${options.ringBytes}`)
  }
  if (options.fallback !== undefined && options.fallback !== 'pcap' && options.fallback !== 'none') {
    problems.push(`fallback must be 'pcap' or 'none', got ${JSON.stringify(options.fallback)}`)
  }
  if (options.attach !== undefined && !(ATTACH_MODES as readonly unknown[]).includes(options.attach)) {
    problems.push(`attach must be ${ATTACH_MODES.map(m => `'${m}'`).join(', ')}, got ${JSON.stringify(options.attach)}`)
  }
  if (options.hostInterfaces !== undefined) {
    if (!Array.isArray(options.hostInterfaces)) problems.push('hostInterfaces must be an array of interface names or globs')
    else {
      for (const name of options.hostInterfaces) {
        if (typeof name !== 'string' || !GLOB_OR_NAME.test(name)) problems.push(`hostInterfaces: '${String(name)}' is not an interface name or glob`)
      }
    }
  }
  if (problems.length > 0) throw bad(`invalid tap options: ${problems.join('; ')}`)
}
