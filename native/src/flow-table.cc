#include "flow-table.h"

#include <algorithm>
#include <cstring>

namespace sf {

namespace {
constexpr uint64_t kCheckIntervalNs = 50ull * 1000000ull;  // timers run at most every 50 ms of flow clock
constexpr size_t kFragSlots = 4096;

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline bool IsTcpSynOnly(uint8_t flags) { return (flags & (kTcpSyn | kTcpAck)) == kTcpSyn; }
inline bool IsTcpSynAck(uint8_t flags) { return (flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck); }
}  // namespace

FlowTable::FlowTable(const FlowTableOptions& options, RecordSink* sink) : options_(options), sink_(sink) {
  if (options_.max_flows == 0) options_.max_flows = 1;
  uint32_t cap = 16;
  while (cap < options_.max_flows * 2u && cap < 0x80000000u) cap <<= 1;  // load factor <= 0.5 at the bound
  max_slots_ = cap;
  // Start small and double as flows arrive: a slot array sized for the bound (4 MiB for 262144 flows) would
  // miss the CPU caches on every lookup even when only a few thousand flows are live.
  const uint32_t initial = std::min<uint32_t>(cap, 4096);
  slots_.assign(initial, kEmptySlot);
  slot_mask_ = initial - 1;
  frags_.assign(kFragSlots, FragSlot{});
  lru_granularity_ns_ = std::min<uint64_t>(1000000000ull, options_.idle_timeout_ns / 16);
}

uint32_t FlowTable::Hash(const Key& key) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&key);
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 6; ++i) {
    h ^= Load64(p + i * 8);
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

void FlowTable::Grow() {
  std::vector<uint64_t> old(static_cast<size_t>(slots_.size()) * 2, kEmptySlot);
  old.swap(slots_);
  slot_mask_ = static_cast<uint32_t>(slots_.size()) - 1;
  for (const uint64_t slot : old) {
    if (slot == kEmptySlot) continue;
    uint32_t s = static_cast<uint32_t>(slot >> 32) & slot_mask_;  // the hash is in the slot: no entry access
    while (slots_[s] != kEmptySlot) s = (s + 1) & slot_mask_;
    slots_[s] = slot;
  }
}

uint32_t FlowTable::Find(const Key& key, uint32_t hash) const {
  for (uint32_t s = hash & slot_mask_;; s = (s + 1) & slot_mask_) {
    const uint64_t slot = slots_[s];
    if (slot == kEmptySlot) return kNil;
    if (static_cast<uint32_t>(slot >> 32) != hash) continue;
    const uint32_t idx = static_cast<uint32_t>(slot);
    if (std::memcmp(&entries_[idx].key, &key, sizeof(Key)) == 0) return idx;
  }
}

void FlowTable::Unlink(List& list, uint32_t i) {
  Entry& e = entries_[i];
  if (e.prev != kNil) entries_[e.prev].next = e.next; else list.head = e.next;
  if (e.next != kNil) entries_[e.next].prev = e.prev; else list.tail = e.prev;
  e.prev = e.next = kNil;
}

void FlowTable::PushFront(List& list, uint32_t i) {
  Entry& e = entries_[i];
  e.prev = kNil;
  e.next = list.head;
  if (list.head != kNil) entries_[list.head].prev = i; else list.tail = i;
  list.head = i;
}

void FlowTable::PushBack(List& list, uint32_t i) {
  Entry& e = entries_[i];
  e.next = kNil;
  e.prev = list.tail;
  if (list.tail != kNil) entries_[list.tail].next = i; else list.head = i;
  list.tail = i;
}

void FlowTable::ExportUnlink(uint32_t i) {
  Entry& e = entries_[i];
  if (!e.on_export) return;
  if (e.eprev != kNil) entries_[e.eprev].enext = e.enext; else export_.head = e.enext;
  if (e.enext != kNil) entries_[e.enext].eprev = e.eprev; else export_.tail = e.eprev;
  e.eprev = e.enext = kNil;
  e.on_export = false;
}

void FlowTable::ExportPushBack(uint32_t i) {
  Entry& e = entries_[i];
  e.enext = kNil;
  e.eprev = export_.tail;
  if (export_.tail != kNil) entries_[export_.tail].enext = i; else export_.head = i;
  export_.tail = i;
  e.on_export = true;
}

void FlowTable::EmitRecord(Entry& e, uint8_t kind, uint8_t reason) {
  e.rec.kind = kind;
  e.rec.end_reason = reason;
  counters_.records[kind]++;
  sink_->Emit(e.rec);
}

void FlowTable::Remove(uint32_t i) {
  Entry& e = entries_[i];
  if (e.list == kListLive) Unlink(live_, i); else if (e.list == kListClosing) Unlink(closing_, i);
  ExportUnlink(i);
  e.list = kListNone;
  // Backward-shift deletion keeps linear probing correct without tombstones.
  uint32_t s = e.hash & slot_mask_;
  while (static_cast<uint32_t>(slots_[s]) != i || slots_[s] == kEmptySlot) s = (s + 1) & slot_mask_;
  uint32_t hole = s;
  for (uint32_t n = (hole + 1) & slot_mask_;; n = (n + 1) & slot_mask_) {
    const uint64_t slot = slots_[n];
    if (slot == kEmptySlot) break;
    const uint32_t home = static_cast<uint32_t>(slot >> 32) & slot_mask_;
    // Move idx into the hole if its home position is not cyclically in (hole, n].
    const bool between = hole <= n ? (home > hole && home <= n) : (home > hole || home <= n);
    if (!between) {
      slots_[hole] = slot;
      hole = n;
    }
  }
  slots_[hole] = kEmptySlot;
  free_.push_back(i);
  live_count_--;
}

void FlowTable::End(uint32_t i, uint8_t kind, uint8_t reason) {
  EmitRecord(entries_[i], kind, reason);
  Remove(i);
}

uint32_t FlowTable::Create(const Key& key, uint32_t hash, const ParsedPacket& p, uint64_t ts_ns,
                           uint32_t ifindex, uint32_t name_id) {
  if (live_count_ >= options_.max_flows) {
    // Full: a closed connection waiting for stragglers goes first (it is over anyway), else the LRU flow.
    if (closing_.head != kNil) End(closing_.head, SF_KIND_END, SF_END_TCP_CLOSED);
    else {
      counters_.evictions++;
      End(live_.tail, SF_KIND_EVICTED, SF_END_NONE);
    }
  }
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[i];
  e.key = key;
  e.hash = hash;
  e.list = kListLive;
  e.on_export = false;
  e.prev = e.next = e.eprev = e.enext = kNil;
  e.deadline_ns = 0;
  e.moved_ns = ts_ns;
  e.exported_ns = ts_ns;
  e.exported_packets = 0;
  std::memset(&e.rec, 0, sizeof(e.rec));
  sf_flow_record& r = e.rec;
  r.layout_version = SF_RECORD_LAYOUT_VERSION;
  r.family = p.family;
  r.protocol = p.protocol;
  r.ifindex = ifindex;
  r.name_id = name_id;
  r.first_seen_ns = r.last_seen_ns = ts_ns;
  r.flow_id = next_flow_id_++;
  r.slot = i + 1;  // consumers index per-flow state by it instead of hashing the flow id
  // Orientation: the initiator is the SYN sender, the echo requester, else whoever sent the first packet.
  bool packet_is_fwd = true;
  if (p.protocol == 6 && p.has_ports) {
    if (IsTcpSynAck(p.tcp_flags)) packet_is_fwd = false;
    else if (!IsTcpSynOnly(p.tcp_flags)) r.state |= SF_STATE_MIDSTREAM;
  } else if (p.icmp_echo && !p.icmp_request) {
    packet_is_fwd = false;
  }
  const uint8_t* src = packet_is_fwd ? p.src : p.dst;
  const uint8_t* dst = packet_is_fwd ? p.dst : p.src;
  std::memcpy(r.src_addr, src, 16);
  std::memcpy(r.dst_addr, dst, 16);
  r.src_port = packet_is_fwd ? p.src_port : p.dst_port;
  r.dst_port = packet_is_fwd ? p.dst_port : p.src_port;
  if (p.protocol == 1 || p.protocol == 58) {
    r.icmp_type = p.icmp_type;
    r.icmp_code = p.icmp_code;
  }
  // Insert into the hash table (the key is known to be absent).
  if ((live_count_ + 1) * 2 > slots_.size() && slots_.size() < max_slots_) Grow();
  uint32_t s = hash & slot_mask_;
  while (slots_[s] != kEmptySlot) s = (s + 1) & slot_mask_;
  slots_[s] = (static_cast<uint64_t>(hash) << 32) | i;
  PushFront(live_, i);
  if (options_.active_timeout_ns != 0) ExportPushBack(i);
  live_count_++;
  counters_.flows_created++;
  return i;  // the START record is emitted by Observe once the first packet is accounted
}

bool FlowTable::AttributeFragment(ParsedPacket* p) {
  const uint32_t slot = (p->frag_id ^ (p->src[3] << 8) ^ p->dst[3] ^ (p->protocol << 16)) & (kFragSlots - 1);
  const FragSlot& f = frags_[slot];
  if (!f.valid || f.id != p->frag_id || f.protocol != p->protocol || f.family != p->family ||
      std::memcmp(f.src, p->src, 16) != 0 || std::memcmp(f.dst, p->dst, 16) != 0)
    return false;
  p->src_port = f.src_port;
  p->dst_port = f.dst_port;
  p->has_ports = true;
  return true;
}

void FlowTable::RememberFragment(const ParsedPacket& p) {
  const uint32_t slot = (p.frag_id ^ (p.src[3] << 8) ^ p.dst[3] ^ (p.protocol << 16)) & (kFragSlots - 1);
  FragSlot& f = frags_[slot];
  f.id = p.frag_id;
  f.src_port = p.src_port;
  f.dst_port = p.dst_port;
  f.protocol = p.protocol;
  f.family = p.family;
  f.valid = 1;
  std::memcpy(f.src, p.src, 16);
  std::memcpy(f.dst, p.dst, 16);
}

void FlowTable::ObserveRaw(int link_type, const uint8_t* data, size_t caplen, uint64_t ts_ns, uint32_t ifindex,
                           uint32_t name_id) {
  counters_.packets++;
  ParsedPacket p;
  const ParseResult r = ParsePacket(link_type, data, caplen, &p);
  if (r == kNotIp) {
    counters_.not_ip++;
  } else if (r != kOk) {
    counters_.malformed[r]++;
  } else {
    counters_.parsed++;
    Observe(p, ts_ns, p.ifindex != 0 ? p.ifindex : ifindex, name_id);
    return;
  }
  Advance(ts_ns);
}

void FlowTable::Observe(const ParsedPacket& packet, uint64_t ts_ns, uint32_t ifindex, uint32_t name_id) {
  Advance(ts_ns);
  ts_ns = clock_ns_;  // out-of-order timestamps never move a flow backwards
  const ParsedPacket* pp = &packet;
  ParsedPacket attributed;
  if (packet.fragment) {
    counters_.fragments++;
    if (packet.later_fragment) {
      attributed = packet;
      if (!AttributeFragment(&attributed)) {
        counters_.fragments_unattributed++;
        return;
      }
      counters_.fragments_attributed++;
      pp = &attributed;
    } else if (packet.has_ports) {
      RememberFragment(packet);
    }
  }
  const ParsedPacket& p = *pp;

  Key key;
  MakeKey(p, ifindex, &key);
  ObserveKeyed(p, key, Hash(key), ts_ns, ifindex, name_id);
}

void FlowTable::MakeKey(const ParsedPacket& p, uint32_t ifindex, Key* key) {
  // Canonical key: the smaller (address, port) endpoint first, so both directions find the same entry.
  std::memset(key, 0, sizeof(*key));
  const int cmp = std::memcmp(p.src, p.dst, 16);
  const bool src_is_a = cmp < 0 || (cmp == 0 && p.src_port <= p.dst_port);
  std::memcpy(key->a, src_is_a ? p.src : p.dst, 16);
  std::memcpy(key->b, src_is_a ? p.dst : p.src, 16);
  key->port_a = src_is_a ? p.src_port : p.dst_port;
  key->port_b = src_is_a ? p.dst_port : p.src_port;
  key->ifindex = ifindex;
  key->family = p.family;
  key->protocol = p.protocol;
}

void FlowTable::ObserveKeyed(const ParsedPacket& p, const Key& key, uint32_t hash, uint64_t ts_ns,
                             uint32_t ifindex, uint32_t name_id) {
  uint32_t i = Find(key, hash);
  if (i != kNil && entries_[i].list == kListClosing && p.protocol == 6 && IsTcpSynOnly(p.tcp_flags)) {
    End(i, SF_KIND_END, SF_END_TCP_CLOSED);  // port reuse: a new connection on a closed 5-tuple
    i = kNil;
  }
  bool created = i == kNil;
  if (created) i = Create(key, hash, p, ts_ns, ifindex, name_id);
  Entry& e = entries_[i];
  sf_flow_record& r = e.rec;
  const bool fwd = std::memcmp(r.src_addr, p.src, 16) == 0 && r.src_port == p.src_port &&
                   (std::memcmp(r.src_addr, r.dst_addr, 16) != 0 || r.src_port != r.dst_port ||
                    !(p.icmp_echo && !p.icmp_request));
  if (fwd) {
    r.packets_fwd++;
    r.bytes_fwd += p.ip_bytes;
    r.tcp_flags_fwd |= p.tcp_flags;
  } else {
    r.packets_rev++;
    r.bytes_rev += p.ip_bytes;
    r.tcp_flags_rev |= p.tcp_flags;
  }
  r.last_seen_ns = ts_ns;
  if (p.fragment) {
    r.state |= SF_STATE_FRAGMENTED;
    if (r.fragments != 0xFFFF) r.fragments++;
  }
  if (p.protocol == 6 && p.has_ports && p.tcp_flags != 0) {
    const uint32_t before = r.state;
    if (fwd && IsTcpSynOnly(p.tcp_flags)) r.state |= SF_STATE_TCP_SYN;
    if (!fwd && IsTcpSynAck(p.tcp_flags)) r.state |= SF_STATE_TCP_SYNACK;
    if (p.tcp_flags & kTcpFin) r.state |= fwd ? SF_STATE_TCP_FIN_FWD : SF_STATE_TCP_FIN_REV;
    if (p.tcp_flags & kTcpRst) r.state |= SF_STATE_TCP_RST;
    if ((r.state & SF_STATE_TCP_SYN) && !(before & SF_STATE_TCP_SYN)) counters_.connections_started++;
    if (created && options_.emit_start) {
      e.exported_packets = 1;
      EmitRecord(e, SF_KIND_START, SF_END_NONE);  // carries the first packet's counts, flags and state
      created = false;
    }
    const bool closed = (r.state & SF_STATE_TCP_RST) ||
                        ((r.state & SF_STATE_TCP_FIN_FWD) && (r.state & SF_STATE_TCP_FIN_REV));
    if (closed && e.list == kListLive) {
      if (r.state & SF_STATE_TCP_SYN) {
        r.state |= SF_STATE_TCP_COMPLETED;
        counters_.connections_completed++;
      }
      Unlink(live_, i);
      ExportUnlink(i);
      e.list = kListClosing;
      e.deadline_ns = ts_ns + options_.close_linger_ns;
      PushBack(closing_, i);
      return;
    }
  }
  if (created && options_.emit_start) {
    e.exported_packets = 1;
    EmitRecord(e, SF_KIND_START, SF_END_NONE);  // carries the first packet's counts
  }
  // Moving to the LRU head touches two neighbouring entries (cache misses), so a busy flow moves at most once per
  // granularity. The live list stays ordered by moved_ns, and last_seen < moved_ns + granularity for every entry,
  // so idle expiry and eviction are exact to within one granularity.
  if (e.list == kListLive && ts_ns - e.moved_ns >= lru_granularity_ns_ && live_.head != i) {
    Unlink(live_, i);
    PushFront(live_, i);
    e.moved_ns = ts_ns;
  }
}

void FlowTable::Advance(uint64_t now_ns) {
  if (now_ns > clock_ns_) clock_ns_ = now_ns;
  if (clock_ns_ < next_check_ns_) return;
  next_check_ns_ = clock_ns_ + kCheckIntervalNs;
  const uint64_t now = clock_ns_;
  while (closing_.head != kNil && entries_[closing_.head].deadline_ns <= now)
    End(closing_.head, SF_KIND_END, SF_END_TCP_CLOSED);
  // The tail has the oldest moved_ns; once its last packet is younger than the idle timeout, every entry before
  // it is at most one LRU granularity from expiring, and the next check picks it up.
  while (live_.tail != kNil && entries_[live_.tail].rec.last_seen_ns + options_.idle_timeout_ns <= now)
    End(live_.tail, SF_KIND_END, SF_END_IDLE);
  if (options_.active_timeout_ns != 0) {
    while (export_.head != kNil && entries_[export_.head].exported_ns + options_.active_timeout_ns <= now) {
      const uint32_t i = export_.head;
      ExportUnlink(i);
      Entry& e = entries_[i];
      e.exported_ns = now;
      const uint64_t packets = e.rec.packets_fwd + e.rec.packets_rev;
      if (packets != e.exported_packets) {
        e.exported_packets = packets;
        EmitRecord(e, SF_KIND_UPDATE, SF_END_NONE);
      }
      ExportPushBack(i);
    }
  }
}

void FlowTable::Flush() {
  while (closing_.head != kNil) End(closing_.head, SF_KIND_END, SF_END_TCP_CLOSED);
  while (live_.tail != kNil) End(live_.tail, SF_KIND_END, SF_END_FLUSH);
}

}  // namespace sf
