#include "ebpf-attach.h"
#include "ebpf-errors.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace sf {
namespace {

// TCX (Linux 6.6, "bpf: Add fd-based tcx multi-prog infra with link support"). Debian 12's linux-libc-dev (6.1)
// and libbpf 1.1 predate it, so the UAPI numbers are defined here, from include/uapi/linux/bpf.h of 6.6+:
// enum bpf_attach_type { …, BPF_NETFILTER = 45, BPF_TCX_INGRESS = 46, BPF_TCX_EGRESS = 47, … } and
// #define BPF_F_BEFORE (1U << 3). A kernel without TCX rejects 46/47 with EINVAL (attach_type_to_prog_type()
// knows no such type), which is what `auto` falls back on.
constexpr uint32_t kBpfTcxIngress = 46;
constexpr uint32_t kBpfTcxEgress = 47;
constexpr uint32_t kBpfFBefore = 1u << 3;

// Why TC_ACT_UNSPEC is right under TCX too (net/core/dev.c, 6.6+): tcx_run() runs the hook's TCX programs in
// order and stops at the first that returns anything but TCX_NEXT (= -1 = TC_ACT_UNSPEC, enum tcx_action_base);
// sch_handle_ingress()/sch_handle_egress() then run tc_run(), the legacy clsact chain (Calico's and older
// Cilium's cls_bpf programs), only when tcx_run() returned TC_ACT_UNSPEC. Our program returns -1 on every path
// (test/native/ebpf-program.test.ts), so the TCX programs after ours and then the whole clsact chain still run.
// TC_ACT_OK would be TCX_PASS there, and would skip them all.
static_assert(TC_ACT_UNSPEC == -1, "TCX_NEXT is -1");

bool FallsBackToClsact(int err) { return err == EINVAL || err == EOPNOTSUPP; }

// BPF_LINK_CREATE for a TCX hook, first on the hook (BPF_F_BEFORE with no relative program: bpf_mprog_attach()
// inserts at the head), so we see every packet before a policy program on the same hook decides. The link's
// other TCX fields (relative_fd/id, expected_revision) stay zero. Returns the link fd (O_CLOEXEC) or -errno.
int TcxLinkCreate(int prog_fd, uint32_t ifindex, bool egress) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.link_create.target_ifindex = ifindex;
  attr.link_create.attach_type = static_cast<bpf_attach_type>(egress ? kBpfTcxEgress : kBpfTcxIngress);
  attr.link_create.flags = kBpfFBefore;
  const long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

// Whether the kernel has TCX, without touching any hook: BPF_PROG_QUERY of BPF_TCX_INGRESS on the loopback
// device (query.target_ifindex shares target_fd's place). 0, or the errno (EINVAL: no TCX before 6.6).
int ProbeTcx() {
  const unsigned lo = if_nametoindex("lo");
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = lo != 0 ? lo : 1;
  attr.query.attach_type = static_cast<bpf_attach_type>(kBpfTcxIngress);
  return syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) == 0 ? 0 : errno;
}

void CloseLink(int link_fd) {
  if (link_fd < 0) return;
  bpf_link_detach(link_fd);  // explicit, in case another process holds a copy of the fd
  close(link_fd);
}

// One registry entry (the pinned map's value), keyed by ifindex * 2 + egress.
struct RegistryEntry {
  uint32_t ifindex;
  uint32_t egress;
  uint32_t qdisc_created;
  uint32_t prog_id;
  uint32_t handle;
  uint32_t priority;
  char ifname[16];
};

/** The registry form of one of our attachments. */
RegistryEntry EntryFor(const Attachment& a, uint32_t prog_id, uint32_t handle) {
  RegistryEntry e;
  std::memset(&e, 0, sizeof(e));
  e.ifindex = a.ifindex;
  e.egress = a.egress;
  e.qdisc_created = a.qdisc_created;
  e.prog_id = prog_id;
  e.handle = handle;
  e.priority = TcAttacher::kPriority;
  std::memcpy(e.ifname, a.ifname, sizeof(e.ifname));
  return e;
}

