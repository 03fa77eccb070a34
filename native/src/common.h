// Shared helpers for the kadmesh addon: errno errors, argument checks, a uv_poll handle that can
// be closed at any time (even from inside its own callback), and JS callbacks from libuv.
//
// Policy (defaults, retries, what an error means) lives in TypeScript; this layer only checks
// arguments, makes the syscall and hands buffers over.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace kadmesh {

// Bumped whenever the JS-visible surface changes, so a stale build is refused by the loader.
constexpr uint32_t kAbiVersion = 1;

// Per-address record in the `from`/`to` buffers: [0] family (4|6), [1] flags (bit 0: the
// datagram was truncated), [2..3] port (big-endian), [4..19] address (IPv4 in [4..7]),
// [20..23] IPv6 scope id (host order).
constexpr size_t kAddressSize = 24;
constexpr uint8_t kAddressTruncated = 1;
// sendmmsg/recvmmsg vector limit (UIO_MAXIOV).
constexpr uint32_t kMaxBatch = 1024;

// Error helpers use raw N-API and ignore failures: in a worker whose environment is terminating,
// calls guarded by NAPI_PREAMBLE fail, and node-addon-api's own error path would turn that into a
// fatal error (node-addon-api PR #902). Reaching them then simply returns to a JS that is gone.

// Throws `Error("<syscall>: <strerror>")` with `code` ("EADDRINUSE"…), `errno` and `syscall`.
void ThrowErrno(Napi::Env env, const char* syscall, int err);
void ThrowError(Napi::Env env, const char* message);
void ThrowType(Napi::Env env, const char* message);
void ThrowRange(Napi::Env env, const char* message);
// `Error` with code ERR_KADMESH_CLOSED: use after close.
void ThrowClosed(Napi::Env env, const char* what);

// Argument readers: return false (with a JS exception pending) when the argument is invalid.
bool ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out);
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len);
bool ArgU32Array(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t** data, size_t* len);
bool ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Function* out);
// true only for the boolean true (no coercion: napi_coerce_to_bool can fail while terminating).
bool ArgTrue(const Napi::CallbackInfo& info, size_t i);
// Raw property read; false (nothing thrown) if it fails.
bool GetProperty(napi_env env, napi_value object, const char* key, napi_value* out);
// Raw `new ctor(...args)`; nullptr (nothing thrown) if it fails.
napi_value NewInstance(napi_env env, const Napi::FunctionReference& ctor, std::initializer_list<napi_value> args);
// Raw property write; failures ignored.
void SetProperty(napi_env env, napi_value object, const char* key, napi_value value);

// Raw pointer and length of a typed array held by a reference, re-read on every use: JS could
// have detached (transferred) the buffer since it was handed over.
bool TypedArrayData(napi_env env, napi_value value, void** data, size_t* byte_length);

uv_loop_t* EventLoop(Napi::Env env);

// Calls `fn` from a libuv callback with async context. An exception thrown by `fn` is routed to
// process 'uncaughtException' (the TS wrappers catch their own errors; this is a last resort).
void CallFromLoop(Napi::Env env, Napi::Object recv, Napi::Function fn,
                  const std::initializer_list<napi_value>& args, napi_async_context context);

// A uv_poll handle in heap memory that frees itself in its close callback, so its owner can
// close it at any time: from a finalizer, from JS, or from inside the poll callback itself.
class Poller {
 public:
  using Callback = void (*)(void* owner, int status, int events);
  // Returns nullptr with errno-style `*err` on failure.
  static Poller* Open(uv_loop_t* loop, int fd, void* owner, Callback cb, int* err);
  int Start(int events);
  void Stop();
  // Stops and closes; the object frees itself later. Never use the pointer afterwards.
  void Close();
  bool active() const { return active_; }

 private:
  Poller() = default;
  static void OnPoll(uv_poll_t* handle, int status, int events);
  uv_poll_t handle_{};
  void* owner_ = nullptr;
  Callback cb_ = nullptr;
  bool active_ = false;
};

}  // namespace kadmesh
