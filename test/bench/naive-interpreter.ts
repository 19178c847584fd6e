// The policy benchmark's baseline and its second opinion: the evaluation semantics of ARCHITECTURE.md
// ("Policy semantics") written as directly as possible over the API resources. Nothing is compiled or remembered
// between evaluations: every evaluation re-parses each selector it needs (parseSelector) and walks the AST,
// re-parses CIDRs and port ranges, re-sorts tiers' policies, and interprets Kubernetes NetworkPolicy natively
// (LabelSelector, ipBlock, ports) rather than through the Calico conversion, so that agreement with PolicyEngine
// checks the conversion too. It does not use PolicyEngine, compile-rule or compile-selector. Only what the
// benchmark's flows need is covered: TCP/UDP flows with a destination port, pods, global network sets, calico
// staged mode; `services` and `http` rules are rejected at construction (the generator never writes them).
import { pathToFileURL } from 'node:url'
import { cidrContains, parseCidr, parseIp, type IpAddress } from '../../agent/src/policy/ip-address.js'
import { protocolNumber } from '../../agent/src/policy/protocol.js'
import type {
  EntityRule, K8sNetworkPolicyPeer, K8sNetworkPolicyPort, K8sNetworkPolicySpec, LabelSelector, Labels, Port, Resource,
  Rule
} from '../../agent/src/policy/resources.js'
import { parseSelector, type SelectorNode } from '../../agent/src/policy/selector/index.js'
import {
  countFlow, emptySummary, FULL_SIZE, generateCluster, SMALL_SIZE, type GeneratedCluster, type VerdictSummary
} from './fixtures/generate-cluster.js'

/** A flow as the naive interpreter takes it: addresses as text, destination port, IANA protocol number. */
export interface NaiveFlow {
  readonly src: { readonly ip: string }
  readonly dst: { readonly ip: string }
  readonly protocol: number
  readonly port: number
}

/** One pipeline's outcome: the action and whether evaluation went through a Pass (rule or end of tier). */
export interface NaivePipelineVerdict {
  readonly action: 'Allow' | 'Deny'
  readonly passed: boolean
}

/** Both pipelines' outcomes. */
export interface NaiveVerdicts {
  readonly enforced: NaivePipelineVerdict
  readonly pending: NaivePipelineVerdict
}

interface NaivePod {
  readonly kind: 'pod'
  readonly namespace: string
  readonly name: string
  /** The pod's own labels (what a Kubernetes LabelSelector sees). */
  readonly rawLabels: Labels
  /** With Calico's implicit labels (what a Calico selector sees). */
  readonly labels: Labels
  readonly serviceAccount: string
  readonly ports: ReadonlyArray<{ name: string, protocol: number, port: number }>
}

interface NaiveNetworkSet {
  readonly kind: 'networkset'
  readonly namespace: string | undefined
  readonly labels: Labels
  readonly nets: readonly string[]
}

type NaiveEntity = NaivePod | NaiveNetworkSet

interface NaiveSide {
  readonly ip: IpAddress
  readonly pod: NaivePod | undefined
  readonly entities: readonly NaiveEntity[]
}

interface NaivePolicy {
  /** Trace kind, used only to order ties as the engine does. */
  readonly kind: string
  readonly name: string
  readonly namespace: string | undefined
  readonly tier: string
  readonly order: number | undefined
  readonly staged: boolean
  readonly stagedAction: 'Set' | 'Delete'
  readonly resource: Resource
}

interface NaiveTier { readonly name: string, readonly order: number, readonly defaultAction: 'Deny' | 'Pass' }

type Direction = 'Ingress' | 'Egress'

// ---------------------------------------------------------------------------------------------------------------
// Selectors: parsed on every use, evaluated by walking the AST.

function label (labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined
}