uint64_t RegistryKey(uint32_t ifindex, bool egress) { return static_cast<uint64_t>(ifindex) * 2 + (egress ? 1 : 0); }

uint64_t EffectiveCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or "" when the process does not exist.
std::string ProcessStartTime(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return "";
  const size_t paren = stat.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return "";
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) return field;
  }
  return "";
}

bool RunIsAlive(const std::string& dir_name) {
  long pid = 0;
  char start[32] = {0};
  if (std::sscanf(dir_name.c_str(), "%ld-%31[0-9]", &pid, start) != 2) return false;
  return ProcessStartTime(pid) == start;
}

void RemovePinDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d != nullptr) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) unlink((dir + "/" + e->d_name).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

bool SameInterface(uint32_t ifindex, const char* recorded_name) {
  char name[IF_NAMESIZE] = {0};
  // An ifindex can be reused by another interface after the recorded one went away: match the name too.
  return if_indextoname(ifindex, name) != nullptr && std::strncmp(name, recorded_name, 16) == 0;
}

void DetachOne(const RegistryEntry& e, uint32_t expected_prog_id, StaleCleanup* counts) {
  if (!SameInterface(e.ifindex, e.ifname)) return;  // the interface (and its filters) are gone
  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(e.ifindex);
  hook.attach_point = e.egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
  bpf_tc_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.handle = e.handle;
  opts.priority = e.priority;
  // Only a filter that still runs our program is ours to remove (prog_id 0: the attach never completed).
  if (bpf_tc_query(&hook, &opts) == 0 && (expected_prog_id == 0 || opts.prog_id == expected_prog_id)) {
    bpf_tc_opts detach;
    std::memset(&detach, 0, sizeof(detach));
    detach.sz = sizeof(detach);
    detach.handle = e.handle;
    detach.priority = e.priority;
    if (bpf_tc_detach(&hook, &detach) == 0 && counts) counts->filters_removed++;
  }
}

void DestroyQdisc(uint32_t ifindex, const char* ifname, StaleCleanup* counts) {
  if (!SameInterface(ifindex, ifname)) return;
  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);  // deletes clsact
  if (bpf_tc_hook_destroy(&hook) == 0 && counts) counts->qdiscs_removed++;
}

// Undoes everything a registry lists.
void UndoRegistry(int fd, StaleCleanup* counts) {
  std::vector<RegistryEntry> entries;
  uint64_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    RegistryEntry e;
    if (bpf_map_lookup_elem(fd, &next, &e) == 0) entries.push_back(e);
    key = next;
    prev = &key;
  }
  // Filters first, then qdiscs: deleting a qdisc takes its filters with it, which would hide them from the count.
  for (const RegistryEntry& e : entries) DetachOne(e, e.prog_id, counts);
  std::set<uint32_t> qdiscs;
  for (const RegistryEntry& e : entries) {
    if (e.qdisc_created && qdiscs.insert(e.ifindex).second) DestroyQdisc(e.ifindex, e.ifname, counts);
  }
}

std::atomic<uint32_t> g_run_seq{0};

}  // namespace

const char* AttachModeName(AttachMode mode) {
  return mode == AttachMode::kTcx ? "tcx" : mode == AttachMode::kClsact ? "clsact" : "auto";
}

bool ParseAttachMode(const std::string& text, AttachMode* mode) {
  for (const AttachMode m : {AttachMode::kAuto, AttachMode::kTcx, AttachMode::kClsact}) {
    if (text == AttachModeName(m)) {
      *mode = m;
      return true;
    }
  }
  return false;
}

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return std::string(name != nullptr ? name : "errno " + std::to_string(err)) + " (" + std::strerror(err) + ")";
}

std::string MissingEbpfPrivileges() { return MissingPrivilegesFor(EffectiveCapabilities()); }

std::string LockdownMode() {
  std::ifstream in("/sys/kernel/security/lockdown");
  std::string line;
  if (!std::getline(in, line)) return "";
  return LockdownModeFrom(line);
}

