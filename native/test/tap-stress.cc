// ThreadSanitizer stress of the capture-thread / consumer boundary without N-API: a synthetic tap's worker
// publishes batches while this "JavaScript" thread reads, polls stats and finally closes mid-stream; a second
// tap runs to its limit and must deliver exactly `limit` records. Run by scripts/tsan-stress.sh.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../src/tap.h"

namespace {

int Fail(const char* what) {
  std::fprintf(stderr, "tap-stress: %s\n", what);
  return 1;
}

}  // namespace

int main() {
  sf::CommonOptions common;
  common.batch_records = 256;
  common.max_batches = 4;
  std::vector<uint8_t> buf(4096 * sizeof(sf_flow_record));
  for (int round = 0; round < 20; ++round) {
    // Runs to its limit: every record delivered exactly once, then Done().
    sf::SyntheticOptions s;
    s.flows = 100;
    s.limit = 50000;
    sf::TapError error;
    auto tap = sf::OpenSynthetic(s, common, &error);
    if (!tap) return Fail("open");
    std::atomic<int> signals{0};
    tap->Start([&] { signals++; });
    uint64_t got = 0;
    while (!tap->Done()) {
      const size_t n = tap->Read(buf.data(), 4096);
      got += n;
      if (n == 0) (void)tap->Stats();
    }
    got += tap->Read(buf.data(), 4096);
    if (got != s.limit) return Fail("record count");
    if (signals.load() == 0) return Fail("never signalled");
    tap->Close();

    // Closed mid-stream while the worker is blocked on a full queue.
    s.limit = 0;
    auto endless = sf::OpenSynthetic(s, common, &error);
    endless->Start([] {});
    for (int i = 0; i < 10; ++i) (void)endless->Read(buf.data(), 100);
    endless->Close();
    while (endless->Read(buf.data(), 4096) != 0) {}
    if (!endless->Done()) return Fail("not done after close");
  }
  // Live-capture mode: a queue nobody drains drops whole batches and counts every record it dropped.
  {
    sf::RecordQueue queue(16, 2, /*block_when_full=*/false);
    int signals = 0;
    queue.SetNotify([&] { signals++; });
    sf_flow_record r{};
    for (int i = 0; i < 100; ++i) queue.Emit(r);
    queue.Publish();
    if (queue.overflow_records() != 100 - 2 * 16) return Fail("overflow count");
    if (signals != 1) return Fail("one signal until the consumer drains");
    std::vector<uint8_t> out(64 * sizeof(sf_flow_record));
    if (queue.Read(out.data(), 64) != 32) return Fail("kept batches");
    queue.Emit(r);
    queue.Publish();
    if (signals != 2) return Fail("signal again after a drain");
  }
  std::puts("tap-stress: ok");
  return 0;
}
