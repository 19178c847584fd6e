// synthetic:<flows>,<rate> — generates realistic flow records without packets, for benchmarks and demos.
// `flows` flows are live at once between `endpoints` endpoints whose popularity follows a Zipf law (`skew`);
// each flow emits START, a few UPDATEs and an END, and is replaced by a new one. Records go straight into the
// queue (no flow table), with backpressure, so the rate measured downstream is the consumer's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "tap.h"

namespace sf {
namespace {

class SyntheticTap : public Tap {
 public:
  SyntheticTap(const CommonOptions& options, const SyntheticOptions& synthetic)
      : Tap("synthetic", options, /*block_when_full=*/true), opt_(synthetic), rng_(InitialState(synthetic.seed)) {
    // Cumulative Zipf weights: endpoint k is chosen with probability proportional to 1 / (k+1)^skew.
    cdf_.resize(opt_.endpoints);
    double sum = 0;
    for (uint32_t k = 0; k < opt_.endpoints; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), opt_.skew);
      cdf_[k] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  ~SyntheticTap() override { Close(); }

 protected:
  void Run() override {
    std::vector<Flow> flows(opt_.flows);
    uint64_t now = RealtimeNs();
    for (Flow& f : flows) {
      std::memset(&f, 0, sizeof(f));
      f.rec.kind = SF_KIND_END;  // the first Step() starts a fresh flow and emits its START
    }
    const auto start = std::chrono::steady_clock::now();
    uint64_t emitted = 0;
    size_t cursor = 0;
    while (!stopping() && (opt_.limit == 0 || emitted < opt_.limit)) {
      if (opt_.rate > 0 && (emitted & 1023) == 0) {
        // Pace in steps of 1024 records; publish before sleeping so the consumer is never starved.
        const auto due = start + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * static_cast<double>(emitted) / opt_.rate));
        const auto t = std::chrono::steady_clock::now();
        if (due > t) {
          queue_.Publish();
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - t, std::chrono::milliseconds(50)));
          continue;
        }
      }
      if ((emitted & 4095) == 0) {
        now = RealtimeNs();
        std::lock_guard<std::mutex> lock(stats_mu_);
        generated_ = emitted;
        std::memcpy(published_by_kind_, by_kind_, sizeof(by_kind_));
      }
      Flow& f = flows[cursor];
      const uint32_t slot = static_cast<uint32_t>(cursor) + 1;
      cursor = cursor + 1 == flows.size() ? 0 : cursor + 1;
      Step(&f, slot, now);
      emitted++;
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    generated_ = emitted;
    std::memcpy(published_by_kind_, by_kind_, sizeof(by_kind_));
  }

  void RecordCounts(uint64_t* by_kind) override { std::memcpy(by_kind, published_by_kind_, sizeof(published_by_kind_)); }

  void SourceStats(StatList* out) override {
    out->emplace_back("synthetic.generated", static_cast<double>(generated_));
    out->emplace_back("synthetic.flows", static_cast<double>(opt_.flows));
    out->emplace_back("synthetic.endpoints", static_cast<double>(opt_.endpoints));
  }

 private:
  struct Flow {
    sf_flow_record rec;
    uint32_t updates_left;
  };

  // xorshift64* must not start at 0; `seed | 1` (the first version) gave seeds 2k and 2k+1 the same stream. One
  // splitmix64 step maps every seed to its own non-zero state.
  static uint64_t InitialState(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z != 0 ? z : 0x9E3779B97F4A7C15ull;
  }

  uint64_t Next() {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1Dull;
  }
  // An endpoint by popularity among the first `among` endpoints (all by default).
  uint32_t Endpoint(uint32_t among = 0) {
    const double scale = among == 0 || among >= cdf_.size() ? 1.0 : cdf_[among - 1];
    const double u = static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0) * scale;
    const auto end = among == 0 || among >= cdf_.size() ? cdf_.end() : cdf_.begin() + among;
    return static_cast<uint32_t>(std::min<ptrdiff_t>(std::lower_bound(cdf_.begin(), end, u) - cdf_.begin(), (end - cdf_.begin()) - 1));
  }
  static void Address(uint32_t endpoint, uint8_t* out) {
    // 10.244.0.0/16-style pod addresses; records only, nothing is ever sent.
    out[0] = 10;
    out[1] = 244;
    out[2] = static_cast<uint8_t>(endpoint >> 8);
    out[3] = static_cast<uint8_t>(endpoint);
  }

  void NewFlow(Flow* f, uint32_t slot, uint64_t now) {
    static const uint16_t kPorts[] = {80, 443, 53, 5432, 6379, 8080, 9090, 3306};
    static const uint8_t kProtos[] = {6, 6, 6, 17, 6, 6, 6, 6};
    std::memset(&f->rec, 0, sizeof(f->rec));
    sf_flow_record& r = f->rec;
    r.layout_version = SF_RECORD_LAYOUT_VERSION;
    r.family = 4;
    const uint64_t pick = Next();
    r.protocol = kProtos[pick & 7];
    r.dst_port = kPorts[pick & 7];
    r.src_port = static_cast<uint16_t>(32768 + ((pick >> 8) % 28000));
    if (opt_.local_endpoints > 0) {
      // A node's view: one end is one of its own pods (the source of half the flows, the destination of the
      // others), the peer anyone in the cluster. Peer popularity is rotated past the local pods, so the most
      // popular peers are other nodes' pods (a node's pods are a sample of the cluster, not its hottest ones).
      const bool local_source = ((pick >> 56) & 1) != 0;
      const uint32_t peer = static_cast<uint32_t>((static_cast<uint64_t>(Endpoint()) + opt_.local_endpoints) % opt_.endpoints);
      Address(Endpoint(opt_.local_endpoints), local_source ? r.src_addr : r.dst_addr);
      Address(peer, local_source ? r.dst_addr : r.src_addr);
    } else {
      Address(Endpoint(), r.src_addr);
      Address(Endpoint(), r.dst_addr);
    }
    r.ifindex = 2 + static_cast<uint32_t>((pick >> 40) & 7);
    r.flow_id = next_id_++;
    r.slot = slot;  // the generator's flow array is the flow table: a flow's place in it
    r.first_seen_ns = r.last_seen_ns = now;
    if (r.protocol == 6) {
      r.state = SF_STATE_TCP_SYN;
      r.tcp_flags_fwd = 0x02;
    }
    f->updates_left = static_cast<uint32_t>((pick >> 48) & 3);
    r.kind = SF_KIND_START;
  }

  void Step(Flow* f, uint32_t slot, uint64_t now) {
    sf_flow_record& r = f->rec;
    if (r.kind == SF_KIND_END) {
      NewFlow(f, slot, now);
      by_kind_[SF_KIND_START]++;
      queue_.Emit(r);
      return;
    }
    const uint64_t pick = Next();
    const uint64_t pkts = 1 + (pick & 15);
    r.packets_fwd += pkts;
    r.bytes_fwd += pkts * (60 + ((pick >> 8) & 1023));
    r.packets_rev += pkts;
    r.bytes_rev += pkts * (60 + ((pick >> 20) & 1023));
    r.last_seen_ns = now;
    if (f->updates_left == 0) {
      r.kind = SF_KIND_END;
      if (r.protocol == 6) {
        r.state |= SF_STATE_TCP_SYNACK | SF_STATE_TCP_FIN_FWD | SF_STATE_TCP_FIN_REV | SF_STATE_TCP_COMPLETED;
        r.tcp_flags_fwd |= 0x11;
        r.tcp_flags_rev |= 0x13;
        r.end_reason = SF_END_TCP_CLOSED;
      } else {
        r.end_reason = SF_END_IDLE;
      }
    } else {
      f->updates_left--;
      r.kind = SF_KIND_UPDATE;
      if (r.protocol == 6) {
        r.state |= SF_STATE_TCP_SYNACK;
        r.tcp_flags_rev |= 0x12;
        r.tcp_flags_fwd |= 0x10;
      }
    }
    by_kind_[r.kind]++;
    queue_.Emit(r);
  }

  SyntheticOptions opt_;
  uint64_t by_kind_[5] = {};            // worker-private
  uint64_t published_by_kind_[5] = {};  // copy for Stats(), under stats_mu_
  uint64_t rng_;
  std::vector<double> cdf_;
  uint64_t next_id_ = 1;
  uint64_t generated_ = 0;
};

}  // namespace

std::unique_ptr<Tap> OpenSynthetic(const SyntheticOptions& synthetic, const CommonOptions& options,
                                   TapError* error) {
  if (synthetic.flows == 0 || synthetic.endpoints == 0) {
    *error = {"ERR_TAP_OPEN", "synthetic source needs at least one flow and one endpoint"};
    return nullptr;
  }
  return std::unique_ptr<Tap>(new SyntheticTap(options, synthetic));
}

}  // namespace sf
