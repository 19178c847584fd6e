// Shared between the eBPF program (flow-tap.bpf.c) and the user-space loader (src/ebpf-tap.cc): the flow map's
// key and value, the ring-buffer event, and the counter indexes. Plain C with UAPI types, no kernel headers
// beyond <linux/types.h>, so both compilers see the same layout; explicit padding, no implicit holes (the BPF
// program zeroes every key byte it hashes).
#ifndef SHADOWFLOW_FLOW_TAP_H
#define SHADOWFLOW_FLOW_TAP_H

#include <linux/types.h>

// Canonical flow key: the smaller (address, port) endpoint is "a", so both directions find one entry. The
// interface is part of the key (as in the libpcap source's flow table): a packet crossing two tapped interfaces
// makes two flows, not double counts in one.
struct sf_flow_key {
  __u8 a[16];      // IPv4 in the first 4 bytes, rest zero
  __u8 b[16];
  __u16 port_a;    // host byte order; ICMP echo: the identifier on both sides; other ICMP: 0
  __u16 port_b;
  __u32 ifindex;
  __u8 family;     // 4 or 6
  __u8 protocol;
  __u8 pad[2];
};

// Per-flow counters, oriented by the initiator (SYN sender, echo requester, SYN-ACK receiver, else the first
// packet's sender): index 0 is initiator -> responder ("fwd"), 1 the other way. Updated with atomics from every
// CPU; `state` holds sf_flow_state bits (../include/flow-record.h).
struct sf_flow_value {
  __u64 packets[2];
  __u64 bytes[2];        // IP-layer bytes, from the IP length field (as the libpcap source counts them)
  __u64 first_seen_ns;   // bpf_ktime_get_ns() (CLOCK_MONOTONIC); identifies this instance of the flow
  __u64 last_seen_ns;
  __u32 state;
  __u32 tcp_flags;       // OR of TCP flags: fwd in bits 0-7, rev in bits 8-15
  __u32 fragments;
  __u8 initiator_is_b;   // the initiator is the key's "b" endpoint
  __u8 icmp_type;        // first ICMP(v6) type/code seen (from the first packet)
  __u8 icmp_code;
  __u8 pad;
};

// Ring-buffer events: flow start (after its first packet was counted), TCP close (FIN both ways or RST; the
// close linger runs in user space), and restart (a SYN on a closed 5-tuple: `value` holds the old connection's
// final counters, and a START for the new one follows).
enum sf_event_type {
  SF_EVENT_START = 1,
  SF_EVENT_CLOSE = 2,
  SF_EVENT_RESTART = 3,
};

struct sf_flow_event {
  __u32 type;
  __u32 pad;
  struct sf_flow_key key;
  __u32 pad2;            // keeps `value` 8-byte aligned without an implicit hole
  struct sf_flow_value value;
};

// Per-CPU counters (indexes into struct sf_counters below), summed by user space.
enum sf_counter {
  SF_CTR_PACKETS = 0,
  SF_CTR_PARSED,
  SF_CTR_NOT_IP,
  SF_CTR_TRUNCATED_LINK,
  SF_CTR_TRUNCATED_IP,
  SF_CTR_BAD_IP_VERSION,
  SF_CTR_BAD_IP_HEADER_LENGTH,
  SF_CTR_BAD_IPV6_EXTENSION,
  SF_CTR_TRUNCATED_TRANSPORT,
  SF_CTR_BAD_TCP_HEADER_LENGTH,
  SF_CTR_FRAGMENTS,
  SF_CTR_FRAGMENTS_UNATTRIBUTED,  // later fragments carry no ports; the kernel side does not attribute them
  SF_CTR_FLOWS_CREATED,
  SF_CTR_MAP_FULL,                // bpf_map_update_elem failed: the flow went uncounted
  SF_CTR_RINGBUF_LOST,            // bpf_ringbuf_reserve failed: the event was lost (user space recovers by sweeping)
  SF_CTR_CONNECTIONS_STARTED,
  SF_CTR_CONNECTIONS_COMPLETED,
  SF_CTR_COUNT
};

// The per-CPU counter block: the only element of the sf_counters map.
struct sf_counters {
  __u64 c[SF_CTR_COUNT];
};

// Per-interface configuration written by user space, indexed by ifindex: whether the device has no link header
// (L3 devices such as IPIP tunnels, WireGuard, tun: the IP header comes first). Zero means Ethernet.
#define SF_MAX_IFINDEX 65536
struct sf_iface_config {
  __u32 l3_device;
};

#endif  // SHADOWFLOW_FLOW_TAP_H
