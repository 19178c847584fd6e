// libFuzzer target for the in-memory classic-pcap reader feeding the parser and flow table: the whole input is
// a capture file. Nanosecond precision would let hostile timestamps jump anywhere; the table must cope.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "../src/flow-table.h"
#include "../src/pcap-buffer-reader.h"

namespace {
class NullSink : public sf::RecordSink {
 public:
  void Emit(const sf_flow_record& r) override {
    if (r.last_seen_ns < r.first_seen_ns) __builtin_trap();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Exact-size copy so ASan catches any read past the end of the "file".
  uint8_t* file = new uint8_t[size == 0 ? 1 : size];
  std::memcpy(file, data, size);
  sf::PcapBufferReader reader(file, size);
  if (reader.Open()) {
    // One table for all inputs (construction would dominate); every input ends with Flush(), so each starts empty.
    static NullSink sink;
    static sf::FlowTable table = [] {
      sf::FlowTableOptions o;
      o.max_flows = 32;
      return sf::FlowTable(o, &sink);
    }();
    const uint8_t* packet;
    uint32_t caplen;
    uint64_t ts;
    std::string error;
    int rc;
    while ((rc = reader.Next(&packet, &caplen, &ts, &error)) == 1) {
      if (packet < file || packet + caplen > file + size) __builtin_trap();
      table.ObserveRaw(reader.link_type(), packet, caplen, ts, 0, 0);
    }
    if (rc == -1 && error.empty()) __builtin_trap();
    table.Flush();
    if (table.size() != 0) __builtin_trap();
  }
  delete[] file;
  return 0;
}
