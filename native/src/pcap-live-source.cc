// pcap:<iface>[,<iface>...] — live capture through libpcap (TPACKET_V3 memory-mapped ring, not immediate mode),
// one worker thread polling every handle. Globs ("veth*", "cali*") are re-matched every rescan interval so new
// interfaces are picked up; an interface that disappears is closed and counted, never fatal.
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "tap.h"

namespace sf {
namespace {

bool IsGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Effective capabilities of this process, from /proc/self/status (CapEff, hexadecimal).
uint64_t EffectiveCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

std::string MissingCapabilityMessage(const std::string& iface, bool promiscuous) {
  const uint64_t caps = EffectiveCapabilities();
  const bool raw = caps & (1ull << 13);    // CAP_NET_RAW
  const bool admin = caps & (1ull << 12);  // CAP_NET_ADMIN
  std::string missing;
  if (!raw) missing = "CAP_NET_RAW";
  if (!admin && promiscuous) missing += missing.empty() ? "CAP_NET_ADMIN" : " and CAP_NET_ADMIN";
  if (missing.empty()) missing = "CAP_NET_RAW (the kernel refused it despite the capability set)";
  return "capturing on '" + iface + "' needs " + missing +
         "; run the agent as root or grant it with `setcap cap_net_raw,cap_net_admin+eip <node binary>`";
}

struct Handle {
  std::string name;
  uint32_t ifindex = 0;
  uint32_t name_id = 0;
  pcap_t* pcap = nullptr;
  int link_type = 0;
  uint64_t received = 0, dropped = 0, if_dropped = 0;  // last pcap_stats
};

class PcapLiveTap;

struct DispatchContext {
  PcapLiveTap* tap;
  Handle* handle;
};

class PcapLiveTap : public Tap {
 public:
  PcapLiveTap(const CommonOptions& options, const LiveOptions& live)
      : Tap("pcap", options, /*block_when_full=*/false), live_(live) {}
  ~PcapLiveTap() override {
    Close();
    for (Handle& h : handles_) if (h.pcap) pcap_close(h.pcap);
  }

  // Opens every named interface and every current glob match; a named interface that fails is an error.
  bool OpenInitial(TapError* error) {
    for (const std::string& spec : live_.interfaces) {
      if (IsGlob(spec)) {
        globs_.push_back(spec);
        continue;
      }
      if (!OpenInterface(spec, error)) return false;
    }
    if (!globs_.empty()) {
      TapError ignored;
      Rescan(&ignored);
    }
    return true;
  }

  void OnPacket(Handle* h, const pcap_pkthdr* header, const u_char* data) {
    const uint64_t ts = static_cast<uint64_t>(header->ts.tv_sec) * 1000000000ull +
                        static_cast<uint64_t>(header->ts.tv_usec);  // nanosecond precision requested
    table_.ObserveRaw(h->link_type, data, header->caplen, ts, h->ifindex, h->name_id);
  }

