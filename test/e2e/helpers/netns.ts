// Real network namespaces for privileged tests: two "pods" (namespaces A and B) whose veths are bridged in the
// root namespace, as Calico's cali* host-side veths are. Traffic only ever flows between A's and B's addresses,
// which exist nowhere but in these namespaces.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'

/** Runs a command, throwing with its stderr when it fails. */
export function run (cmd: string, args: string[], input?: string): string {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`)
  return r.stdout
}

function quiet (cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 })
}

/** Why privileged tests cannot run here, or undefined when they can (root and `ip netns` work). */
export function privilegeProblem (): string | undefined {
  if (process.getuid?.() !== 0) return 'privileged tests need root (CAP_NET_ADMIN and CAP_NET_RAW) to create network namespaces and capture'
  const probe = `sfprobe${process.pid}`
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr || r.error?.message}`
  quiet('ip', ['netns', 'del', probe])
  return undefined
}

/** Two namespaces A (10.213.N.1, fd00:213:N::1) and B (.2, ::2) bridged through host-side veths. */
export class BridgedPair {
  readonly nsA: string
  readonly nsB: string
  readonly bridge: string
  /** Host-side veth of A (capture here). */
  readonly hostA: string
  readonly hostB: string
  readonly addrA4: string
  readonly addrB4: string
  readonly addrA6: string
  readonly addrB6: string

  private constructor (readonly prefix: string, subnet: number) {
    this.nsA = `${prefix}-a`
    this.nsB = `${prefix}-b`
    this.bridge = `${prefix}br`
    this.hostA = `${prefix}ha`
    this.hostB = `${prefix}hb`
    this.addrA4 = `10.213.${subnet}.1`
    this.addrB4 = `10.213.${subnet}.2`
    this.addrA6 = `fd00:213:${subnet}::1`
    this.addrB6 = `fd00:213:${subnet}::2`
  }

  /** Creates the topology (removing a leftover one of the same prefix first). `prefix` ≤ 10 characters. */
  static create (prefix: string, subnet = 1, options: { withB?: boolean } = {}): BridgedPair {
    const p = new BridgedPair(prefix, subnet)
    p.destroy()
    run('ip', ['link', 'add', p.bridge, 'type', 'bridge'])
    run('ip', ['link', 'set', p.bridge, 'up'])
    p.addPod(p.nsA, p.hostA, p.addrA4, p.addrA6)
    if (options.withB !== false) p.addPod(p.nsB, p.hostB, p.addrB4, p.addrB6)
    return p
  }

  /** Adds namespace B later (to test that a glob picks up a new interface). */
  addB (): void {
    this.addPod(this.nsB, this.hostB, this.addrB4, this.addrB6)
  }

  private addPod (ns: string, host: string, v4: string, v6: string): void {
    run('ip', ['netns', 'add', ns])
    run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    run('ip', ['link', 'set', host, 'master', this.bridge])
    run('ip', ['link', 'set', host, 'up'])
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    run('ip', ['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', 'eth0'])
    run('ip', ['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad'])
    run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
  }

  /** Runs a command inside a namespace. */
  exec (ns: string, cmd: string, args: string[], input?: string): string {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], input)
  }

  destroy (): void {
    quiet('ip', ['link', 'del', this.hostA])
    quiet('ip', ['link', 'del', this.hostB])
    quiet('ip', ['link', 'del', this.bridge])
    quiet('ip', ['netns', 'del', this.nsA])
    quiet('ip', ['netns', 'del', this.nsB])
  }
}
