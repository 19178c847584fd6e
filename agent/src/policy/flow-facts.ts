// What the evaluator knows about one flow: protocol, ports and, for each end, its address, the endpoint that
// owns it and every entity (endpoint, network sets) that address belongs to. Built once per flow, read by
// every rule.
import type { Entity, PolicyEndpoint, ServiceEntity } from './endpoint-model.js'
import type { IpAddress } from './ip-address.js'

/** One end of a flow as callers know it: an address, an endpoint, or both. */
export interface FlowEndInput {
  ip?: IpAddress
  endpoint?: PolicyEndpoint
  port?: number
}

/** A flow to evaluate. */
export interface FlowInput {
  src: FlowEndInput
  dst: FlowEndInput
  /** IANA protocol number. */
  protocol: number
  icmpType?: number
  icmpCode?: number
}

/** One end of a flow. */
export interface FlowSide {
  readonly ip: IpAddress | undefined
  /** The pod or host endpoint policy is evaluated on; undefined for addresses outside the cluster. */
  readonly endpoint: PolicyEndpoint | undefined
  /** Entities selectors may match for this end: its endpoint and the network sets containing its address. */
  readonly entities: readonly Entity[]
  readonly port: number | undefined
  /** The Service whose cluster IP this end is (destination side before DNAT), if any. */
  readonly service: ServiceEntity | undefined
}

/** The facts of a flow that rules match on. */
export interface FlowFacts {
  /** IANA protocol number. */
  readonly protocol: number
  readonly icmpType: number | undefined
  readonly icmpCode: number | undefined
  readonly src: FlowSide
  readonly dst: FlowSide
}

/** IP version of a flow, from whichever end has an address. */
export function flowIpVersion (flow: FlowFacts): 4 | 6 | undefined {
  return flow.src.ip?.version ?? flow.dst.ip?.version
}
