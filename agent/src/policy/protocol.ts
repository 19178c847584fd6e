// Protocol names and numbers as Calico's API accepts them (numorstring.Protocol): TCP, UDP, ICMP, ICMPv6, SCTP,
// UDPLite, or a number 1–255. Evaluation works on numbers only.

/** IANA protocol numbers of the names Calico accepts, upper-cased. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132, UDPLITE: 136
})

/** The names flows are printed with. */
const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([[1, 'ICMP'], [6, 'TCP'], [17, 'UDP'], [58, 'ICMPv6'], [132, 'SCTP'], [136, 'UDPLite']])

/** Protocol number of a name or number; undefined when it is neither a known name nor 1–255. */
export function protocolNumber (protocol: string | number): number | undefined {
  if (typeof protocol === 'number') return Number.isInteger(protocol) && protocol >= 1 && protocol <= 255 ? protocol : undefined
  if (/^\d+$/.test(protocol)) return protocolNumber(Number(protocol))
  return PROTOCOL_NUMBERS[protocol.toUpperCase()]
}

/** Name of a protocol number for output (`TCP`), or the number as text. */
export function protocolName (protocol: number): string {
  return PROTOCOL_NAMES.get(protocol) ?? String(protocol)
}

/** Protocols whose rules may carry ports. */
export function protocolHasPorts (protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 136
}
