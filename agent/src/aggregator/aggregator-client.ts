// What the online CLI commands (flows, preview, nodes) share: connecting to an aggregator with the TLS flags,
// Goldmane-style times from human durations, and proto3 JSON output of wire messages.
import { join } from 'node:path'
import type * as grpc from '@grpc/grpc-js'
import protobuf from 'protobufjs'
import { durationSeconds } from '../config/config-layers.js'
import { UsageError } from '../errors.js'
import { createGrpcClient } from '../grpc/grpc-client.js'
import { loadProtos, type TypedClientConstructor } from '../grpc/load-protos.js'
import { clientCredentialsFromFiles, type TlsFiles } from '../grpc/tls-credentials.js'

/** Parses `90`, `90s`, `15m`, `1h30m`, `2d` into seconds; throws UsageError naming `flag`. */
export function parseDurationSeconds (text: string, flag: string): number {
  const seconds = durationSeconds(text)
  if (seconds === undefined) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 90s, 15m, 1h30m, 2d)`)
  return seconds
}

/**
 * A start time in Goldmane's convention from `--since`: a duration (`15m`, `-15m`: that long ago → negative
 * relative seconds), Unix seconds, or an ISO-8601 date (absolute).
 */
export function parseSince (text: string, flag = '--since'): number {
  const trimmed = text.trim()
  if (/^\d{9,}$/.test(trimmed)) return Number(trimmed)
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed)
    if (Number.isNaN(ms)) throw new UsageError(`${flag} "${text}" is not a valid date`)
    return Math.floor(ms / 1000)
  }
  const seconds = parseDurationSeconds(trimmed.replace(/^-/, ''), flag)
  return seconds === 0 ? 0 : -seconds
}

/** How a CLI command reaches the aggregator. */
export interface AggregatorConnection extends TlsFiles {
  /** host:port */
  server: string
}

/** A client of one aggregator service with the TLS files given (plaintext without them). */
export async function connectToAggregator<C extends grpc.Client> (Client: TypedClientConstructor<C>, connection: AggregatorConnection): Promise<C> {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/.test(connection.server)) {
    throw new UsageError(`--server "${connection.server}" is not host:port`)
  }
  return createGrpcClient(Client, connection.server, await clientCredentialsFromFiles(connection))
}

let root: protobuf.Root | undefined

/** A wire message object (proto-loader shape) as canonical proto3 JSON: int64 as strings, enums by name, defaults omitted. */
export function toProto3Json (typeName: 'goldmane.Flow' | 'goldmane.FlowResult' | 'shadowflow.v1.ImpactReport' | 'shadowflow.v1.NodeInfo', message: unknown): unknown {
  if (root === undefined) {
    const protoRoot = loadProtos().protoRoot
    const r = new protobuf.Root()
    r.resolvePath = (_origin, target) => join(protoRoot, target)
    r.loadSync(['goldmane/api.proto', 'shadowflow/v1/node_flows.proto', 'shadowflow/v1/impact.proto'])
    root = r
  }
  const type = root.lookupType(typeName)
  return type.fromObject(message as Record<string, unknown>).toJSON()
}