function evalNode (node: SelectorNode, labels: Labels): boolean {
  switch (node.kind) {
    case 'all': case 'global': return true
    case 'has': return label(labels, node.label) !== undefined
    case 'eq': return label(labels, node.label) === node.value
    case 'ne': return label(labels, node.label) !== node.value
    case 'contains': return label(labels, node.label)?.includes(node.value) ?? false
    case 'startsWith': return label(labels, node.label)?.startsWith(node.value) ?? false
    case 'endsWith': return label(labels, node.label)?.endsWith(node.value) ?? false
    case 'in': { const v = label(labels, node.label); return v !== undefined && node.values.includes(v) }
    case 'notIn': { const v = label(labels, node.label); return v === undefined || !node.values.includes(v) }
    case 'not': return !evalNode(node.operand, labels)
    case 'and': return node.operands.every(o => evalNode(o, labels))
    case 'or': return node.operands.some(o => evalNode(o, labels))
  }
}

function usesGlobal (node: SelectorNode): boolean {
  switch (node.kind) {
    case 'global': return true
    case 'not': return usesGlobal(node.operand)
    case 'and': case 'or': return node.operands.some(usesGlobal)
    default: return false
  }
}

function selectorMatches (text: string, labels: Labels): boolean {
  return evalNode(parseSelector(text), labels)
}

/** Kubernetes LabelSelector semantics (metav1.LabelSelectorAsSelector). */
function labelSelectorMatches (selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (label(labels, k) !== v) return false
  for (const e of selector.matchExpressions ?? []) {
    const v = label(labels, e.key)
    const values = e.values ?? []
    switch (e.operator) {
      case 'In': if (v === undefined || !values.includes(v)) return false; break
      case 'NotIn': if (v !== undefined && values.includes(v)) return false; break
      case 'Exists': if (v === undefined) return false; break
      case 'DoesNotExist': if (v !== undefined) return false; break
    }
  }
  return true
}

function inCidr (text: string, ip: IpAddress): boolean {
  const cidr = parseCidr(text)
  return cidr !== undefined && cidrContains(cidr, ip)
}

// ---------------------------------------------------------------------------------------------------------------

/** The benchmark's baseline: a straightforward interpreter of both pipelines (calico staged mode). */
export class NaiveInterpreter {
  private readonly podsByIp = new Map<string, NaivePod>()
  private readonly networkSets: NaiveNetworkSet[] = []
  private readonly namespaceLabels = new Map<string, Labels>()
  private readonly serviceAccountLabels = new Map<string, Labels>()
  private readonly policies: NaivePolicy[] = []
  private readonly tiers: NaiveTier[]

