// ebpf:<iface>[,<iface>...] — the eBPF dataplane tap (issue 5). The kernel program (native/bpf/flow-tap.bpf.c,
// embedded through the skeleton bpftool generates at build time) keeps per-flow counters in an LRU hash map and
// announces flow starts and TCP closes through a ring buffer. One worker thread here polls the ring buffer,
// sweeps the map (active-timeout updates, idle expiry, flows the LRU pushed out), and turns both into the same
// fixed-size records as the other sources. It mirrors only what the kernel cannot keep: flow ids, the last
// export, and the close linger.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include "../bpf/flow-tap.h"
#include "ebpf-attach.h"
#include "ebpf-errors.h"
#include "flow-tap.skel.h"
#include "tap.h"

namespace sf {
namespace {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool IsGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// libbpf's diagnostics (verifier log included) for the error message of a failed load; process-wide, as
// libbpf's print callback is.
std::mutex g_log_mu;
std::string g_log;
int CollectLibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log += line;
  if (g_log.size() > 8192) g_log.erase(0, g_log.size() - 8192);
  return n;
}

std::string TakeLibbpfLog() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::string out;
  out.swap(g_log);
  // The last few lines say why (the verifier's complaint is at the end of its log).
  size_t cut = out.size();
  for (int lines = 0; lines < 6 && cut != std::string::npos && cut > 0; ++lines) cut = out.rfind('\n', cut - 1);
  if (cut != std::string::npos && cut > 0) out = out.substr(cut + 1);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string KernelRelease() {
  utsname u;
  return uname(&u) == 0 ? u.release : "unknown";
}

// Whether a device has no link header: Ethernet-like devices (ARPHRD_ETHER 1, loopback 772) have one, L3
// devices (tunnels, WireGuard, tun) none.
uint32_t IsL3Device(const std::string& ifname) {
  std::ifstream in("/sys/class/net/" + ifname + "/type");
  int type = 1;
  in >> type;
  return type == 1 || type == 772 ? 0 : 1;
}

struct KeyHash {
  size_t operator()(const sf_flow_key& k) const {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&k);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof(k); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return static_cast<size_t>(h);
  }
};
struct KeyEq {
  bool operator()(const sf_flow_key& a, const sf_flow_key& b) const { return std::memcmp(&a, &b, sizeof(a)) == 0; }
};

// What user space keeps per flow: the kernel map has the counters.
struct Mirror {
  uint64_t flow_id = 0;
  uint64_t first_seen_ns = 0;    // the kernel instance (monotonic), to tell a reused 5-tuple apart
  sf_flow_value last{};          // counters at the last sweep or event (for flows the LRU pushed out)
  uint64_t exported_ns = 0;      // monotonic time of the last START/UPDATE
  uint64_t exported_packets = 0;
  uint64_t deadline_ns = 0;      // closing: when the linger ends (monotonic)
  uint32_t epoch = 0;            // sweep that last saw it in the map
  uint32_t slot = 0;             // record slot (index + 1) while user space tracks the flow
  bool start_emitted = false;
  bool closing = false;
};

class EbpfTap : public Tap {
 public:
  EbpfTap(const CommonOptions& options, const EbpfOptions& ebpf)
      : Tap("ebpf", options, /*block_when_full=*/false), ebpf_(ebpf), table_options_(options.table) {}

  ~EbpfTap() override {
    Close();
    Release();
  }

