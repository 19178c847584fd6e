// The eBPF tap's footprint on the system: privileges and kernel checks, the bpffs mount, attachment with TCX
// links (Linux 6.6+; they go away with the process) or TC clsact filters, and for clsact a registry of everything
// attached, pinned under /sys/fs/bpf/shadowflow/<run>/attachments so the next run can remove what a crashed one
// left behind. Plain C++ over libbpf (no napi.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace sf {

constexpr const char* kBpffsRoot = "/sys/fs/bpf";
constexpr const char* kPinRoot = "/sys/fs/bpf/shadowflow";

/** What removing stale state found. */
struct StaleCleanup {
  uint64_t runs = 0;              // registries of dead runs found (and removed)
  uint64_t filters_removed = 0;   // TC filters detached
  uint64_t qdiscs_removed = 0;    // clsact qdiscs the dead run had created, deleted
};

/**
 * Checks the privileges the tap needs (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN); on failure returns the
 * ERR_EBPF_PERMISSION message naming what is missing, else "".
 */
std::string MissingEbpfPrivileges();

/** The kernel lockdown mode ("none", "integrity", "confidentiality"), or "" when the kernel has no lockdown LSM. */
std::string LockdownMode();

/** Makes sure bpffs is mounted at /sys/fs/bpf (mounting it when it is not); "" or what to run instead. */
std::string EnsureBpffs();

/** Removes the registries, TC filters and clsact qdiscs of runs whose process is gone. */
StaleCleanup CleanupStaleRuns();

/** How the program is attached: TCX links when the kernel has them (`auto`), or one way only. */
enum class AttachMode { kAuto, kTcx, kClsact };

/** "auto", "tcx" or "clsact". */
const char* AttachModeName(AttachMode mode);

/** Parses "auto", "tcx" or "clsact"; false for anything else. */
bool ParseAttachMode(const std::string& text, AttachMode* mode);

/** "EINVAL (Invalid argument)": an errno for error messages. */
std::string ErrnoText(int err);

/** One (interface, direction) the tap is attached to. */
struct Attachment {
  uint32_t ifindex = 0;
  bool egress = false;
  bool qdisc_created = false;  // clsact: we created the qdisc, so we delete it on detach
  int link_fd = -1;            // tcx: the link (closing its last fd detaches it)
  char ifname[16] = {};
};

/**
 * Attaches one program to ingress and egress of interfaces, first on each hook. TCX: one unpinned link per hook,
 * which the kernel detaches when the process exits however it exits. clsact: a cls_bpf filter per hook, each step
 * recorded in a pinned registry before it happens, so a crash at any point leaves enough to undo it.
 */
class TcAttacher {
 public:
  TcAttacher() = default;
  ~TcAttacher() { DetachAll(); }
  TcAttacher(const TcAttacher&) = delete;
  TcAttacher& operator=(const TcAttacher&) = delete;

  /**
   * Settles the mode (`auto`: TCX when the kernel answers a TCX query, else clsact); "" or an error message
   * (errno in *err: EINVAL/EOPNOTSUPP when `tcx` was asked for on a kernel without it).
   */
  std::string Init(int prog_fd, AttachMode requested, int* err);
  /** Attaches to both directions of `ifname`; "" or an error message naming the interface (errno in *err). */
  std::string Attach(uint32_t ifindex, const std::string& ifname, int* err);
  /** Forgets an interface that disappeared (its filters or links went with it). */
  void Forget(uint32_t ifindex);
  /** Detaches everything, deletes qdiscs we created, removes the registry and the pin directory; idempotent. */
  void DetachAll();

  /** kTcx or kClsact once Init succeeded. */
  AttachMode mode() const { return mode_.load(std::memory_order_relaxed); }
  uint32_t handle() const { return mode() == AttachMode::kClsact ? handle_ : 0; }
  uint32_t priority() const { return mode() == AttachMode::kClsact ? kPriority : 0; }
  const std::string& pin_dir() const { return pin_dir_; }

  static constexpr uint32_t kPriority = 1;  // first on the hook: we see traffic before policy programs decide

 private:
  std::string InitRegistry(int* err);
  std::string AttachClsact(uint32_t ifindex, const std::string& ifname, int* err);
  std::string AttachTcx(uint32_t ifindex, const std::string& ifname, int* err);
  void Record(const Attachment& a);
  void Unrecord(uint32_t ifindex, bool egress);

  AttachMode requested_ = AttachMode::kAuto;
  std::atomic<AttachMode> mode_{AttachMode::kAuto};  // read by Stats() on the JavaScript thread
  int prog_fd_ = -1;
  uint32_t prog_id_ = 0;
  uint32_t handle_ = 0;
  uint32_t run_seq_ = 0;
  int registry_fd_ = -1;
  std::string pin_dir_;
  std::vector<Attachment> attached_;
};

}  // namespace sf
