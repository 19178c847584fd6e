// Which error a failed eBPF step becomes, and what its message says: plain functions of the errno, the kernel's
// lockdown mode, the effective capabilities and the kernel release, so every branch is tested without a kernel
// that refuses (native/test/ebpf-errors-test.cc). ebpf-tap.cc and ebpf-attach.cc read the real values.
#ifndef SHADOWFLOW_EBPF_ERRORS_H_
#define SHADOWFLOW_EBPF_ERRORS_H_

#include <cstdint>
#include <string>

#include "tap.h"

namespace sf {

/** Capability bits (linux/capability.h). */
constexpr uint64_t kCapNetAdmin = 1ull << 12;
constexpr uint64_t kCapSysAdmin = 1ull << 21;
constexpr uint64_t kCapBpf = 1ull << 39;

/** The ERR_EBPF_PERMISSION message naming what `effective_caps` lacks (CAP_BPF, CAP_NET_ADMIN), or "" if nothing. */
std::string MissingPrivilegesFor(uint64_t effective_caps);

/** The mode in a /sys/kernel/security/lockdown line ("none [integrity] confidentiality" → "integrity"), or "". */
std::string LockdownModeFrom(const std::string& line);

/** The map/program type probes failed with `err`: locked down (EPERM under lockdown) or an unsupported kernel. */
TapError ClassifyProbeFailure(int err, const std::string& lockdown, const std::string& kernel_release);

/** Loading the program failed with `err`; `verifier_log` is libbpf's log ("" when none). */
TapError ClassifyLoadFailure(int err, const std::string& lockdown, const std::string& kernel_release, const std::string& verifier_log);

/** Preparing the attachment (TCX probe, registry) failed with `err` and `message`. */
TapError ClassifyAttachInitFailure(int err, const std::string& kernel_release, const std::string& message);

/** Attaching to one interface failed with `err` and `message`. */
TapError ClassifyAttachFailure(int err, const std::string& message);

}  // namespace sf

#endif  // SHADOWFLOW_EBPF_ERRORS_H_
