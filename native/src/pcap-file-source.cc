// pcap-file:<path> — replays a capture file, using the capture's timestamps as the flow clock. Classic pcap
// (all four magics) is read from a read-only memory map, so packets are parsed in place with no per-packet copy
// or read() call; pcapng and anything that cannot be mapped go through libpcap's reader. A damaged file keeps
// every record up to the damage; the error names the packet.
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "tap.h"

namespace sf {
namespace {

constexpr uint32_t kMaxCaplen = 262144;  // libpcap's MAXIMUM_SNAPLEN: larger records mean a corrupt file

/** One packet source over a file: Next() returns 1 with a packet, 0 at the end, -1 with `error` set. */
class FileReader {
 public:
  virtual ~FileReader() = default;
  virtual int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) = 0;
  virtual int link_type() const = 0;
  virtual const char* name() const = 0;
};

// Classic pcap (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/): 24-byte file header, then
// 16-byte record headers, in the writer's byte order; magic a1b2c3d4 = microseconds, a1b23c4d = nanoseconds.
class MmapPcapReader : public FileReader {
 public:
  static std::unique_ptr<MmapPcapReader> TryOpen(int fd, size_t size) {
    if (size < 24) return nullptr;
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) return nullptr;
    madvise(map, size, MADV_SEQUENTIAL);
    madvise(map, size, MADV_WILLNEED);
    const uint8_t* p = static_cast<const uint8_t*>(map);
    uint32_t magic;
    std::memcpy(&magic, p, 4);
    bool swap = false, nanos = false;
    switch (magic) {
      case 0xA1B2C3D4u: break;
      case 0xA1B23C4Du: nanos = true; break;
      case 0xD4C3B2A1u: swap = true; break;
      case 0x4D3CB2A1u: swap = true; nanos = true; break;
      default:
        munmap(map, size);
        return nullptr;  // not classic pcap (pcapng or not a capture): libpcap decides
    }
    std::unique_ptr<MmapPcapReader> r(new MmapPcapReader(p, size, swap, nanos));
    if (r->U16(4) != 2) return nullptr;  // unknown major version: let libpcap produce its error
    r->link_type_ = static_cast<int>(r->U32(20) & 0x03FFFFFFu);  // upper bits carry FCS information
    r->offset_ = 24;
    return r;
  }
  ~MmapPcapReader() override { munmap(const_cast<uint8_t*>(base_), size_); }

  int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) override {
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
  int link_type() const override { return link_type_; }
  const char* name() const override { return "mmap"; }

 private:
  MmapPcapReader(const uint8_t* base, size_t size, bool swap, bool nanos)
      : base_(base), size_(size), swap_(swap), nanos_(nanos) {}
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
  bool swap_, nanos_;
  int link_type_ = 0;
  size_t offset_ = 0;
};

// pcapng (and whatever else libpcap reads), with nanosecond timestamps requested.
class LibpcapReader : public FileReader {
 public:
  explicit LibpcapReader(pcap_t* handle) : handle_(handle) {}
  ~LibpcapReader() override { pcap_close(handle_); }
  int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) override {
    pcap_pkthdr* header;
    const int rc = pcap_next_ex(handle_, &header, data);
    if (rc == 1) {
      *caplen = header->caplen;
      *ts_ns = static_cast<uint64_t>(header->ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(header->ts.tv_usec);
      return 1;
    }
    if (rc == PCAP_ERROR_BREAK) return 0;
    *error = pcap_geterr(handle_);
    return -1;
  }
  int link_type() const override { return pcap_datalink(handle_); }
  const char* name() const override { return "libpcap"; }

 private:
  pcap_t* handle_;
};

class PcapFileTap : public Tap {
 public:
  PcapFileTap(const CommonOptions& options, std::unique_ptr<FileReader> reader, std::string path, double speed)
      : Tap("pcap-file", options, /*block_when_full=*/true), reader_(std::move(reader)), path_(std::move(path)),
        speed_(speed), link_type_(reader_->link_type()) {}
  ~PcapFileTap() override { Close(); }

