// The README's error-code table and the catalogue in errors.ts must list the same codes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ERROR_CODES, ShadowflowError } from '../../agent/src/errors.js'

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

test('every error code in the catalogue is documented in the README and vice versa', () => {
  const section = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('\n## ', readme.indexOf('## Error codes') + 1))
  const documented = [...section.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map(m => m[1]).sort()
  assert.deepEqual(documented, Object.keys(ERROR_CODES).sort())
})

test('describe() prints file:line: field: message', () => {
  const e = new ShadowflowError('ERR_RESOURCE_INVALID', '"70000" is not a valid port', { location: { file: 'shop.yaml', line: 14, field: 'spec.ingress[0].destination.ports[1]' } })
  assert.equal(e.describe(), 'shop.yaml:14: spec.ingress[0].destination.ports[1]: "70000" is not a valid port')
})
