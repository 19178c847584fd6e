// The ABI contract between the native tap and TypeScript (mirrored by agent/src/tap/record-layout.ts).
// Records are fixed-size, little-endian, naturally aligned, and written into reusable buffers; any change to
// this file that moves, resizes or re-means a field must bump SF_RECORD_LAYOUT_VERSION, because the loader
// refuses an addon whose version differs from the one the TypeScript decoder was written for.
#ifndef SHADOWFLOW_FLOW_RECORD_H
#define SHADOWFLOW_FLOW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define SF_RECORD_LAYOUT_VERSION 2
#define SF_RECORD_SIZE 128

// Why a record was emitted.
enum sf_record_kind {
  SF_KIND_START = 1,    // first packet of a flow was seen
  SF_KIND_UPDATE = 2,   // active (export) timeout: a long-lived flow reports its running totals
  SF_KIND_END = 3,      // the flow ended (see end_reason)
  SF_KIND_EVICTED = 4,  // the flow table was full and this least recently used flow was pushed out
};

// For SF_KIND_END: what ended it.
enum sf_end_reason {
  SF_END_NONE = 0,
  SF_END_IDLE = 1,        // no packet for idleTimeout
  SF_END_TCP_CLOSED = 2,  // FIN in both directions or RST, then the close linger elapsed
  SF_END_FLUSH = 3,       // the source ended or was closed (end of file, close(), truncated capture)
};

// Bits of sf_flow_record.state.
enum sf_flow_state {
  SF_STATE_TCP_SYN = 1 << 0,        // the initiator's SYN (without ACK) was seen: a connection started
  SF_STATE_TCP_SYNACK = 1 << 1,     // the responder's SYN+ACK was seen
  SF_STATE_TCP_FIN_FWD = 1 << 2,    // FIN from the initiator
  SF_STATE_TCP_FIN_REV = 1 << 3,    // FIN from the responder
  SF_STATE_TCP_RST = 1 << 4,        // RST in either direction
  SF_STATE_TCP_COMPLETED = 1 << 5,  // a started connection was closed (FIN both ways or RST)
  SF_STATE_MIDSTREAM = 1 << 6,      // first packet was not a SYN: orientation is a guess (first packet seen)
  SF_STATE_FRAGMENTED = 1 << 7,     // some packets of this flow arrived as IP fragments
};

// One flow record; "fwd" is initiator -> responder, "rev" the other way.
typedef struct sf_flow_record {
  uint16_t layout_version;  //   0: SF_RECORD_LAYOUT_VERSION, so a stray buffer is recognisable
  uint8_t kind;             //   2: sf_record_kind
  uint8_t end_reason;       //   3: sf_end_reason
  uint8_t family;           //   4: 4 or 6
  uint8_t protocol;         //   5: IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6, ...)
  uint8_t tcp_flags_fwd;    //   6: OR of TCP flags sent by the initiator
  uint8_t tcp_flags_rev;    //   7: OR of TCP flags sent by the responder
  uint32_t ifindex;         //   8: interface index (0 when unknown, e.g. a capture file)
  uint16_t src_port;        //  12: initiator port; ICMP echo: the echo identifier; other ICMP: 0
  uint16_t dst_port;        //  14: responder port; ICMP echo: the echo identifier; other ICMP: 0
  uint8_t src_addr[16];     //  16: initiator address (IPv4 in the first 4 bytes, rest zero)
  uint8_t dst_addr[16];     //  32: responder address
  uint64_t packets_fwd;     //  48
  uint64_t bytes_fwd;       //  56: IP-layer bytes (IP header + payload, from the IP length field)
  uint64_t packets_rev;     //  64
  uint64_t bytes_rev;       //  72
  uint64_t first_seen_ns;   //  80: flow clock (capture timestamps for files, CLOCK_REALTIME live)
  uint64_t last_seen_ns;    //  88
  uint64_t flow_id;         //  96: stable across the START/UPDATE/END records of one flow within a source
  uint32_t state;           // 104: sf_flow_state bits
  uint8_t icmp_type;        // 108: first ICMP type seen from the initiator (ICMP/ICMPv6 only)
  uint8_t icmp_code;        // 109
  uint16_t fragments;       // 110: IP fragments counted for this flow (saturating)
  uint32_t name_id;         // 112: index into the source's interface-name table (stats().interfaces)
  uint32_t slot;            // 116: the flow's slot in the source's flow table + 1 (0: none); kept for all of the
                            //      flow's records and reused only after its END/EVICTED record (v2)
  uint8_t reserved[8];      // 120: zero
} sf_flow_record;

// Every batch handed to TypeScript starts with this header (16 bytes), followed by `count` records.
#define SF_BATCH_MAGIC 0x42524653u  // "SFRB" little-endian
typedef struct sf_batch_header {
  uint32_t magic;
  uint16_t layout_version;
  uint16_t record_size;
  uint32_t count;
  uint32_t reserved;
} sf_batch_header;

#ifdef __cplusplus
static_assert(sizeof(sf_flow_record) == SF_RECORD_SIZE, "record size is ABI");
static_assert(offsetof(sf_flow_record, src_addr) == 16, "record layout is ABI");
static_assert(offsetof(sf_flow_record, packets_fwd) == 48, "record layout is ABI");
static_assert(offsetof(sf_flow_record, flow_id) == 96, "record layout is ABI");
static_assert(offsetof(sf_flow_record, name_id) == 112, "record layout is ABI");
static_assert(offsetof(sf_flow_record, slot) == 116, "record layout is ABI");
static_assert(sizeof(sf_batch_header) == 16, "batch header is ABI");
#endif

#endif  // SHADOWFLOW_FLOW_RECORD_H
