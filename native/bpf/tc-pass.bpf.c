// The cheapest possible TC program: no parsing, no maps, TC_ACT_UNSPEC. The eBPF benchmark attaches it the way
// the tap is attached, to tell the cost of the TC hook itself (clsact, cls_bpf, the call) from the tap's own.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int sf_pass(struct __sk_buff* skb) {
  (void)skb;
  return TC_ACT_UNSPEC;
}
