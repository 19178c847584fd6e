// The eBPF dataplane tap: a TC (clsact) classifier attached to ingress and egress of the selected interfaces.
// It parses Ethernet (with up to two VLAN tags) / IPv4 / IPv6 (extension-header chain limited to 8) /
// TCP / UDP / UDP-Lite / SCTP / ICMP / ICMPv6, keeps per-flow counters in an LRU hash map keyed by the
// 5-tuple plus interface, and sends flow start / TCP close events through a ring buffer (issue 5).
//
// It never drops or alters traffic: every path returns TC_ACT_UNSPEC ("no verdict, continue"), so filters after
// ours on the same hook (Calico's or Cilium's policy programs) still run — TC_ACT_OK would end classification and
// skip them. Packet bytes are read with bpf_skb_load_bytes (works on non-linear skbs, never pulls or writes).
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../include/flow-record.h"
#include "flow-tap.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define MAX_IPV6_EXTENSIONS 8

// Sizes are set by the loader before load (bpf_map__set_max_entries); these are defaults.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 262144);
  __type(key, struct sf_flow_key);
  __type(value, struct sf_flow_value);
} sf_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} sf_events SEC(".maps");

// One element: every counter of this CPU behind one (inlined) lookup per packet.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sf_counters);
} sf_counters SEC(".maps");

// Indexed by ifindex (an array lookup is inlined by the verifier; a hash lookup would cost a call per packet).
// Interfaces with a larger ifindex are taken to be Ethernet.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SF_MAX_IFINDEX);
  __type(key, __u32);
  __type(value, struct sf_iface_config);
} sf_ifaces SEC(".maps");

struct parsed {
  struct sf_flow_key key;  // addresses and ports in packet order (a = source) until canonicalized
  __u16 src_port, dst_port;
  __u32 ip_bytes;
  __u8 tcp_flags;
  __u8 icmp_type, icmp_code;
  __u8 icmp_echo;          // echo request/reply: ports are the identifier
  __u8 icmp_request;
  __u8 fragment;
  __u8 has_ports;
};

// Per-CPU slots: no other CPU writes them, so plain increments are exact.
static __always_inline void count(struct sf_counters* c, __u32 which) {
  if (which < SF_CTR_COUNT) c->c[which] += 1;
}

// A pointer to `len` header bytes at `off`: into the packet when they lie in its linear part (nearly always), else
// to a copy in `buf` made with bpf_skb_load_bytes (a non-linear skb whose headers are in fragments); NULL when the
// packet is shorter. Neither pulls nor writes the packet. Fields are then read with loads of their own width, not
// copied byte by byte (a memcpy from a packet pointer, whose alignment clang cannot know, is one load per byte);
// headers sit at their natural alignment behind NET_IP_ALIGN, and the verifier allows unaligned packet loads where
// the architecture does.
static __always_inline const __u8* header(struct __sk_buff* skb, __u32 off, void* buf, const __u32 len) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  if (off < 512) {
    const __u8* p = (const __u8*)data + off;
    if ((const void*)(p + len) <= data_end) return p;
  }
  if (bpf_skb_load_bytes(skb, off, buf, len)) return 0;
  return (const __u8*)buf;
}

static __always_inline __u16 be16_at(const __u8* h, int off) { return bpf_ntohs(*(const __u16*)(h + off)); }

// Transport header at `off`: ports, TCP flags, ICMP type/code. Returns an SF_CTR_* error or -1 when fine.
static __always_inline int parse_transport(struct __sk_buff* skb, __u32 off, struct parsed* p) {
  __u8 proto = p->key.protocol;
  __u64 buf[2];
  if (proto == IPPROTO_TCP) {
    const __u8* h = header(skb, off, buf, 14);
    if (!h) return SF_CTR_TRUNCATED_TRANSPORT;
    if ((h[12] >> 4) < 5) return SF_CTR_BAD_TCP_HEADER_LENGTH;
    p->src_port = be16_at(h, 0);
    p->dst_port = be16_at(h, 2);
    p->tcp_flags = h[13];
    p->has_ports = 1;
  } else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP) {
    const __u8* h = header(skb, off, buf, 4);
    if (!h) return SF_CTR_TRUNCATED_TRANSPORT;
    p->src_port = be16_at(h, 0);
    p->dst_port = be16_at(h, 2);
    p->has_ports = 1;
  } else if (proto == IPPROTO_ICMP || proto == 58 /* ICMPv6 */) {
    const __u8* h = header(skb, off, buf, 8);
    if (!h) return SF_CTR_TRUNCATED_TRANSPORT;
    p->icmp_type = h[0];
    p->icmp_code = h[1];
    const __u8 req = proto == IPPROTO_ICMP ? 8 : 128, rep = proto == IPPROTO_ICMP ? 0 : 129;
    if (h[0] == req || h[0] == rep) {
      p->icmp_echo = 1;
      p->icmp_request = h[0] == req;
      p->src_port = p->dst_port = be16_at(h, 4);
    }
    p->has_ports = 1;
  }
  return -1;
}

