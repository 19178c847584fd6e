// The only place that loads the native addon (build/Release/shadowflow_tap.node). It checks the record-layout
// version against record-layout.ts and hands the addon the error factory, so C++ raises TapError with codes.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { AddonError, TapError } from '../errors.js'
import { BATCH_HEADER_SIZE, BATCH_MAGIC, RECORD_LAYOUT_VERSION, RECORD_SIZE } from './record-layout.js'

/** Options the addon's Tap constructor understands (validated in TypeScript before they get there). */
export interface NativeTapOptions {
  [key: string]: unknown
}

/** The addon's Tap object: one source, one worker thread. */
export interface NativeTap {
  start (onReady: () => void): void
  read (buffer: Uint8Array): number
  status (): { done: boolean, error?: Error }
  /** Counters, and a few words (`attach.mode`). */
  stats (): Record<string, number | string>
  interfaces (): string[]
  close (): void
}

/** What the addon exports. */
export interface NativeAddon {
  readonly layoutVersion: number
  readonly recordSize: number
  readonly batchHeaderSize: number
  readonly batchMagic: number
  setErrorFactory (factory: (code: string, message: string) => Error): void
  Tap: new (kind: 'pcap' | 'pcap-file' | 'synthetic' | 'ebpf', options: NativeTapOptions) => NativeTap
}

const ADDON_FILE = 'shadowflow_tap.node'
let loaded: NativeAddon | undefined

/** The repository (package) root: the nearest directory above this file with our package.json. */
function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'package.json')
    if (existsSync(candidate)) {
      try {
        if ((JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'shadowflow') return dir
      } catch { /* not ours; keep walking */ }
    }
    const parent = dirname(dir)
    if (parent === dir) throw new AddonError('ERR_ADDON_MISSING', 'cannot find the shadowflow package root to load the native addon from')
    dir = parent
  }
}

/** Loads (once) and returns the native addon, or throws AddonError saying exactly what to run. */
export function loadNativeAddon (): NativeAddon {
  if (loaded !== undefined) return loaded
  const root = packageRoot()
  const candidates = [join(root, 'build', 'Release', ADDON_FILE), join(root, 'build', 'Debug', ADDON_FILE)]
  const path = candidates.find(p => existsSync(p))
  if (path === undefined) {
    throw new AddonError('ERR_ADDON_MISSING',
      `the native tap addon is not built (looked for ${candidates.join(' and ')}); ` +
      'install the system packages with `sudo scripts/install-system-deps.sh` (libpcap-dev, a C++ compiler), ' +
      'then run `npm run build:native` (or `npm ci`, which builds it)')
  }
  let addon: NativeAddon
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon
  } catch (cause) {
    throw new AddonError('ERR_ADDON_MISSING',
      `the native tap addon at ${path} does not load (${(cause as Error).message}); rebuild it with \`npm run build:native\``, cause)
  }
  if (addon.layoutVersion !== RECORD_LAYOUT_VERSION || addon.recordSize !== RECORD_SIZE ||
      addon.batchHeaderSize !== BATCH_HEADER_SIZE || addon.batchMagic !== BATCH_MAGIC) {
    throw new AddonError('ERR_ADDON_LAYOUT',
      `the native tap addon at ${path} writes flow-record layout ${addon.layoutVersion} (${addon.recordSize} bytes) ` +
      `but this build of shadowflow reads layout ${RECORD_LAYOUT_VERSION} (${RECORD_SIZE} bytes); rebuild it with \`npm run build:native\``)
  }
  addon.setErrorFactory((code, message) => new TapError(code, message))
  loaded = addon
  return addon
}
