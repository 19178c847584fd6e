// libFuzzer target for the packet parser and the flow table (plain C++, no napi.h, no libpcap).
// Input: byte 0 picks the link type, bytes 1..8 the timestamp step, the rest is the captured packet. A small
// table (64 flows, short timeouts) is shared across inputs so eviction, expiry and fragment attribution run too.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../src/flow-table.h"
#include "../src/packet-parser.h"

namespace {

class CheckingSink : public sf::RecordSink {
 public:
  void Emit(const sf_flow_record& r) override {
    // Invariants every record must satisfy, whatever the input.
    if (r.layout_version != SF_RECORD_LAYOUT_VERSION) __builtin_trap();
    if (r.kind < SF_KIND_START || r.kind > SF_KIND_EVICTED) __builtin_trap();
    if (r.family != 4 && r.family != 6) __builtin_trap();
    if (r.last_seen_ns < r.first_seen_ns) __builtin_trap();
    if (r.kind != SF_KIND_START && r.packets_fwd + r.packets_rev == 0) __builtin_trap();
  }
};

const int kLinkTypes[] = {sf::kLinkEthernet, sf::kLinkSll, sf::kLinkSll2, sf::kLinkRaw, sf::kLinkRawAlt,
                          sf::kLinkIpv4,     sf::kLinkIpv6, sf::kLinkNull, 147 /* unsupported */};

sf::FlowTable* Table() {
  static CheckingSink sink;
  static sf::FlowTable* table = [] {
    sf::FlowTableOptions o;
    o.max_flows = 64;
    o.idle_timeout_ns = 1000000;
    o.active_timeout_ns = 300000;
    o.close_linger_ns = 100000;
    return new sf::FlowTable(o, &sink);
  }();
  return table;
}

uint64_t clock_ns = 1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const int link = kLinkTypes[data[0] % (sizeof(kLinkTypes) / sizeof(kLinkTypes[0]))];
  uint64_t step;
  std::memcpy(&step, data + 1, 8);
  clock_ns += step & 0xFFFFF;
  // The parser must never read outside [data, data+caplen): ASan checks that on an exact-size copy.
  const size_t caplen = size - 9;
  uint8_t* packet = new uint8_t[caplen == 0 ? 1 : caplen];
  std::memcpy(packet, data + 9, caplen);
  sf::ParsedPacket parsed;
  const sf::ParseResult r = sf::ParsePacket(link, packet, caplen, &parsed);
  if (r == sf::kOk && parsed.family != 4 && parsed.family != 6) __builtin_trap();
  Table()->ObserveRaw(link, packet, caplen, clock_ns, data[0], 0);
  if ((data[0] & 0xC0) == 0xC0) Table()->Flush();
  delete[] packet;
  return 0;
}
