// pcap-file:<path> — replays a capture file, using the capture's timestamps as the flow clock. Classic pcap
// (all four magics) is read from a read-only memory map, so packets are parsed in place with no per-packet copy
// or read() call; pcapng and anything that cannot be mapped go through libpcap's reader. A damaged file keeps
// every record up to the damage; the error names the packet.
//
// A pipe or FIFO (`tcpdump -w - | …`, /dev/stdin) is a stream that may pause: it is opened and its header read on
// the worker thread (a FIFO without a writer would otherwise block the caller), every read waits in poll() with a
// short timeout so close() ends the source while the writer is idle, and the records made so far are handed over
// whenever the reader is about to wait for more input.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "pcap-buffer-reader.h"
#include "tap.h"

namespace sf {
namespace {

std::string UnsupportedLinkType(const std::string& path, int link_type) {
  const char* name = pcap_datalink_val_to_name(link_type);
  return "capture file '" + path + "' has link type " + std::to_string(link_type) + " (" + (name ? name : "unknown") +
         "); supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL";
}


/** One packet source over a file: Next() returns 1 with a packet, 0 at the end, -1 with `error` set. */
class FileReader {
 public:
  virtual ~FileReader() = default;
  virtual int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) = 0;
  virtual int link_type() const = 0;
  virtual const char* name() const = 0;
};

// Classic pcap straight from a read-only memory map; the bytes are parsed by PcapBufferReader.
class MmapPcapReader : public FileReader {
 public:
  static std::unique_ptr<MmapPcapReader> TryOpen(int fd, size_t size) {
    if (size < 24) return nullptr;
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) return nullptr;
    madvise(map, size, MADV_SEQUENTIAL);
    madvise(map, size, MADV_WILLNEED);
    std::unique_ptr<MmapPcapReader> r(new MmapPcapReader(map, size));
    if (!r->buffer_.Open()) return nullptr;  // not classic pcap v2 (pcapng, garbage): libpcap decides
    return r;
  }
  ~MmapPcapReader() override { munmap(map_, size_); }
  int Next(const uint8_t** data, uint32_t* caplen, uint64_t* ts_ns, std::string* error) override {
    return buffer_.Next(data, caplen, ts_ns, error);
  }
  int link_type() const override { return buffer_.link_type(); }
  const char* name() const override { return "mmap"; }

 private:
  MmapPcapReader(void* map, size_t size)
      : map_(map), size_(size), buffer_(static_cast<const uint8_t*>(map), size) {}
  void* map_;
  size_t size_;
  PcapBufferReader buffer_;
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
  /** `reader` null: `path` is a stream (pipe, FIFO), opened on the worker thread. */
  PcapFileTap(const CommonOptions& options, std::unique_ptr<FileReader> reader, std::string path, double speed)
      : Tap("pcap-file", options, /*block_when_full=*/true), reader_(std::move(reader)), path_(std::move(path)),
        speed_(speed), link_type_(reader_ ? reader_->link_type() : -1) {}
  ~PcapFileTap() override { Close(); }

 protected:
  void Run() override {
    if (!reader_ && !OpenStream()) return;
    const uint8_t* data;
    uint32_t caplen;
    uint64_t ts;
    std::string why;
    uint64_t first_ts = 0;
    const auto wall_start = std::chrono::steady_clock::now();
    uint64_t& n = packets_seen_;
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
      if (rc == 0 || stopping()) break;  // end of file, or close() cut a stream short: not damage
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
    out->emplace_back("file.memoryMapped", memory_mapped_ ? 1 : 0);
  }

