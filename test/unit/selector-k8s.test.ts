// Kubernetes LabelSelector → Calico selector text, as libcalico-go's k8sSelectorToCalico writes it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  compileSelector, k8sLabelSelectorToCalico, parseSelector
} from '../../agent/src/policy/selector/index.js'
import type { LabelSelector, LabelSelectorRequirement, Labels } from '../../agent/src/policy/resources.js'

const cases: Array<{ name: string, selector: LabelSelector | undefined, expected: string }> = [
  { name: 'undefined', selector: undefined, expected: '' },
  { name: 'empty', selector: {}, expected: '' },
  { name: 'empty lists', selector: { matchLabels: {}, matchExpressions: [] }, expected: '' },
  { name: 'one matchLabel', selector: { matchLabels: { app: 'web' } }, expected: "app == 'web'" },
  {
    name: 'matchLabels sorted by key',
    selector: { matchLabels: { role: 'db', app: 'web', 'k8s.io/name': 'x' } },
    expected: "app == 'web' && k8s.io/name == 'x' && role == 'db'"
  },
  {
    name: 'every operator, in the order given, after the matchLabels',
    selector: {
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' }
      ],
      matchLabels: { app: 'web' }
    },
    expected: "app == 'web' && tier in { 'a', 'b' } && env not in { 'prod' } && has(team) && ! has(legacy)"
  },
  {
    name: 'In with no values keeps the upstream `{ \'\' }` quirk',
    selector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
    expected: "a in { '' }"
  }
]

test('k8sLabelSelectorToCalico table', async t => {
  for (const c of cases) {
    await t.test(c.name, () => {
      const text = k8sLabelSelectorToCalico(c.selector)
      assert.equal(text, c.expected)
      assert.doesNotThrow(() => parseSelector(text))
    })
  }
})

test('an empty selector converts to text that matches everything', () => {
  assert.equal(compileSelector(parseSelector(k8sLabelSelectorToCalico({})))({ any: 'thing' }), true)
  assert.equal(parseSelector(k8sLabelSelectorToCalico(undefined)).kind, 'all')
})

// Kubernetes' own semantics of a LabelSelector (apimachinery labels.Selector), the reference for the property.
function k8sMatches (selector: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key)
    const inValues = has && (e.values ?? []).includes(labels[e.key] as string)
    const ok = e.operator === 'In' ? inValues : e.operator === 'NotIn' ? !inValues : e.operator === 'Exists' ? has : !has
    if (!ok) return false
  }
  return true
}

// Keys and values restricted to what Kubernetes validation accepts (qualified names, label values).
const keyArb = fc.constantFrom('app', 'tier', 'env', 'k8s.io/name', 'example.com/role-1', 'a_b')
const valueArb = fc.constantFrom('', 'web', 'db', 'prod', 'v1.2', 'A-b_c')
const requirementArb: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
  fc.record({ key: keyArb, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(valueArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: keyArb, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) })
)
const selectorArb: fc.Arbitrary<LabelSelector> = fc.record({
  matchLabels: fc.dictionary(keyArb, valueArb, { maxKeys: 3 }),
  matchExpressions: fc.array(requirementArb, { maxLength: 3 })
}, { requiredKeys: [] })
const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(keyArb, valueArb, { maxKeys: 5 })

test('property: the converted selector parses and matches exactly what Kubernetes would select', () => {
  fc.assert(fc.property(selectorArb, fc.array(labelsArb, { minLength: 1, maxLength: 6 }), (selector, labelSets) => {
    const matches = compileSelector(parseSelector(k8sLabelSelectorToCalico(selector)))
    for (const labels of labelSets) assert.equal(matches(labels), k8sMatches(selector, labels))
  }), { numRuns: 2000 })
})