// Parses link, IP and transport headers. Returns -1 for a usable packet, else the SF_CTR_* reason.
static __always_inline int parse(struct __sk_buff* skb, struct parsed* p, struct sf_counters* ctr) {
  __u32 off = 14;
  __u16 ethertype;
  __u32 ifindex = skb->ifindex;
  __u64 buf[5];  // 40 bytes: the largest header read (IPv6)
  struct sf_iface_config* cfg = bpf_map_lookup_elem(&sf_ifaces, &ifindex);
  if (cfg && cfg->l3_device) {
    off = 0;
    ethertype = bpf_ntohs(skb->protocol);
  } else {
    const __u8* eth = header(skb, 12, buf, 2);
    if (!eth) return SF_CTR_TRUNCATED_LINK;
    ethertype = be16_at(eth, 0);
    // Up to two inline 802.1Q / 802.1ad tags (accelerated tags are not in the packet data at all).
#pragma unroll
    for (int i = 0; i < 2; i++) {
      if (ethertype != ETH_P_8021Q_ && ethertype != ETH_P_8021AD_) break;
      const __u8* tag = header(skb, off + 2, buf, 2);
      if (!tag) return SF_CTR_TRUNCATED_LINK;
      ethertype = be16_at(tag, 0);
      off += 4;
    }
  }
  if (ethertype == ETH_P_IP_) {
    const __u8* h = header(skb, off, buf, 20);
    if (!h) return SF_CTR_TRUNCATED_IP;
    if ((h[0] >> 4) != 4) return SF_CTR_BAD_IP_VERSION;
    __u32 ihl = (h[0] & 0xF) * 4;
    if (ihl < 20) return SF_CTR_BAD_IP_HEADER_LENGTH;
    p->key.family = 4;
    p->key.protocol = h[9];
    p->ip_bytes = be16_at(h, 2);
    *(__u32*)p->key.a = *(const __u32*)(h + 12);
    *(__u32*)p->key.b = *(const __u32*)(h + 16);
    __u16 frag = be16_at(h, 6);
    if (frag & 0x3FFF) {  // MF set or offset > 0
      p->fragment = 1;
      count(ctr, SF_CTR_FRAGMENTS);
      if (frag & 0x1FFF) return SF_CTR_FRAGMENTS_UNATTRIBUTED;  // a later fragment: no transport header
    }
    return parse_transport(skb, off + ihl, p);
  }
  if (ethertype == ETH_P_IPV6_) {
    const __u8* h = header(skb, off, buf, 40);
    if (!h) return SF_CTR_TRUNCATED_IP;
    if ((h[0] >> 4) != 6) return SF_CTR_BAD_IP_VERSION;
    p->key.family = 6;
    p->ip_bytes = be16_at(h, 4) + 40;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      ((__u32*)p->key.a)[i] = ((const __u32*)(h + 8))[i];
      ((__u32*)p->key.b)[i] = ((const __u32*)(h + 24))[i];
    }
    __u8 next = h[6];
    __u32 at = off + 40;
    // Bounded walk of the extension-header chain (hop-by-hop, routing, fragment, destination options, AH,
    // mobility), as the user-space parser does.
    for (int i = 0; i < MAX_IPV6_EXTENSIONS; i++) {
      if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51 && next != 135) break;
      const __u8* e = header(skb, at, buf, 4);
      if (!e) return SF_CTR_BAD_IPV6_EXTENSION;
      if (next == 44) {  // fragment header: fixed 8 bytes; offset in e[2..3]
        p->fragment = 1;
        count(ctr, SF_CTR_FRAGMENTS);
        if (be16_at(e, 2) & 0xFFF8) return SF_CTR_FRAGMENTS_UNATTRIBUTED;
        next = e[0];
        at += 8;
      } else if (next == 51) {  // AH: length in 4-byte units, minus 2
        next = e[0];
        at += ((__u32)e[1] + 2) * 4;
      } else {
        next = e[0];
        at += ((__u32)e[1] + 1) * 8;
      }
      if (i == MAX_IPV6_EXTENSIONS - 1 &&
          (next == 0 || next == 43 || next == 44 || next == 60 || next == 51 || next == 135))
        return SF_CTR_BAD_IPV6_EXTENSION;
    }
    p->key.protocol = next;
    return parse_transport(skb, at, p);
  }
  return SF_CTR_NOT_IP;
}