 protected:
  void Run() override {
    using clock = std::chrono::steady_clock;
    auto next_rescan = clock::now() + std::chrono::milliseconds(live_.rescan_ms);
    auto next_tick = clock::now();
    std::vector<pollfd> fds;
    while (!stopping()) {
      fds.clear();
      for (Handle& h : handles_) {
        if (h.pcap) fds.push_back({pcap_get_selectable_fd(h.pcap), POLLIN, 0});
      }
      if (fds.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      else poll(fds.data(), fds.size(), 50);
      for (size_t i = 0; i < handles_.size(); ++i) {
        Handle& h = handles_[i];
        if (!h.pcap) continue;
        DispatchContext ctx{this, &h};
        const int rc = pcap_dispatch(h.pcap, 4096, [](u_char* user, const pcap_pkthdr* hdr, const u_char* bytes) {
          auto* c = reinterpret_cast<DispatchContext*>(user);
          c->tap->OnPacket(c->handle, hdr, bytes);
        }, reinterpret_cast<u_char*>(&ctx));
        if (rc < 0) {
          // The interface went away (or down): fold its last counters into the totals, close it, count it.
          UpdatePcapStats(&h);
          std::lock_guard<std::mutex> lock(stats_mu_);
          interfaces_lost_++;
          lost_received_ += h.received;
          lost_dropped_ += h.dropped;
          lost_if_dropped_ += h.if_dropped;
          pcap_close(h.pcap);
          h.pcap = nullptr;
        }
      }
      CompactHandles();
      const auto now = clock::now();
      if (now >= next_tick) {
        // Timers run on wall-clock time between packets, so idle flows end even on a silent link.
        table_.Advance(RealtimeNs());
        queue_.Publish();
        for (Handle& h : handles_) if (h.pcap) UpdatePcapStats(&h);
        SnapshotCounters();
        next_tick = now + std::chrono::milliseconds(100);
      }
      if (!globs_.empty() && now >= next_rescan) {
        TapError ignored;
        Rescan(&ignored);
        next_rescan = now + std::chrono::milliseconds(live_.rescan_ms);
      }
    }
    for (Handle& h : handles_) if (h.pcap) UpdatePcapStats(&h);
    table_.Flush();
  }

  void SourceStats(StatList* out) override {
    uint64_t received = lost_received_, dropped = lost_dropped_, if_dropped = lost_if_dropped_;
    size_t open = 0;
    for (const Handle& h : handles_) {
      received += h.received;
      dropped += h.dropped;
      if_dropped += h.if_dropped;
      if (h.pcap) open++;
    }
    out->emplace_back("kernel.received", static_cast<double>(received));
    out->emplace_back("kernel.dropped", static_cast<double>(dropped));
    out->emplace_back("kernel.interfaceDropped", static_cast<double>(if_dropped));
    out->emplace_back("interfaces.open", static_cast<double>(open));
    out->emplace_back("interfaces.opened", static_cast<double>(opened_));
    out->emplace_back("interfaces.lost", static_cast<double>(interfaces_lost_));
    out->emplace_back("interfaces.openFailures", static_cast<double>(open_failures_));
  }

 public:
  /** Interface names by name_id (the record's name_id indexes this list). */
  std::vector<std::string> InterfaceNames() override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return names_;
  }

 private:
  void UpdatePcapStats(Handle* h) {
    pcap_stat st;
    if (pcap_stats(h->pcap, &st) != 0) return;
    std::lock_guard<std::mutex> lock(stats_mu_);
    h->received = st.ps_recv;
    h->dropped = st.ps_drop;
    h->if_dropped = st.ps_ifdrop;
  }

