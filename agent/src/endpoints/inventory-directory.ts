// The endpoint directory built from inventory resources (Pods, HostEndpoints, NetworkSets, Namespaces,
// ServiceAccounts, Services), as files or the Kubernetes API deliver them. Entities get the labels Calico's
// datamodel gives them, so selectors behave as in Felix.
import {
  LABEL_K8S_NAMESPACE_NAME, LABEL_NAMESPACE, LABEL_NAMESPACE_NAME, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT,
  type EndpointDirectory, type Entity, type HostEndpointEntity, type NamedPort, type NamespaceEntity, type NetworkSetEntity,
  type PolicyEndpoint, type ServiceAccountEntity, type ServiceEntity, type WorkloadEndpoint
} from '../policy/endpoint-model.js'
import { cidrContains, parseCidr, parseIp, type Cidr, type IpAddress } from '../policy/ip-address.js'
import { protocolNumber } from '../policy/protocol.js'
import type { LoadedResource, Pod, Resource } from '../policy/resources.js'

// IPv4 addresses key maps by their number (no string built per lookup); IPv6 by text of the bigint.
function ipKey (ip: IpAddress): number | string { return ip.version === 4 ? ip.value : `6:${ip.value}` }

function podIps (pod: Pod): IpAddress[] {
  const texts = new Set<string>()
  if (pod.status?.podIP !== undefined) texts.add(pod.status.podIP)
  for (const p of pod.status?.podIPs ?? []) texts.add(p.ip)
  return [...texts].map(t => parseIp(t)).filter((ip): ip is IpAddress => ip !== undefined)
}

/** The name flow logs aggregate a pod under: `<generateName>*` for controller-made pods, else its name. */
export function aggregatedPodName (pod: Pod): string {
  return pod.metadata.generateName !== undefined && pod.metadata.generateName !== '' ? `${pod.metadata.generateName}*` : pod.metadata.name
}

/** An EndpointDirectory over a fixed set of inventory resources. */
export class InventoryDirectory implements EndpointDirectory {
  readonly workloads: WorkloadEndpoint[] = []
  readonly hostEndpoints: HostEndpointEntity[] = []
  readonly networkSets: NetworkSetEntity[] = []
  private readonly byIp = new Map<number | string, PolicyEndpoint>()
  private readonly entitiesCache = new Map<number | string, readonly Entity[]>()
  private readonly namespaces = new Map<string, NamespaceEntity>()
  private readonly serviceAccounts = new Map<string, ServiceAccountEntity>()
  private readonly services = new Map<string, ServiceEntity>()
  private readonly servicesByIp = new Map<number | string, ServiceEntity>()
  private readonly workloadsByName = new Map<string, WorkloadEndpoint>()
  private nextId = 0

  constructor (resources: ReadonlyArray<Resource | LoadedResource>) {
    const list = resources.map(r => 'resource' in r ? r.resource : r)
    for (const r of list) if (r.kind === 'Namespace') this.addNamespace(r.metadata.name, r.metadata.labels ?? {})
    for (const r of list) {
      switch (r.kind) {
        case 'Pod': this.addPod(r); break
        case 'HostEndpoint': this.addHostEndpoint(r); break
        case 'NetworkSet':
        case 'GlobalNetworkSet': this.addNetworkSet(r.kind === 'NetworkSet' ? r.metadata.namespace ?? 'default' : undefined, r.metadata.name, r.metadata.labels ?? {}, r.spec.nets ?? []); break
        case 'ServiceAccount': this.addServiceAccount(r.metadata.namespace ?? 'default', r.metadata.name, r.metadata.labels ?? {}); break
        case 'Service': this.addService(r); break
        default: break
      }
    }
  }

  private addNamespace (name: string, labels: Record<string, string>): NamespaceEntity {
    const ns = { name, labels: { ...labels, [LABEL_K8S_NAMESPACE_NAME]: name, [LABEL_NAMESPACE_NAME]: name } }
    this.namespaces.set(name, ns)
    return ns
  }

