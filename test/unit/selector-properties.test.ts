// Property tests: printing round-trips through the parser, the compiled matcher agrees with a plain tree-walking
// interpreter of ast.go's Evaluate, and arbitrary text either parses or fails with a SelectorSyntaxError.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SelectorSyntaxError } from '../../agent/src/errors.js'
import {
  compileSelector, parseSelector, printSelector, type SelectorNode
} from '../../agent/src/policy/selector/index.js'
import type { Labels } from '../../agent/src/policy/resources.js'

// The reference: a direct transcription of ast.go's Evaluate methods, with presence meaning "own property".
function interpret (node: SelectorNode, labels: Labels): boolean {
  const present = (label: string): boolean => Object.hasOwn(labels, label)
  const value = (label: string): string => labels[label] as string
  switch (node.kind) {
    case 'all': case 'global': return true
    case 'has': return present(node.label)
    case 'eq': return present(node.label) && value(node.label) === node.value
    case 'ne': return !present(node.label) || value(node.label) !== node.value
    case 'contains': return present(node.label) && value(node.label).includes(node.value)
    case 'startsWith': return present(node.label) && value(node.label).startsWith(node.value)
    case 'endsWith': return present(node.label) && value(node.label).endsWith(node.value)
    case 'in': return present(node.label) && node.values.includes(value(node.label))
    case 'notIn': return !present(node.label) || !node.values.includes(value(node.label))
    case 'not': return !interpret(node.operand, labels)
    case 'and': return node.operands.every(o => interpret(o, labels))
    case 'or': return node.operands.some(o => interpret(o, labels))
  }
}

// Small pools so that random labels and values collide with the selector's often; keyword-like label names and
// Object.prototype member names are valid Calico labels and must behave like any other.
const labelArb = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'in', 'not', 'has', 'all', 'contains', 'constructor', 'toString', 'x/y.z-1_'),
  fc.stringMatching(/^[A-Za-z0-9_./-]{1,6}$/)
)
// A value never holds both quote kinds: no selector text can express that (strings have no escapes).
const valueArb = fc.oneof(
  fc.constantFrom('', 'v', 'w', 'vw', 'wv', 'V', "it's", 'say "hi"', '😀', '\uE000', ' v ', '&&', ')', ',', '}'),
  fc.string({ maxLength: 6, unit: 'binary' })
).filter(v => !(v.includes('"') && v.includes("'")))

const leafArb: fc.Arbitrary<SelectorNode> = fc.oneof(
  fc.constant<SelectorNode>({ kind: 'all' }),
  fc.constant<SelectorNode>({ kind: 'global' }),
  labelArb.map((label): SelectorNode => ({ kind: 'has', label })),
  fc.record({
    kind: fc.constantFrom('eq', 'ne', 'contains', 'startsWith', 'endsWith'),
    label: labelArb,
    value: valueArb
  }) as fc.Arbitrary<SelectorNode>,
  fc.record({
    kind: fc.constantFrom('in', 'notIn'),
    label: labelArb,
    values: fc.array(valueArb, { maxLength: 4 })
  }) as fc.Arbitrary<SelectorNode>
)

const { node: nodeArb } = fc.letrec<{ node: SelectorNode }>(tie => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    tie('node').map((operand): SelectorNode => ({ kind: 'not', operand })),
    // Two or more operands, as the parser builds them: a one-operand group prints as "(x)", which re-parses as
    // x itself, so "!(!x)" could appear only after a second round trip.
    fc.record({
      kind: fc.constantFrom('and' as const, 'or' as const),
      operands: fc.array(tie('node'), { minLength: 2, maxLength: 4 })
    }).map(({ kind, operands }): SelectorNode => ({ kind, operands: operands as [SelectorNode, ...SelectorNode[]] }))
  )
}))

const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(labelArb, valueArb, { maxKeys: 6 })

// The one shape whose printed form does not re-parse to the same tree: `!!x`, because consecutive leading `!`
// collapse at parse time (the documented upstream quirk).
function hasNoDoubleNot (node: SelectorNode): boolean {
  switch (node.kind) {
    case 'not': return node.operand.kind !== 'not' && hasNoDoubleNot(node.operand)
    case 'and': case 'or': return node.operands.every(hasNoDoubleNot)
    default: return true
  }
}

