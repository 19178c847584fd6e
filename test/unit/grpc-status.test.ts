// The one error → gRPC status mapping: catalogue codes map as documented, downstream statuses pass through,
// and nothing from an unexpected error's message reaches the client.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import {
  ERROR_CODE_METADATA_KEY, INTERNAL_ERROR_DETAILS, STATUS_BY_ERROR_CODE, errorCodeOf, grpcStatusName, toGrpcStatus
} from '../../agent/src/grpc/grpc-status.js'
import {
  ERROR_CODES, OverloadedError, RequestInvalidError, ShadowflowError, UnavailableError, UnknownNodeError
} from '../../agent/src/errors.js'

test('every code the status table maps is a catalogue code (no typos that silently fall back to INTERNAL)', () => {
  for (const code of Object.keys(STATUS_BY_ERROR_CODE)) assert.ok(code in ERROR_CODES, code)
})

const mapped: Array<[ShadowflowError, grpc.status]> = [
  [new RequestInvalidError('bad', 'filter.destPorts[0].port'), grpc.status.INVALID_ARGUMENT],
  [new UnknownNodeError('node x is not known'), grpc.status.NOT_FOUND],
  [new OverloadedError('too many followers'), grpc.status.RESOURCE_EXHAUSTED],
  [new UnavailableError('shutting down'), grpc.status.UNAVAILABLE],
  [new ShadowflowError('ERR_SOMETHING_NEW', 'a code nobody mapped'), grpc.status.INTERNAL]
]

for (const [error, code] of mapped) {
  test(`${error.code} → ${grpcStatusName(code)}, with the message and the code in trailing metadata`, () => {
    const status = toGrpcStatus(error)
    assert.equal(status.code, code)
    assert.equal(status.details, `${error.describe()} [${error.code}]`)
    assert.equal(errorCodeOf(status), error.code)
    assert.deepEqual(status.metadata.get(ERROR_CODE_METADATA_KEY), [error.code])
  })
}

test('the field path of a request error leads the details', () => {
  assert.equal(toGrpcStatus(new RequestInvalidError('70000 is not a port', 'filter.destPorts[0].port')).details,
    'filter.destPorts[0].port: 70000 is not a port [ERR_REQUEST_INVALID]')
})

test('a downstream gRPC status keeps its code and details', () => {
  const downstream = Object.assign(new Error('14 UNAVAILABLE: connect failed'), { code: grpc.status.UNAVAILABLE, details: 'connect failed' })
  const status = toGrpcStatus(downstream)
  assert.equal(status.code, grpc.status.UNAVAILABLE)
  assert.equal(status.details, 'connect failed')
})

test('an unexpected error is INTERNAL with fixed details; a system error code is not taken for a status', () => {
  const system = Object.assign(new Error('ENOENT: /etc/secret'), { code: 'ENOENT', details: 'x' })
  for (const error of [new TypeError('cannot read x of undefined at /srv/store.ts:1'), system, 'a string', undefined]) {
    const status = toGrpcStatus(error)
    assert.equal(status.code, grpc.status.INTERNAL)
    assert.equal(status.details, INTERNAL_ERROR_DETAILS)
    assert.equal(errorCodeOf(status), undefined)
  }
})

test('an AbortError is CANCELLED', () => {
  assert.equal(toGrpcStatus(Object.assign(new Error('aborted'), { name: 'AbortError' })).code, grpc.status.CANCELLED)
})
