#pragma once
#include "common.h"

namespace kadmesh {

// A FIFO opened O_RDWR|O_NONBLOCK by both processes of a ring pair. The producer writes one byte
// when the consumer is marked asleep; the consumer's event loop watches the fd with uv_poll
// (10.9 µs same-vCPU wake-up vs 26–28 µs for a native waiter thread, notes/native-fast-path.md).
class Doorbell : public Wrapped<Doorbell> {
 public:
  static Napi::Function Init(Napi::Env env);
  Doorbell() = default;
  ~Doorbell();
  // The constructor (see Wrapped): false with a JS exception pending.
  bool Open(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetUid(const Napi::CallbackInfo& info);
  Napi::Value GetMode(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Ring(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value Unwatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  bool CheckOpen(Napi::Env env);
  long DrainFd();
  static void OnReadable(void* owner, int status, int events);
  void CloseNow();

  int fd_ = -1;
  uint32_t uid_ = 0;
  uint32_t mode_ = 0;
  Poller* poller_ = nullptr;
  Napi::FunctionReference on_ring_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace kadmesh
