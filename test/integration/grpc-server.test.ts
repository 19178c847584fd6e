// The shared gRPC server setup on 127.0.0.1: health checking says SERVING, reflection lists our services, an
// oversized request gets RESOURCE_EXHAUSTED, thrown errors become the right statuses without leaking internals,
// and after each failure the server still answers. Shutdown is graceful when idle and forced past its deadline.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { createGrpcServer, type GrpcServer } from '../../agent/src/grpc/grpc-server.js'
import { callUnary, createGrpcClient } from '../../agent/src/grpc/grpc-client.js'
import { loadProtos, SERVICE_NAMES, type FlowsClient, type FlowsImplementation } from '../../agent/src/grpc/load-protos.js'
import { ERROR_CODE_METADATA_KEY, INTERNAL_ERROR_DETAILS, wrapServerStream, wrapUnary, writeWithBackpressure } from '../../agent/src/grpc/grpc-status.js'
import { RequestInvalidError, UnknownNodeError } from '../../agent/src/errors.js'
import type { WireFlowListRequest, WireFlowResult } from '../../agent/src/grpc/wire-types.js'

const protos = loadProtos()
const MAX_RECEIVE_BYTES = 64 * 1024
const errorsSeen: string[] = []

/** goldmane.Flows whose behaviour is chosen by the first dest-name filter value. */
const flowsImplementation: FlowsImplementation = {
  List: wrapUnary<WireFlowListRequest, never>(call => {
    const mode = call.request.filter?.destNames[0]?.value ?? ''
    if (mode === 'bad-input') throw new RequestInvalidError('page_size must not be negative', 'pageSize')
    if (mode === 'crash') throw new Error('secret internal detail at /srv/agent/src/store.ts:42')
    return { meta: { totalPages: 1, totalResults: 0 }, flows: [] } as never
  }, { onError: (error, status) => { errorsSeen.push(`${status.code}:${(error as Error).message}`) } }),
  Stream: wrapServerStream<unknown, WireFlowResult>(async call => {
    call.write({ id: 1, flow: null })
    call.write({ id: 2, flow: null })
    throw new UnknownNodeError('node worker-9 is not known')
  }),
  FilterHints: wrapUnary(() => ({ meta: { totalPages: 0, totalResults: 0 }, hints: [] }) as never)
}

async function startServer (): Promise<{ server: GrpcServer, address: string }> {
  const server = createGrpcServer({ maxReceiveMessageBytes: MAX_RECEIVE_BYTES })
  server.addService(SERVICE_NAMES.flows, protos.goldmane.Flows.service, flowsImplementation)
  const port = await server.bind('127.0.0.1:0', grpc.ServerCredentials.createInsecure())
  return { server, address: `127.0.0.1:${port}` }
}

const { server, address } = await startServer()
const client = createGrpcClient(protos.goldmane.Flows, address, grpc.credentials.createInsecure(), { maxSendMessageBytes: 8 * 1024 * 1024 })
after(async () => {
  client.close()
  await server.shutdown(1000)
})

function listRequest (destName: string): WireFlowListRequest {
  return {
    startTimeGte: 0,
    startTimeLt: 0,
    page: 0,
    pageSize: 0,
    sortBy: [],
    aggregationInterval: 0,
    filter: { sourceNames: [], sourceNamespaces: [], destNames: [{ value: destName, type: 'Exact' }], destNamespaces: [], protocols: [], destPorts: [], actions: [], policies: [] }
  }
}

async function listFails (c: FlowsClient, request: WireFlowListRequest): Promise<grpc.ServiceError> {
  try {
    await callUnary(c, 'List', request, { deadlineMs: 5000 })
  } catch (error) {
    return error as grpc.ServiceError
  }
  assert.fail('the call succeeded')
}

async function assertStillServing (): Promise<void> {
  const result = await callUnary(client, 'List', listRequest('ok'), { deadlineMs: 5000 })
  assert.equal(result.meta?.totalPages, 1)
}

test('health Check reports SERVING for the server and for an added service, NOT_FOUND for others', async () => {
  const health = createGrpcClient(protos.health, address, grpc.credentials.createInsecure())
  try {
    const check = async (service: string): Promise<{ status: string }> => await callUnary(health, 'Check', { service }, { deadlineMs: 5000 })
    assert.equal((await check('')).status, 'SERVING')
    assert.equal((await check(SERVICE_NAMES.flows)).status, 'SERVING')
    await assert.rejects(check('no.such.Service'), (error: grpc.ServiceError) => error.code === grpc.status.NOT_FOUND)
  } finally {
    health.close()
  }
})