std::string EnsureBpffs() {
  struct statfs st;
  if (statfs(kBpffsRoot, &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC) return "";
  if (mount("bpf", kBpffsRoot, "bpf", 0, "mode=0700") == 0) return "";
  return std::string("bpffs is not mounted at ") + kBpffsRoot + " and mounting it failed (" + std::strerror(errno) +
         "); run `mount -t bpf bpf " + kBpffsRoot + "` (in Kubernetes: mount the host's " + kBpffsRoot +
         " into the pod)";
}

StaleCleanup CleanupStaleRuns() {
  StaleCleanup counts;
  DIR* d = opendir(kPinRoot);
  if (d == nullptr) return counts;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (!RunIsAlive(e->d_name)) stale.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : stale) {
    const std::string dir = std::string(kPinRoot) + "/" + name;
    const int fd = bpf_obj_get((dir + "/attachments").c_str());
    if (fd >= 0) {
      UndoRegistry(fd, &counts);
      close(fd);
    }
    RemovePinDir(dir);
    counts.runs++;
  }
  return counts;
}

std::string TcAttacher::Init(int prog_fd, AttachMode requested, int* err) {
  *err = 0;
  prog_fd_ = prog_fd;
  requested_ = requested;
  bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) {
    *err = errno;
    return "cannot read the program's id: " + ErrnoText(errno);
  }
  prog_id_ = info.id;
  run_seq_ = g_run_seq.fetch_add(1);
  // Unique per tap in this process and across processes, so several taps may share an interface (clsact).
  handle_ = 0x5F000000u | ((static_cast<uint32_t>(getpid()) & 0xFFFF) << 8) | (run_seq_ & 0xFF);
  if (requested == AttachMode::kClsact) {
    mode_ = AttachMode::kClsact;
    return "";
  }
  const int probe = ProbeTcx();
  if (probe == 0 || (requested == AttachMode::kAuto && !FallsBackToClsact(probe))) {
    mode_ = AttachMode::kTcx;  // anything but "no TCX" is for the attach itself to report
    return "";
  }
  if (requested == AttachMode::kAuto) {
    mode_ = AttachMode::kClsact;
    return "";
  }
  *err = probe;
  return "attach: 'tcx' needs TCX links (Linux 6.6+), which this kernel refuses: " + ErrnoText(probe) +
         "; use attach: 'auto' or 'clsact'";
}

// Creates this run's pin directory and registry map (clsact only: TCX links leave nothing to clean up).
std::string TcAttacher::InitRegistry(int* err) {
  if (registry_fd_ >= 0) return "";
  *err = 0;
  const long pid = static_cast<long>(getpid());
  mkdir(kPinRoot, 0700);
  pin_dir_ = std::string(kPinRoot) + "/" + std::to_string(pid) + "-" + ProcessStartTime(pid) + "-" + std::to_string(run_seq_);
  RemovePinDir(pin_dir_);
  if (mkdir(pin_dir_.c_str(), 0700) != 0) {
    *err = errno;
    return "cannot create " + pin_dir_ + ": " + ErrnoText(*err);
  }
  registry_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "sf_attachments", sizeof(uint64_t), sizeof(RegistryEntry), 8192, nullptr);
  if (registry_fd_ < 0) {
    *err = errno;
    return "cannot create the attachment registry map: " + ErrnoText(*err);
  }
  if (bpf_obj_pin(registry_fd_, (pin_dir_ + "/attachments").c_str()) != 0) {
    *err = errno;
    return "cannot pin the attachment registry under " + pin_dir_ + ": " + ErrnoText(*err);
  }
  return "";
}

void TcAttacher::Record(const Attachment& a) {
  RegistryEntry e = EntryFor(a, prog_id_, handle_);
  const uint64_t key = RegistryKey(a.ifindex, a.egress);
  bpf_map_update_elem(registry_fd_, &key, &e, BPF_ANY);
}

void TcAttacher::Unrecord(uint32_t ifindex, bool egress) {
  const uint64_t key = RegistryKey(ifindex, egress);
  bpf_map_delete_elem(registry_fd_, &key);
}

