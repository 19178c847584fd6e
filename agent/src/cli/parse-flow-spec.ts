// Protocol and port arguments of `explain` and `matrix`, and the JSON-lines flow form of `explain --flows`.
import { UsageError } from '../errors.js'
import { protocolNumber } from '../policy/protocol.js'

/** Parses a protocol name or number (TCP, udp, 132). */
export function parseProtocol (text: string | undefined, fallback = 'TCP'): number {
  const value = text ?? fallback
  const n = protocolNumber(value)
  if (n === undefined) throw new UsageError(`"${value}" is not a protocol: use TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number 1-255`)
  return n
}

/** Parses a port 0–65535; undefined stays undefined. */
export function parsePort (text: string | number | undefined, what = 'port'): number | undefined {
  if (text === undefined) return undefined
  const n = typeof text === 'number' ? text : /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${what} "${text}" is not a port number 0-65535`)
  return n
}
