// A bidirectional flow table: packets in, sf_flow_record out. Plain C++ (no napi.h), single-threaded by design
// (each capture worker owns one), with a hard bound on the number of flows and counted LRU eviction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../include/flow-record.h"
#include "packet-parser.h"

namespace sf {

/** Receives every record the table emits, in order. */
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void Emit(const sf_flow_record& record) = 0;
};

struct FlowTableOptions {
  uint64_t idle_timeout_ns = 60ull * 1000000000ull;    // a flow with no packet for this long ends
  uint64_t active_timeout_ns = 15ull * 1000000000ull;  // a live flow reports an UPDATE this often (0: never)
  uint64_t close_linger_ns = 2ull * 1000000000ull;     // a closed TCP connection waits this long for stragglers
  uint32_t max_flows = 262144;                         // hard bound; the LRU flow is evicted (and counted)
  bool emit_start = true;                              // emit a START record for every new flow
};

/** Counters of the table; every packet lands in exactly one of parsed / notIp / malformed. */
struct FlowTableCounters {
  uint64_t packets = 0;
  uint64_t parsed = 0;
  uint64_t not_ip = 0;
  uint64_t malformed[kParseResultCount] = {};
  uint64_t fragments = 0;
  uint64_t fragments_attributed = 0;   // later fragments given the ports of their first fragment
  uint64_t fragments_unattributed = 0; // later fragments whose first fragment was not seen (not in any flow)
  uint64_t flows_created = 0;
  uint64_t records[5] = {};            // by sf_record_kind
  uint64_t evictions = 0;
  uint64_t connections_started = 0;
  uint64_t connections_completed = 0;
};

class FlowTable {
 public:
  FlowTable(const FlowTableOptions& options, RecordSink* sink);

  /** Accounts one parsed packet at flow-clock time `ts_ns`; `ifindex`/`name_id` identify the interface. */
  void Observe(const ParsedPacket& packet, uint64_t ts_ns, uint32_t ifindex, uint32_t name_id);

  /** Parses and observes one captured packet, counting the parse outcome. */
  void ObserveRaw(int link_type, const uint8_t* data, size_t caplen, uint64_t ts_ns, uint32_t ifindex,
                  uint32_t name_id);

  /** Moves the flow clock to `now_ns`: ends idle and closed flows, emits active-timeout updates. */
  void Advance(uint64_t now_ns);

  /** Ends every flow with SF_END_FLUSH (end of file, close). */
  void Flush();

  size_t size() const { return live_count_; }
  const FlowTableCounters& counters() const { return counters_; }

 private:
  struct Key {
    uint8_t a[16];
    uint8_t b[16];
    uint16_t port_a;
    uint16_t port_b;
    uint32_t ifindex;
    uint8_t family;
    uint8_t protocol;
    uint8_t pad[6];
  };
  static_assert(sizeof(Key) == 48, "Key is hashed as six 64-bit words");

  enum : uint8_t { kListNone = 0, kListLive = 1, kListClosing = 2 };
  static constexpr uint32_t kNil = 0xFFFFFFFFu;

  // 256 bytes, cache-line aligned: line 0 holds what every lookup and packet touches (key, hash, list, moved_ns),
  // lines 1-2 the record it updates, line 3 what only list moves and timers touch.
  struct alignas(64) Entry {
    Key key;
    uint32_t hash;
    uint8_t list;          // which of live/closing lists the entry is on (kListNone when free)
    bool on_export;
    uint16_t pad;
    uint64_t moved_ns;     // when the entry was last moved to the LRU head (the live list is ordered by this)
    sf_flow_record rec;
    uint32_t prev, next;   // live (LRU) or closing list
    uint32_t eprev, enext; // export list (oldest export first)
    uint64_t deadline_ns;  // closing: when to end
    uint64_t exported_ns;  // last START/UPDATE time, for the active timeout
    uint64_t exported_packets;  // packets (both ways) at that time: an idle flow sends no empty updates
  };
  static_assert(sizeof(Entry) == 256, "Entry is four cache lines");

  struct List { uint32_t head = kNil, tail = kNil; };

  static uint32_t Hash(const Key& key);
  static void MakeKey(const ParsedPacket& p, uint32_t ifindex, Key* key);
  void ObserveKeyed(const ParsedPacket& p, const Key& key, uint32_t hash, uint64_t ts_ns, uint32_t ifindex,
                    uint32_t name_id);
  uint32_t Find(const Key& key, uint32_t hash) const;
  uint32_t Create(const Key& key, uint32_t hash, const ParsedPacket& p, uint64_t ts_ns, uint32_t ifindex,
                  uint32_t name_id);
  void Remove(uint32_t index);  // unlinks, frees the slot; no record
  void End(uint32_t index, uint8_t kind, uint8_t reason);
  void EmitRecord(Entry& e, uint8_t kind, uint8_t reason);
  void Unlink(List& list, uint32_t index);
  void PushFront(List& list, uint32_t index);
  void PushBack(List& list, uint32_t index);
  void ExportUnlink(uint32_t index);
  void ExportPushBack(uint32_t index);
  bool AttributeFragment(ParsedPacket* p);
  void RememberFragment(const ParsedPacket& p);

  FlowTableOptions options_;
  RecordSink* sink_;
  FlowTableCounters counters_;
  std::vector<Entry> entries_;     // grows to max_flows, never beyond
  std::vector<uint32_t> free_;     // free entry indices
  // Open addressing, linear probing. A slot holds (hash << 32 | entry index), or kEmptySlot; keeping the hash in
  // the slot lets probes skip non-matching entries without touching them (entries are cold in cache).
  static constexpr uint64_t kEmptySlot = ~0ull;
  std::vector<uint64_t> slots_;
  uint32_t slot_mask_;
  uint32_t max_slots_;             // the table grows (doubling) up to this, keeping the load factor <= 0.5
  void Grow();
  List live_;                      // most recently seen first
  List closing_;                   // earliest deadline first
  List export_;                    // oldest export first
  size_t live_count_ = 0;
  uint64_t next_flow_id_ = 1;
  uint64_t clock_ns_ = 0;
  uint64_t lru_granularity_ns_ = 0;  // a flow moves to the LRU head at most this often (min(1 s, idle/16))
  uint64_t next_check_ns_ = 0;

  struct FragSlot { uint32_t id; uint16_t src_port, dst_port; uint8_t protocol, family, valid; uint8_t src[16], dst[16]; };
  std::vector<FragSlot> frags_;  // direct-mapped cache of first fragments
};

}  // namespace sf