test('server reflection lists goldmane.Flows and serves its file descriptor', async () => {
  const reflectionProto = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto')
  const definition = protoLoader.loadSync(reflectionProto, { keepCase: false, defaults: true, oneofs: true })
  const Reflection = grpc.loadPackageDefinition(definition).grpc as unknown as { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } }
  const reflection = new Reflection.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure())
  try {
    const ask = async (request: object): Promise<Record<string, unknown>> => await new Promise((resolve, reject) => {
      const call = (reflection.serverReflectionInfo as () => grpc.ClientDuplexStream<object, Record<string, unknown>>)()
      call.on('data', (response: Record<string, unknown>) => { resolve(response); call.end() })
      call.on('error', reject)
      call.write(request)
    })
    const list = await ask({ listServices: '' }) as { listServicesResponse: { service: Array<{ name: string }> } }
    const names = list.listServicesResponse.service.map(s => s.name)
    assert.ok(names.includes('goldmane.Flows'), names.join(', '))
    assert.ok(names.includes('shadowflow.v1.NodeFlows'), names.join(', '))
    const file = await ask({ fileContainingSymbol: 'goldmane.Flows' }) as { fileDescriptorResponse: { fileDescriptorProto: Buffer[] } }
    assert.ok(file.fileDescriptorResponse.fileDescriptorProto.length > 0)
  } finally {
    reflection.close()
  }
})

test('a request above the receive limit gets RESOURCE_EXHAUSTED and the server keeps serving', async () => {
  const error = await listFails(client, listRequest('x'.repeat(MAX_RECEIVE_BYTES + 1)))
  assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED, error.message)
  await assertStillServing()
})

test('a handler throwing an input ShadowflowError gets INVALID_ARGUMENT with the field and the code', async () => {
  const error = await listFails(client, listRequest('bad-input'))
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT)
  assert.equal(error.details, 'pageSize: page_size must not be negative [ERR_REQUEST_INVALID]')
  assert.deepEqual(error.metadata.get(ERROR_CODE_METADATA_KEY), ['ERR_REQUEST_INVALID'])
  await assertStillServing()
})

test('an unexpected error becomes INTERNAL without its message, reaches onError, and the server keeps serving', async () => {
  const error = await listFails(client, listRequest('crash'))
  assert.equal(error.code, grpc.status.INTERNAL)
  assert.equal(error.details, INTERNAL_ERROR_DETAILS)
  assert.ok(!error.message.includes('secret'))
  assert.ok(errorsSeen.some(seen => seen === `${grpc.status.INTERNAL}:secret internal detail at /srv/agent/src/store.ts:42`))
  await assertStillServing()
})

test('a streaming handler that throws after two messages delivers both, then the mapped status', async () => {
  const received: number[] = []
  const status = await new Promise<grpc.ServiceError>((resolve, reject) => {
    const call = client.Stream({ startTimeGte: 0, aggregationInterval: 0 })
    call.on('data', (result: WireFlowResult) => { received.push(result.id) })
    call.on('error', resolve)
    call.on('end', () => { reject(new Error('stream ended without an error')) })
  })
  assert.deepEqual(received, [1, 2])
  assert.equal(status.code, grpc.status.NOT_FOUND)
  assert.match(status.details, /worker-9.*\[ERR_UNKNOWN_NODE\]/)
  await assertStillServing()
})

/** Sends raw bytes as the request of `method` on the test server, bypassing the protobuf encoder. */
async function sendRawBytes (method: string, bytes: Buffer, streaming: boolean): Promise<grpc.ServiceError> {
  const raw = new grpc.Client(address, grpc.credentials.createInsecure())
  try {
    return await new Promise((resolve, reject) => {
      const serialize = (b: Buffer): Buffer => b
      const deserialize = (b: Buffer): Buffer => b
      if (streaming) {
        const call = raw.makeServerStreamRequest(method, serialize, deserialize, bytes)
        call.on('data', () => { reject(new Error('got a message')) })
        call.on('error', resolve)
        call.on('end', () => { reject(new Error('ended without an error')) })
      } else {
        raw.makeUnaryRequest(method, serialize, deserialize, bytes, (error) => {
          if (error === null) reject(new Error('succeeded'))
          else resolve(error)
        })
      }
    })
  } finally {
    raw.close()
  }
}

