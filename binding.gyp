{
  "targets": [
    {
      "target_name": "shadowflow_tap",
      "sources": [
        "native/src/addon.cc",
        "native/src/tap.cc",
        "native/src/packet-parser.cc",
        "native/src/flow-table.cc",
        "native/src/pcap-file-source.cc",
        "native/src/pcap-live-source.cc",
        "native/src/synthetic-source.cc",
        "native/src/ebpf-attach.cc",
        "native/src/ebpf-errors.cc",
        "native/src/ebpf-tap.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(SHARED_INTERMEDIATE_DIR)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "libraries": [
        "-lpcap",
        "-lbpf"
      ],
      "cflags": [
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fvisibility=hidden",
        "-fvisibility-inlines-hidden",
        "-fno-exceptions",
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "cflags_cc!": [
        "-fno-rtti"
      ],
      "ldflags": [
        "-Wl,--as-needed",
        "-Wl,--version-script=<(module_root_dir)/native/exports.map"
      ],
      "actions": [
        {
          "action_name": "build_bpf_program",
          "inputs": [
            "scripts/build-bpf.sh",
            "native/bpf/flow-tap.bpf.c",
            "native/bpf/flow-tap.h",
            "native/include/flow-record.h"
          ],
          "outputs": [
            "<(SHARED_INTERMEDIATE_DIR)/flow-tap.bpf.o",
            "<(SHARED_INTERMEDIATE_DIR)/flow-tap.skel.h"
          ],
          "action": [
            "bash",
            "scripts/build-bpf.sh",
            "<(module_root_dir)",
            "<(SHARED_INTERMEDIATE_DIR)"
          ],
          "message": "Building the eBPF tap program and its skeleton"
        }
      ]
    }
  ]
}
