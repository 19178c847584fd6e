// Real traffic between two namespaces: small node programs run with `ip netns exec`, each printing what it did.
import { spawn, type ChildProcess } from 'node:child_process'

import { run } from './netns.js'

/** A server started in a namespace; resolves once it printed "ready". */
export async function startServer (ns: string, script: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 10_000)
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve() } })
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`server in ${ns} exited with ${code}`)) })
  })
  return child
}

/** Stops a server this test started (by its own pid). */
export async function stopServer (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** Runs a client program in a namespace to completion and returns its stdout. */
export function runClient (ns: string, script: string): string {
  return run('ip', ['netns', 'exec', ns, process.execPath, '-e', script])
}

/** UDP echo server on `port` (udp4 or udp6). */
export function udpEchoServer (port: number, v6: boolean): string {
  return `const s=require('dgram').createSocket('${v6 ? 'udp6' : 'udp4'}');` +
    `s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port},()=>console.log('ready'))`
}

/** Sends `count` datagrams of `size` bytes from `sport` to addr:port, waiting for each echo. */
export function udpClient (addr: string, port: number, sport: number, count: number, size: number, v6: boolean): string {
  return `const s=require('dgram').createSocket('${v6 ? 'udp6' : 'udp4'}');s.bind(${sport},async()=>{` +
    `for(let i=0;i<${count};i++){await new Promise(r=>{s.once('message',r);s.send(Buffer.alloc(${size}),${port},'${addr}')})}` +
    `s.close();console.log('sent ${count}')})`
}

/** TCP server on `port`: reads until `expect` bytes arrived, answers "ok" and closes. */
export function tcpServer (port: number, expect: number): string {
  return `require('net').createServer(c=>{let n=0;c.on('data',d=>{n+=d.length;if(n>=${expect})c.end('ok')});c.on('error',()=>{})})` +
    `.listen(${port},'::',()=>console.log('ready'))`
}

/** Opens `connections` TCP connections in sequence, each sending `bytes` bytes and waiting for "ok". */
export function tcpClient (addr: string, port: number, connections: number, bytes: number): string {
  return `const net=require('net');(async()=>{for(let i=0;i<${connections};i++){await new Promise((res,rej)=>{` +
    `const c=net.connect(${port},'${addr}',()=>c.end(Buffer.alloc(${bytes})));c.on('data',()=>{});c.on('close',res);c.on('error',rej)})}` +
    `console.log('done')})()`
}

/** The endpoints `exchangeUdp` needs: two namespaces and B's addresses. */
export interface UdpPeers { readonly nsA: string, readonly nsB: string, readonly addrB4: string, readonly addrB6: string }

/**
 * The UDP exchange the tap tests assert on: A:41000 → B:7000 over IPv4 (10 datagrams of 100 bytes, each echoed)
 * and A:41006 → B:7006 over IPv6 (7 of 200 bytes). Servers are stopped however the clients end.
 */
export async function exchangeUdp (net: UdpPeers): Promise<void> {
  const v4 = await startServer(net.nsB, udpEchoServer(7000, false))
  const v6 = await startServer(net.nsB, udpEchoServer(7006, true))
  try {
    runClient(net.nsA, udpClient(net.addrB4, 7000, 41000, 10, 100, false))
    runClient(net.nsA, udpClient(net.addrB6, 7006, 41006, 7, 200, true))
  } finally {
    await stopServer(v4)
    await stopServer(v6)
  }
}
