#pragma once
#include "common.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

namespace kadmesh {

// A non-blocking UDP socket: sendmmsg from one packed buffer, recvmmsg into preallocated slots,
// either from a uv_poll readable callback (one JS call per batch) or on demand (busy-poll).
class UdpSocket : public Wrapped<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  UdpSocket() = default;
  ~UdpSocket();
  // The constructor (see Wrapped): false with a JS exception pending.
  bool Open(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetFamily(const Napi::CallbackInfo& info);
  Napi::Value GetPort(const Napi::CallbackInfo& info);
  Napi::Value GetRcvbuf(const Napi::CallbackInfo& info);
  Napi::Value GetSndbuf(const Napi::CallbackInfo& info);
  Napi::Value GetBusyPollUs(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value StartRecv(const Napi::CallbackInfo& info);
  Napi::Value StopRecv(const Napi::CallbackInfo& info);
  Napi::Value RecvInto(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  Napi::Value SockOptInt(Napi::Env env, int level, int name);
  // One recvmmsg into the given buffers; returns the count, 0 when nothing is queued, -errno.
  int RecvOnce(uint8_t* slots, size_t slot_size, uint32_t* lengths, uint8_t* from, uint32_t max);
  static void OnReadable(void* owner, int status, int events);
  void DrainReadable();
  void CloseNow();

  int fd_ = -1;
  int family_ = AF_INET;
  Poller* poller_ = nullptr;
  bool receiving_ = false;
  // startRecv buffers and parameters.
  Napi::Reference<Napi::Value> slots_ref_;
  Napi::Reference<Napi::Value> lengths_ref_;
  Napi::Reference<Napi::Value> from_ref_;
  Napi::FunctionReference on_batch_;
  std::unique_ptr<Napi::AsyncContext> async_;
  uint32_t slot_size_ = 0;
  uint32_t max_batch_ = 0;
  uint32_t max_batches_per_wake_ = 0;
  // Scratch vectors for sendmmsg/recvmmsg, sized on first use (kMaxBatch entries at most).
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_in6> names_;
};

}  // namespace kadmesh