// Compares the key's two addresses as the byte strings they are: four big-endian words (an IPv4 key's last three
// are zero on both sides), so the canonical order is the same as a byte-wise comparison.
static __always_inline int addr_cmp(const struct sf_flow_key* k) {
  const __u32* x = (const __u32*)k->a;
  const __u32* y = (const __u32*)k->b;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    if (x[i] != y[i]) return bpf_ntohl(x[i]) < bpf_ntohl(y[i]) ? -1 : 1;
  }
  return 0;
}

static __always_inline void send_event(__u32 type, const struct sf_flow_key* key, const struct sf_flow_value* v,
                                       struct sf_counters* ctr) {
  struct sf_flow_event* ev = bpf_ringbuf_reserve(&sf_events, sizeof(*ev), 0);
  if (!ev) {
    count(ctr, SF_CTR_RINGBUF_LOST);
    return;
  }
  ev->type = type;
  ev->pad = 0;
  ev->pad2 = 0;
  __builtin_memcpy(&ev->key, key, sizeof(*key));
  __builtin_memcpy(&ev->value, v, sizeof(*v));
  // Waking the poller for every event would cost a wake-up per new flow; it polls every 50 ms anyway, and is
  // woken only when the ring is a quarter full, long before it could overflow.
  const __u64 queued = bpf_ringbuf_query(&sf_events, BPF_RB_AVAIL_DATA);
  const __u64 size = bpf_ringbuf_query(&sf_events, BPF_RB_RING_SIZE);
  bpf_ringbuf_submit(ev, queued > size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline int is_syn_only(__u8 f) { return (f & 0x12) == 0x02; }
static __always_inline int is_syn_ack(__u8 f) { return (f & 0x12) == 0x12; }
#define CLOSED(s) (((s) & SF_STATE_TCP_RST) || (((s) & SF_STATE_TCP_FIN_FWD) && ((s) & SF_STATE_TCP_FIN_REV)))

// A new flow's value from its first packet; `from_a` says which key endpoint sent it.
static __always_inline void init_value(struct sf_flow_value* v, const struct parsed* p, int from_a, __u64 now) {
  __builtin_memset(v, 0, sizeof(*v));
  int packet_is_fwd = 1;
  if (p->key.protocol == IPPROTO_TCP && p->has_ports) {
    if (is_syn_ack(p->tcp_flags)) packet_is_fwd = 0;
    else if (!is_syn_only(p->tcp_flags)) v->state |= SF_STATE_MIDSTREAM;
  } else if (p->icmp_echo && !p->icmp_request) {
    packet_is_fwd = 0;
  }
  v->initiator_is_b = (from_a == packet_is_fwd) ? 0 : 1;
  v->first_seen_ns = v->last_seen_ns = now;
  if (p->key.protocol == IPPROTO_ICMP || p->key.protocol == 58) {
    v->icmp_type = p->icmp_type;
    v->icmp_code = p->icmp_code;
  }
}

SEC("tc")
int sf_tap(struct __sk_buff* skb) {
  __u32 zero = 0;
  struct sf_counters* ctr = bpf_map_lookup_elem(&sf_counters, &zero);
  if (!ctr) return TC_ACT_UNSPEC;  // cannot happen: a one-element array
  ctr->c[SF_CTR_PACKETS] += 1;
  struct parsed p;
  __builtin_memset(&p, 0, sizeof(p));
  int err = parse(skb, &p, ctr);
  if (err >= 0) {
    count(ctr, err);
    return TC_ACT_UNSPEC;
  }
  ctr->c[SF_CTR_PARSED] += 1;
  // Canonical key: the smaller (address, port) endpoint is "a"; parse() left the source there.
  int cmp = addr_cmp(&p.key);
  int from_a = cmp < 0 || (cmp == 0 && p.src_port <= p.dst_port);
  if (!from_a) {
    __u8 t[16];
    __builtin_memcpy(t, p.key.a, 16);
    __builtin_memcpy(p.key.a, p.key.b, 16);
    __builtin_memcpy(p.key.b, t, 16);
  }
  p.key.port_a = from_a ? p.src_port : p.dst_port;
  p.key.port_b = from_a ? p.dst_port : p.src_port;
  p.key.ifindex = skb->ifindex;

  struct sf_flow_value* v = bpf_map_lookup_elem(&sf_flows, &p.key);
  int created = 0;
  if (!v || (p.key.protocol == IPPROTO_TCP && is_syn_only(p.tcp_flags) && CLOSED(v->state))) {
    // The slow path: a new flow, or a new connection on a closed 5-tuple. first_seen_ns identifies this instance
    // of the flow to user space (a restart within one clock tick must differ), so it takes the precise clock.
    const __u64 now = bpf_ktime_get_ns();
    if (v) {
      // Port reuse. Hand the old connection's final counters to user space and start over in place (the entry
      // is not deleted, so a concurrent packet never sees it missing).
      send_event(SF_EVENT_RESTART, &p.key, v, ctr);
      init_value(v, &p, from_a, now);
      created = 1;
      count(ctr, SF_CTR_FLOWS_CREATED);
    } else {
      struct sf_flow_value init;
      init_value(&init, &p, from_a, now);
      // BPF_NOEXIST: when two CPUs create the same flow at once, one wins and the other counts into its entry.
      int rc = bpf_map_update_elem(&sf_flows, &p.key, &init, BPF_NOEXIST);
      if (rc == 0) {
        created = 1;
        count(ctr, SF_CTR_FLOWS_CREATED);
      }
      v = bpf_map_lookup_elem(&sf_flows, &p.key);
      if (!v) {
        count(ctr, SF_CTR_MAP_FULL);
        return TC_ACT_UNSPEC;
      }
    }
  }
  // Direction relative to the initiator. A flow between one endpoint and itself (same address and port) has
  // no "other side": an echo reply is then the reverse direction, everything else forward.
  int fwd;
  if (cmp == 0 && p.src_port == p.dst_port) fwd = !(p.icmp_echo && !p.icmp_request);
  else fwd = from_a == !v->initiator_is_b;
  const int dir = fwd ? 0 : 1;
  // Atomic adds: packets of one flow may be counted on several CPUs at once.
  __sync_fetch_and_add(&v->packets[dir], 1);
  __sync_fetch_and_add(&v->bytes[dir], p.ip_bytes);
  if (p.fragment) __sync_fetch_and_add(&v->fragments, 1);
  // Last seen from the coarse clock (the last scheduler tick: CONFIG_HZ, 1-10 ms), a fraction of the precise
  // clock's cost and finer than anything that reads it (sweeps, idle and active timeouts). Only ever moved
  // forward, so it never falls behind first_seen_ns (precise, possibly later than the last tick) and is written
  // about once per tick per flow rather than per packet.
  const __u64 now = bpf_ktime_get_coarse_ns();
  if (now > v->last_seen_ns) v->last_seen_ns = now;
  __u32 bits = p.fragment ? SF_STATE_FRAGMENTED : 0;
  if (p.key.protocol == IPPROTO_TCP && p.tcp_flags != 0) {
    // Plain reads first: on an established connection no flag or state bit is new, and no atomic is needed.
    if (((v->tcp_flags >> (dir * 8)) & p.tcp_flags) != p.tcp_flags)
      __sync_fetch_and_or(&v->tcp_flags, (__u32)p.tcp_flags << (dir * 8));
    if (fwd && is_syn_only(p.tcp_flags)) bits |= SF_STATE_TCP_SYN;
    if (!fwd && is_syn_ack(p.tcp_flags)) bits |= SF_STATE_TCP_SYNACK;
    if (p.tcp_flags & 0x01) bits |= fwd ? SF_STATE_TCP_FIN_FWD : SF_STATE_TCP_FIN_REV;
    if (p.tcp_flags & 0x04) bits |= SF_STATE_TCP_RST;
  }
  if (bits && (v->state & bits) != bits) {
    // fetch-or returns the state before our bits: exactly one CPU sees each transition.
    __u32 before = __sync_fetch_and_or(&v->state, bits);
    __u32 after = before | bits;
    if ((after & SF_STATE_TCP_SYN) && !(before & SF_STATE_TCP_SYN)) count(ctr, SF_CTR_CONNECTIONS_STARTED);
    if (CLOSED(after) && !CLOSED(before)) {
      if (after & SF_STATE_TCP_SYN) {
        __sync_fetch_and_or(&v->state, SF_STATE_TCP_COMPLETED);
        count(ctr, SF_CTR_CONNECTIONS_COMPLETED);
      }
      if (!created) {
        send_event(SF_EVENT_CLOSE, &p.key, v, ctr);
      }
    }
  }
  if (created) {
    // The START event carries the first packet's counts, flags and state (and a close, if it was an RST).
    send_event(SF_EVENT_START, &p.key, v, ctr);
    if (CLOSED(v->state)) send_event(SF_EVENT_CLOSE, &p.key, v, ctr);
  }
  return TC_ACT_UNSPEC;
}