  private addPod (pod: Pod): void {
    // Host-networked pods share the node's address; Calico does not make them workload endpoints.
    if (pod.spec.hostNetwork === true) return
    const namespace = pod.metadata.namespace ?? 'default'
    if (!this.namespaces.has(namespace)) this.addNamespace(namespace, {})
    const serviceAccount = pod.spec.serviceAccountName ?? 'default'
    const namedPorts: NamedPort[] = []
    for (const c of pod.spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (p.name !== undefined) namedPorts.push({ name: p.name, protocol: protocolNumber(p.protocol ?? 'TCP') ?? 6, port: p.containerPort })
      }
    }
    const ep: WorkloadEndpoint = {
      kind: 'workload',
      id: this.nextId++,
      name: pod.metadata.name,
      namespace,
      labels: { ...(pod.metadata.labels ?? {}), [LABEL_NAMESPACE]: namespace, [LABEL_ORCHESTRATOR]: 'k8s', [LABEL_SERVICE_ACCOUNT]: serviceAccount },
      serviceAccount,
      ips: podIps(pod),
      namedPorts,
      nodeName: pod.spec.nodeName,
      aggregatedName: aggregatedPodName(pod)
    }
    this.workloads.push(ep)
    this.workloadsByName.set(`${namespace}/${ep.name}`, ep)
    for (const ip of ep.ips) this.byIp.set(ipKey(ip), ep)
  }

  private addHostEndpoint (r: Extract<Resource, { kind: 'HostEndpoint' }>): void {
    const ep: HostEndpointEntity = {
      kind: 'host',
      id: this.nextId++,
      name: r.metadata.name,
      namespace: undefined,
      labels: { ...(r.metadata.labels ?? {}) },
      ips: (r.spec.expectedIPs ?? []).map(t => parseIp(t)).filter((ip): ip is IpAddress => ip !== undefined),
      namedPorts: (r.spec.ports ?? []).map(p => ({ name: p.name, protocol: protocolNumber(p.protocol) ?? 6, port: p.port })),
      profiles: r.spec.profiles ?? [],
      nodeName: r.spec.node
    }
    this.hostEndpoints.push(ep)
    // A pod address wins over a host endpoint claiming the same address.
    for (const ip of ep.ips) if (!this.byIp.has(ipKey(ip))) this.byIp.set(ipKey(ip), ep)
  }

  private addNetworkSet (namespace: string | undefined, name: string, labels: Record<string, string>, nets: readonly string[]): void {
    this.networkSets.push({
      kind: 'networkset',
      id: this.nextId++,
      name,
      namespace,
      labels: namespace === undefined ? { ...labels } : { ...labels, [LABEL_NAMESPACE]: namespace },
      nets: nets.map(n => parseCidr(n)).filter((c): c is Cidr => c !== undefined)
    })
  }

  private addServiceAccount (namespace: string, name: string, labels: Record<string, string>): void {
    this.serviceAccounts.set(`${namespace}/${name}`, { namespace, name, labels: { ...labels, [LABEL_NAMESPACE_NAME]: name } })
  }

  private addService (r: Extract<Resource, { kind: 'Service' }>): void {
    const namespace = r.metadata.namespace ?? 'default'
    const ips = [r.spec.clusterIP, ...(r.spec.clusterIPs ?? [])]
      .filter((t): t is string => t !== undefined && t !== 'None' && t !== '')
      .map(t => parseIp(t)).filter((ip): ip is IpAddress => ip !== undefined)
    const svc: ServiceEntity = {
      namespace,
      name: r.metadata.name,
      selector: r.spec.selector,
      ports: (r.spec.ports ?? []).map(p => ({ name: p.name, protocol: protocolNumber(p.protocol ?? 'TCP') ?? 6, port: p.port, targetPort: p.targetPort ?? p.port })),
      clusterIps: ips
    }
    this.services.set(`${namespace}/${svc.name}`, svc)
    for (const ip of ips) this.servicesByIp.set(ipKey(ip), svc)
  }

  get entityCount (): number { return this.nextId }

  entitiesForIp (ip: IpAddress): readonly Entity[] {
    const key = ipKey(ip)
    let entities = this.entitiesCache.get(key)
    if (entities === undefined) {
      const owner = this.byIp.get(key)
      const sets = this.networkSets.filter(s => s.nets.some(c => cidrContains(c, ip)))
      entities = owner === undefined ? sets : [owner, ...sets]
      this.entitiesCache.set(key, entities)
    }
    return entities
  }

  endpointForIp (ip: IpAddress): PolicyEndpoint | undefined { return this.byIp.get(ipKey(ip)) }
  namespace (name: string): NamespaceEntity | undefined { return this.namespaces.get(name) }
  serviceAccount (namespace: string, name: string): ServiceAccountEntity | undefined { return this.serviceAccounts.get(`${namespace}/${name}`) }
  service (namespace: string, name: string): ServiceEntity | undefined { return this.services.get(`${namespace}/${name}`) }
  serviceForIp (ip: IpAddress): ServiceEntity | undefined { return this.servicesByIp.get(ipKey(ip)) }

  /** The pod `namespace/name`, for CLI references. */
  workload (namespace: string, name: string): WorkloadEndpoint | undefined { return this.workloadsByName.get(`${namespace}/${name}`) }

  /**
   * The backend a Service's cluster IP and port lead to: the first pod (by name) the Service selects that serves
   * the target port, with the port number after DNAT; undefined when no such pod is in the inventory.
   */
  serviceBackend (service: ServiceEntity, protocol: number, port: number): { endpoint: WorkloadEndpoint, port: number } | undefined {
    const servicePort = service.ports.find(p => p.port === port && p.protocol === protocol)
    const selector = service.selector
    if (servicePort === undefined || selector === undefined) return undefined
    const backends = this.workloads
      .filter(w => w.namespace === service.namespace && Object.entries(selector).every(([k, v]) => w.labels[k] === v))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const endpoint of backends) {
      const target = servicePort.targetPort
      if (typeof target === 'number') return { endpoint, port: target }
      const named = endpoint.namedPorts.find(np => np.name === target && np.protocol === protocol)
      if (named !== undefined) return { endpoint, port: named.port }
    }
    return undefined
  }

  /** The network set with the longest prefix containing an address (for flow-log naming). */
  networkSetForIp (ip: IpAddress): NetworkSetEntity | undefined {
    let best: NetworkSetEntity | undefined
    let bestLength = -1
    for (const s of this.networkSets) {
      for (const c of s.nets) if (c.prefixLength > bestLength && cidrContains(c, ip)) { best = s; bestLength = c.prefixLength }
    }
    return best
  }
}
