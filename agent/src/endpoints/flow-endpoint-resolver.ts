// IP address → the end of a flow as Goldmane's FlowKey names it: a pod (by its generateName-aggregated name),
// a host endpoint, the network set with the longest prefix containing the address, or else the network `pub`
// (public) or `pvt` (private) — the order Felix's flow logs use. Destination cluster IPs also give the service
// fields. Also home of the "namespace/pod or IP" resolution shared by `explain` and the agent's /debug/explain.
import { UnknownEndpointError } from '../errors.js'
import type { FlowEnd, FlowEndResolver, FlowService } from '../flows/flow-end.js'
import type { PolicyEndpoint, WorkloadEndpoint } from '../policy/endpoint-model.js'
import { cidrContains, parseCidr, parseIp, type Cidr, type IpAddress } from '../policy/ip-address.js'
import type { FlowEndInput } from '../policy/policy-engine.js'
import type { Labels } from '../policy/resources.js'
import { closestName } from '../text/closest-name.js'
import type { InventoryDirectory } from './inventory-directory.js'

/** Ranges Felix reports as `pvt`: RFC 1918, shared address space (RFC 6598), loopback, link-local, ULA (RFC 4193). */
export const PRIVATE_NETWORKS: readonly Cidr[] = Object.freeze([
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16',
  'fc00::/7', 'fe80::/10', '::1/128'
].map(text => parseCidr(text) as Cidr))

/** True when an address is in a private, loopback or link-local range. */
export function isPrivateAddress (ip: IpAddress): boolean {
  return PRIVATE_NETWORKS.some(c => cidrContains(c, ip))
}

/** `key=value` strings of a label map, sorted (Goldmane's source_labels/dest_labels form). */
export function labelStrings (labels: Labels): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort()
}

export interface FlowEndpointResolverOptions {
  /** This node's name: pods with this `spec.nodeName` and host endpoints with this `spec.node` are local. */
  nodeName: string
  /** Treat every pod and host endpoint as local (replay reports both ends of every flow). */
  allLocal?: boolean
  /** Bound of the per-address cache; reaching it clears the cache (counted). */
  cacheSize?: number
}

/** A FlowEndResolver over one InventoryDirectory generation (a reload builds a new resolver). */
export class FlowEndpointResolver implements FlowEndResolver {
  private readonly cache = new Map<string, FlowEnd | null>()
  private readonly cacheSize: number
  /** Times the cache reached its bound and was cleared. */
  cacheResets = 0
  /** The next FlowEnd.index (restarts with the cache, so indexes stay below the cache's bound). */
  private nextIndex = 0

  constructor (readonly directory: InventoryDirectory, private readonly options: FlowEndpointResolverOptions) {
    this.cacheSize = options.cacheSize ?? 65536
  }

  resolve (address: string): FlowEnd | undefined {
    let end = this.cache.get(address)
    if (end === undefined) {
      // Emptied before resolving, so the new end is the first of the new numbering.
      if (this.cache.size >= this.cacheSize) { this.cache.clear(); this.cacheResets++; this.nextIndex = 0 }
      const ip = parseIp(address)
      end = ip === undefined ? null : this.resolveIp(ip)
      this.cache.set(address, end)
    }
    return end ?? undefined
  }

  /** The flow end of a parsed address (uncached). */
  resolveIp (ip: IpAddress): FlowEnd {
    const endpoint = this.directory.endpointForIp(ip)
    if (endpoint !== undefined) return this.endpointEnd(ip, endpoint)
    const set = this.directory.networkSetForIp(ip)
    if (set !== undefined) {
      return { ip, endpoint: undefined, name: set.name, namespace: set.namespace ?? '', type: 'NetworkSet', labels: labelStrings(set.labels), local: false, index: this.nextIndex++ }
    }
    return { ip, endpoint: undefined, name: isPrivateAddress(ip) ? 'pvt' : 'pub', namespace: '', type: 'Network', labels: [], local: false, index: this.nextIndex++ }
  }

