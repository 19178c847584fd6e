// A tap: one source (file, live interfaces, synthetic), one worker thread, one flow table, one record queue.
// Plain C++ (no napi.h); the N-API layer in addon.cc only wraps it. Opening happens on the caller's thread so
// errors (no such file, no permission, ...) surface synchronously; Start() then runs the source on a worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "flow-table.h"
#include "record-queue.h"

namespace sf {

/** A failure with a stable shadowflow error code (ERR_TAP_*), raised in JavaScript through its error class. */
struct TapError {
  std::string code;
  std::string message;
  bool ok() const { return code.empty(); }
};

/** Flat, ordered statistics: dotted names ("malformed.truncatedIpHeader") to numbers. */
using StatList = std::vector<std::pair<std::string, double>>;
/** Flat statistics that are words, not counts ("attach.mode" -> "tcx"). */
using StatLabels = std::vector<std::pair<std::string, std::string>>;

struct CommonOptions {
  FlowTableOptions table;
  size_t batch_records = 1024;
  size_t max_batches = 64;
};

class Tap {
 public:
  virtual ~Tap();

  /** Runs the source on a worker thread; `notify` is called (from that thread) when records or an end wait. */
  void Start(std::function<void()> notify);
  /** Copies up to `max_records` records into `out`; consumer thread only. */
  size_t Read(uint8_t* out, size_t max_records) { return queue_.Read(out, max_records); }
  /** True once the worker has finished and every record has been read. */
  bool Done();
  /** The error that ended the source, if any (available once Done()). */
  TapError Error();
  /** Stops the worker, joins it; idempotent. Remaining records stay readable. */
  void Close();
  StatList Stats();
  /** The source's word-valued statistics (none by default). */
  StatLabels Labels();
  /** Releases what the source holds in the system (called by Close() after the worker is joined). */
  virtual void Release() {}
  /** Interface names by name_id (records' name_id indexes this list); empty for files and synthetic. */
  virtual std::vector<std::string> InterfaceNames() { return {}; }
  const std::string& kind() const { return kind_; }

 protected:
  Tap(std::string kind, const CommonOptions& options, bool block_when_full);

  /** The source loop; returns when the input ends, `stopping()` becomes true, or on error. */
  virtual void Run() = 0;
  /** Records emitted by kind (indexed by sf_record_kind); the flow table's by default (called under stats_mu_). */
  virtual void RecordCounts(uint64_t* by_kind) {
    for (int k = 0; k < 5; ++k) by_kind[k] = snapshot_.records[k];
  }
  /** Source-specific statistics appended to Stats() (called under stats_mu_). */
  virtual void SourceStats(StatList* out) { (void)out; }
  /** Source-specific word-valued statistics appended to Labels() (called under stats_mu_). */
  virtual void SourceLabels(StatLabels* out) { (void)out; }

  bool stopping() const { return stop_.load(std::memory_order_relaxed); }
  void SetError(std::string code, std::string message);
  /** Copies the flow-table counters for Stats(); call from the worker now and then (and once after Run()). */
  virtual void SnapshotCounters();

  std::string kind_;
  RecordQueue queue_;
  FlowTable table_;
  std::mutex stats_mu_;          // guards snapshot_ and what SourceStats reads
  FlowTableCounters snapshot_;
  size_t active_flows_ = 0;

 private:
  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::mutex error_mu_;
  TapError error_;
  bool started_ = false;
};

/** pcap-file:<path>; speed 0 replays as fast as possible, 1.0 at recorded speed, 2.0 twice as fast. */
std::unique_ptr<Tap> OpenPcapFile(const std::string& path, double speed, const CommonOptions& options,
                                  TapError* error);

struct LiveOptions {
  std::vector<std::string> interfaces;  // names, globs ("veth*") or "any"
  std::string filter;                   // BPF capture filter, may be empty
  int snaplen = 256;
  bool promiscuous = false;
  int buffer_bytes = 32 << 20;
  int rescan_ms = 1000;                 // how often globs look for new interfaces
};

/** pcap:<iface>[,<iface>...]: live capture through libpcap (TPACKET_V3). */
std::unique_ptr<Tap> OpenPcapLive(const LiveOptions& live, const CommonOptions& options, TapError* error);

struct SyntheticOptions {
  uint32_t flows = 1000;     // concurrent flows
  double rate = 0;           // records per second, 0 = as fast as the consumer takes them
  uint32_t endpoints = 1000;
  double skew = 1.0;         // Zipf exponent of endpoint popularity (0 = uniform)
  uint32_t local_endpoints = 0;  // > 0: every flow has one end among endpoints [0, local) — a node's own pods
  uint64_t limit = 0;        // stop after this many records (0 = never)
  uint64_t seed = 1;
};

/** synthetic:<flows>,<rate>: a native generator of realistic flow records. */
std::unique_ptr<Tap> OpenSynthetic(const SyntheticOptions& synthetic, const CommonOptions& options,
                                   TapError* error);

struct EbpfOptions {
  std::vector<std::string> interfaces;       // names or globs ("cali*"); globs pick up new interfaces
  std::vector<std::string> host_interfaces;  // host interfaces (names or globs) tapped as well, e.g. "eth0"
  int rescan_ms = 1000;                      // how often globs look for new (and vanished) interfaces
  int sweep_ms = 1000;                       // how often the flow map is swept for timeouts and evictions
  uint32_t ring_bytes = 1u << 20;            // ring buffer for flow start / TCP close events (power of 2)
  std::string attach = "auto";               // "auto" (TCX when the kernel has it, else clsact), "tcx", "clsact"
};

/** ebpf:<iface>[,<iface>...]: a TC program (TCX link or clsact filter) keeps the flows in the kernel (native/bpf/flow-tap.bpf.c). */
std::unique_ptr<Tap> OpenEbpf(const EbpfOptions& ebpf, const CommonOptions& options, TapError* error);

/** Current CLOCK_REALTIME in nanoseconds. */
uint64_t RealtimeNs();

}  // namespace sf