std::string TcAttacher::Attach(uint32_t ifindex, const std::string& ifname, int* err) {
  *err = 0;
  if (mode_ == AttachMode::kTcx) {
    const std::string why = AttachTcx(ifindex, ifname, err);
    // `auto` on a kernel whose query answered but whose attach does not: clsact, while nothing is on TCX yet.
    if (why.empty() || requested_ != AttachMode::kAuto || !FallsBackToClsact(*err) || !attached_.empty()) return why;
    mode_ = AttachMode::kClsact;
  }
  return AttachClsact(ifindex, ifname, err);
}

std::string TcAttacher::AttachTcx(uint32_t ifindex, const std::string& ifname, int* err) {
  for (const bool egress : {false, true}) {
    const int fd = TcxLinkCreate(prog_fd_, ifindex, egress);
    if (fd < 0) {
      *err = -fd;
      return std::string("cannot attach to ") + (egress ? "egress" : "ingress") + " of '" + ifname +
             "' with TCX: " + ErrnoText(-fd);  // Forget() closes the ingress link of a failed egress
    }
    Attachment a;
    a.ifindex = ifindex;
    a.egress = egress;
    a.link_fd = fd;
    std::strncpy(a.ifname, ifname.c_str(), sizeof(a.ifname) - 1);
    attached_.push_back(a);
  }
  return "";
}

std::string TcAttacher::AttachClsact(uint32_t ifindex, const std::string& ifname, int* err) {
  const std::string registry = InitRegistry(err);
  if (!registry.empty()) return registry;
  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = BPF_TC_INGRESS;
  const int created = bpf_tc_hook_create(&hook);  // adds the clsact qdisc; -EEXIST when it is already there
  if (created != 0 && created != -EEXIST) {
    *err = -created;
    return "cannot add a clsact qdisc to '" + ifname + "': " + ErrnoText(-created);
  }
  for (const bool egress : {false, true}) {
    Attachment a;
    a.ifindex = ifindex;
    a.egress = egress;
    a.qdisc_created = created == 0;
    std::strncpy(a.ifname, ifname.c_str(), sizeof(a.ifname) - 1);
    Record(a);  // before attaching: a crash right after the attach must still find it
    attached_.push_back(a);
    hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
    bpf_tc_opts opts;
    std::memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.prog_fd = prog_fd_;
    opts.handle = handle_;
    opts.priority = kPriority;
    const int rc = bpf_tc_attach(&hook, &opts);
    if (rc != 0) {
      *err = -rc;
      return std::string("cannot attach to ") + (egress ? "egress" : "ingress") + " of '" + ifname +
             "' with clsact: " + ErrnoText(-rc);
    }
  }
  return "";
}

void TcAttacher::Forget(uint32_t ifindex) {
  std::vector<Attachment> keep;
  for (const Attachment& a : attached_) {
    if (a.ifindex != ifindex) keep.push_back(a);
    else if (a.link_fd >= 0) CloseLink(a.link_fd);  // a vanished device's links are defunct: free them
    else {
      // A filter of a failed attach (ingress done, egress refused) is removed; a vanished device took its own.
      DetachOne(EntryFor(a, prog_id_, handle_), prog_id_, nullptr);
      Unrecord(a.ifindex, a.egress);
    }
  }
  attached_.swap(keep);
}

void TcAttacher::DetachAll() {
  std::set<uint32_t> qdiscs;
  for (const Attachment& a : attached_) {
    if (a.link_fd >= 0) {
      CloseLink(a.link_fd);
      continue;
    }
    DetachOne(EntryFor(a, prog_id_, handle_), prog_id_, nullptr);
  }
  for (const Attachment& a : attached_) {
    if (a.link_fd < 0 && a.qdisc_created && qdiscs.insert(a.ifindex).second) DestroyQdisc(a.ifindex, a.ifname, nullptr);
  }
  attached_.clear();
  if (registry_fd_ >= 0) {
    close(registry_fd_);
    registry_fd_ = -1;
  }
  if (!pin_dir_.empty()) {
    RemovePinDir(pin_dir_);
    pin_dir_.clear();
  }
}

}  // namespace sf