test('property: parse(print(ast)) evaluates exactly like ast', () => {
  fc.assert(fc.property(nodeArb, fc.array(labelsArb, { minLength: 1, maxLength: 8 }), (ast, labelSets) => {
    const reparsed = parseSelector(printSelector(ast))
    for (const labels of labelSets) assert.equal(interpret(reparsed, labels), interpret(ast, labels))
  }), { numRuns: 2000 })
})

test('property: printing is a fixed point after one round trip', () => {
  fc.assert(fc.property(nodeArb, ast => {
    const once = printSelector(parseSelector(printSelector(ast)))
    assert.equal(printSelector(parseSelector(once)), once)
  }), { numRuns: 2000 })
})

test('property: without `!!`, print(parse(print(ast))) === print(ast)', () => {
  fc.assert(fc.property(nodeArb.filter(hasNoDoubleNot), ast => {
    const printed = printSelector(ast)
    assert.equal(printSelector(parseSelector(printed)), printed)
  }), { numRuns: 2000 })
})

test('property: with `!!` somewhere, the first round trip removes it and changes the text', () => {
  fc.assert(fc.property(nodeArb.filter(n => !hasNoDoubleNot(n)), ast => {
    const printed = printSelector(ast)
    const reparsed = parseSelector(printed)
    assert.ok(hasNoDoubleNot(reparsed))
    assert.notEqual(printSelector(reparsed), printed)
  }), { numRuns: 500 })
})

test('the documented !! quirk: !(!has(a)) prints !!has(a), which re-parses as has(a)', () => {
  const ast = parseSelector('!(!has(a))')
  assert.deepEqual(ast, { kind: 'not', operand: { kind: 'not', operand: { kind: 'has', label: 'a' } } })
  assert.equal(printSelector(ast), '!!has(a)')
  assert.deepEqual(parseSelector('!!has(a)'), { kind: 'has', label: 'a' })
  assert.deepEqual(parseSelector('!!!has(a)'), { kind: 'not', operand: { kind: 'has', label: 'a' } })
})

test('property: compileSelector agrees with the tree-walking interpreter', () => {
  fc.assert(fc.property(nodeArb, fc.array(labelsArb, { minLength: 1, maxLength: 8 }), (ast, labelSets) => {
    const matches = compileSelector(ast)
    for (const labels of labelSets) assert.equal(matches(labels), interpret(ast, labels))
  }), { numRuns: 3000 })
})

// Text built from the selector alphabet plus noise, so that most strings get deep into the grammar.
const fragmentArb = fc.constantFrom(
  'a', 'b', ' ', '\t', '==', '!=', '!', '=', '&&', '&', '||', '|', '(', ')', '{', '}', ',', '"x"', "'y'", '"', "'",
  'in', 'not', 'notin', 'contains', 'starts', 'with', 'ends', 'has(', 'all(', 'global(', 'has(a)', 'all()',
  'global()', '%', '\n', '😀', 'startswith', 'endswith'
)
const textArb = fc.oneof(fc.array(fragmentArb, { maxLength: 12 }).map(parts => parts.join('')), fc.string({ maxLength: 20 }))

test('property: any text parses or throws SelectorSyntaxError with an in-range column; what parses round-trips', () => {
  fc.assert(fc.property(textArb, labelsArb, (text, labels) => {
    let ast: SelectorNode
    try {
      ast = parseSelector(text)
    } catch (err) {
      assert.ok(err instanceof SelectorSyntaxError, `${String(err)} for ${JSON.stringify(text)}`)
      const column = err.location.column ?? 0
      assert.ok(column >= 1 && column <= [...text].length + 1)
      return
    }
    const reparsed = parseSelector(printSelector(ast))
    assert.equal(compileSelector(reparsed)(labels), compileSelector(ast)(labels))
    assert.equal(compileSelector(ast)(labels), interpret(ast, labels))
  }), { numRuns: 5000 })
})