 private:
  // The stream's read function for fopencookie: waits for input in poll() (100 ms at a time, so close() is seen),
  // hands over the records made so far before each wait, and reads what is there. 0 at the writer's end or on close.
  static ssize_t StreamRead(void* cookie, char* buf, size_t size) {
    PcapFileTap* tap = static_cast<PcapFileTap*>(cookie);
    bool published = false;
    for (;;) {
      if (tap->stopping()) return 0;
      const ssize_t n = read(tap->stream_fd_, buf, size);
      if (n > 0) return n;
      if (n == 0) {
        // No writer. For a FIFO that is also the state before the first writer opens it: only a hang-up (a
        // writer came and went) is the end. A pipe (or a FIFO after its writer) has no such state.
        if (!tap->stream_is_fifo_) return 0;
        pollfd pfd = {tap->stream_fd_, POLLIN, 0};
        if (poll(&pfd, 1, 0) != 0 && (pfd.revents & POLLHUP) != 0) return 0;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return -1;
      }
      if (!published) {
        // About to wait: the counters, then what was read so far, reach the consumer (counters first, so a
        // consumer that reads stats on receiving the records sees them).
        tap->SnapshotCounters();
        {
          std::lock_guard<std::mutex> lock(tap->stats_mu_);
          tap->packets_read_ = tap->packets_seen_;
        }
        tap->queue_.Publish();
        published = true;
      }
      pollfd pfd = {tap->stream_fd_, POLLIN, 0};
      poll(&pfd, 1, 100);
    }
  }
  static int StreamClose(void* cookie) {
    PcapFileTap* tap = static_cast<PcapFileTap*>(cookie);
    const int rc = close(tap->stream_fd_);
    tap->stream_fd_ = -1;
    return rc;
  }

  // Opens the stream and reads its header (worker thread). False when it ended before a capture began.
  bool OpenStream() {
    // Non-blocking: opening a FIFO for reading waits for a writer otherwise. Until one has opened it, reads
    // return 0 and poll() reports no hang-up (Linux: only after a writer has come and gone), so StreamRead waits.
    stream_fd_ = open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (stream_fd_ < 0) {
      SetError("ERR_TAP_OPEN", "cannot open capture stream '" + path_ + "': " + std::strerror(errno));
      return false;
    }
    struct stat st;
    stream_is_fifo_ = fstat(stream_fd_, &st) == 0 && S_ISFIFO(st.st_mode);
    cookie_io_functions_t io = {&StreamRead, nullptr, nullptr, &StreamClose};
    FILE* file = fopencookie(this, "rb", io);
    if (file == nullptr) {
      close(stream_fd_);
      SetError("ERR_TAP_OPEN", "cannot read capture stream '" + path_ + "': " + std::strerror(errno));
      return false;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* handle = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);  // owns file
    if (handle == nullptr) {
      std::fclose(file);
      if (stopping()) return false;  // closed before the writer sent a header: nothing to report
      SetError("ERR_TAP_NOT_A_CAPTURE", "'" + path_ + "' is not a pcap or pcapng capture stream: " + errbuf);
      return false;
    }
    std::unique_ptr<FileReader> reader(new LibpcapReader(handle));
    const int link_type = reader->link_type();
    if (!IsSupportedLinkType(link_type)) {
      SetError("ERR_TAP_NOT_A_CAPTURE", UnsupportedLinkType(path_, link_type));
      return false;
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    reader_ = std::move(reader);
    link_type_ = link_type;
    return true;
  }

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
  bool memory_mapped_ = reader_ && std::strcmp(reader_->name(), "mmap") == 0;
  int stream_fd_ = -1;
  bool stream_is_fifo_ = false;
  uint64_t packets_read_ = 0;  // for Stats(), under stats_mu_
  uint64_t packets_seen_ = 0;  // worker only
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
  if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)) {
    // A stream: opened, and its header read, on the worker thread (see StreamRead).
    return std::unique_ptr<Tap>(new PcapFileTap(options, nullptr, path, speed));
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
    *error = {"ERR_TAP_NOT_A_CAPTURE", UnsupportedLinkType(path, link_type)};
    return nullptr;
  }
  return std::unique_ptr<Tap>(new PcapFileTap(options, std::move(reader), path, speed));
}

}  // namespace sf
