// Small clusters built in code for the policy-engine tests: resource constructors (the API shapes, as
// `kubectl get -o yaml` prints them), an engine over them, and a compact text form of traces so that a table row
// can assert a whole trace (kind, namespace, name, tier, action, rule index, trigger) in one line.
import assert from 'node:assert/strict'
import { InventoryDirectory } from '../../../agent/src/endpoints/inventory-directory.js'
import { parseIp } from '../../../agent/src/policy/ip-address.js'
import { normalizePolicies } from '../../../agent/src/policy/normalized-policy.js'
import { PolicyEngine, type FlowEndInput, type FlowInput, type StagedMode } from '../../../agent/src/policy/policy-engine.js'
import type { FlowVerdicts, PipelineVerdict, PolicyHit } from '../../../agent/src/policy/policy-hit.js'
import { protocolNumber } from '../../../agent/src/policy/protocol.js'
import type {
  ContainerPort, EndpointPort, GlobalNetworkPolicySpec, K8sNetworkPolicySpec, NetworkPolicySpec, Resource, ServicePort, StagedAction, Tier
} from '../../../agent/src/policy/resources.js'

type Labels = Record<string, string>

export function namespace (name: string, labels: Labels = {}): Resource {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }
}

export interface PodOptions { labels?: Labels, serviceAccount?: string, ports?: ContainerPort[], ips?: string[] }

/** A running pod with one address (more with `ips`). */
export function pod (ns: string, name: string, ip: string, options: PodOptions = {}): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: options.labels ?? {} },
    spec: {
      nodeName: 'node-1',
      ...(options.serviceAccount === undefined ? {} : { serviceAccountName: options.serviceAccount }),
      containers: [{ name: 'main', ...(options.ports === undefined ? {} : { ports: options.ports }) }]
    },
    status: { phase: 'Running', podIP: ip, podIPs: [ip, ...(options.ips ?? [])].map(i => ({ ip: i })) }
  }
}

export function serviceAccount (ns: string, name: string, labels: Labels = {}): Resource {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns, labels } }
}

export function service (ns: string, name: string, clusterIP: string, selector: Labels, ports: ServicePort[]): Resource {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector, clusterIP, ports } }
}

export function hostEndpoint (name: string, ips: string[], options: { labels?: Labels, profiles?: string[], ports?: EndpointPort[] } = {}): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'HostEndpoint',
    metadata: { name, labels: options.labels ?? {} },
    spec: { node: 'node-1', interfaceName: 'eth0', expectedIPs: ips, ...(options.profiles === undefined ? {} : { profiles: options.profiles }), ...(options.ports === undefined ? {} : { ports: options.ports }) }
  }
}

export function globalNetworkSet (name: string, nets: string[], labels: Labels = {}): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkSet', metadata: { name, labels }, spec: { nets } }
}

export function networkSet (ns: string, name: string, nets: string[], labels: Labels = {}): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkSet', metadata: { name, namespace: ns, labels }, spec: { nets } }
}

export function tier (name: string, order?: number, defaultAction?: 'Deny' | 'Pass'): Tier {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Tier',
    metadata: { name },
    spec: { ...(order === undefined ? {} : { order }), ...(defaultAction === undefined ? {} : { defaultAction }) }
  }
}

export function gnp (name: string, spec: GlobalNetworkPolicySpec): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec }
}

export function np (ns: string, name: string, spec: NetworkPolicySpec): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec }
}

export function sgnp (name: string, spec: GlobalNetworkPolicySpec & { stagedAction?: StagedAction }): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name }, spec }
}

export function snp (ns: string, name: string, spec: NetworkPolicySpec & { stagedAction?: StagedAction }): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name, namespace: ns }, spec }
}

export function knp (ns: string, name: string, spec: K8sNetworkPolicySpec): Resource {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec }
}

export function sknp (ns: string, name: string, spec: K8sNetworkPolicySpec & { stagedAction?: StagedAction }): Resource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'StagedKubernetesNetworkPolicy', metadata: { name, namespace: ns }, spec }
}

/** One end of a probe: `ns/pod`, `hep:name` or an IP address. */
export type EndRef = string

/** What a probe sends, beyond its ends. */
export interface ProbeOptions {
  protocol?: string | number
  port?: number
  srcPort?: number
  icmpType?: number
  icmpCode?: number
}

