#include "tap.h"

#include <time.h>

namespace sf {

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Tap::Tap(std::string kind, const CommonOptions& options, bool block_when_full)
    : kind_(std::move(kind)),
      queue_(options.batch_records, options.max_batches, block_when_full),
      table_(options.table, &queue_) {}

Tap::~Tap() { Close(); }

void Tap::Start(std::function<void()> notify) {
  if (started_) return;
  started_ = true;
  queue_.SetNotify(std::move(notify));
  worker_ = std::thread([this] {
    Run();
    queue_.Publish();
    SnapshotCounters();
    finished_.store(true, std::memory_order_release);
    queue_.Wake();  // the consumer learns about the end even when no record was left to publish
  });
}

bool Tap::Done() { return finished_.load(std::memory_order_acquire) && queue_.pending_records() == 0; }

TapError Tap::Error() {
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

void Tap::SetError(std::string code, std::string message) {
  std::lock_guard<std::mutex> lock(error_mu_);
  if (!error_.ok()) return;  // the first error is the cause; later ones are consequences
  error_.code = std::move(code);
  error_.message = std::move(message);
}

void Tap::Close() {
  stop_.store(true);
  queue_.Close();  // unblocks a worker waiting for queue space
  if (worker_.joinable()) worker_.join();
  Release();
  finished_.store(true, std::memory_order_release);
}

void Tap::SnapshotCounters() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  snapshot_ = table_.counters();
  active_flows_ = table_.size();
}

StatList Tap::Stats() {
  StatList out;
  std::lock_guard<std::mutex> lock(stats_mu_);
  const FlowTableCounters& c = snapshot_;
  out.emplace_back("packets", static_cast<double>(c.packets));
  out.emplace_back("parsed", static_cast<double>(c.parsed));
  out.emplace_back("notIp", static_cast<double>(c.not_ip));
  uint64_t malformed = 0;
  for (int r = kTruncatedLinkHeader; r < kParseResultCount; ++r) malformed += c.malformed[r];
  malformed += c.malformed[kUnsupportedLinkType];
  out.emplace_back("malformed", static_cast<double>(malformed));
  for (int r = kUnsupportedLinkType; r < kParseResultCount; ++r)
    out.emplace_back(std::string("malformedByReason.") + kParseResultNames[r], static_cast<double>(c.malformed[r]));
  out.emplace_back("fragments", static_cast<double>(c.fragments));
  out.emplace_back("fragmentsAttributed", static_cast<double>(c.fragments_attributed));
  out.emplace_back("fragmentsUnattributed", static_cast<double>(c.fragments_unattributed));
  out.emplace_back("flowsCreated", static_cast<double>(c.flows_created));
  out.emplace_back("flowsActive", static_cast<double>(active_flows_));
  out.emplace_back("connectionsStarted", static_cast<double>(c.connections_started));
  out.emplace_back("connectionsCompleted", static_cast<double>(c.connections_completed));
  uint64_t by_kind[5] = {};
  RecordCounts(by_kind);
  out.emplace_back("records.start", static_cast<double>(by_kind[SF_KIND_START]));
  out.emplace_back("records.update", static_cast<double>(by_kind[SF_KIND_UPDATE]));
  out.emplace_back("records.end", static_cast<double>(by_kind[SF_KIND_END]));
  out.emplace_back("records.evicted", static_cast<double>(by_kind[SF_KIND_EVICTED]));
  out.emplace_back("evictions", static_cast<double>(c.evictions));
  out.emplace_back("ringOverflowRecords", static_cast<double>(queue_.overflow_records()));
  out.emplace_back("recordsDelivered", static_cast<double>(queue_.delivered_records()));
  SourceStats(&out);
  return out;
}

StatLabels Tap::Labels() {
  StatLabels out;
  std::lock_guard<std::mutex> lock(stats_mu_);
  SourceLabels(&out);
  return out;
}

}  // namespace sf