  bool Open(TapError* error) {
    const std::string privileges = MissingEbpfPrivileges();
    if (!privileges.empty()) {
      *error = {"ERR_EBPF_PERMISSION", privileges};
      return false;
    }
    const std::string bpffs = EnsureBpffs();
    if (!bpffs.empty()) {
      *error = {"ERR_TAP_OPEN", bpffs};
      return false;
    }
    cleanup_ = CleanupStaleRuns();
    if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) <= 0 ||
        libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LRU_HASH, nullptr) <= 0 ||
        libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, nullptr) <= 0) {
      *error = ClassifyProbeFailure(errno, LockdownMode(), KernelRelease());
      return false;
    }
    libbpf_set_print(CollectLibbpfLog);
    TakeLibbpfLog();
    skel_ = flow_tap__open();
    if (skel_ == nullptr) {
      *error = {"ERR_TAP_OPEN", "cannot open the embedded eBPF object: " + std::string(std::strerror(errno))};
      return false;
    }
    bpf_map__set_max_entries(skel_->maps.sf_flows, table_options_.max_flows);
    bpf_map__set_max_entries(skel_->maps.sf_events, ebpf_.ring_bytes);
    const int rc = flow_tap__load(skel_);
    if (rc != 0) {
      const int err = -rc;
      *error = ClassifyLoadFailure(err, LockdownMode(), KernelRelease(), TakeLibbpfLog());
      return false;
    }
    flows_fd_ = bpf_map__fd(skel_->maps.sf_flows);
    counters_fd_ = bpf_map__fd(skel_->maps.sf_counters);
    ifaces_fd_ = bpf_map__fd(skel_->maps.sf_ifaces);
    ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.sf_events), &EbpfTap::OnEvent, this, nullptr);
    if (ring_ == nullptr) {
      *error = {"ERR_TAP_OPEN", "cannot map the eBPF ring buffer: " + std::string(std::strerror(errno))};
      return false;
    }
    AttachMode attach_mode = AttachMode::kAuto;
    if (!ParseAttachMode(ebpf_.attach, &attach_mode)) {
      *error = {"ERR_TAP_OPEN", "attach must be 'auto', 'tcx' or 'clsact', got '" + ebpf_.attach + "'"};
      return false;
    }
    int init_err = 0;
    const std::string init = attacher_.Init(bpf_program__fd(skel_->progs.sf_tap), attach_mode, &init_err);
    if (!init.empty()) {
      *error = ClassifyAttachInitFailure(init_err, KernelRelease(), init);
      return false;
    }
    clock_offset_ns_ = RealtimeNs() - MonotonicNs();
    std::vector<std::string> specs = ebpf_.interfaces;
    specs.insert(specs.end(), ebpf_.host_interfaces.begin(), ebpf_.host_interfaces.end());
    for (const std::string& spec : specs) {
      if (IsGlob(spec)) {
        globs_.push_back(spec);
        continue;
      }
      const uint32_t ifindex = if_nametoindex(spec.c_str());
      if (ifindex == 0) {
        *error = {"ERR_TAP_NO_SUCH_INTERFACE", "no such interface '" + spec + "'"};
        return false;
      }
      if (!AttachInterface(ifindex, spec, error)) return false;
    }
    if (!globs_.empty()) Rescan();
    SnapshotKernelCounters();
    return true;
  }

  std::vector<std::string> InterfaceNames() override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return names_;
  }

  void Release() override {
    attacher_.DetachAll();
    counters_fd_ = flows_fd_ = ifaces_fd_ = -1;
    if (ring_ != nullptr) {
      ring_buffer__free(ring_);
      ring_ = nullptr;
    }
    if (skel_ != nullptr) {
      flow_tap__destroy(skel_);
      skel_ = nullptr;
    }
  }

 protected:
  void Run() override {
    using clock = std::chrono::steady_clock;
    auto next_tick = clock::now();
    auto next_sweep = clock::now() + std::chrono::milliseconds(ebpf_.sweep_ms);
    auto next_rescan = clock::now() + std::chrono::milliseconds(ebpf_.rescan_ms);
    while (!stopping()) {
      // The program wakes us only when the ring fills up; otherwise the timeout is the cue to drain it.
      if (ring_buffer__poll(ring_, 50) == 0) ring_buffer__consume(ring_);
      const auto now = clock::now();
      if (now >= next_sweep) {
        Sweep();
        next_sweep = now + std::chrono::milliseconds(ebpf_.sweep_ms);
      }
      if (now >= next_tick) {
        EndLingeredCloses(MonotonicNs());
        queue_.Publish();
        SnapshotKernelCounters();
        next_tick = now + std::chrono::milliseconds(100);
      }
      if (!globs_.empty() && now >= next_rescan) {
        Rescan();
        next_rescan = now + std::chrono::milliseconds(ebpf_.rescan_ms);
      }
    }
    // Detach first so the counters stop moving, then take the last events and the final counts of every flow.
    attacher_.DetachAll();
    ring_buffer__consume(ring_);
    Flush();
    SnapshotKernelCounters();
  }

  void RecordCounts(uint64_t* by_kind) override {
    for (int k = 0; k < 5; ++k) by_kind[k] = records_[k].load(std::memory_order_relaxed);
  }

  void SourceStats(StatList* out) override {
    out->emplace_back("ebpf.ringbufLost", static_cast<double>(kernel_[SF_CTR_RINGBUF_LOST]));
    out->emplace_back("ebpf.mapFull", static_cast<double>(kernel_[SF_CTR_MAP_FULL]));
    out->emplace_back("ebpf.mapEntries", static_cast<double>(map_entries_));
    out->emplace_back("ebpf.mapCapacity", static_cast<double>(table_options_.max_flows));
    out->emplace_back("ebpf.startsRecovered", static_cast<double>(starts_recovered_.load(std::memory_order_relaxed)));
    out->emplace_back("ebpf.sweeps", static_cast<double>(sweeps_));
    out->emplace_back("ebpf.lastSweepMs", last_sweep_ms_);
    out->emplace_back("interfaces.open", static_cast<double>(ifaces_.size()));
    out->emplace_back("interfaces.opened", static_cast<double>(opened_));
    out->emplace_back("interfaces.lost", static_cast<double>(interfaces_lost_));
    out->emplace_back("interfaces.openFailures", static_cast<double>(open_failures_));
    out->emplace_back("cleanup.staleRuns", static_cast<double>(cleanup_.runs));
    out->emplace_back("cleanup.filtersRemoved", static_cast<double>(cleanup_.filters_removed));
    out->emplace_back("cleanup.qdiscsRemoved", static_cast<double>(cleanup_.qdiscs_removed));
    out->emplace_back("attach.handle", static_cast<double>(attacher_.handle()));
    out->emplace_back("attach.priority", static_cast<double>(attacher_.priority()));
  }

  void SourceLabels(StatLabels* out) override {
    out->emplace_back("attach.mode", AttachModeName(attacher_.mode()));
  }

 private:
  bool AttachInterface(uint32_t ifindex, const std::string& name, TapError* error) {
    sf_iface_config cfg{IsL3Device(name)};
    if (ifindex < SF_MAX_IFINDEX) bpf_map_update_elem(ifaces_fd_, &ifindex, &cfg, BPF_ANY);
    int err = 0;
    const std::string why = attacher_.Attach(ifindex, name, &err);
    if (!why.empty()) {
      if (error != nullptr) {
        *error = ClassifyAttachFailure(err, why);
      }
      attacher_.Forget(ifindex);
      return false;
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    auto known = name_ids_.find(name);
    if (known == name_ids_.end()) {
      known = name_ids_.emplace(name, static_cast<uint32_t>(names_.size())).first;
      names_.push_back(name);
    }
    ifaces_[ifindex] = {name, known->second};
    opened_++;
    return true;
  }

  // Attaches to glob matches not attached yet; forgets interfaces that went away (their filters went with them).
  void Rescan() {
    std::vector<uint32_t> gone;
    for (const auto& kv : ifaces_) {
      char name[IF_NAMESIZE] = {0};
      if (if_indextoname(kv.first, name) == nullptr || kv.second.name != name) gone.push_back(kv.first);
    }
    for (uint32_t ifindex : gone) {
      attacher_.Forget(ifindex);
      const sf_iface_config ethernet{0};
      if (ifindex < SF_MAX_IFINDEX) bpf_map_update_elem(ifaces_fd_, &ifindex, &ethernet, BPF_ANY);
      std::lock_guard<std::mutex> lock(stats_mu_);
      departed_[ifindex] = ifaces_[ifindex];  // flows on it keep their name id until they end
      ifaces_.erase(ifindex);
      interfaces_lost_++;
    }
    if (globs_.empty()) return;
    struct if_nameindex* list = if_nameindex();
    if (list == nullptr) return;
    for (struct if_nameindex* it = list; it->if_index != 0 && it->if_name != nullptr; ++it) {
      if (ifaces_.count(it->if_index)) continue;
      for (const std::string& glob : globs_) {
        if (fnmatch(glob.c_str(), it->if_name, 0) == 0) {
          if (!AttachInterface(it->if_index, it->if_name, nullptr)) {
            std::lock_guard<std::mutex> lock(stats_mu_);
            open_failures_++;
          }
          break;
        }
      }
    }
    if_freenameindex(list);
  }

  uint32_t NameId(uint32_t ifindex) {
    auto it = ifaces_.find(ifindex);
    if (it != ifaces_.end()) return it->second.name_id;
    auto gone = departed_.find(ifindex);
    return gone != departed_.end() ? gone->second.name_id : 0;
  }

  void Emit(const sf_flow_key& k, const sf_flow_value& v, const Mirror& m, uint8_t kind, uint8_t reason) {
    sf_flow_record r;
    std::memset(&r, 0, sizeof(r));
    r.layout_version = SF_RECORD_LAYOUT_VERSION;
    r.kind = kind;
    r.end_reason = reason;
    r.family = k.family;
    r.protocol = k.protocol;
    const bool b_first = v.initiator_is_b != 0;
    std::memcpy(r.src_addr, b_first ? k.b : k.a, 16);
    std::memcpy(r.dst_addr, b_first ? k.a : k.b, 16);
    r.src_port = b_first ? k.port_b : k.port_a;
    r.dst_port = b_first ? k.port_a : k.port_b;
    r.tcp_flags_fwd = static_cast<uint8_t>(v.tcp_flags & 0xFF);
    r.tcp_flags_rev = static_cast<uint8_t>((v.tcp_flags >> 8) & 0xFF);
    r.ifindex = k.ifindex;
    r.name_id = NameId(k.ifindex);
    r.packets_fwd = v.packets[0];
    r.bytes_fwd = v.bytes[0];
    r.packets_rev = v.packets[1];
    r.bytes_rev = v.bytes[1];
    r.first_seen_ns = v.first_seen_ns + clock_offset_ns_;
    r.last_seen_ns = v.last_seen_ns + clock_offset_ns_;
    r.flow_id = m.flow_id;
    r.slot = m.slot;
    r.state = v.state;
    r.icmp_type = v.icmp_type;
    r.icmp_code = v.icmp_code;
    r.fragments = static_cast<uint16_t>(std::min<uint32_t>(v.fragments, 0xFFFF));
    records_[kind].fetch_add(1, std::memory_order_relaxed);
    queue_.Emit(r);
  }

  // Stops tracking a flow whose END was emitted: its slot goes back to the free list.
  void Forget(std::unordered_map<sf_flow_key, Mirror, KeyHash, KeyEq>::iterator it) {
    if (it == mirror_.end()) return;
    if (it->second.slot != 0) free_slots_.push_back(it->second.slot);
    mirror_.erase(it);
  }

  Mirror& NewMirror(const sf_flow_key& k, const sf_flow_value& v) {
    Mirror& m = mirror_[k];
    m = Mirror();
    m.flow_id = next_flow_id_++;
    // A slot per tracked flow, reused after the flow's END (records carry it so consumers index per-flow state).
    if (free_slots_.empty()) {
      m.slot = ++slots_used_;
    } else {
      m.slot = free_slots_.back();
      free_slots_.pop_back();
    }
    m.first_seen_ns = v.first_seen_ns;
    m.last = v;
    m.exported_ns = v.first_seen_ns;
    m.epoch = epoch_;
    return m;
  }

  void EmitStart(const sf_flow_key& k, const sf_flow_value& v, Mirror& m) {
    m.start_emitted = true;
    m.exported_packets = v.packets[0] + v.packets[1];
    if (table_options_.emit_start) Emit(k, v, m, SF_KIND_START, SF_END_NONE);
  }

  static int OnEvent(void* ctx, void* data, size_t size) {
    if (size < sizeof(sf_flow_event)) return 0;
    static_cast<EbpfTap*>(ctx)->HandleEvent(*static_cast<const sf_flow_event*>(data));
    return 0;
  }

  void HandleEvent(const sf_flow_event& ev) {
    auto it = mirror_.find(ev.key);
    if (ev.type == SF_EVENT_RESTART) {
      // The old connection's final counters; the new one's START follows in the ring.
      if (it != mirror_.end() && it->second.first_seen_ns == ev.value.first_seen_ns) {
        Emit(ev.key, ev.value, it->second, SF_KIND_END, SF_END_TCP_CLOSED);
        Forget(it);
      }
      return;
    }
    if (it != mirror_.end() && it->second.first_seen_ns != ev.value.first_seen_ns) {
      // An instance we never saw end (its restart event was lost, or the LRU pushed it out): it ended.
      EndMissing(it->first, it->second);
      Forget(it);
      it = mirror_.end();
    }
    if (it == mirror_.end()) {
      if (ev.type != SF_EVENT_START) return;  // a close for a flow we no longer track
      Mirror& m = NewMirror(ev.key, ev.value);
      EmitStart(ev.key, ev.value, m);
      return;
    }
    Mirror& m = it->second;
    if (ev.type == SF_EVENT_START) {
      if (!m.start_emitted) EmitStart(ev.key, ev.value, m);  // the sweep saw it first
    } else if (ev.type == SF_EVENT_CLOSE && !m.closing) {
      m.closing = true;
      m.last = ev.value;
      m.deadline_ns = MonotonicNs() + table_options_.close_linger_ns;
      closing_.emplace_back(ev.key);
    }
  }

  // A flow that left the map without us removing it: the kernel's LRU pushed it out when the map was full.
  void EndMissing(const sf_flow_key& k, Mirror& m) {
    if (!m.start_emitted) EmitStart(k, m.last, m);
    if (m.closing) {
      Emit(k, m.last, m, SF_KIND_END, SF_END_TCP_CLOSED);
      return;
    }
    evictions_++;
    Emit(k, m.last, m, SF_KIND_EVICTED, SF_END_NONE);
  }

  // Removes a flow from the map and ends it with its final counters.
  void EndFlow(const sf_flow_key& k, Mirror& m, uint8_t reason) {
    sf_flow_value final_value;
    if (bpf_map_lookup_and_delete_elem(flows_fd_, &k, &final_value) != 0) {
      // Kernels before 5.14 cannot look up and delete hash entries in one step.
      if (bpf_map_lookup_elem(flows_fd_, &k, &final_value) != 0) final_value = m.last;
      else bpf_map_delete_elem(flows_fd_, &k);
    }
    if (final_value.first_seen_ns != m.first_seen_ns) {
      // A new instance started on this 5-tuple after our last look: end ours with what we saw, put it back.
      bpf_map_update_elem(flows_fd_, &k, &final_value, BPF_NOEXIST);
      final_value = m.last;
    }
    if (!m.start_emitted) EmitStart(k, final_value, m);
    Emit(k, final_value, m, SF_KIND_END, reason);
  }

  void EndLingeredCloses(uint64_t now) {
    if (closing_.empty()) return;
    ring_buffer__consume(ring_);  // a restart of one of these may be waiting
    std::vector<sf_flow_key> keep;
    for (const sf_flow_key& k : closing_) {
      auto it = mirror_.find(k);
      if (it == mirror_.end() || !it->second.closing) continue;
      if (it->second.deadline_ns > now) {
        keep.push_back(k);
        continue;
      }
      EndFlow(k, it->second, SF_END_TCP_CLOSED);
      Forget(it);
    }
    closing_.swap(keep);
  }

  // Reads the whole map in batches; calls fn(key, value) for each entry.
  template <typename Fn>
  void ReadMap(Fn fn) {
    constexpr uint32_t kBatch = 1024;
    keys_.resize(kBatch);
    values_.resize(kBatch);
    uint64_t batch_token = 0;
    bool first = true;
    for (;;) {
      uint32_t count = kBatch;
      const int rc = bpf_map_lookup_batch(flows_fd_, first ? nullptr : &batch_token, &batch_token, keys_.data(),
                                          values_.data(), &count, nullptr);
      const int err = rc != 0 ? errno : 0;
      first = false;
      for (uint32_t i = 0; i < count; ++i) fn(keys_[i], values_[i]);
      if (rc != 0) {
        if (err != ENOENT && err != 0) ReadMapSlowly(fn);  // batch ops unsupported: key by key
        return;
      }
    }
  }

  template <typename Fn>
  void ReadMapSlowly(Fn fn) {
    sf_flow_key key, next;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(flows_fd_, prev, &next) == 0) {
      sf_flow_value v;
      if (bpf_map_lookup_elem(flows_fd_, &next, &v) == 0) fn(next, v);
      key = next;
      prev = &key;
    }
  }

  // One pass over the kernel map: idle expiry, active-timeout updates, recovered starts, and evictions.
  void Sweep() {
    const auto t0 = std::chrono::steady_clock::now();
    ring_buffer__consume(ring_);  // events first, so a flow the sweep meets is already known when it can be
    const uint64_t now = MonotonicNs();
    epoch_++;
    size_t entries = 0;
    std::vector<sf_flow_key> idle;
    ReadMap([&](const sf_flow_key& k, const sf_flow_value& v) {
      entries++;
      auto it = mirror_.find(k);
      if (it != mirror_.end() && it->second.first_seen_ns != v.first_seen_ns) {
        EndMissing(it->first, it->second);
        Forget(it);
        it = mirror_.end();
      }
      if (it == mirror_.end()) {
        // Its START event is still in the ring (or was lost): recover it at the next sweep if it never comes.
        NewMirror(k, v);
        return;
      }
      Mirror* m = &it->second;
      m->epoch = epoch_;
      m->last = v;
      if (!m->start_emitted) {
        starts_recovered_++;
        EmitStart(k, v, *m);
      }
      if (m->closing) return;
      if (v.last_seen_ns + table_options_.idle_timeout_ns <= now) {
        idle.push_back(k);
        return;
      }
      const uint64_t packets = v.packets[0] + v.packets[1];
      if (table_options_.active_timeout_ns != 0 && m->exported_ns + table_options_.active_timeout_ns <= now) {
        m->exported_ns = now;
        if (packets != m->exported_packets) {
          m->exported_packets = packets;
          Emit(k, v, *m, SF_KIND_UPDATE, SF_END_NONE);
        }
      }
    });
    for (const sf_flow_key& k : idle) {
      auto it = mirror_.find(k);
      if (it == mirror_.end()) continue;
      EndFlow(k, it->second, SF_END_IDLE);
      Forget(it);
    }
    // Flows we track that the map no longer holds (checked one by one: a batch read may miss entries that moved).
    std::vector<sf_flow_key> missing;
    for (auto& kv : mirror_) {
      if (kv.second.epoch == epoch_ || kv.second.closing) continue;
      sf_flow_value v;
      if (bpf_map_lookup_elem(flows_fd_, &kv.first, &v) == 0 && v.first_seen_ns == kv.second.first_seen_ns) {
        kv.second.epoch = epoch_;
        continue;
      }
      missing.push_back(kv.first);
    }
    for (const sf_flow_key& k : missing) {
      auto it = mirror_.find(k);
      EndMissing(k, it->second);
      Forget(it);
    }
    queue_.Publish();
    std::lock_guard<std::mutex> lock(stats_mu_);
    map_entries_ = entries;
    sweeps_++;
    last_sweep_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // Ends every flow: closed connections as tcpClosed, the rest as flush. The program is detached already.
  void Flush() {
    ReadMap([&](const sf_flow_key& k, const sf_flow_value& v) {
      auto it = mirror_.find(k);
      if (it != mirror_.end() && it->second.first_seen_ns != v.first_seen_ns) {
        EndMissing(it->first, it->second);
        Forget(it);
        it = mirror_.end();
      }
      Mirror& m = it != mirror_.end() ? it->second : NewMirror(k, v);
      if (!m.start_emitted) EmitStart(k, v, m);
      Emit(k, v, m, SF_KIND_END, m.closing ? SF_END_TCP_CLOSED : SF_END_FLUSH);
      Forget(mirror_.find(k));
    });
    // What the map lost meanwhile (LRU) ends with the counts we saw last.
    for (auto& kv : mirror_) EndMissing(kv.first, kv.second);
    mirror_.clear();
    free_slots_.clear();
    slots_used_ = 0;
    closing_.clear();
    queue_.Publish();
  }

  void SnapshotCounters() override { SnapshotKernelCounters(); }

  void SnapshotKernelCounters() {
    if (counters_fd_ < 0) return;
    const int cpus = libbpf_num_possible_cpus();
    std::vector<sf_counters> per_cpu(cpus > 0 ? cpus : 1);  // one block per possible CPU (8-byte multiple)
    uint64_t totals[SF_CTR_COUNT] = {};
    const uint32_t key = 0;
    if (bpf_map_lookup_elem(counters_fd_, &key, per_cpu.data()) == 0) {
      for (const sf_counters& c : per_cpu) {
        for (uint32_t i = 0; i < SF_CTR_COUNT; ++i) totals[i] += c.c[i];
      }
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    std::memcpy(kernel_, totals, sizeof(kernel_));
    FlowTableCounters& c = snapshot_;
    c.packets = totals[SF_CTR_PACKETS];
    c.parsed = totals[SF_CTR_PARSED];
    c.not_ip = totals[SF_CTR_NOT_IP];
    c.malformed[kTruncatedLinkHeader] = totals[SF_CTR_TRUNCATED_LINK];
    c.malformed[kTruncatedIpHeader] = totals[SF_CTR_TRUNCATED_IP];
    c.malformed[kBadIpVersion] = totals[SF_CTR_BAD_IP_VERSION];
    c.malformed[kBadIpHeaderLength] = totals[SF_CTR_BAD_IP_HEADER_LENGTH];
    c.malformed[kBadIpv6ExtensionHeader] = totals[SF_CTR_BAD_IPV6_EXTENSION];
    c.malformed[kTruncatedTransportHeader] = totals[SF_CTR_TRUNCATED_TRANSPORT];
    c.malformed[kBadTcpHeaderLength] = totals[SF_CTR_BAD_TCP_HEADER_LENGTH];
    c.fragments = totals[SF_CTR_FRAGMENTS];
    c.fragments_unattributed = totals[SF_CTR_FRAGMENTS_UNATTRIBUTED];
    c.flows_created = totals[SF_CTR_FLOWS_CREATED];
    c.connections_started = totals[SF_CTR_CONNECTIONS_STARTED];
    c.connections_completed = totals[SF_CTR_CONNECTIONS_COMPLETED];
    c.evictions = evictions_.load(std::memory_order_relaxed);
    active_flows_ = mirror_.size();
  }

  struct Iface {
    std::string name;
    uint32_t name_id = 0;
  };

  EbpfOptions ebpf_;
  FlowTableOptions table_options_;
  flow_tap* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int flows_fd_ = -1, counters_fd_ = -1, ifaces_fd_ = -1;
  TcAttacher attacher_;
  StaleCleanup cleanup_;
  uint64_t clock_offset_ns_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC at open: kernel times to record times
  std::vector<std::string> globs_;
  std::map<uint32_t, Iface> ifaces_;    // attached, by ifindex (worker, or before Start; read under stats_mu_)
  std::map<uint32_t, Iface> departed_;  // interfaces that went away
  std::vector<std::string> names_;      // by name_id; guarded by stats_mu_
  std::map<std::string, uint32_t> name_ids_;
  std::unordered_map<sf_flow_key, Mirror, KeyHash, KeyEq> mirror_;
  std::vector<uint32_t> free_slots_;    // slots of ended flows, reused first
  uint32_t slots_used_ = 0;             // highest slot handed out
  std::vector<sf_flow_key> closing_;    // keys in close linger, oldest first
  std::vector<sf_flow_key> keys_;       // batch read buffers
  std::vector<sf_flow_value> values_;
  uint64_t next_flow_id_ = 1;
  uint32_t epoch_ = 0;
  // Written by the worker, read by Stats() on the JavaScript thread.
  std::atomic<uint64_t> records_[5] = {};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> starts_recovered_{0};
  uint64_t kernel_[SF_CTR_COUNT] = {};
  size_t map_entries_ = 0;
  uint64_t sweeps_ = 0;
  double last_sweep_ms_ = 0;
  uint64_t opened_ = 0, interfaces_lost_ = 0, open_failures_ = 0;
};

}  // namespace

std::unique_ptr<Tap> OpenEbpf(const EbpfOptions& ebpf, const CommonOptions& options, TapError* error) {
  if (ebpf.interfaces.empty() && ebpf.host_interfaces.empty()) {
    *error = {"ERR_TAP_OPEN", "ebpf source needs at least one interface or glob"};
    return nullptr;
  }
  std::unique_ptr<EbpfTap> tap(new EbpfTap(options, ebpf));
  if (!tap->Open(error)) return nullptr;  // the destructor detaches whatever was attached before the failure
  return tap;
}

}  // namespace sf
