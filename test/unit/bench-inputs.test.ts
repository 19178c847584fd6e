// The policy benchmark's inputs produce the verdicts it claims: the generator is deterministic and has the sizes
// the issue names, the recorded verdict summaries (computed by the naive interpreter) are what the engine finds,
// the engine and the naive interpreter agree flow by flow (enforced action, pending action, Pass taken), and the
// mix really holds enforced denies, changed flows both ways, Pass-through, cross-namespace and external traffic.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InventoryDirectory } from '../../agent/src/endpoints/inventory-directory.js'
import { parseIp, type IpAddress } from '../../agent/src/policy/ip-address.js'
import { normalizePolicies } from '../../agent/src/policy/normalized-policy.js'
import { PolicyEngine } from '../../agent/src/policy/policy-engine.js'
import type { FlowVerdicts } from '../../agent/src/policy/policy-hit.js'
import {
  countFlow, emptySummary, EXPECTED_SUMMARIES, FULL_SIZE, generateCluster, SMALL_SIZE, type ClusterSize,
  type GeneratedCluster, type GeneratedFlow, type VerdictSummary
} from '../bench/fixtures/generate-cluster.js'
import { NaiveInterpreter, naiveSummary } from '../bench/naive-interpreter.js'

function ip (text: string): IpAddress {
  const parsed = parseIp(text)
  assert.ok(parsed !== undefined, `bad address ${text}`)
  return parsed
}

function engineFor (cluster: GeneratedCluster): PolicyEngine {
  const loaded = cluster.resources.map((resource, i) => ({ resource, origin: { file: 'generated', line: i + 1 } }))
  const engine = new PolicyEngine(new InventoryDirectory(loaded), { verdictCacheSize: 0 })
  engine.setPolicies(normalizePolicies(loaded), cluster.tiers)
  return engine
}

function evaluate (engine: PolicyEngine, f: GeneratedFlow): FlowVerdicts {
  return engine.evaluateUncached({ src: { ip: ip(f.src.ip) }, dst: { ip: ip(f.dst.ip), port: f.port }, protocol: f.protocol })
}

function enforcedPassed (v: FlowVerdicts): boolean {
  return v.enforced.src.some(h => h.action === 'Pass') || v.enforced.dst.some(h => h.action === 'Pass')
}

/** The engine's summary of every flow, and the flows whose verdict the staged policies change. */
function engineSummary (cluster: GeneratedCluster, engine: PolicyEngine): { summary: VerdictSummary, changed: GeneratedFlow[] } {
  const summary = emptySummary()
  const changed: GeneratedFlow[] = []
  for (const f of cluster.flows) {
    const v = evaluate(engine, f)
    countFlow(summary, f, v.enforced.action, v.pending.action, enforcedPassed(v))
    if (v.enforced.action !== v.pending.action) changed.push(f)
  }
  return { summary, changed }
}

