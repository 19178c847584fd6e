// Every branch of the eBPF error classification (native/src/ebpf-errors.cc): what a user sees when the kernel or
// the privileges do not allow the tap — situations this machine cannot produce (it is root, not locked down, and
// its kernel has everything). Prints "ok <case>" per check; exits 1 at the first failure, naming it.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../src/ebpf-errors.h"

namespace {

int checks = 0;

void Expect(bool condition, const char* name, const std::string& detail = "") {
  if (!condition) {
    std::printf("FAIL %s %s\n", name, detail.c_str());
    std::exit(1);
  }
  ++checks;
  std::printf("ok %s\n", name);
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

int main() {
  using namespace sf;
  // Privileges: CAP_BPF and CAP_NET_ADMIN are needed; CAP_SYS_ADMIN covers both; the message names what is missing.
  Expect(MissingPrivilegesFor(kCapBpf | kCapNetAdmin).empty(), "bpf+net_admin suffice");
  Expect(MissingPrivilegesFor(kCapSysAdmin).empty(), "sys_admin suffices");
  const std::string none = MissingPrivilegesFor(0);
  Expect(Contains(none, "needs CAP_BPF and CAP_NET_ADMIN"), "no capabilities: both named", none);
  const std::string no_bpf = MissingPrivilegesFor(kCapNetAdmin);
  Expect(Contains(no_bpf, "needs CAP_BPF (") && !Contains(no_bpf, "needs CAP_BPF and"), "only CAP_BPF missing", no_bpf);
  const std::string no_net = MissingPrivilegesFor(kCapBpf);
  Expect(Contains(no_net, "needs CAP_NET_ADMIN ("), "only CAP_NET_ADMIN missing", no_net);
  Expect(Contains(none, "setcap") && Contains(none, "pcap source"), "says how to grant them or what to use instead");

  // Lockdown file parsing.
  Expect(LockdownModeFrom("none [integrity] confidentiality") == "integrity", "lockdown: integrity");
  Expect(LockdownModeFrom("[none] integrity confidentiality") == "none", "lockdown: none");
  Expect(LockdownModeFrom("none integrity confidentiality").empty(), "lockdown: no mode selected");
  Expect(LockdownModeFrom("").empty(), "lockdown: empty file");

  // Probes (ring buffer, LRU hash, TC classifier) failing.
  TapError e = ClassifyProbeFailure(EPERM, "confidentiality", "6.1.0");
  Expect(e.code == "ERR_EBPF_LOCKDOWN" && Contains(e.message, "confidentiality mode"), "probe EPERM under lockdown", e.message);
  e = ClassifyProbeFailure(EPERM, "none", "4.19.0");
  Expect(e.code == "ERR_EBPF_UNSUPPORTED", "probe EPERM without lockdown is an old kernel", e.code);
  e = ClassifyProbeFailure(EINVAL, "", "4.19.0");
  Expect(e.code == "ERR_EBPF_UNSUPPORTED" && Contains(e.message, "kernel 4.19.0") && Contains(e.message, "ring buffers (Linux 5.8)"),
         "probe failure names the kernel and what is missing", e.message);

  // Loading the program.
  e = ClassifyLoadFailure(EPERM, "integrity", "6.1.0", "");
  Expect(e.code == "ERR_EBPF_LOCKDOWN" && Contains(e.message, "integrity mode"), "load EPERM under lockdown", e.message);
  e = ClassifyLoadFailure(EPERM, "none", "6.1.0", "");
  Expect(e.code == "ERR_EBPF_PERMISSION" && Contains(e.message, "seccomp"), "load EPERM with capabilities: seccomp/LSM", e.message);
  e = ClassifyLoadFailure(EINVAL, "", "5.4.0", "R1 invalid mem access");
  Expect(e.code == "ERR_EBPF_UNSUPPORTED" && Contains(e.message, "kernel 5.4.0") && Contains(e.message, "Invalid argument") &&
         Contains(e.message, "R1 invalid mem access"), "verifier rejection carries the kernel, errno and log", e.message);

  // Preparing and making attachments.
  e = ClassifyAttachInitFailure(EOPNOTSUPP, "5.15.0", "tcx is not supported");
  Expect(e.code == "ERR_EBPF_UNSUPPORTED" && Contains(e.message, "kernel 5.15.0: tcx"), "attach init EOPNOTSUPP", e.message);
  e = ClassifyAttachInitFailure(EACCES, "6.6.0", "registry refused");
  Expect(e.code == "ERR_EBPF_PERMISSION", "attach init EACCES", e.code);
  e = ClassifyAttachInitFailure(ENOSPC, "6.6.0", "no space");
  Expect(e.code == "ERR_TAP_OPEN", "attach init other errno", e.code);
  Expect(ClassifyAttachFailure(EPERM, "x").code == "ERR_EBPF_PERMISSION", "attach EPERM");
  Expect(ClassifyAttachFailure(ENODEV, "x").code == "ERR_TAP_NO_SUCH_INTERFACE", "attach ENODEV (interface vanished)");
  Expect(ClassifyAttachFailure(EBUSY, "x").code == "ERR_TAP_OPEN", "attach other errno");

  std::printf("%d checks passed\n", checks);
  return 0;
}
