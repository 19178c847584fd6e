// What the flow-log aggregator needs to know about the two ends of a flow, behind a small interface so that
// flows/ stays pure: endpoints/ implements it from the inventory (FlowEndpointResolver), tests with tables.
import type { PolicyEndpoint } from '../policy/endpoint-model.js'
import type { IpAddress } from '../policy/ip-address.js'
import type { EndpointType, FlowKey } from './flow-log.js'

/** One end of a flow as a flow log names it, and the endpoint policy is evaluated on (if any). */
export interface FlowEnd {
  readonly ip: IpAddress
  /** The pod or host endpoint that owns the address; undefined for network sets and networks. */
  readonly endpoint: PolicyEndpoint | undefined
  /** Goldmane's name: aggregated pod name, host endpoint name, network set name, or `pub`/`pvt`. */
  readonly name: string
  /** The pod's or namespaced network set's namespace; '' otherwise. */
  readonly namespace: string
  readonly type: EndpointType
  /** `key=value` labels, sorted. */
  readonly labels: readonly string[]
  /** True when this end is an endpoint of this node (it reports the flow). */
  readonly local: boolean
  /**
   * A small number for cache keys, unique among the ends the resolver hands out until it empties its cache (then
   * numbers start again: a cache keyed by it must also compare the end object).
   */
  readonly index: number
}

/** The Service a destination address (a cluster IP) belongs to, as the service fields of a FlowKey. */
export interface FlowService {
  readonly name: string
  readonly namespace: string
  /** The service port's name ('' when unnamed or when no port matched). */
  readonly portName: string
  readonly port: number
}

/** The naming fields a FlowKey and a RawFlow share, from the two ends and the destination's service. */
export type FlowEndFields = Pick<FlowKey, 'sourceName' | 'sourceNamespace' | 'sourceType' | 'destName' | 'destNamespace' | 'destType' |
  'destServiceName' | 'destServiceNamespace' | 'destServicePortName' | 'destServicePort'>

export function flowEndFields (src: FlowEnd, dst: FlowEnd, service: FlowService | undefined): FlowEndFields {
  return {
    sourceName: src.name,
    sourceNamespace: src.namespace,
    sourceType: src.type,
    destName: dst.name,
    destNamespace: dst.namespace,
    destType: dst.type,
    destServiceName: service?.name ?? '',
    destServiceNamespace: service?.namespace ?? '',
    destServicePortName: service?.portName ?? '',
    destServicePort: service?.port ?? 0
  }
}

/** Resolves addresses to flow ends; implementations cache and must not throw. */
export interface FlowEndResolver {
  /** The end an address (canonical text) stands for; undefined when it is not an address. */
  resolve: (address: string) => FlowEnd | undefined
  /** The Service whose cluster IP `address` is, with the port matching `protocol`/`port`. */
  serviceFor: (address: string, protocol: number, port: number) => FlowService | undefined
}
