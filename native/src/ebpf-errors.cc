#include "ebpf-errors.h"

#include <cerrno>
#include <cstring>

namespace sf {
namespace {

bool LockedDown(const std::string& lockdown) { return !lockdown.empty() && lockdown != "none"; }

std::string LockdownMessage(const std::string& mode) {
  return "the kernel is locked down (" + mode + " mode, /sys/kernel/security/lockdown) and refuses the eBPF " +
         "tap; boot with lockdown=none or integrity where policy allows it, or use the pcap source (or " +
         "fallback: 'pcap')";
}

}  // namespace

std::string MissingPrivilegesFor(uint64_t caps) {
  const bool sys_admin = (caps & kCapSysAdmin) != 0;
  const bool bpf = sys_admin || (caps & kCapBpf) != 0;
  const bool net_admin = sys_admin || (caps & kCapNetAdmin) != 0;
  if (bpf && net_admin) return "";
  const std::string missing = !bpf && !net_admin ? "CAP_BPF and CAP_NET_ADMIN" : !bpf ? "CAP_BPF" : "CAP_NET_ADMIN";
  return "the eBPF tap needs " + missing + " (CAP_BPF to load the program and create its maps, CAP_NET_ADMIN to " +
         "attach it with TC; CAP_SYS_ADMIN covers both on kernels before 5.8); run the agent as root, or grant " +
         "them with `setcap cap_bpf,cap_net_admin,cap_perfmon+ep <node binary>` (CAP_PERFMON is what distributions " +
         "pair with CAP_BPF for tracing tools; this program does not need it), or use the pcap source";
}

std::string LockdownModeFrom(const std::string& line) {
  const size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return line.substr(open + 1, close - open - 1);
}

TapError ClassifyProbeFailure(int err, const std::string& lockdown, const std::string& kernel) {
  if (LockedDown(lockdown) && err == EPERM) return {"ERR_EBPF_LOCKDOWN", LockdownMessage(lockdown)};
  return {"ERR_EBPF_UNSUPPORTED", "kernel " + kernel + " lacks what the eBPF tap needs: BPF ring buffers (Linux " +
          "5.8), LRU hash maps and TC classifier programs; use the pcap source (or fallback: 'pcap')"};
}

TapError ClassifyLoadFailure(int err, const std::string& lockdown, const std::string& kernel, const std::string& log) {
  if (err == EPERM && LockedDown(lockdown)) return {"ERR_EBPF_LOCKDOWN", LockdownMessage(lockdown)};
  if (err == EPERM) {
    return {"ERR_EBPF_PERMISSION", "the kernel refused to load the eBPF tap (EPERM) although the process has "
            "CAP_BPF and CAP_NET_ADMIN; a seccomp profile or an LSM may block bpf(2)" + (log.empty() ? "" : ": " + log)};
  }
  return {"ERR_EBPF_UNSUPPORTED", "kernel " + kernel + " rejected the eBPF tap (" + std::strerror(err) + ")" +
          (log.empty() ? "" : ": " + log)};
}

TapError ClassifyAttachInitFailure(int err, const std::string& kernel, const std::string& message) {
  if (err == EINVAL || err == EOPNOTSUPP) return {"ERR_EBPF_UNSUPPORTED", "kernel " + kernel + ": " + message};
  if (err == EPERM || err == EACCES) return {"ERR_EBPF_PERMISSION", message};
  return {"ERR_TAP_OPEN", message};
}

TapError ClassifyAttachFailure(int err, const std::string& message) {
  if (err == EPERM || err == EACCES) return {"ERR_EBPF_PERMISSION", message};
  if (err == ENODEV) return {"ERR_TAP_NO_SUCH_INTERFACE", message};
  return {"ERR_TAP_OPEN", message};
}

}  // namespace sf
