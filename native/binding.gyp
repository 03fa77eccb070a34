{
  # kadmesh native fast path: UDP batch I/O, shared-memory regions, futex and doorbell.
  # Linux only; on other platforms the target builds nothing and the loader reports the
  # reason (the mesh runs on QUIC). N-API is ABI-stable, so NAPI_VERSION 8 headers (Node 20's,
  # which `nodedir` may point at) produce an addon that loads in Node 22 and 24.
  "targets": [
    {
      "target_name": "kadmesh_native",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "src/addon.cc",
            "src/common.cc",
            "src/udp.cc",
            "src/shm.cc",
            "src/doorbell.cc"
          ]
        }]
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        # A throw while a worker's environment terminates must not abort the process.
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fno-exceptions"],
      # Never unloaded: uv_close callbacks of a terminated worker's handles run after Node has
      # dlclose()d the addon (when no other thread holds it), and must still find their code.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
