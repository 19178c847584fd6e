// Reads classic pcap from memory (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/): a 24-byte file
// header, then 16-byte record headers in the writer's byte order; magic a1b2c3d4 means microsecond timestamps,
// a1b23c4d nanoseconds; either may be byte-swapped. Plain C++ (no libpcap) so the fuzzer can drive it; every
// length is checked against what is left, and the error texts follow libpcap's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sf {

class PcapBufferReader {
 public:
  static constexpr uint32_t kMaxCaplen = 262144;  // libpcap's MAXIMUM_SNAPLEN: larger records mean a corrupt file

  PcapBufferReader(const uint8_t* base, size_t size) : base_(base), size_(size) {}

  /** Checks the file header; false when this is not classic pcap version 2. */
  bool Open() {
    if (size_ < 24) return false;
    uint32_t magic;
    std::memcpy(&magic, base_, 4);
    switch (magic) {
      case 0xA1B2C3D4u: break;
      case 0xA1B23C4Du: nanos_ = true; break;
      case 0xD4C3B2A1u: swap_ = true; break;
      case 0x4D3CB2A1u: swap_ = true; nanos_ = true; break;
      default: return false;
    }
    if (U16(4) != 2) return false;
    link_type_ = static_cast<int>(U32(20) & 0x03FFFFFFu);  // the upper bits carry FCS information
    offset_ = 24;
    return true;
  }

  /** 1 with a packet, 0 at the end of the data, -1 with `error` when the rest is damaged. */
  int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) {
    if (offset_ == size_) return 0;
    if (size_ - offset_ < 16) {
      *error = "truncated dump file; tried to read 16 header bytes, only got " + std::to_string(size_ - offset_);
      return -1;
    }
    const uint32_t sec = U32(offset_), frac = U32(offset_ + 4), len = U32(offset_ + 8);
    if (len > kMaxCaplen) {
      *error = "invalid packet capture length " + std::to_string(len) + ", bigger than the maximum of " +
               std::to_string(kMaxCaplen);
      return -1;
    }
    if (size_ - offset_ - 16 < len) {
      *error = "truncated dump file; tried to read " + std::to_string(len) + " captured bytes, only got " +
               std::to_string(size_ - offset_ - 16);
      return -1;
    }
    *data = base_ + offset_ + 16;
    *caplen = len;
    *ts_ns = static_cast<uint64_t>(sec) * 1000000000ull + (nanos_ ? frac : static_cast<uint64_t>(frac) * 1000ull);
    offset_ += 16 + static_cast<size_t>(len);
    return 1;
  }

  int link_type() const { return link_type_; }

 private:
  uint32_t U32(size_t off) const {
    uint32_t v;
    std::memcpy(&v, base_ + off, 4);
    return swap_ ? __builtin_bswap32(v) : v;
  }
  uint16_t U16(size_t off) const {
    uint16_t v;
    std::memcpy(&v, base_ + off, 2);
    return swap_ ? __builtin_bswap16(v) : v;
  }

  const uint8_t* base_;
  size_t size_;
  bool swap_ = false;
  bool nanos_ = false;
  int link_type_ = 0;
  size_t offset_ = 0;
};

}  // namespace sf
