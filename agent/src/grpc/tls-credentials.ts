// gRPC credentials from the `--tls-cert/--tls-key/--tls-ca` flags. Server: none → plaintext; cert+key → TLS;
// cert+key+CA → mutual TLS that requires a client certificate signed by the CA. Client: none → plaintext; CA →
// TLS verifying the server against it (without a CA, the system roots); cert+key → also presents a client
// certificate. Every file is read and parsed here, at start-up, so a wrong path, a key that is not a key or a
// cert/key pair that does not belong together is an ERR_TLS_CONFIG naming the file, not a handshake failure later.
import { readFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import * as grpc from '@grpc/grpc-js'
import { TlsConfigError } from '../errors.js'

/** The three TLS file paths as given on the command line (undefined or '' = not given). */
export interface TlsFiles {
  readonly certPath?: string | undefined
  readonly keyPath?: string | undefined
  readonly caPath?: string | undefined
}

/** What a set of TLS files configures. */
export type TlsMode = 'insecure' | 'tls' | 'mtls'

/** The PEM contents after validation. */
export interface TlsMaterial {
  readonly mode: TlsMode
  readonly cert?: Buffer
  readonly key?: Buffer
  readonly ca?: Buffer
}

const given = (path: string | undefined): path is string => path !== undefined && path !== ''

/** The mode the files configure: mtls when a CA and a cert+key are given, tls when either is, else insecure. */
export function tlsMode (files: TlsFiles): TlsMode {
  const pair = given(files.certPath) || given(files.keyPath)
  if (pair && given(files.caPath)) return 'mtls'
  return pair || given(files.caPath) ? 'tls' : 'insecure'
}

/**
 * Reads and validates the files for `role`. A server needs cert+key for any TLS (a CA alone is an error, it
 * would silently mean plaintext); a client may give a CA alone, or a cert+key with or without a CA.
 */
export async function readTlsMaterial (files: TlsFiles, role: 'server' | 'client'): Promise<TlsMaterial> {
  const { certPath, keyPath, caPath } = files
  if (given(certPath) !== given(keyPath)) {
    throw given(certPath)
      ? new TlsConfigError('--tls-cert was given without --tls-key: a certificate needs its private key', certPath)
      : new TlsConfigError('--tls-key was given without --tls-cert: a private key needs its certificate', keyPath)
  }
  if (role === 'server' && given(caPath) && !given(certPath)) {
    throw new TlsConfigError('--tls-ca on a server requires --tls-cert and --tls-key (mutual TLS is TLS plus client certificates)', caPath)
  }
  const mode = tlsMode(files)
  if (mode === 'insecure') return { mode }
  const material: { mode: TlsMode, cert?: Buffer, key?: Buffer, ca?: Buffer } = { mode }
  if (given(certPath) && given(keyPath)) {
    const cert = await readPem(certPath, '--tls-cert')
    const key = await readPem(keyPath, '--tls-key')
    const certificate = parseCertificate(cert, certPath, '--tls-cert')
    const privateKey = parsePrivateKey(key, keyPath)
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new TlsConfigError(`the private key in ${keyPath} does not belong to the certificate in ${certPath}`, keyPath)
    }
    material.cert = cert
    material.key = key
  }
  if (given(caPath)) {
    const ca = await readPem(caPath, '--tls-ca')
    parseCertificate(ca, caPath, '--tls-ca')
    material.ca = ca
  }
  return material
}

/** Server credentials for the files (insecure, TLS, or mutual TLS requiring and verifying client certificates). */
export async function serverCredentialsFromFiles (files: TlsFiles): Promise<grpc.ServerCredentials> {
  return serverCredentialsFromMaterial(await readTlsMaterial(files, 'server'))
}

/** Server credentials for already-read material. */
export function serverCredentialsFromMaterial (material: TlsMaterial): grpc.ServerCredentials {
  if (material.mode === 'insecure' || material.cert === undefined || material.key === undefined) {
    return grpc.ServerCredentials.createInsecure()
  }
  const pair = [{ cert_chain: material.cert, private_key: material.key }]
  // checkClientCertificate=true: without it a CA only enables optional client certificates.
  return material.ca === undefined
    ? grpc.ServerCredentials.createSsl(null, pair, false)
    : grpc.ServerCredentials.createSsl(material.ca, pair, true)
}

/** Client credentials for the files (insecure, TLS verifying the server, or mutual TLS with a client certificate). */
export async function clientCredentialsFromFiles (files: TlsFiles): Promise<grpc.ChannelCredentials> {
  return clientCredentialsFromMaterial(await readTlsMaterial(files, 'client'))
}

/** Client credentials for already-read material. */
export function clientCredentialsFromMaterial (material: TlsMaterial): grpc.ChannelCredentials {
  if (material.mode === 'insecure') return grpc.credentials.createInsecure()
  return grpc.credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null)
}

async function readPem (path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new TlsConfigError(`${flag} ${path} cannot be read (${errno})`, path, error)
  }
}

function parseCertificate (pem: Buffer, path: string, flag: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch (error) {
    throw new TlsConfigError(`${flag} ${path} is not a PEM certificate (${(error as Error).message})`, path, error)
  }
}

function parsePrivateKey (pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem)
  } catch (error) {
    throw new TlsConfigError(`--tls-key ${path} is not a PEM private key (${(error as Error).message})`, path, error)
  }
}