  private endpointEnd (ip: IpAddress, endpoint: PolicyEndpoint): FlowEnd {
    const local = this.options.allLocal === true || (endpoint.nodeName !== undefined && endpoint.nodeName === this.options.nodeName)
    if (endpoint.kind === 'workload') {
      return { ip, endpoint, name: endpoint.aggregatedName, namespace: endpoint.namespace, type: 'WorkloadEndpoint', labels: labelStrings(endpoint.labels), local, index: this.nextIndex++ }
    }
    return { ip, endpoint, name: endpoint.name, namespace: '', type: 'HostEndpoint', labels: labelStrings(endpoint.labels), local, index: this.nextIndex++ }
  }

  serviceFor (address: string, protocol: number, port: number): FlowService | undefined {
    const ip = parseIp(address)
    if (ip === undefined) return undefined
    const service = this.directory.serviceForIp(ip)
    if (service === undefined) return undefined
    const servicePort = service.ports.find(p => p.port === port && p.protocol === protocol)
    return { name: service.name, namespace: service.namespace, portName: servicePort?.name ?? '', port: servicePort?.port ?? port }
  }
}

/** Resolves `ns/pod`, a unique pod name, or an IP address to one end of a flow (for `explain`-style queries). */
export function resolveFlowEnd (text: string, directory: InventoryDirectory): FlowEndInput & { label: string } {
  const ip = parseIp(text)
  if (ip !== undefined) {
    const endpoint = directory.endpointForIp(ip)
    return { ip, ...(endpoint === undefined ? {} : { endpoint }), label: endpoint === undefined ? text : `${endpointLabel(endpoint)} (${text})` }
  }
  const slash = text.indexOf('/')
  let endpoint: WorkloadEndpoint | undefined
  if (slash > 0) {
    endpoint = directory.workload(text.slice(0, slash), text.slice(slash + 1))
  } else {
    const candidates = directory.workloads.filter(w => w.name === text)
    if (candidates.length > 1) throw new UnknownEndpointError(`"${text}" names pods in several namespaces (${candidates.map(c => c.namespace).join(', ')}); write namespace/name`)
    endpoint = candidates[0]
  }
  if (endpoint === undefined) {
    const names = directory.workloads.map(w => `${w.namespace}/${w.name}`)
    const hint = closestName(text, names, { maxDistance: 2 })
    throw new UnknownEndpointError(`no pod "${text}" in the inventory${hint === undefined ? '' : ` (did you mean "${hint}"?)`}; give namespace/name of a Pod in the -f files, or an IP address`)
  }
  const first = endpoint.ips[0]
  return { endpoint, ...(first === undefined ? {} : { ip: first }), label: endpointLabel(endpoint) }
}

/**
 * The destination end of an `explain`-style query with its port. A Service cluster IP is followed to the backend
 * pod it leads to (policy applies after DNAT, on the pod), and the label says so.
 */
export function resolveDestination (dst: FlowEndInput & { label: string }, protocol: number, port: number | undefined, directory: InventoryDirectory): FlowEndInput & { label: string } {
  const ip = dst.ip
  if (dst.endpoint !== undefined || ip === undefined || port === undefined) return { ...dst, ...(port === undefined ? {} : { port }) }
  const service = directory.serviceForIp(ip)
  if (service === undefined) return { ...dst, port }
  const via = `Service ${service.namespace}/${service.name} ${dst.label}:${port}`
  const backend = directory.serviceBackend(service, protocol, port)
  if (backend === undefined) return { ...dst, port, label: `${dst.label} (${via}: no backend pod in the inventory, ingress not evaluated)` }
  const backendIp = backend.endpoint.ips[0]
  return { endpoint: backend.endpoint, ...(backendIp === undefined ? {} : { ip: backendIp }), port: backend.port, label: `${endpointLabel(backend.endpoint)}:${backend.port} (via ${via})` }
}

/** `namespace/name` of a workload, or the host endpoint's name. */
export function endpointLabel (endpoint: { kind: string, name: string, namespace?: string | undefined }): string {
  return endpoint.namespace === undefined ? `hep:${endpoint.name}` : `${endpoint.namespace}/${endpoint.name}`
}