/** Splits resources into inventory, policies and tiers and builds the directory and the engine over them. */
export class TestCluster {
  readonly directory: InventoryDirectory
  readonly engine: PolicyEngine

  constructor (resources: readonly Resource[], options: { stagedMode?: StagedMode, verdictCacheSize?: number } = {}) {
    this.directory = new InventoryDirectory(resources)
    this.engine = new PolicyEngine(this.directory, options)
    this.setPolicies(resources)
  }

  /** Loads every policy and Tier among `resources` (inventory resources are ignored). */
  setPolicies (resources: readonly Resource[]): void {
    const loaded = resources.map((resource, i) => ({ resource, origin: { file: 'test.yaml', line: i + 1 } }))
    this.engine.setPolicies(normalizePolicies(loaded), resources.filter((r): r is Tier => r.kind === 'Tier'))
  }

  end (ref: EndRef, port?: number): FlowEndInput {
    const withPort = (e: FlowEndInput): FlowEndInput => port === undefined ? e : { ...e, port }
    if (ref.startsWith('hep:')) {
      const hep = this.directory.hostEndpoints.find(h => h.name === ref.slice(4))
      assert.ok(hep !== undefined, `no host endpoint ${ref}`)
      return withPort({ endpoint: hep, ...(hep.ips[0] === undefined ? {} : { ip: hep.ips[0] }) })
    }
    const ip = parseIp(ref)
    if (ip !== undefined) return withPort({ ip })
    const [ns, name] = ref.split('/') as [string, string]
    const w = this.directory.workload(ns, name)
    assert.ok(w !== undefined, `no pod ${ref}`)
    return withPort({ endpoint: w, ...(w.ips[0] === undefined ? {} : { ip: w.ips[0] }) })
  }

  flowInput (from: EndRef, to: EndRef, options: ProbeOptions = {}): FlowInput {
    const protocol = protocolNumber(options.protocol ?? 'TCP')
    assert.ok(protocol !== undefined)
    return {
      src: this.end(from, options.srcPort),
      dst: this.end(to, options.port),
      protocol,
      ...(options.icmpType === undefined ? {} : { icmpType: options.icmpType }),
      ...(options.icmpCode === undefined ? {} : { icmpCode: options.icmpCode })
    }
  }

  /** Evaluates one probe in both pipelines. */
  probe (from: EndRef, to: EndRef, options: ProbeOptions = {}): FlowVerdicts {
    return this.engine.evaluate(this.flowInput(from, to, options))
  }
}

/**
 * A hit as one line: `Kind ns/name [tier] Action rule N` for a rule hit,
 * `EndOfTier [tier] Action trigger Kind ns/name` for an end-of-tier hit, `Profile name [tier] Action rule N`.
 * Also checks the invariant that `policyIndex` is the hit's position in its trace.
 */
export function hitText (hit: PolicyHit, position: number): string {
  assert.equal(hit.policyIndex, position, `policyIndex of ${JSON.stringify(hit)}`)
  const ns = (h: { namespace: string }): string => h.namespace === '' ? '' : `${h.namespace}/`
  if (hit.kind === 'EndOfTier') {
    assert.equal(hit.ruleIndex, -1)
    assert.equal(hit.name, '')
    const trigger = hit.trigger === undefined ? '' : ` trigger ${hit.trigger.kind} ${ns(hit.trigger)}${hit.trigger.name} [${hit.trigger.tier}]`
    return `EndOfTier [${hit.tier}] ${hit.action}${trigger}`
  }
  assert.equal(hit.trigger, undefined, 'only end-of-tier hits carry a trigger')
  return `${hit.kind} ${ns(hit)}${hit.name} [${hit.tier}] ${hit.action} rule ${hit.ruleIndex}`
}

/** A trace in text form. */
export function traceText (hits: readonly PolicyHit[]): string[] {
  return hits.map(hitText)
}

/** One pipeline's verdict in text form. */
export interface VerdictText { action: 'Allow' | 'Deny', src: string[], dst: string[] }

export function verdictText (v: PipelineVerdict): VerdictText {
  return { action: v.action, src: traceText(v.src), dst: traceText(v.dst) }
}

/** The profile hit every workload in `ns` ends with when no tier decided. */
export function profile (ns: string): string {
  return `Profile kns.${ns} [__PROFILE__] Allow rule 0`
}
