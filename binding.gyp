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
        "native/src/synthetic-source.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "libraries": ["-lpcap"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-exceptions", "-Wall", "-Wextra", "-O2"],
      "cflags_cc!": ["-fno-rtti"],
      "ldflags": ["-Wl,--as-needed", "-Wl,--version-script=<(module_root_dir)/native/exports.map"]
    }
  ]
}
