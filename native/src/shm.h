#pragma once
#include "common.h"

namespace kadmesh {

// A mapping shared by the region object and its external ArrayBuffer: unmapped by an explicit
// close() (after the ArrayBuffer is detached, so no JS view can reach it), or else when both the
// region and the ArrayBuffer have been collected.
struct Mapping {
  void* addr = nullptr;
  size_t length = 0;
  int refs = 0;
  bool unmapped = false;
  void Unmap();
  void Release();  // drops one reference; frees itself (unmapping if needed) at zero
};

// A file-backed MAP_SHARED region (a file under /dev/shm or a tmpdir fallback), plus futex
// wait/wake on 32-bit words inside it.
class ShmRegion : public Wrapped<ShmRegion> {
 public:
  static Napi::Function Init(Napi::Env env);
  ShmRegion() = default;
  ~ShmRegion();
  // The constructor (see Wrapped): false with a JS exception pending.
  bool Open(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetBuffer(const Napi::CallbackInfo& info);
  Napi::Value GetByteLength(const Napi::CallbackInfo& info);
  Napi::Value GetUid(const Napi::CallbackInfo& info);
  Napi::Value GetMode(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value FutexWake(const Napi::CallbackInfo& info);
  Napi::Value FutexWait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  uint32_t* Word(const Napi::CallbackInfo& info, size_t arg);

  Mapping* mapping_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  size_t byte_length_ = 0;
  uint32_t uid_ = 0;
  uint32_t mode_ = 0;
  bool closed_ = false;
};

}  // namespace kadmesh
