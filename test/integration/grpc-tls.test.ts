// TLS and mutual TLS on a real server on 127.0.0.1, with a throwaway CA, server and client certificates made by
// openssl at test time: mTLS refuses a client without a certificate or with one from another CA and accepts a
// valid one; TLS-only serves a client that trusts the CA; a plaintext client cannot talk to a TLS server; and
// bad flag combinations or files are ERR_TLS_CONFIG errors naming the file.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { createGrpcServer, type GrpcServer } from '../../agent/src/grpc/grpc-server.js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos } from '../../agent/src/grpc/load-protos.js'
import { clientCredentialsFromFiles, serverCredentialsFromFiles, tlsMode, type TlsFiles } from '../../agent/src/grpc/tls-credentials.js'
import { ShadowflowError } from '../../agent/src/errors.js'

const protos = loadProtos()
const dir = mkdtempSync(join(tmpdir(), 'shadowflow-tls-'))
const file = (name: string): string => join(dir, name)

function openssl (...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** A CA (self-signed) named `name`. */
function makeCa (name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`))
}

/** A leaf certificate `name` signed by CA `ca`, for `usage` serverAuth or clientAuth. */
function makeLeaf (name: string, ca: string, usage: 'serverAuth' | 'clientAuth', serial: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`))
  writeFileSync(file(`${name}.ext`), usage === 'serverAuth'
    ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
    : 'extendedKeyUsage=clientAuth\n')
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`),
    '-set_serial', serial, '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`))
}

const servers: GrpcServer[] = []
const clients: grpc.Client[] = []

before(() => {
  makeCa('ca')
  makeCa('rogue-ca')
  makeLeaf('server', 'ca', 'serverAuth', '01')
  makeLeaf('client', 'ca', 'clientAuth', '02')
  makeLeaf('rogue-client', 'rogue-ca', 'clientAuth', '03')
})

after(async () => {
  for (const client of clients) client.close()
  for (const server of servers) await server.shutdown(1000)
  rmSync(dir, { recursive: true, force: true })
})

async function startServer (files: TlsFiles): Promise<string> {
  const server = createGrpcServer()
  servers.push(server)
  const port = await server.bind('127.0.0.1:0', await serverCredentialsFromFiles(files))
  return `127.0.0.1:${port}`
}

/** Resolves 'SERVING' when a health Check over `credentials` succeeds, else the gRPC status code name. */
async function healthCheck (address: string, credentials: grpc.ChannelCredentials): Promise<string> {
  const client = createGrpcClient(protos.health, address, credentials)
  clients.push(client)
  try {
    return (await callUnary(client, 'Check', { service: '' }, { deadlineMs: 5000 })).status
  } catch (error) {
    return grpc.status[(error as grpc.ServiceError).code] ?? 'unknown'
  }
}

const serverTls: TlsFiles = { certPath: file('server.crt'), keyPath: file('server.key') }
const serverMtls: TlsFiles = { ...serverTls, caPath: file('ca.crt') }

test('mutual TLS: a client with a certificate from the CA is served', async () => {
  const address = await startServer(serverMtls)
  const credentials = await clientCredentialsFromFiles({ caPath: file('ca.crt'), certPath: file('client.crt'), keyPath: file('client.key') })
  assert.equal(await healthCheck(address, credentials), 'SERVING')
})

test('mutual TLS: a client without a certificate is refused', async () => {
  const address = await startServer(serverMtls)
  const credentials = await clientCredentialsFromFiles({ caPath: file('ca.crt') })
  assert.equal(await healthCheck(address, credentials), 'UNAVAILABLE')
})

test('mutual TLS: a client certificate from another CA is refused', async () => {
  const address = await startServer(serverMtls)
  const credentials = await clientCredentialsFromFiles({ caPath: file('ca.crt'), certPath: file('rogue-client.crt'), keyPath: file('rogue-client.key') })
  assert.equal(await healthCheck(address, credentials), 'UNAVAILABLE')
})

test('TLS only: a client trusting the CA is served; one trusting another CA is not', async () => {
  const address = await startServer(serverTls)
  assert.equal(await healthCheck(address, await clientCredentialsFromFiles({ caPath: file('ca.crt') })), 'SERVING')
  assert.equal(await healthCheck(address, await clientCredentialsFromFiles({ caPath: file('rogue-ca.crt') })), 'UNAVAILABLE')
})

test('a plaintext client cannot talk to a TLS server', async () => {
  const address = await startServer(serverTls)
  assert.equal(await healthCheck(address, grpc.credentials.createInsecure()), 'UNAVAILABLE')
})

test('no files: plaintext on both sides', async () => {
  assert.equal(tlsMode({}), 'insecure')
  const address = await startServer({})
  assert.equal(await healthCheck(address, await clientCredentialsFromFiles({})), 'SERVING')
})

/** The ERR_TLS_CONFIG error `promise` rejects with. */
async function tlsConfigError (promise: Promise<unknown>): Promise<ShadowflowError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof ShadowflowError, String(error))
    assert.equal(error.code, 'ERR_TLS_CONFIG')
    return error
  }
  assert.fail('expected ERR_TLS_CONFIG')
}

test('configuration errors name the file and what is wrong', async () => {
  const noKey = await tlsConfigError(serverCredentialsFromFiles({ certPath: file('server.crt') }))
  assert.match(noKey.message, /--tls-cert was given without --tls-key/)
  assert.equal(noKey.location.file, file('server.crt'))

  const missing = await tlsConfigError(serverCredentialsFromFiles({ certPath: file('nope.crt'), keyPath: file('server.key') }))
  assert.match(missing.message, /nope\.crt cannot be read \(ENOENT\)/)

  const notPem = await tlsConfigError(serverCredentialsFromFiles({ certPath: file('server.ext'), keyPath: file('server.key') }))
  assert.match(notPem.message, /is not a PEM certificate/)

  const mismatch = await tlsConfigError(serverCredentialsFromFiles({ certPath: file('server.crt'), keyPath: file('client.key') }))
  assert.match(mismatch.message, /does not belong to the certificate/)

  const caOnly = await tlsConfigError(serverCredentialsFromFiles({ caPath: file('ca.crt') }))
  assert.match(caOnly.message, /--tls-ca on a server requires --tls-cert and --tls-key/)
})