test('a request that is not valid protobuf gets INVALID_ARGUMENT (unary and streaming) and the server keeps serving', async () => {
  const truncated = Buffer.from([0x08]) // field 1 (varint) without its value
  for (const [method, streaming] of [['/goldmane.Flows/List', false], ['/goldmane.Flows/Stream', true]] as const) {
    const error = await sendRawBytes(method, truncated, streaming)
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT, `${method}: ${error.message}`)
    assert.match(error.details, /not valid protobuf.*\[ERR_REQUEST_INVALID\]/)
  }
  await assertStillServing()
})

test('writeWithBackpressure stalls the producer while the client does not read, and stops it on cancel', async () => {
  const total = 2000
  const label = 'x'.repeat(8 * 1024)
  let produced = 0
  let producerDone: () => void = () => {}
  let producerResult: Promise<void> = Promise.resolve()
  const backpressured = createGrpcServer()
  backpressured.addService(SERVICE_NAMES.flows, protos.goldmane.Flows.service, {
    ...flowsImplementation,
    Stream: wrapServerStream<unknown, WireFlowResult>(async call => {
      produced = 0
      producerResult = new Promise(resolve => { producerDone = resolve })
      try {
        for (let id = 1; id <= total; id++) {
          const flow = { Key: null, startTime: 0, endTime: 0, sourceLabels: [label], destLabels: [], packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, numConnectionsStarted: 0, numConnectionsCompleted: 0, numConnectionsLive: 0 }
          if (!await writeWithBackpressure(call, { id, flow })) return
          produced = id
        }
      } finally {
        producerDone()
      }
    })
  })
  const port = await backpressured.bind('127.0.0.1:0', grpc.ServerCredentials.createInsecure())
  const slowClient = createGrpcClient(protos.goldmane.Flows, `127.0.0.1:${port}`, grpc.credentials.createInsecure())
  try {
    // 1. A paused reader: the producer must stop far short of the 16 MiB it would otherwise buffer.
    const call = slowClient.Stream({ startTimeGte: 0, aggregationInterval: 0 })
    let received = 0
    const ended = new Promise<void>((resolve, reject) => { call.on('end', resolve); call.on('error', reject) })
    call.on('data', () => { received++ })
    call.pause()
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.ok(produced < total / 4, `producer ran ahead to ${produced} of ${total} while the client was paused`)
    call.resume()
    await ended
    assert.equal(received, total)

    // 2. A client that cancels: writeWithBackpressure answers false and the producer returns.
    const cancelled = slowClient.Stream({ startTimeGte: 0, aggregationInterval: 0 })
    cancelled.on('error', () => {}) // CANCELLED, expected
    await new Promise<void>(resolve => { cancelled.once('data', () => { resolve() }) })
    cancelled.pause()
    await new Promise(resolve => setTimeout(resolve, 100))
    cancelled.cancel()
    await producerResult
    assert.ok(produced < total, `the producer wrote all ${produced} messages to a cancelled call`)
  } finally {
    slowClient.close()
    await backpressured.shutdown(1000)
  }
})

test('shutdown is graceful when idle and forced when a call outlives the grace period', async () => {
  const idle = await startServer()
  assert.equal(await idle.server.shutdown(2000), 'graceful')

  const busy = createGrpcServer()
  const never: FlowsImplementation = {
    ...flowsImplementation,
    Stream: () => { /* never ends: only forceShutdown can close it */ }
  }
  busy.addService(SERVICE_NAMES.flows, protos.goldmane.Flows.service, never)
  const port = await busy.bind('127.0.0.1:0', grpc.ServerCredentials.createInsecure())
  const busyClient = createGrpcClient(protos.goldmane.Flows, `127.0.0.1:${port}`, grpc.credentials.createInsecure())
  try {
    const call = busyClient.Stream({ startTimeGte: 0, aggregationInterval: 0 })
    const ended = new Promise<grpc.ServiceError>(resolve => { call.on('error', resolve) })
    call.on('data', () => {})
    await new Promise(resolve => setTimeout(resolve, 200)) // let the call reach the server
    const started = Date.now()
    assert.equal(await busy.shutdown(300), 'forced')
    assert.ok(Date.now() - started >= 250)
    assert.notEqual((await ended).code, grpc.status.OK)
  } finally {
    busyClient.close()
  }
})
