// Packet parsing: link layer -> IP -> transport, into a ParsedPacket. Plain C++ (no napi.h, no pcap.h) so the
// fuzzer can drive it alone. Never throws, never allocates: a packet it cannot use is classified by reason.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sf {

// Link types by their pcap DLT numbers (the values libpcap reports for live handles and files on Linux).
enum LinkType : int {
  kLinkNull = 0,       // BSD loopback: 4-byte host-order address family
  kLinkEthernet = 1,   // Ethernet II, with 802.1Q / 802.1ad (QinQ) tags
  kLinkRaw = 12,       // raw IP (version from the first nibble)
  kLinkRawAlt = 101,   // LINKTYPE_RAW as written in files
  kLinkSll = 113,      // Linux cooked capture v1
  kLinkIpv4 = 228,
  kLinkIpv6 = 229,
  kLinkSll2 = 276,     // Linux cooked capture v2 (the `any` device; carries the interface index)
};

// Outcome of parsing; kOk and kNotIp are not malformed.
enum ParseResult : int {
  kOk = 0,
  kNotIp,                 // ARP, LLDP, ...: counted, not an error
  kUnsupportedLinkType,
  kTruncatedLinkHeader,
  kTruncatedIpHeader,
  kBadIpVersion,
  kBadIpHeaderLength,
  kBadIpTotalLength,
  kBadIpv6ExtensionHeader,
  kTruncatedTransportHeader,
  kBadTcpHeaderLength,
  kParseResultCount
};

/** Stable names of ParseResult values, for counters. */
extern const char* const kParseResultNames[kParseResultCount];

// TCP flag bits as in the header.
enum : uint8_t { kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10 };

struct ParsedPacket {
  uint8_t family = 0;      // 4 or 6
  uint8_t protocol = 0;    // final upper-layer protocol after IPv6 extension headers
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  bool has_ports = false;  // false for later fragments (ports come from the first fragment) and unknown L4
  bool icmp_echo = false;  // ICMP(v6) echo request/reply: both ports are the echo identifier
  bool icmp_request = false;
  bool fragment = false;        // part of a fragmented IP datagram
  bool later_fragment = false;  // offset > 0: carries no transport header
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t ip_bytes = 0;    // IP header + payload as the IP length field says (not limited by snaplen)
  uint32_t frag_id = 0;     // IPv4 identification or IPv6 fragment identification
  uint32_t ifindex = 0;     // from SLL2, else 0
  uint8_t src[16] = {};
  uint8_t dst[16] = {};
};

/** Parses one captured packet of `caplen` bytes; fills `out` and returns kOk, or says why it could not. */
ParseResult ParsePacket(int link_type, const uint8_t* data, size_t caplen, ParsedPacket* out);

/** Whether a link type is one ParsePacket understands. */
bool IsSupportedLinkType(int link_type);

}  // namespace sf
