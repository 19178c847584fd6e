// pcap-file:<path> — replays a pcap or pcapng file through libpcap's reader, using the capture's timestamps as
// the flow clock. A damaged file keeps every record up to the damage; the error names the packet.
#include <errno.h>
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "tap.h"

namespace sf {
namespace {

class PcapFileTap : public Tap {
 public:
  PcapFileTap(const CommonOptions& options, pcap_t* handle, std::string path, double speed)
      : Tap("pcap-file", options, /*block_when_full=*/true), handle_(handle), path_(std::move(path)),
        speed_(speed), link_type_(pcap_datalink(handle)) {}
  ~PcapFileTap() override {
    Close();
    pcap_close(handle_);
  }

 protected:
  void Run() override {
    pcap_pkthdr* header;
    const u_char* data;
    uint64_t first_ts = 0;
    auto wall_start = std::chrono::steady_clock::now();
    uint64_t n = 0;
    while (!stopping()) {
      const int rc = pcap_next_ex(handle_, &header, &data);
      if (rc == 1) {
        n++;
        // Opened with nanosecond precision, so tv_usec holds nanoseconds.
        const uint64_t ts = static_cast<uint64_t>(header->ts.tv_sec) * 1000000000ull +
                            static_cast<uint64_t>(header->ts.tv_usec);
        if (speed_ > 0) Pace(ts, &first_ts, wall_start);
        table_.ObserveRaw(link_type_, data, header->caplen, ts, 0, 0);
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
      if (rc == PCAP_ERROR_BREAK || rc == -2) break;  // end of file
      // rc == PCAP_ERROR: the file is damaged after packet n. Keep what was read, then report where.
      const std::string why = pcap_geterr(handle_);
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

  pcap_t* handle_;
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
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* handle = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (handle == nullptr) {
    const std::string why = errbuf;
    const bool unreadable = why.find("Permission denied") != std::string::npos;
    *error = {unreadable ? "ERR_TAP_OPEN" : "ERR_TAP_NOT_A_CAPTURE",
              (unreadable ? "cannot open capture file '" : "'") + path +
                  (unreadable ? "': " : "' is not a pcap or pcapng capture file: ") + why};
    return nullptr;
  }
  const int link_type = pcap_datalink(handle);
  if (!IsSupportedLinkType(link_type)) {
    const char* name = pcap_datalink_val_to_name(link_type);
    *error = {"ERR_TAP_NOT_A_CAPTURE", "capture file '" + path + "' has link type " + std::to_string(link_type) +
                                           " (" + (name ? name : "unknown") +
                                           "); supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL"};
    pcap_close(handle);
    return nullptr;
  }
  return std::unique_ptr<Tap>(new PcapFileTap(options, handle, path, speed));
}

}  // namespace sf