/** Engine and naive interpreter agree on `flows`; returns the number compared. */
function assertAgreement (cluster: GeneratedCluster, engine: PolicyEngine, flows: readonly GeneratedFlow[]): number {
  const naive = new NaiveInterpreter(cluster.resources)
  const disagreements: string[] = []
  for (const f of flows) {
    const e = evaluate(engine, f)
    const n = naive.evaluate(f)
    const got = { enforced: e.enforced.action, pending: e.pending.action, passed: enforcedPassed(e) }
    const want = { enforced: n.enforced.action, pending: n.pending.action, passed: n.enforced.passed }
    if (JSON.stringify(got) !== JSON.stringify(want)) disagreements.push(`${JSON.stringify(f)}: engine ${JSON.stringify(got)}, naive ${JSON.stringify(want)}`)
  }
  assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} of ${flows.length} flows disagree`)
  return flows.length
}

/** What the benchmark claims to exercise, beyond the exact counts. */
function assertMixExercisesEverything (s: VerdictSummary, size: ClusterSize): void {
  assert.equal(s.flows, size.flows)
  assert.equal(s.enforcedAllow + s.enforcedDeny, s.flows)
  assert.equal(s.pendingAllow + s.pendingDeny, s.flows)
  assert.equal(s.allowToDeny + s.denyToAllow, s.changed)
  assert.ok(s.enforcedDeny > s.flows * 0.1, 'enforced denies are a real share of the mix')
  assert.ok(s.enforcedAllow > s.flows * 0.5, 'most flows are allowed, as in a working cluster')
  assert.ok(s.changed > s.flows * 0.01, 'the staged policies change verdicts')
  assert.ok(s.allowToDeny > 0 && s.denyToAllow > 0, 'changes go both ways')
  assert.ok(s.enforcedPassThrough > s.flows * 0.1, 'Pass rules and Pass tiers are taken')
  assert.ok(s.crossNamespace > s.flows * 0.2, 'traffic crosses namespaces')
  assert.ok(s.externalSource > 0, 'some sources are outside the cluster')
}

function assertShape (cluster: GeneratedCluster): void {
  const count = (pred: (kind: string, apiVersion: string) => boolean): number => cluster.resources.filter(r => pred(r.kind, r.apiVersion)).length
  assert.equal(count(k => k === 'Namespace'), cluster.size.namespaces)
  assert.equal(count(k => k === 'Pod'), cluster.size.pods)
  assert.equal(count(k => k === 'Tier'), 5)
  assert.equal(cluster.tiers.length, 5)
  assert.equal(normalizePolicies(cluster.resources.map(resource => ({ resource, origin: { file: 'generated', line: 1 } }))).length, cluster.size.policies)
  for (const [kind, apiVersion] of [
    ['NetworkPolicy', 'projectcalico.org/v3'], ['GlobalNetworkPolicy', 'projectcalico.org/v3'], ['NetworkPolicy', 'networking.k8s.io/v1'],
    ['StagedNetworkPolicy', 'projectcalico.org/v3'], ['StagedGlobalNetworkPolicy', 'projectcalico.org/v3'], ['StagedKubernetesNetworkPolicy', 'projectcalico.org/v3']
  ]) assert.ok(count((k, v) => k === kind && v === apiVersion) > 0, `${apiVersion} ${kind} present`)
  assert.equal(cluster.flows.length, cluster.size.flows)
  assert.equal(new Set(cluster.flows.map(f => `${f.src.ip}|${f.dst.ip}|${f.protocol}|${f.port}`)).size, cluster.flows.length, 'flows are distinct')
}

test('the generator is deterministic', () => {
  assert.deepEqual(generateCluster(SMALL_SIZE), generateCluster(SMALL_SIZE))
  assert.notDeepEqual(generateCluster({ ...SMALL_SIZE, seed: SMALL_SIZE.seed + 1 }).flows, generateCluster(SMALL_SIZE).flows)
})

test('small cluster: recorded summary, engine = naive on every flow', () => {
  const cluster = generateCluster(SMALL_SIZE)
  assertShape(cluster)
  const engine = engineFor(cluster)
  assert.deepEqual(naiveSummary(cluster), EXPECTED_SUMMARIES.small, 'the naive interpreter gives the recorded summary')
  assert.deepEqual(engineSummary(cluster, engine).summary, EXPECTED_SUMMARIES.small, 'the engine gives the recorded summary')
  assertAgreement(cluster, engine, cluster.flows)
  assertMixExercisesEverything(EXPECTED_SUMMARIES.small, SMALL_SIZE)
})

test('benchmark cluster (full size): recorded summary over all flows, engine = naive on a sample', () => {
  const cluster = generateCluster(FULL_SIZE)
  assertShape(cluster)
  assert.equal(cluster.size.namespaces, 500)
  assert.equal(cluster.size.pods, 5000)
  assert.equal(cluster.size.policies, 1000)
  assert.equal(cluster.size.flows, 100_000)
  const engine = engineFor(cluster)
  const { summary, changed } = engineSummary(cluster, engine)
  assert.deepEqual(summary, EXPECTED_SUMMARIES.full)
  assertMixExercisesEverything(EXPECTED_SUMMARIES.full, FULL_SIZE)
  // The naive interpreter runs a few hundred flows a second: compare every 500th flow plus the first changed
  // ones (the flows the benchmark is about), all of which the recorded summary was computed from.
  const sample = cluster.flows.filter((_, i) => i % 500 === 0)
  assert.equal(assertAgreement(cluster, engine, [...sample, ...changed.slice(0, 100)]), 300)
})
