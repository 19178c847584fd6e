// Wire requests of the aggregator's query services → validated domain queries. Every rejection is a
// RequestInvalidError naming the wire field (INVALID_ARGUMENT through grpc-status.ts); limits that protect the
// server's memory are checked here too, so a handler only runs on a request it can afford.
import { RequestInvalidError } from '../errors.js'
import type { FlowFilter } from '../flows/flow-filter.js'
import { FLOW_INTERVAL_SECONDS } from '../flows/flow-log.js'
import { flowFilterFromWire, policyMatchFromWire } from '../grpc/goldmane-mapping.js'
import type {
  WireFilter, WireFilterHintsRequest, WireFlowListRequest, WireFlowStreamRequest, WireImpactRequest, WireStatisticsRequest
} from '../grpc/wire-types.js'
import type { FilterHintType, FilterHintsQuery, FlowListQuery, FlowSortBy } from './flow-store.js'
import type { ImpactQuery } from './impact-report.js'
import type { StatisticsGroupBy, StatisticsQuery, StatisticType } from './policy-statistics.js'

/** Bounds on what one request may ask. */
export interface QueryLimits {
  /** Largest page_size; also the most results an unpaged (page_size 0) List or FilterHints may return. */
  maxPageSize: number
  /** Most entries across all fields of one filter. */
  maxFilterEntries: number
  /** Longest string in a filter. */
  maxFilterStringLength: number
  /** Most sort options. */
  maxSortOptions: number
  /** Most examples per impact group. */
  maxImpactExamples: number
  /** Most concurrent live streams (Flows.Stream and followed fan-outs). */
  maxLiveStreams: number
}

/** The default limits. */
export const DEFAULT_QUERY_LIMITS: Readonly<QueryLimits> = Object.freeze({
  maxPageSize: 10_000,
  maxFilterEntries: 256,
  maxFilterStringLength: 1024,
  maxSortOptions: 4,
  maxImpactExamples: 100,
  maxLiveStreams: 256
})

const SORT_BY: ReadonlySet<string> = new Set<FlowSortBy>(['Time', 'DestName', 'DestNamespace', 'DestType', 'SourceName', 'SourceNamespace', 'SourceType'])
const FILTER_TYPES: ReadonlyMap<string, FilterHintType> = new Map([
  ['FilterTypeDestName', 'DestName'], ['FilterTypeSourceName', 'SourceName'], ['FilterTypeDestNamespace', 'DestNamespace'],
  ['FilterTypeSourceNamespace', 'SourceNamespace'], ['FilterTypePolicyTier', 'PolicyTier'], ['FilterTypePolicyName', 'PolicyName']
])
const STATISTIC_TYPES: ReadonlySet<string> = new Set<StatisticType>(['PacketCount', 'ByteCount', 'LiveConnectionCount'])
const GROUP_BY: ReadonlySet<string> = new Set<StatisticsGroupBy>(['Policy', 'PolicyRule'])

function integer (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new RequestInvalidError(`expected an integer, got ${String(value)}`, field)
  return value
}

function paging (page: unknown, pageSize: unknown, limits: QueryLimits): { page: number, pageSize: number } {
  const p = integer(page, 'page')
  const size = integer(pageSize, 'page_size')
  if (size < 0) throw new RequestInvalidError(`page_size must not be negative, got ${size}`, 'page_size')
  if (size > limits.maxPageSize) throw new RequestInvalidError(`page_size ${size} is above the limit of ${limits.maxPageSize}`, 'page_size')
  if (p < 0) throw new RequestInvalidError(`page must not be negative, got ${p}`, 'page')
  if (p > 0 && size === 0) throw new RequestInvalidError('page needs a page_size', 'page')
  return { page: p, pageSize: size }
}

function aggregationInterval (value: unknown, field: string): number {
  const seconds = integer(value, field)
  if (seconds < 0 || seconds % FLOW_INTERVAL_SECONDS !== 0) {
    throw new RequestInvalidError(`aggregation interval must be a non-negative multiple of ${FLOW_INTERVAL_SECONDS} seconds, got ${seconds}`, field)
  }
  return seconds
}

/** Validates a wire filter's size, then maps it (the mapping validates its values). */
export function filterFromRequest (wire: WireFilter | null | undefined, limits: QueryLimits, pendingChangedOnly = false, field = 'filter'): FlowFilter | undefined {
  if (wire === null || wire === undefined) return pendingChangedOnly ? flowFilterFromWire(undefined, true, field) : undefined
  const strings = [...wire.sourceNames, ...wire.sourceNamespaces, ...wire.destNames, ...wire.destNamespaces, ...wire.protocols]
  const entries = strings.length + wire.destPorts.length + wire.actions.length + wire.policies.length
  if (entries > limits.maxFilterEntries) {
    throw new RequestInvalidError(`the filter has ${entries} entries, more than the limit of ${limits.maxFilterEntries}`, field)
  }
  const long = [...strings.map(s => s.value), ...wire.policies.flatMap(p => [p.name, p.namespace, p.tier])]
    .find(v => typeof v === 'string' && v.length > limits.maxFilterStringLength)
  if (long !== undefined) {
    throw new RequestInvalidError(`a filter value is ${long.length} characters long, more than the limit of ${limits.maxFilterStringLength}`, field)
  }
  return flowFilterFromWire(wire, pendingChangedOnly, field)
}

