/* TCX attachments for the eBPF tests and benchmark, which Debian 12's bpftool 7.1 cannot show or make (it predates
 * TCX; `bpftool net` learnt it in 7.3):
 *   tcx-tool query <dev>                                 prints "ingress <prog ids…>" and "egress <prog ids…>"
 *   tcx-tool attach <obj.bpf.o> <dev>:<ingress|egress>…  attaches the object's first program with TCX links,
 *                                                        prints "attached", and holds the links until killed
 * Raw bpf(2) with the UAPI numbers defined here, like native/src/ebpf-attach.cc (the headers are Linux 6.1's).
 * Exits 2 with the errno when the kernel refuses (EINVAL: a kernel before 6.6, without TCX). */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/bpf.h, Linux 6.6+: enum bpf_attach_type (… BPF_NETFILTER = 45,) BPF_TCX_INGRESS = 46,
 * BPF_TCX_EGRESS = 47; BPF_F_BEFORE = 1U << 3. */
#define SF_BPF_TCX_INGRESS 46
#define SF_BPF_TCX_EGRESS 47
#define SF_BPF_F_BEFORE (1U << 3)

/* The BPF_PROG_QUERY layout of Linux 6.6 (a prefix of union bpf_attr; the kernel zero-checks the rest). */
struct query_attr {
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t query_flags;
  uint32_t attach_flags;
  uint64_t prog_ids;
  uint32_t count;
  uint32_t pad;
  uint64_t prog_attach_flags;
  uint64_t link_ids;
  uint64_t link_attach_flags;
  uint64_t revision;
};

static int query(unsigned ifindex, unsigned type, const char* name) {
  uint32_t ids[64];
  struct query_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_ifindex = ifindex;
  attr.attach_type = type;
  attr.prog_ids = (uint64_t)(uintptr_t)ids;
  attr.count = 64;
  if (syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) != 0) {
    fprintf(stderr, "tcx-tool: query %s: %s\n", name, strerror(errno));
    return -1;
  }
  printf("%s", name);
  for (uint32_t i = 0; i < attr.count && i < 64; ++i) printf(" %u", ids[i]);
  printf("\n");
  return 0;
}

static int link_create(int prog_fd, unsigned ifindex, unsigned type) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = prog_fd;
  attr.link_create.target_ifindex = ifindex;
  attr.link_create.attach_type = type;
  attr.link_create.flags = SF_BPF_F_BEFORE;  // first on the hook, as the tap attaches
  return (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "query") == 0) {
    const unsigned ifindex = if_nametoindex(argv[2]);
    if (ifindex == 0) {
      fprintf(stderr, "tcx-tool: no such interface '%s'\n", argv[2]);
      return 1;
    }
    if (query(ifindex, SF_BPF_TCX_INGRESS, "ingress") != 0 || query(ifindex, SF_BPF_TCX_EGRESS, "egress") != 0) return 2;
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "attach") == 0) {
    struct bpf_object* obj = bpf_object__open_file(argv[2], NULL);
    if (obj == NULL || bpf_object__load(obj) != 0) {
      fprintf(stderr, "tcx-tool: cannot load %s\n", argv[2]);
      return 1;
    }
    struct bpf_program* prog = bpf_object__next_program(obj, NULL);
    if (prog == NULL) return 1;
    for (int i = 3; i < argc; ++i) {
      char dev[IF_NAMESIZE + 16];
      snprintf(dev, sizeof(dev), "%s", argv[i]);
      char* colon = strchr(dev, ':');
      if (colon == NULL) return 1;
      *colon = 0;
      const unsigned ifindex = if_nametoindex(dev);
      const unsigned type = strcmp(colon + 1, "egress") == 0 ? SF_BPF_TCX_EGRESS : SF_BPF_TCX_INGRESS;
      if (ifindex == 0 || link_create(bpf_program__fd(prog), ifindex, type) < 0) {
        fprintf(stderr, "tcx-tool: cannot attach to %s: %s\n", argv[i], strerror(errno));
        return 2;
      }
    }
    printf("attached\n");
    fflush(stdout);
    for (;;) pause();  // the links live as long as this process (their fds close with it)
  }
  fprintf(stderr, "usage: tcx-tool query <dev> | tcx-tool attach <obj.bpf.o> <dev>:<ingress|egress>…\n");
  return 1;
}
