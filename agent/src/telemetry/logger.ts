// The one pino root logger of a process; modules get `logger.child({ module })` through their constructor.
// Messages are static text, data goes in fields; nothing logs per packet (counters do that job).
import { pino, type Logger } from 'pino'

export type { Logger } from 'pino'

export interface LoggerOptions {
  level?: string
  /** File descriptor or stream to write JSON lines to (stderr by default). */
  destination?: number | NodeJS.WritableStream
  /** Fields on every line (e.g. { node }). */
  base?: Record<string, unknown>
}

/** Creates the root logger. Writes synchronously to a descriptor, so nothing is lost when the process exits. */
export function createLogger (options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination
  return pino({ level: options.level ?? 'info', base: { pid: process.pid, ...options.base } }, stream)
}

/** A logger that drops everything (library use, tests). */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
