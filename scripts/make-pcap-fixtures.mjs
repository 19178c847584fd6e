// Regenerates the small committed captures in test/fixtures/pcap from real traffic: two network namespaces
// bridged through host-side veths (test/e2e/helpers/netns.js), tcpdump on the host side (Ethernet) and on
// `any` (LINUX_SLL2), a fixed script of UDP, TCP, ICMP and IPv6 exchanges. Needs root and `npx tsc -p .` first.
// test/native/pcap-fixtures.test.ts pins what the tap must find in them.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { BridgedPair } = await import(join(root, 'dist/test/e2e/helpers/netns.js'))
const t = await import(join(root, 'dist/test/e2e/helpers/traffic.js'))
const out = join(root, 'test/fixtures/pcap')

function tcpdump (args, file) {
  const child = spawn('tcpdump', ['--immediate-mode', '-U', '-s', '256', '--time-stamp-precision=nano', ...args, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  return new Promise((resolve, reject) => {
    child.stderr.on('data', d => { if (d.toString().includes('listening on')) resolve(child) })
    child.on('exit', code => reject(new Error(`tcpdump exited with ${code}`)))
  })
}

const net = BridgedPair.create('sffix', 9)
try {
  net.exec(net.nsA, 'ping', ['-c', '1', net.addrB4])
  net.exec(net.nsA, 'ping', ['-6', '-c', '1', net.addrB6])
  await new Promise(resolve => setTimeout(resolve, 300))
  const eth = await tcpdump(['-i', net.hostA, 'ip or ip6'], join(out, 'netns-ethernet.pcap'))
  const sll2 = await tcpdump(['-i', 'any', '-y', 'LINUX_SLL2', `host ${net.addrA4} or host ${net.addrA6}`], join(out, 'netns-any-sll2.pcap'))
  const udp = await t.startServer(net.nsB, t.udpEchoServer(5300, false))
  const tcp = await t.startServer(net.nsB, t.tcpServer(5400, 3000))
  t.runClient(net.nsA, t.udpClient(net.addrB4, 5300, 45300, 3, 64, false))
  t.runClient(net.nsA, t.tcpClient(net.addrB4, 5400, 1, 3000))
  t.runClient(net.nsA, t.tcpClient(net.addrB6, 5400, 1, 3000))
  net.exec(net.nsA, 'ping', ['-c', '2', '-i', '0.05', net.addrB4])
  net.exec(net.nsA, 'ping', ['-6', '-c', '2', '-i', '0.05', net.addrB6])
  await t.stopServer(udp)
  await t.stopServer(tcp)
  await new Promise(resolve => setTimeout(resolve, 300))
  for (const child of [eth, sll2]) {
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGINT')
    await exited
  }
  console.log(`wrote ${out}/netns-ethernet.pcap and netns-any-sll2.pcap`)
} finally {
  net.destroy()
}