  bool OpenInterface(const std::string& name, TapError* error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* p = pcap_create(name.c_str(), errbuf);
    if (p == nullptr) {
      *error = {"ERR_TAP_OPEN", "cannot capture on '" + name + "': " + errbuf};
      return false;
    }
    pcap_set_snaplen(p, live_.snaplen);
    pcap_set_promisc(p, live_.promiscuous ? 1 : 0);
    pcap_set_timeout(p, 50);  // TPACKET_V3 block retire timeout: bounds latency on a quiet link
    pcap_set_buffer_size(p, live_.buffer_bytes);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(p);
    if (rc < 0) {
      const std::string why = pcap_geterr(p);
      if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED) {
        *error = {"ERR_TAP_PERMISSION", MissingCapabilityMessage(name, live_.promiscuous)};
      } else if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
        *error = {"ERR_TAP_NO_SUCH_INTERFACE", "no such interface '" + name + "' (" + why + ")"};
      } else {
        *error = {"ERR_TAP_OPEN", "cannot capture on '" + name + "': " + why};
      }
      pcap_close(p);
      return false;
    }
    // On `any`, ask for LINUX_SLL2 (libpcap defaults to SLL v1), whose header carries the interface index, so a
    // packet seen on two interfaces makes two flows instead of double counts in one.
    if (name == "any") pcap_set_datalink(p, kLinkSll2);
    if (!live_.filter.empty()) {
      bpf_program prog;
      if (pcap_compile(p, &prog, live_.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        *error = {"ERR_TAP_FILTER", "invalid capture filter '" + live_.filter + "': " + pcap_geterr(p)};
        pcap_close(p);
        return false;
      }
      const int set = pcap_setfilter(p, &prog);
      pcap_freecode(&prog);
      if (set != 0) {
        *error = {"ERR_TAP_FILTER", "cannot set capture filter on '" + name + "': " + pcap_geterr(p)};
        pcap_close(p);
        return false;
      }
    }
    if (pcap_setnonblock(p, 1, errbuf) != 0) {
      *error = {"ERR_TAP_OPEN", "cannot make the capture on '" + name + "' non-blocking: " + errbuf};
      pcap_close(p);
      return false;
    }
    const int link_type = pcap_datalink(p);
    if (!IsSupportedLinkType(link_type)) {
      *error = {"ERR_TAP_OPEN", "interface '" + name + "' has unsupported link type " + std::to_string(link_type)};
      pcap_close(p);
      return false;
    }
    Handle h;
    h.name = name;
    h.ifindex = name == "any" ? 0 : if_nametoindex(name.c_str());
    h.pcap = p;
    h.link_type = link_type;
    std::lock_guard<std::mutex> lock(stats_mu_);
    // A name keeps its id when the interface comes back, so the name table grows only with distinct names.
    auto known = name_ids_.find(name);
    if (known == name_ids_.end()) {
      known = name_ids_.emplace(name, static_cast<uint32_t>(names_.size())).first;
      names_.push_back(name);
    }
    h.name_id = known->second;
    handles_.push_back(h);
    opened_++;
    return true;
  }

  // Opens interfaces that match a glob and are not open yet. Failures are counted (an interface may vanish
  // between listing and opening), not fatal.
  void Rescan(TapError* error) {
    struct if_nameindex* list = if_nameindex();
    if (list == nullptr) return;
    for (struct if_nameindex* it = list; it->if_index != 0 && it->if_name != nullptr; ++it) {
      const std::string name = it->if_name;
      if (IsOpen(name)) continue;
      for (const std::string& glob : globs_) {
        if (fnmatch(glob.c_str(), name.c_str(), 0) == 0) {
          if (!OpenInterface(name, error)) {
            std::lock_guard<std::mutex> lock(stats_mu_);
            open_failures_++;
          }
          break;
        }
      }
    }
    if_freenameindex(list);
  }

  // Drops closed handles (their counters were folded into the lost_* totals), so memory follows open interfaces.
  void CompactHandles() {
    bool any_closed = false;
    for (const Handle& h : handles_) any_closed |= h.pcap == nullptr;
    if (!any_closed) return;
    std::lock_guard<std::mutex> lock(stats_mu_);
    std::vector<Handle> open;
    for (const Handle& h : handles_) if (h.pcap) open.push_back(h);
    handles_.swap(open);
  }

  bool IsOpen(const std::string& name) const {
    for (const Handle& h : handles_) if (h.name == name && h.pcap) return true;
    return false;
  }

  LiveOptions live_;
  std::vector<std::string> globs_;
  std::vector<Handle> handles_;  // open interfaces; changed only by the worker (or before Start), under stats_mu_
  std::vector<std::string> names_;                // by name_id; guarded by stats_mu_
  std::map<std::string, uint32_t> name_ids_;
  uint64_t opened_ = 0;
  uint64_t lost_received_ = 0, lost_dropped_ = 0, lost_if_dropped_ = 0;
  uint64_t interfaces_lost_ = 0;
  uint64_t open_failures_ = 0;
};

}  // namespace

std::unique_ptr<Tap> OpenPcapLive(const LiveOptions& live, const CommonOptions& options, TapError* error) {
  if (live.interfaces.empty()) {
    *error = {"ERR_TAP_OPEN", "pcap source needs at least one interface, glob or 'any'"};
    return nullptr;
  }
  std::unique_ptr<PcapLiveTap> tap(new PcapLiveTap(options, live));
  if (!tap->OpenInitial(error)) return nullptr;
  return tap;
}

}  // namespace sf