  constructor (resources: readonly Resource[]) {
    const tiers = new Map<string, NaiveTier>([
      ['kube-admin', { name: 'kube-admin', order: 1000, defaultAction: 'Pass' }],
      ['default', { name: 'default', order: 1_000_000, defaultAction: 'Deny' }],
      ['kube-baseline', { name: 'kube-baseline', order: 10_000_000, defaultAction: 'Pass' }]
    ])
    for (const r of resources) {
      const ns = r.metadata.namespace ?? 'default'
      switch (r.kind) {
        case 'Namespace':
          this.namespaceLabels.set(r.metadata.name, { ...r.metadata.labels, 'kubernetes.io/metadata.name': r.metadata.name, 'projectcalico.org/name': r.metadata.name })
          break
        case 'ServiceAccount':
          this.serviceAccountLabels.set(`${ns}/${r.metadata.name}`, { ...r.metadata.labels, 'projectcalico.org/name': r.metadata.name })
          break
        case 'Pod': {
          const sa = r.spec.serviceAccountName ?? 'default'
          const pod: NaivePod = {
            kind: 'pod',
            namespace: ns,
            name: r.metadata.name,
            rawLabels: { ...r.metadata.labels },
            labels: { ...r.metadata.labels, 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': sa },
            serviceAccount: sa,
            ports: r.spec.containers.flatMap(c => (c.ports ?? []).filter(p => p.name !== undefined).map(p => ({ name: p.name as string, protocol: protocolNumber(p.protocol ?? 'TCP') ?? 6, port: p.containerPort })))
          }
          for (const ip of new Set([r.status?.podIP, ...(r.status?.podIPs ?? []).map(p => p.ip)])) if (ip !== undefined) this.podsByIp.set(ip, pod)
          break
        }
        case 'GlobalNetworkSet':
          this.networkSets.push({ kind: 'networkset', namespace: undefined, labels: { ...r.metadata.labels }, nets: r.spec.nets ?? [] })
          break
        case 'NetworkSet':
          this.networkSets.push({ kind: 'networkset', namespace: ns, labels: { ...r.metadata.labels, 'projectcalico.org/namespace': ns }, nets: r.spec.nets ?? [] })
          break
        case 'Tier': {
          const builtin = tiers.get(r.metadata.name)
          tiers.set(r.metadata.name, {
            name: r.metadata.name,
            order: r.metadata.name === 'default' ? 1_000_000 : r.spec.order ?? Infinity,
            defaultAction: r.spec.defaultAction ?? builtin?.defaultAction ?? 'Deny'
          })
          break
        }
        case 'NetworkPolicy':
          if (r.apiVersion === 'networking.k8s.io/v1') this.policies.push({ kind: 'NetworkPolicy', name: `knp.default.${r.metadata.name}`, namespace: ns, tier: 'default', order: 1000, staged: false, stagedAction: 'Set', resource: r })
          else this.addCalico(r, 'CalicoNetworkPolicy', ns, false)
          break
        case 'GlobalNetworkPolicy': this.addCalico(r, 'GlobalNetworkPolicy', undefined, false); break
        case 'StagedNetworkPolicy': this.addCalico(r, 'StagedNetworkPolicy', ns, true); break
        case 'StagedGlobalNetworkPolicy': this.addCalico(r, 'StagedGlobalNetworkPolicy', undefined, true); break
        case 'StagedKubernetesNetworkPolicy':
          this.policies.push({ kind: 'StagedKubernetesNetworkPolicy', name: `knp.default.${r.metadata.name}`, namespace: ns, tier: 'default', order: 1000, staged: true, stagedAction: r.spec.stagedAction ?? 'Set', resource: r })
          break
        default: break
      }
    }
    for (const p of this.policies) if (!tiers.has(p.tier)) throw new Error(`naive interpreter: policy ${p.name} names undefined tier ${p.tier}`)
    this.tiers = [...tiers.values()].sort((a, b) => a.order !== b.order ? a.order - b.order : a.name < b.name ? -1 : 1)
  }

  private addCalico (r: Resource, kind: string, namespace: string | undefined, staged: boolean): void {
    const spec = (r as { spec: { tier?: string, order?: number, stagedAction?: 'Set' | 'Delete', ingress?: Rule[], egress?: Rule[] } }).spec
    for (const rule of [...spec.ingress ?? [], ...spec.egress ?? []]) {
      if (rule.http !== undefined || rule.source?.services !== undefined || rule.destination?.services !== undefined) throw new Error(`naive interpreter: ${r.metadata.name} uses http or services rules, which it does not model`)
    }
    this.policies.push({ kind, name: r.metadata.name, namespace, tier: spec.tier ?? 'default', order: spec.order, staged, stagedAction: spec.stagedAction ?? 'Set', resource: r })
  }

  /** Evaluates a flow in the enforced and the pending pipeline. */
  evaluate (flow: NaiveFlow): NaiveVerdicts {
    const src = this.side(flow.src.ip)
    const dst = this.side(flow.dst.ip)
    const enforced = this.policies.filter(p => !p.staged)
    // Calico's staged mode: staged policies are added to the enforced set; Delete ones are ignored.
    const pending = this.policies.filter(p => !p.staged || p.stagedAction === 'Set')
    return { enforced: this.pipeline(enforced, src, dst, flow), pending: this.pipeline(pending, src, dst, flow) }
  }

  private side (ipText: string): NaiveSide {
    const ip = parseIp(ipText)
    if (ip === undefined) throw new Error(`naive interpreter: bad address ${ipText}`)
    const pod = this.podsByIp.get(ipText)
    const sets = this.networkSets.filter(s => s.nets.some(n => inCidr(n, ip)))
    return { ip, pod, entities: pod === undefined ? sets : [pod, ...sets] }
  }

  private pipeline (policies: readonly NaivePolicy[], src: NaiveSide, dst: NaiveSide, flow: NaiveFlow): NaivePipelineVerdict {
    const egress = src.pod === undefined ? undefined : this.endpoint(policies, src.pod, 'Egress', src, dst, flow)
    const ingress = dst.pod === undefined ? undefined : this.endpoint(policies, dst.pod, 'Ingress', src, dst, flow)
    const action = egress?.action === 'Deny' || ingress?.action === 'Deny' ? 'Deny' : 'Allow'
    return { action, passed: (egress?.passed ?? false) || (ingress?.passed ?? false) }
  }

  /** Tiers, then policies that select the endpoint, then rules; the namespace profile allows at the end. */
  private endpoint (policies: readonly NaivePolicy[], pod: NaivePod, direction: Direction, src: NaiveSide, dst: NaiveSide, flow: NaiveFlow): NaivePipelineVerdict {
    let passed = false
    tiers: for (const tier of this.tiers) {
      const applicable = policies
        .filter(p => p.tier === tier.name && this.selects(p, pod) && this.types(p).includes(direction))
        .sort(comparePolicies)
      if (applicable.length === 0) continue
      for (const p of applicable) {
        const action = this.firstMatch(p, direction, src, dst, flow)
        if (action === 'Pass') { passed = true; continue tiers }
        if (action !== undefined) return { action, passed }
      }
      if (tier.defaultAction === 'Deny') return { action: 'Deny', passed }
      passed = true
    }
    return { action: 'Allow', passed }
  }

  private selects (p: NaivePolicy, pod: NaivePod): boolean {
    if (p.namespace !== undefined && p.namespace !== pod.namespace) return false
    const r = p.resource
    if (r.kind === 'StagedKubernetesNetworkPolicy' || (r.kind === 'NetworkPolicy' && r.apiVersion === 'networking.k8s.io/v1')) {
      return labelSelectorMatches((r.spec as K8sNetworkPolicySpec).podSelector, pod.rawLabels)
    }
    const spec = (r as { spec: { selector?: string, namespaceSelector?: string, serviceAccountSelector?: string } }).spec
    if (!selectorMatches(spec.selector ?? '', pod.labels)) return false
    if (p.namespace === undefined && spec.namespaceSelector !== undefined && !selectorMatches(spec.namespaceSelector, this.namespaceLabels.get(pod.namespace) ?? {})) return false
    if (spec.serviceAccountSelector !== undefined && !selectorMatches(spec.serviceAccountSelector, this.saLabels(pod))) return false
    return true
  }

  private saLabels (pod: NaivePod): Labels {
    return this.serviceAccountLabels.get(`${pod.namespace}/${pod.serviceAccount}`) ?? { 'projectcalico.org/name': pod.serviceAccount }
  }

  private types (p: NaivePolicy): readonly Direction[] {
    const r = p.resource
    if (r.kind === 'StagedKubernetesNetworkPolicy' || (r.kind === 'NetworkPolicy' && r.apiVersion === 'networking.k8s.io/v1')) {
      const spec = r.spec as K8sNetworkPolicySpec
      if (spec.policyTypes !== undefined && spec.policyTypes.length > 0) return spec.policyTypes
      return (spec.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress']
    }
    const spec = (r as { spec: { types?: Direction[], ingress?: Rule[], egress?: Rule[] } }).spec
    if (spec.types !== undefined && spec.types.length > 0) return spec.types
    const hasIngress = (spec.ingress?.length ?? 0) > 0
    const hasEgress = (spec.egress?.length ?? 0) > 0
    return hasEgress && !hasIngress ? ['Egress'] : hasEgress ? ['Ingress', 'Egress'] : ['Ingress']
  }

  /** The action of the first rule of `p` that matches (Log continues), or undefined. */
  private firstMatch (p: NaivePolicy, direction: Direction, src: NaiveSide, dst: NaiveSide, flow: NaiveFlow): 'Allow' | 'Deny' | 'Pass' | undefined {
    const r = p.resource
    if (r.kind === 'StagedKubernetesNetworkPolicy' || (r.kind === 'NetworkPolicy' && r.apiVersion === 'networking.k8s.io/v1')) {
      const spec = r.spec as K8sNetworkPolicySpec
      // Rules of a direction not in the policy's types are ignored, as the Calico converter drops them.
      const rules = direction === 'Ingress'
        ? (spec.ingress ?? []).map(x => ({ peers: x.from, ports: x.ports }))
        : (spec.egress ?? []).map(x => ({ peers: x.to, ports: x.ports }))
      const remote = direction === 'Ingress' ? src : dst
      for (const rule of rules) {
        const peerOk = rule.peers === undefined || rule.peers.length === 0 || rule.peers.some(peer => this.k8sPeerMatches(peer, remote, p.namespace as string))
        const portOk = rule.ports === undefined || rule.ports.length === 0 || rule.ports.some(port => k8sPortMatches(port, dst, flow))
        if (peerOk && portOk) return 'Allow'
      }
      return undefined
    }
    const spec = (r as { spec: { ingress?: Rule[], egress?: Rule[] } }).spec
    for (const rule of (direction === 'Ingress' ? spec.ingress : spec.egress) ?? []) {
      if (rule.action === 'Log') continue
      if (this.ruleMatches(rule, p.namespace, src, dst, flow)) return rule.action
    }
    return undefined
  }

  private k8sPeerMatches (peer: K8sNetworkPolicyPeer, side: NaiveSide, policyNamespace: string): boolean {
    if (peer.ipBlock !== undefined) {
      return inCidr(peer.ipBlock.cidr, side.ip) && !(peer.ipBlock.except ?? []).some(e => inCidr(e, side.ip))
    }
    const pod = side.pod
    if (pod === undefined) return false
    if (peer.namespaceSelector === undefined) {
      if (pod.namespace !== policyNamespace) return false
    } else {
      const nsLabels = this.namespaceLabels.get(pod.namespace) ?? { 'kubernetes.io/metadata.name': pod.namespace }
      if (!labelSelectorMatches(peer.namespaceSelector, nsLabels)) return false
    }
    return labelSelectorMatches(peer.podSelector, pod.rawLabels)
  }

  private ruleMatches (rule: Rule, policyNamespace: string | undefined, src: NaiveSide, dst: NaiveSide, flow: NaiveFlow): boolean {
    if (rule.protocol !== undefined && protocolNumber(rule.protocol) !== flow.protocol) return false
    if (rule.notProtocol !== undefined && protocolNumber(rule.notProtocol) === flow.protocol) return false
    // The benchmark's flows carry no ICMP type or code, so an icmp match never holds and a notICMP one always does.
    if (rule.icmp !== undefined && (rule.icmp.type !== undefined || rule.icmp.code !== undefined)) return false
    if (rule.ipVersion !== undefined && src.ip.version !== rule.ipVersion) return false
    if (rule.source !== undefined && !this.entityRuleMatches(rule.source, src, policyNamespace, flow)) return false
    if (rule.destination !== undefined && !this.entityRuleMatches(rule.destination, dst, policyNamespace, flow)) return false
    return true
  }

  private entityRuleMatches (er: EntityRule, side: NaiveSide, policyNamespace: string | undefined, flow: NaiveFlow): boolean {
    if (er.nets !== undefined && !er.nets.some(n => inCidr(n, side.ip))) return false
    if (er.notNets !== undefined && er.notNets.some(n => inCidr(n, side.ip))) return false
    // Which entities a rule selector may match: the policy's namespace, or those a namespaceSelector picks
    // (non-namespaced entities only through global()).
    const inScope = (e: NaiveEntity): boolean => {
      if (er.namespaceSelector === undefined) return policyNamespace === undefined || e.namespace === policyNamespace
      // Calico rewrites global() to !has(projectcalico.org/namespace): non-namespaced entities only.
      if (usesGlobal(parseSelector(er.namespaceSelector))) return e.namespace === undefined
      if (e.namespace === undefined) return false
      return selectorMatches(er.namespaceSelector, this.namespaceLabels.get(e.namespace) ?? {})
    }
    // The positive part of the rule (libcalico-go's getEndpointSelector): a notSelector in a namespaced policy
    // also limits it to the policy's namespace; named ports resolve on the entities it matches (all when none).
    const hasPositive = er.selector !== undefined || er.namespaceSelector !== undefined || er.serviceAccounts !== undefined || (er.notSelector !== undefined && policyNamespace !== undefined)
    const positive = (e: NaiveEntity): boolean => {
      if (!hasPositive) return true
      if (!inScope(e)) return false
      if (er.selector !== undefined && !selectorMatches(er.selector, e.labels)) return false
      if (er.serviceAccounts !== undefined) {
        if (e.kind !== 'pod') return false
        const names = er.serviceAccounts.names
        if (names !== undefined && names.length > 0 && !names.includes(e.serviceAccount)) return false
        if (er.serviceAccounts.selector !== undefined && !selectorMatches(er.serviceAccounts.selector, this.saLabels(e))) return false
      }
      return true
    }
    if (hasPositive && !side.entities.some(positive)) return false
    if (er.notSelector !== undefined) {
      const notSelector = er.notSelector
      if (side.entities.some(e => inScope(e) && selectorMatches(notSelector, e.labels))) return false
    }
    if (er.ports !== undefined && !portsMatch(er.ports, side, flow, positive)) return false
    if (er.notPorts !== undefined && portsMatch(er.notPorts, side, flow, positive)) return false
    return true
  }
}

/** Policy order in a tier: order (none last), then Calico name, namespace, kind. */
function comparePolicies (a: NaivePolicy, b: NaivePolicy): number {
  const ao = a.order ?? Infinity
  const bo = b.order ?? Infinity
  if (ao !== bo) return ao < bo ? -1 : 1
  for (const [x, y] of [[a.name, b.name], [a.namespace ?? '', b.namespace ?? ''], [a.kind, b.kind]]) {
    if (x !== y) return (x as string) < (y as string) ? -1 : 1
  }
  return 0
}

/** Calico ports: numbers, "min:max" ranges, or names resolved against the endpoints at that end the rule's positive selector matches. */
function portsMatch (ports: readonly Port[], side: NaiveSide, flow: NaiveFlow, scope: (e: NaiveEntity) => boolean): boolean {
  for (const p of ports) {
    if (typeof p === 'number') { if (p === flow.port) return true; continue }
    const range = /^(\d+):(\d+)$/.exec(p)
    if (range !== null) { if (flow.port >= Number(range[1]) && flow.port <= Number(range[2])) return true; continue }
    if (/^\d+$/.test(p)) { if (Number(p) === flow.port) return true; continue }
    for (const e of side.entities) {
      if (e.kind === 'pod' && scope(e) && e.ports.some(np => np.name === p && np.port === flow.port && np.protocol === flow.protocol)) return true
    }
  }
  return false
}

/** Kubernetes NetworkPolicyPort: protocol (TCP by default), a port or range, or a container port name of the destination pod. */
function k8sPortMatches (port: K8sNetworkPolicyPort, dst: NaiveSide, flow: NaiveFlow): boolean {
  if ((protocolNumber(port.protocol ?? 'TCP') ?? 6) !== flow.protocol) return false
  if (port.port === undefined) return true
  if (typeof port.port === 'number') return port.endPort === undefined ? flow.port === port.port : flow.port >= port.port && flow.port <= port.endPort
  const name = port.port
  return dst.pod !== undefined && dst.pod.ports.some(np => np.name === name && np.port === flow.port && np.protocol === flow.protocol)
}

/** The naive interpreter's summary of a generated cluster's whole flow mix (what EXPECTED_SUMMARIES records). */
export function naiveSummary (cluster: GeneratedCluster): VerdictSummary {
  const naive = new NaiveInterpreter(cluster.resources)
  const summary = emptySummary()
  for (const flow of cluster.flows) {
    const v = naive.evaluate(flow)
    countFlow(summary, flow, v.enforced.action, v.pending.action, v.enforced.passed)
  }
  return summary
}

// `node dist/test/bench/naive-interpreter.js --summary [full|small]` prints the summary to record.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--summary') {
  const which = process.argv[3] === 'small' ? SMALL_SIZE : FULL_SIZE
  process.stdout.write(`${JSON.stringify(naiveSummary(generateCluster(which)))}\n`)
}
