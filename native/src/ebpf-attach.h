// The eBPF tap's footprint on the system: privileges and kernel checks, the bpffs mount, TC clsact attachment,
// and a registry of everything attached, pinned under /sys/fs/bpf/shadowflow/<run>/attachments so the next run
// can remove what a crashed one left behind. Plain C++ over libbpf (no napi.h).
#pragma once

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

/** One (interface, direction) the tap is attached to. */
struct Attachment {
  uint32_t ifindex = 0;
  bool egress = false;
  bool qdisc_created = false;  // we created the clsact qdisc, so we delete it on detach
  char ifname[16] = {};
};

/**
 * Attaches one program with TC clsact on ingress and egress of interfaces, recording each step in a pinned
 * registry before it happens, so a crash at any point leaves enough to undo it.
 */
class TcAttacher {
 public:
  TcAttacher() = default;
  ~TcAttacher() { DetachAll(); }
  TcAttacher(const TcAttacher&) = delete;
  TcAttacher& operator=(const TcAttacher&) = delete;

  /** Creates this run's pin directory and registry map; "" or an error message. */
  std::string Init(int prog_fd);
  /** Attaches to both directions of `ifname`; "" or an error message (errno in *err). */
  std::string Attach(uint32_t ifindex, const std::string& ifname, int* err);
  /** Forgets an interface that disappeared (its filters went with it). */
  void Forget(uint32_t ifindex);
  /** Detaches everything, deletes qdiscs we created, removes the registry and the pin directory; idempotent. */
  void DetachAll();

  uint32_t handle() const { return handle_; }
  uint32_t priority() const { return kPriority; }
  const std::string& pin_dir() const { return pin_dir_; }

  static constexpr uint32_t kPriority = 1;  // first on the hook: we see traffic before policy programs decide

 private:
  void Record(const Attachment& a);
  void Unrecord(uint32_t ifindex, bool egress);

  int prog_fd_ = -1;
  uint32_t prog_id_ = 0;
  uint32_t handle_ = 0;
  int registry_fd_ = -1;
  std::string pin_dir_;
  std::vector<Attachment> attached_;
};

}  // namespace sf
