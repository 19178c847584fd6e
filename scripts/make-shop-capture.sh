#!/usr/bin/env bash
# Records examples/shop/capture.pcap: real TCP, UDP and ICMP traffic between the shop's pods, each pod a network
# namespace with its IP from examples/shop/pods.yaml, all on one bridge in a "node" namespace where tcpdump
# listens. No policy is enforced while recording (there is no dataplane here), so the capture holds the traffic
# the workloads attempt; shadowflow then says what the enforced and the staged policies make of it.
# Needs root, iproute2, tcpdump and node. Usage: sudo scripts/make-shop-capture.sh [OUT.pcap]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-examples/shop/capture.pcap}
prefix=sfshop
node_ns=${prefix}-node
declare -A pods=(
  [web-1]=10.244.1.10 [web-2]=10.244.1.11 [redis-0]=10.244.2.10 [postgres-0]=10.244.2.11
  [toolbox]=10.244.3.10 [backup-agent]=10.244.3.20 [old-debug]=10.244.3.66
)

cleanup () {
  for pod in "${!pods[@]}"; do ip netns del "${prefix}-${pod}" 2>/dev/null || true; done
  ip netns del "$node_ns" 2>/dev/null || true
}
trap cleanup EXIT
cleanup

ip netns add "$node_ns"
# IPv4 only: IPv6 link-local chatter (router solicitations, MLD) would only add noise to the example.
ip netns exec "$node_ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$node_ns" link add br0 type bridge
ip -n "$node_ns" link set br0 up
i=0
for pod in "${!pods[@]}"; do
  ns=${prefix}-${pod}
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip link add "v${i}" netns "$node_ns" type veth peer name eth0 netns "$ns"
  ip -n "$node_ns" link set "v${i}" master br0 up
  ip -n "$ns" addr add "${pods[$pod]}/16" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  i=$((i + 1))
done

# A TCP/UDP server in a pod namespace: accepts, reads a request, answers, closes (a real request/response).
serve () {
  ip netns exec "${prefix}-$1" node -e '
    const net = require("node:net"); const dgram = require("node:dgram")
    const [port, proto] = [Number(process.argv[1]), process.argv[2]]
    if (proto === "udp") { const s = dgram.createSocket("udp4"); s.on("message", (m, r) => s.send(Buffer.from("pong"), r.port, r.address)); s.bind(port) }
    else net.createServer(c => { c.once("data", () => c.end("x".repeat(512))) }).listen(port)
  ' "$2" "${3:-tcp}" &
}
# A client: connects from a pod, sends a request, waits for the answer (TCP) or one reply (UDP).
call () {
  ip netns exec "${prefix}-$1" node -e '
    const net = require("node:net"); const dgram = require("node:dgram")
    const [host, port, proto] = [process.argv[1], Number(process.argv[2]), process.argv[3]]
    if (proto === "udp") { const s = dgram.createSocket("udp4"); s.on("message", () => s.close()); s.send(Buffer.from("ping"), port, host) }
    else { const c = net.connect(port, host, () => c.write("GET / HTTP/1.0\r\n\r\n")); c.on("data", () => {}); c.on("end", () => c.end()) }
    setTimeout(() => process.exit(0), 2000).unref()
  ' "$2" "$3" "${4:-tcp}"
}

serve redis-0 6379
serve postgres-0 5432
serve postgres-0 6379
serve backup-agent 8443
serve web-1 8080
serve redis-0 5353 udp
sleep 1
ip netns exec "$node_ns" tcpdump -i br0 -s 256 -w "$out" -U ip 2>/dev/null &
tcpdump_pid=$!
sleep 1

call web-1 10.244.2.10 6379          # frontend → redis: enforced Deny, pending Allow (staged allow-tcp-6379)
call web-2 10.244.2.10 6379
call web-1 10.244.2.10 6379
call web-1 10.244.2.11 5432          # frontend → postgres: allowed in both
call postgres-0 10.244.3.20 8443     # nightly backup: enforced Allow, pending Deny (staged test-network-policy)
call postgres-0 10.244.3.20 8443
call toolbox 10.244.2.11 5432        # debugging access: staged for deletion (replace mode: Deny)
call toolbox 10.244.1.10 8080        # toolbox → web: allowed by allow-http
call old-debug 10.244.1.10 8080      # quarantined: denied in tier security
call web-1 10.244.2.11 6379          # side effect of test-network-policy: Deny → Allow
call web-2 10.244.2.10 5353 udp      # UDP to redis: denied by default-deny-ingress in both
ip netns exec "${prefix}-web-1" ping -c 2 -W 1 10.244.2.10 >/dev/null || true   # ICMP to redis
sleep 1
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
jobs -p | xargs -r kill 2>/dev/null || true
echo "wrote $out ($(stat -c %s "$out") bytes)"
