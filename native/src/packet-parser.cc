// Header layouts follow RFC 791 (IPv4), RFC 8200 (IPv6 and its extension headers), RFC 9293 (TCP),
// RFC 768 (UDP), RFC 9260 (SCTP), RFC 792 / RFC 4443 (ICMP / ICMPv6), IEEE 802.1Q, and the libpcap
// LINKTYPE_LINUX_SLL / LINKTYPE_LINUX_SLL2 descriptions. Every read is bounds-checked against caplen.
#include "packet-parser.h"

#include <cstring>

namespace sf {

const char* const kParseResultNames[kParseResultCount] = {
    "ok",
    "notIp",
    "unsupportedLinkType",
    "truncatedLinkHeader",
    "truncatedIpHeader",
    "badIpVersion",
    "badIpHeaderLength",
    "badIpTotalLength",
    "badIpv6ExtensionHeader",
    "truncatedTransportHeader",
    "badTcpHeaderLength",
};

namespace {

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr int kMaxVlanTags = 3;        // QinQ plus one more is already unusual
constexpr int kMaxIpv6ExtHeaders = 8;  // a longer chain is treated as hostile

ParseResult ParseTransport(const uint8_t* p, size_t len, ParsedPacket* out) {
  switch (out->protocol) {
    case 6: {  // TCP
      if (len < 20) return kTruncatedTransportHeader;
      const size_t data_offset = static_cast<size_t>(p[12] >> 4) * 4;
      if (data_offset < 20) return kBadTcpHeaderLength;
      out->src_port = Be16(p);
      out->dst_port = Be16(p + 2);
      out->tcp_flags = p[13];
      out->has_ports = true;
      return kOk;
    }
    case 17:    // UDP
    case 136:   // UDP-Lite
    case 132:   // SCTP: common header starts with the two ports
      if (len < 8) return kTruncatedTransportHeader;
      out->src_port = Be16(p);
      out->dst_port = Be16(p + 2);
      out->has_ports = true;
      return kOk;
    case 1:     // ICMP
    case 58: {  // ICMPv6
      if (len < 4) return kTruncatedTransportHeader;
      out->icmp_type = p[0];
      out->icmp_code = p[1];
      const bool v6 = out->protocol == 58;
      const bool request = v6 ? p[0] == 128 : p[0] == 8;
      const bool reply = v6 ? p[0] == 129 : p[0] == 0;
      if (request || reply) {
        if (len < 8) return kTruncatedTransportHeader;
        out->icmp_echo = true;
        out->icmp_request = request;
        out->src_port = out->dst_port = Be16(p + 4);  // the echo identifier pairs request and reply
      }
      out->has_ports = true;
      return kOk;
    }
    default:
      return kOk;  // other protocols: a flow by addresses and protocol only
  }
}

ParseResult ParseIpv4(const uint8_t* p, size_t len, ParsedPacket* out) {
  if (len < 20) return kTruncatedIpHeader;
  if ((p[0] >> 4) != 4) return kBadIpVersion;
  const size_t ihl = static_cast<size_t>(p[0] & 0x0F) * 4;  // options, if any, are skipped whole
  if (ihl < 20) return kBadIpHeaderLength;
  if (ihl > len) return kTruncatedIpHeader;
  const uint16_t total = Be16(p + 2);
  if (total < ihl) return kBadIpTotalLength;
  out->family = 4;
  out->protocol = p[9];
  out->ip_bytes = total;
  std::memcpy(out->src, p + 12, 4);
  std::memcpy(out->dst, p + 16, 4);
  const uint16_t frag = Be16(p + 6);
  const uint16_t offset = frag & 0x1FFF;
  const bool more = (frag & 0x2000) != 0;
  if (offset != 0 || more) {
    out->fragment = true;
    out->frag_id = Be16(p + 4);
    if (offset != 0) {
      out->later_fragment = true;
      return kOk;
    }
  }
  // The transport header must lie inside the datagram as well as inside the capture.
  size_t l4_len = len - ihl;
  if (total - ihl < l4_len) l4_len = total - ihl;
  return ParseTransport(p + ihl, l4_len, out);
}

ParseResult ParseIpv6(const uint8_t* p, size_t len, ParsedPacket* out) {
  if (len < 40) return kTruncatedIpHeader;
  if ((p[0] >> 4) != 6) return kBadIpVersion;
  out->family = 6;
  out->ip_bytes = 40u + Be16(p + 4);  // jumbograms (payload length 0) are counted as header only
  std::memcpy(out->src, p + 8, 16);
  std::memcpy(out->dst, p + 24, 16);
  uint8_t next = p[6];
  size_t off = 40;
  for (int i = 0;; ++i) {
    switch (next) {
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
      case 135:  // mobility
      {
        if (i >= kMaxIpv6ExtHeaders) return kBadIpv6ExtensionHeader;
        if (off + 2 > len) return kTruncatedIpHeader;
        const size_t ext_len = (static_cast<size_t>(p[off + 1]) + 1) * 8;
        next = p[off];
        off += ext_len;
        if (off > len) return kTruncatedIpHeader;
        continue;
      }
      case 51: {  // AH: length in 4-byte units minus 2
        if (i >= kMaxIpv6ExtHeaders) return kBadIpv6ExtensionHeader;
        if (off + 2 > len) return kTruncatedIpHeader;
        const size_t ext_len = (static_cast<size_t>(p[off + 1]) + 2) * 4;
        next = p[off];
        off += ext_len;
        if (off > len) return kTruncatedIpHeader;
        continue;
      }
      case 44: {  // fragment header: 8 bytes
        if (i >= kMaxIpv6ExtHeaders) return kBadIpv6ExtensionHeader;
        if (off + 8 > len) return kTruncatedIpHeader;
        const uint16_t frag = Be16(p + off + 2);
        out->fragment = true;
        out->frag_id = Be32(p + off + 4);
        next = p[off];
        off += 8;
        if ((frag & 0xFFF8) != 0) {  // offset > 0: no transport header here
          out->protocol = next;
          out->later_fragment = true;
          return kOk;
        }
        continue;
      }
      case 59:  // no next header
        out->protocol = 59;
        return kOk;
      default:
        out->protocol = next;
        return ParseTransport(p + off, len - off, out);
    }
  }
}

ParseResult ParseIp(const uint8_t* p, size_t len, ParsedPacket* out) {
  if (len < 1) return kTruncatedIpHeader;
  switch (p[0] >> 4) {
    case 4: return ParseIpv4(p, len, out);
    case 6: return ParseIpv6(p, len, out);
    default: return kBadIpVersion;
  }
}

ParseResult ParseByEtherType(uint16_t ether_type, const uint8_t* p, size_t len, ParsedPacket* out) {
  if (ether_type == kEtherIpv4) return ParseIpv4(p, len, out);
  if (ether_type == kEtherIpv6) return ParseIpv6(p, len, out);
  return kNotIp;
}

}  // namespace

bool IsSupportedLinkType(int link_type) {
  switch (link_type) {
    case kLinkNull: case kLinkEthernet: case kLinkRaw: case kLinkRawAlt: case kLinkSll:
    case kLinkIpv4: case kLinkIpv6: case kLinkSll2:
      return true;
    default:
      return false;
  }
}

ParseResult ParsePacket(int link_type, const uint8_t* data, size_t caplen, ParsedPacket* out) {
  *out = ParsedPacket();
  switch (link_type) {
    case kLinkEthernet: {
      if (caplen < 14) return kTruncatedLinkHeader;
      size_t off = 12;
      uint16_t type = Be16(data + off);
      // 802.1Q (0x8100), 802.1ad (0x88A8) and the pre-standard QinQ 0x9100 each add 4 bytes.
      for (int tags = 0; type == 0x8100 || type == 0x88A8 || type == 0x9100; ++tags) {
        if (tags >= kMaxVlanTags) return kNotIp;
        off += 4;
        if (off + 2 > caplen) return kTruncatedLinkHeader;
        type = Be16(data + off);
      }
      off += 2;
      return ParseByEtherType(type, data + off, caplen - off, out);
    }
    case kLinkSll: {
      if (caplen < 16) return kTruncatedLinkHeader;
      return ParseByEtherType(Be16(data + 14), data + 16, caplen - 16, out);
    }
    case kLinkSll2: {
      if (caplen < 20) return kTruncatedLinkHeader;
      const uint32_t ifindex = Be32(data + 4);
      const ParseResult r = ParseByEtherType(Be16(data), data + 20, caplen - 20, out);
      out->ifindex = ifindex;
      return r;
    }
    case kLinkRaw:
    case kLinkRawAlt:
      return ParseIp(data, caplen, out);
    case kLinkIpv4:
      return ParseIpv4(data, caplen, out);
    case kLinkIpv6:
      return ParseIpv6(data, caplen, out);
    case kLinkNull: {
      if (caplen < 4) return kTruncatedLinkHeader;
      uint32_t family;
      std::memcpy(&family, data, 4);  // host byte order of the capturing machine; accept either
      if (family == 2 || family == 0x02000000u) return ParseIpv4(data + 4, caplen - 4, out);
      if (family == 10 || family == 24 || family == 28 || family == 30 || family == 0x18000000u ||
          family == 0x1C000000u || family == 0x1E000000u || family == 0x0A000000u)
        return ParseIpv6(data + 4, caplen - 4, out);
      return kNotIp;
    }
    default:
      return kUnsupportedLinkType;
  }
}

}  // namespace sf