/** goldmane.FlowListRequest → FlowListQuery. */
export function flowListQueryFromWire (req: WireFlowListRequest, limits: QueryLimits): FlowListQuery {
  const { page, pageSize } = paging(req.page, req.pageSize, limits)
  if (req.sortBy.length > limits.maxSortOptions) {
    throw new RequestInvalidError(`${req.sortBy.length} sort options, more than the limit of ${limits.maxSortOptions}`, 'sort_by')
  }
  const sortBy = req.sortBy.map((option, i) => {
    const value = option.sortBy as string
    if (!SORT_BY.has(value)) throw new RequestInvalidError(`unknown sort field ${String(option.sortBy)}`, `sort_by[${i}].sort_by`)
    return value as FlowSortBy
  })
  const filter = filterFromRequest(req.filter, limits)
  return {
    startTimeGte: integer(req.startTimeGte, 'start_time_gte'),
    startTimeLt: integer(req.startTimeLt, 'start_time_lt'),
    page,
    pageSize,
    sortBy,
    ...(filter === undefined ? {} : { filter }),
    aggregationIntervalSeconds: aggregationInterval(req.aggregationInterval, 'aggregation_interval')
  }
}

/** goldmane.FlowStreamRequest → start and filter (the interval must be 15 s, or 0 for the default). */
export function flowStreamQueryFromWire (req: WireFlowStreamRequest, limits: QueryLimits): { startTimeGte: number, filter: FlowFilter | undefined } {
  const interval = aggregationInterval(req.aggregationInterval, 'aggregation_interval')
  if (interval !== 0 && interval !== FLOW_INTERVAL_SECONDS) {
    throw new RequestInvalidError(`a stream's aggregation interval is ${FLOW_INTERVAL_SECONDS} seconds, got ${interval}`, 'aggregation_interval')
  }
  return { startTimeGte: integer(req.startTimeGte, 'start_time_gte'), filter: filterFromRequest(req.filter, limits) }
}

/** goldmane.FilterHintsRequest → FilterHintsQuery. */
export function filterHintsQueryFromWire (req: WireFilterHintsRequest, limits: QueryLimits): FilterHintsQuery {
  const type = FILTER_TYPES.get(req.type as string)
  if (type === undefined) throw new RequestInvalidError(`filter hints need a type (FilterTypeDestName, …), got ${String(req.type)}`, 'type')
  const filter = filterFromRequest(req.filter, limits)
  return {
    type,
    ...(filter === undefined ? {} : { filter }),
    startTimeGte: integer(req.startTimeGte, 'start_time_gte'),
    startTimeLt: integer(req.startTimeLt, 'start_time_lt'),
    ...paging(req.page, req.pageSize, limits)
  }
}

/** goldmane.StatisticsRequest → StatisticsQuery. */
export function statisticsQueryFromWire (req: WireStatisticsRequest): StatisticsQuery {
  if (!STATISTIC_TYPES.has(req.type as string)) throw new RequestInvalidError(`unknown statistic type ${String(req.type)}`, 'type')
  if (!GROUP_BY.has(req.groupBy as string)) throw new RequestInvalidError(`unknown group_by ${String(req.groupBy)}`, 'group_by')
  if (typeof req.timeSeries !== 'boolean') throw new RequestInvalidError('time_series must be a boolean', 'time_series')
  return {
    startTimeGte: integer(req.startTimeGte, 'start_time_gte'),
    startTimeLt: integer(req.startTimeLt, 'start_time_lt'),
    type: req.type,
    groupBy: req.groupBy,
    ...(req.policyMatch === null || req.policyMatch === undefined ? {} : { policyMatch: policyMatchFromWire(req.policyMatch, 'policy_match') }),
    timeSeries: req.timeSeries
  }
}

/** shadowflow.v1.ImpactRequest → ImpactQuery. */
export function impactQueryFromWire (req: WireImpactRequest, limits: QueryLimits): ImpactQuery {
  const examples = integer(req.maxExamples, 'max_examples')
  if (examples < 0 || examples > limits.maxImpactExamples) {
    throw new RequestInvalidError(`max_examples must be between 0 and ${limits.maxImpactExamples}, got ${examples}`, 'max_examples')
  }
  const filter = filterFromRequest(req.filter, limits)
  return {
    startTimeGte: integer(req.startTimeGte, 'start_time_gte'),
    startTimeLt: integer(req.startTimeLt, 'start_time_lt'),
    ...(filter === undefined ? {} : { filter }),
    ...(examples === 0 ? {} : { maxExamples: examples })
  }
}
