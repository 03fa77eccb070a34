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
#include <initializer_list>
#include <string>

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

// Base of the native classes, in place of Napi::ObjectWrap: raw napi_define_class callbacks and
// napi_wrap, every status checked. ObjectWrap's constructor wrapper cannot survive a worker that
// terminates mid-construction: its napi_wrap fails, the failure is swallowed, and a later Ref()
// on the never-initialised reference (null env) reaches node-addon-api's fatal error path.
//
// `new` runs `bool T::Open(info)` on a default-constructed T: false means "exception pending" and
// the object is deleted. Only an opened object is wrapped, so a failure at any step deletes it
// (closing what it opened) and never leaves a wrap pointing at freed memory.
template <typename T>
class Wrapped {
 public:
  using Method = Napi::Value (T::*)(const Napi::CallbackInfo&);

  static Napi::Function Define(Napi::Env env, const char* name, std::initializer_list<napi_property_descriptor> props) {
    napi_value cls = nullptr;
    napi_define_class(env, name, NAPI_AUTO_LENGTH, &Construct, nullptr, props.size(), props.begin(), &cls);
    return Napi::Function(env, cls);
  }
  template <Method M>
  static napi_property_descriptor InstanceMethod(const char* name) {
    return {name, nullptr, &Call<M>, nullptr, nullptr, nullptr, napi_default, nullptr};
  }
  template <Method M>
  static napi_property_descriptor InstanceAccessor(const char* name) {
    return {name, nullptr, nullptr, &Call<M>, nullptr, nullptr, napi_default, nullptr};
  }

  Napi::Env Env() const { return Napi::Env(env_); }
  Napi::Object Value() const {
    napi_value value = nullptr;
    napi_get_reference_value(env_, ref_, &value);
    return Napi::Object(env_, value);
  }

 protected:
  Wrapped() = default;
  ~Wrapped() {
    if (ref_ != nullptr) napi_delete_reference(env_, ref_);
  }
  // From Open: once wrapped, the JS object is held strongly (never collected) until LetGo().
  void KeepAlive() { keep_alive_ = true; }
  void LetGo() {
    uint32_t count = 0;
    if (keep_alive_ && ref_ != nullptr) napi_reference_unref(env_, ref_, &count);
    keep_alive_ = false;
  }

 private:
  static napi_value Construct(napi_env env, napi_callback_info info) {
    Napi::CallbackInfo args(env, info);
    napi_value new_target = nullptr;
    if (napi_get_new_target(env, info, &new_target) != napi_ok || new_target == nullptr) {
      ThrowType(env, "use the factory function");
      return nullptr;
    }
    T* self = new T();
    self->env_ = env;
    napi_ref ref = nullptr;
    if (!self->Open(args) || napi_wrap(env, args.This(), self, &Finalize, nullptr, &ref) != napi_ok) {
      delete self;
      return nullptr;
    }
    self->ref_ = ref;
    uint32_t count = 0;
    if (self->keep_alive_ && napi_reference_ref(env, ref, &count) != napi_ok) self->keep_alive_ = false;
    return args.This();
  }
  template <Method M>
  static napi_value Call(napi_env env, napi_callback_info info) {
    Napi::CallbackInfo args(env, info);
    void* self = nullptr;
    if (napi_unwrap(env, args.This(), &self) != napi_ok || self == nullptr) {
      ThrowType(env, "Illegal invocation");
      return nullptr;
    }
    return (static_cast<T*>(self)->*M)(args);
  }
  static void Finalize(napi_env, void* data, void*) { delete static_cast<T*>(data); }

  napi_env env_ = nullptr;
  napi_ref ref_ = nullptr;
  bool keep_alive_ = false;
};

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
