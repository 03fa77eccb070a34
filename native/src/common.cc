#include "common.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

namespace kadmesh {

namespace {

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  return "ERRNO_" + std::to_string(err);
}

}  // namespace

namespace {

enum class Kind { kError, kType, kRange };

void Throw(napi_env env, Kind kind, const std::string& message, const char* code) {
  napi_value msg = nullptr;
  napi_value code_value = nullptr;
  napi_value error = nullptr;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &msg) != napi_ok) return;
  if (code != nullptr) napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_status status;
  switch (kind) {
    case Kind::kType: status = napi_create_type_error(env, code_value, msg, &error); break;
    case Kind::kRange: status = napi_create_range_error(env, code_value, msg, &error); break;
    default: status = napi_create_error(env, code_value, msg, &error);
  }
  if (status == napi_ok) napi_throw(env, error);
}

}  // namespace

void SetProperty(napi_env env, napi_value object, const char* key, napi_value value) {
  if (value != nullptr) napi_set_named_property(env, object, key, value);
}

void ThrowErrno(Napi::Env env, const char* syscall, int err) {
  std::string message = std::string(syscall) + ": " + std::strerror(err);
  std::string code = ErrnoName(err);
  napi_value msg = nullptr;
  napi_value code_value = nullptr;
  napi_value error = nullptr;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &msg) != napi_ok ||
      napi_create_string_utf8(env, code.c_str(), code.size(), &code_value) != napi_ok ||
      napi_create_error(env, code_value, msg, &error) != napi_ok) {
    return;
  }
  napi_value errno_value = nullptr;
  napi_value syscall_value = nullptr;
  napi_create_int32(env, err, &errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  SetProperty(env, error, "errno", errno_value);
  SetProperty(env, error, "syscall", syscall_value);
  napi_throw(env, error);
}

void ThrowError(Napi::Env env, const char* message) { Throw(env, Kind::kError, message, nullptr); }
void ThrowType(Napi::Env env, const char* message) { Throw(env, Kind::kType, message, nullptr); }
void ThrowRange(Napi::Env env, const char* message) { Throw(env, Kind::kRange, message, nullptr); }
void ThrowClosed(Napi::Env env, const char* what) {
  Throw(env, Kind::kError, std::string(what) + " is closed", "ERR_KADMESH_CLOSED");
}

bool ArgTrue(const Napi::CallbackInfo& info, size_t i) {
  bool value = false;
  return napi_get_value_bool(info.Env(), info[i], &value) == napi_ok && value;
}

bool GetProperty(napi_env env, napi_value object, const char* key, napi_value* out) {
  return napi_get_named_property(env, object, key, out) == napi_ok;
}

napi_value NewInstance(napi_env env, const Napi::FunctionReference& ctor, std::initializer_list<napi_value> args) {
  napi_value fn = nullptr;
  napi_value result = nullptr;
  if (napi_get_reference_value(env, ctor, &fn) != napi_ok || fn == nullptr) return nullptr;
  if (napi_new_instance(env, fn, args.size(), args.begin(), &result) != napi_ok) return nullptr;
  return result;
}

bool ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    ThrowType(info.Env(), (std::string(name) + " must be a number").c_str());
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d) {
    ThrowRange(info.Env(), (std::string(name) + " must be an integer in [0, 2^32)").c_str());
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    ThrowType(info.Env(), (std::string(name) + " must be a string").c_str());
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowType(info.Env(), (std::string(name) + " must not contain NUL").c_str());
    return false;
  }
  return true;
}

bool TypedArrayData(napi_env env, napi_value value, void** data, size_t* byte_length) {
  napi_typedarray_type type;
  size_t length = 0;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, data, &buffer, &offset) != napi_ok) return false;
  size_t element = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: element = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: element = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element = 8; break;
    default: element = 1;
  }
  *byte_length = length * element;
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), (std::string(name) + " must be a Uint8Array").c_str());
    return false;
  }
  void* p = nullptr;
  if (!TypedArrayData(info.Env(), v, &p, len)) {
    ThrowType(info.Env(), (std::string(name) + " must be a Uint8Array").c_str());
    return false;
  }
  *data = static_cast<uint8_t*>(p);
  return true;
}

bool ArgU32Array(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t** data, size_t* len) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowType(info.Env(), (std::string(name) + " must be a Uint32Array").c_str());
    return false;
  }
  void* p = nullptr;
  size_t bytes = 0;
  if (!TypedArrayData(info.Env(), v, &p, &bytes)) {
    ThrowType(info.Env(), (std::string(name) + " must be a Uint32Array").c_str());
    return false;
  }
  *data = static_cast<uint32_t*>(p);
  *len = bytes / 4;
  return true;
}

bool ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Function* out) {
  Napi::Value v = info[i];
  if (!v.IsFunction()) {
    ThrowType(info.Env(), (std::string(name) + " must be a function").c_str());
    return false;
  }
  *out = v.As<Napi::Function>();
  return true;
}

uv_loop_t* EventLoop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

void CallFromLoop(Napi::Env env, Napi::Object recv, Napi::Function fn,
                  const std::initializer_list<napi_value>& args, napi_async_context context) {
  // napi_make_callback needs an object receiver (pitfall 2 in notes/native-fast-path.md).
  napi_value result = nullptr;
  napi_status status = napi_make_callback(env, context, recv, fn, args.size(), args.begin(), &result);
  bool pending = false;
  if (status != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error = nullptr;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

Poller* Poller::Open(uv_loop_t* loop, int fd, void* owner, Callback cb, int* err) {
  Poller* p = new Poller();
  int rc = uv_poll_init(loop, &p->handle_, fd);
  if (rc != 0) {
    delete p;
    *err = -rc;
    return nullptr;
  }
  p->handle_.data = p;
  p->owner_ = owner;
  p->cb_ = cb;
  return p;
}

int Poller::Start(int events) {
  int rc = uv_poll_start(&handle_, events, &Poller::OnPoll);
  if (rc == 0) active_ = true;
  return rc;
}

void Poller::Stop() {
  if (!active_) return;
  // uv_poll_stop removes the fd from epoll at once, so the fd may be closed right after.
  uv_poll_stop(&handle_);
  active_ = false;
}

void Poller::Close() {
  Stop();
  owner_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
           [](uv_handle_t* h) { delete static_cast<Poller*>(h->data); });
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  Poller* p = static_cast<Poller*>(handle->data);
  if (p->owner_ == nullptr || !p->active_) return;
  p->cb_(p->owner_, status, events);
}

}  // namespace kadmesh