 protected:
  void Run() override {
    const uint8_t* data;
    uint32_t caplen;
    uint64_t ts;
    std::string why;
    uint64_t first_ts = 0;
    const auto wall_start = std::chrono::steady_clock::now();
    uint64_t n = 0;
    while (!stopping()) {
      const int rc = reader_->Next(&data, &caplen, &ts, &why);
      if (rc == 1) {
        n++;
        if (speed_ > 0) Pace(ts, &first_ts, wall_start);
        table_.ObserveRaw(link_type_, data, caplen, ts, 0, 0);
        if ((n & 0x3FFF) == 0) {
          queue_.Publish();
          SnapshotCounters();
          std::lock_guard<std::mutex> lock(stats_mu_);
          packets_read_ = n;
        }
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        packets_read_ = n;
      }
      if (rc == 0) break;  // end of file
      // The file is damaged after packet n. Keep what was read, then report where.
      table_.Flush();
      SetError("ERR_TAP_TRUNCATED", "capture file '" + path_ + "' is damaged at packet " + std::to_string(n + 1) +
                                        " (" + std::to_string(n) + " complete packets were read and kept): " + why);
      return;
    }
    table_.Flush();  // end of input (or close()): every flow ends
  }

  void SourceStats(StatList* out) override {
    out->emplace_back("file.packetsRead", static_cast<double>(packets_read_));
    out->emplace_back("file.linkType", static_cast<double>(link_type_));
    out->emplace_back("file.memoryMapped", std::strcmp(reader_->name(), "mmap") == 0 ? 1 : 0);
  }

 private:
  // At recorded speed: sleep until the packet's offset from the first packet (scaled) has elapsed.
  void Pace(uint64_t ts, uint64_t* first_ts, std::chrono::steady_clock::time_point start) {
    if (*first_ts == 0) {
      *first_ts = ts;
      return;
    }
    if (ts <= *first_ts) return;
    const auto due = start + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(ts - *first_ts) / speed_));
    while (!stopping()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= due) break;
      queue_.Publish();  // let the consumer see what happened before the pause
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - now, std::chrono::milliseconds(50)));
    }
  }

  std::unique_ptr<FileReader> reader_;
  std::string path_;
  double speed_;
  int link_type_;
  uint64_t packets_read_ = 0;
};

}  // namespace

std::unique_ptr<Tap> OpenPcapFile(const std::string& path, double speed, const CommonOptions& options,
                                  TapError* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = {"ERR_TAP_OPEN", "cannot open capture file '" + path + "': " + std::strerror(errno)};
    return nullptr;
  }
  if (S_ISDIR(st.st_mode)) {
    *error = {"ERR_TAP_NOT_A_CAPTURE", "'" + path + "' is a directory, not a pcap or pcapng capture file"};
    return nullptr;
  }
  std::unique_ptr<FileReader> reader;
  if (S_ISREG(st.st_mode)) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *error = {"ERR_TAP_OPEN", "cannot open capture file '" + path + "': " + std::strerror(errno)};
      return nullptr;
    }
    reader = MmapPcapReader::TryOpen(fd, static_cast<size_t>(st.st_size));
    close(fd);  // the mapping stays valid
  }
  if (!reader) {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
      *error = {"ERR_TAP_OPEN", "cannot open capture file '" + path + "': " + std::strerror(errno)};
      return nullptr;
    }
    std::setvbuf(file, nullptr, _IOFBF, 1 << 20);  // must precede any I/O on the stream
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* handle = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);  // owns file
    if (handle == nullptr) {
      std::fclose(file);
      *error = {"ERR_TAP_NOT_A_CAPTURE", "'" + path + "' is not a pcap or pcapng capture file: " + errbuf};
      return nullptr;
    }
    reader.reset(new LibpcapReader(handle));
  }
  const int link_type = reader->link_type();
  if (!IsSupportedLinkType(link_type)) {
    const char* name = pcap_datalink_val_to_name(link_type);
    *error = {"ERR_TAP_NOT_A_CAPTURE", "capture file '" + path + "' has link type " + std::to_string(link_type) +
                                           " (" + (name ? name : "unknown") +
                                           "); supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL"};
    return nullptr;
  }
  return std::unique_ptr<Tap>(new PcapFileTap(options, std::move(reader), path, speed));
}

}  // namespace sf
