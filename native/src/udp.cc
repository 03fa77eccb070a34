#include "udp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kadmesh {

namespace {

// Parses `host` into a sockaddr of the given family (or either family when family == 0).
bool ParseHost(const std::string& host, uint16_t port, int family, sockaddr_in6* out, socklen_t* len) {
  std::memset(out, 0, sizeof(*out));
  if (family != AF_INET6) {
    sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(out);
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      *len = sizeof(sockaddr_in);
      return true;
    }
  }
  if (family != AF_INET) {
    if (inet_pton(AF_INET6, host.c_str(), &out->sin6_addr) == 1) {
      out->sin6_family = AF_INET6;
      out->sin6_port = htons(port);
      *len = sizeof(sockaddr_in6);
      return true;
    }
  }
  return false;
}

// Writes the 24-byte address record (see common.h).
void EncodeAddress(const sockaddr_in6* sa, uint8_t* out, uint8_t flags) {
  std::memset(out, 0, kAddressSize);
  out[1] = flags;
  if (sa->sin6_family == AF_INET) {
    const sockaddr_in* sin = reinterpret_cast<const sockaddr_in*>(sa);
    out[0] = 4;
    std::memcpy(out + 2, &sin->sin_port, 2);
    std::memcpy(out + 4, &sin->sin_addr, 4);
  } else if (sa->sin6_family == AF_INET6) {
    out[0] = 6;
    std::memcpy(out + 2, &sa->sin6_port, 2);
    std::memcpy(out + 4, &sa->sin6_addr, 16);
    std::memcpy(out + 20, &sa->sin6_scope_id, 4);
  }
}

// Reads a 24-byte address record; false when the family byte is neither 4 nor 6.
bool DecodeAddress(const uint8_t* in, sockaddr_in6* sa, socklen_t* len) {
  std::memset(sa, 0, sizeof(*sa));
  if (in[0] == 4) {
    sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(sa);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_port, in + 2, 2);
    std::memcpy(&sin->sin_addr, in + 4, 4);
    *len = sizeof(sockaddr_in);
    return true;
  }
  if (in[0] == 6) {
    sa->sin6_family = AF_INET6;
    std::memcpy(&sa->sin6_port, in + 2, 2);
    std::memcpy(&sa->sin6_addr, in + 4, 16);
    std::memcpy(&sa->sin6_scope_id, in + 20, 4);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool OptU32(Napi::Env env, Napi::Object opts, const char* key, uint32_t* out) {
  napi_value raw = nullptr;
  if (!GetProperty(env, opts, key, &raw)) return false;
  Napi::Value v(env, raw);
  if (!v.IsNumber()) {
    ThrowType(env, (std::string("options.") + key + " must be a number").c_str());
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || static_cast<double>(static_cast<uint32_t>(d)) != d) {
    ThrowRange(env, (std::string("options.") + key + " must be an integer in [0, 2^31)").c_str());
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

}  // namespace

Napi::Function UdpSocket::Init(Napi::Env env) {
  return Define(env, "UdpSocket", {
    InstanceAccessor<&UdpSocket::GetFd>("fd"),
    InstanceAccessor<&UdpSocket::GetFamily>("family"),
    InstanceAccessor<&UdpSocket::GetPort>("port"),
    InstanceAccessor<&UdpSocket::GetRcvbuf>("rcvbuf"),
    InstanceAccessor<&UdpSocket::GetSndbuf>("sndbuf"),
    InstanceAccessor<&UdpSocket::GetBusyPollUs>("busyPollUs"),
    InstanceAccessor<&UdpSocket::GetClosed>("closed"),
    InstanceMethod<&UdpSocket::Connect>("connect"),
    InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
    InstanceMethod<&UdpSocket::StartRecv>("startRecv"),
    InstanceMethod<&UdpSocket::StopRecv>("stopRecv"),
    InstanceMethod<&UdpSocket::RecvInto>("recvInto"),
    InstanceMethod<&UdpSocket::Close>("close"),
  });
}

// new UdpSocket({ host, port, reusePort, rcvbuf, sndbuf, busyPollUs }); 0 leaves a size as is.
bool UdpSocket::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    ThrowType(env, "options must be an object");
    return false;
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  napi_value host_raw = nullptr;
  if (!GetProperty(env, opts, "host", &host_raw)) return false;
  Napi::Value host_v(env, host_raw);
  if (!host_v.IsString()) {
    ThrowType(env, "options.host must be a string");
    return false;
  }
  std::string host = host_v.As<Napi::String>().Utf8Value();
  uint32_t port = 0, rcvbuf = 0, sndbuf = 0, busy = 0;
  if (!OptU32(env, opts, "port", &port) || !OptU32(env, opts, "rcvbuf", &rcvbuf) ||
      !OptU32(env, opts, "sndbuf", &sndbuf) || !OptU32(env, opts, "busyPollUs", &busy)) {
    return false;
  }
  if (port > 65535) {
    ThrowRange(env, "options.port must be in [0, 65535]");
    return false;
  }
  napi_value reuse_raw = nullptr;
  bool reuse_port = false;
  if (!GetProperty(env, opts, "reusePort", &reuse_raw)) return false;
  napi_get_value_bool(env, reuse_raw, &reuse_port);  // anything but a boolean: false

  sockaddr_in6 addr;
  socklen_t addr_len = 0;
  if (!ParseHost(host, static_cast<uint16_t>(port), 0, &addr, &addr_len)) {
    ThrowType(env, "options.host must be an IPv4 or IPv6 address literal");
    return false;
  }
  family_ = addr.sin6_family;
  int fd = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return false;
  }
  int one = 1;
  const char* failed = nullptr;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) failed = "setsockopt(SO_REUSEPORT)";
  int size = static_cast<int>(rcvbuf);
  if (failed == nullptr && rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) failed = "setsockopt(SO_RCVBUF)";
  size = static_cast<int>(sndbuf);
  if (failed == nullptr && sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0) failed = "setsockopt(SO_SNDBUF)";
#ifdef SO_BUSY_POLL
  // Pass-through; may be refused on some kernels. The effective value is readable as busyPollUs.
  int busy_us = static_cast<int>(busy);
  if (busy > 0) setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &busy_us, sizeof(busy_us));
#endif
  if (failed == nullptr && bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) failed = "bind";
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    ThrowErrno(env, failed, err);
    return false;
  }
  fd_ = fd;
  // An open socket is never collected: it is closed explicitly (STYLE: never by GC).
  KeepAlive();
  return true;
}

UdpSocket::~UdpSocket() { CloseNow(); }

void UdpSocket::CloseNow() {
  if (poller_ != nullptr) {
    poller_->Close();
    poller_ = nullptr;
  }
  receiving_ = false;
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

bool UdpSocket::CheckOpen(Napi::Env env) {
  if (fd_ >= 0) return true;
  ThrowClosed(env, "UDP socket");
  return false;
}

Napi::Value UdpSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value UdpSocket::GetFamily(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), family_ == AF_INET6 ? 6 : 4);
}
Napi::Value UdpSocket::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

Napi::Value UdpSocket::GetPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  sockaddr_in6 addr;
  socklen_t len = sizeof(addr);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ThrowErrno(env, "getsockname", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, ntohs(addr.sin6_port));  // sin_port and sin6_port share the offset
}

Napi::Value UdpSocket::SockOptInt(Napi::Env env, int level, int name) {
  if (!CheckOpen(env)) return env.Undefined();
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd_, level, name, &value, &len) != 0) {
    ThrowErrno(env, "getsockopt", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, value);
}

Napi::Value UdpSocket::GetRcvbuf(const Napi::CallbackInfo& info) { return SockOptInt(info.Env(), SOL_SOCKET, SO_RCVBUF); }
Napi::Value UdpSocket::GetSndbuf(const Napi::CallbackInfo& info) { return SockOptInt(info.Env(), SOL_SOCKET, SO_SNDBUF); }
Napi::Value UdpSocket::GetBusyPollUs(const Napi::CallbackInfo& info) {
#ifdef SO_BUSY_POLL
  return SockOptInt(info.Env(), SOL_SOCKET, SO_BUSY_POLL);
#else
  return Napi::Number::New(info.Env(), 0);
#endif
}

// connect(host, port)
Napi::Value UdpSocket::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  std::string host;
  uint32_t port = 0;
  if (!ArgString(info, 0, "host", &host) || !ArgU32(info, 1, "port", &port)) return env.Undefined();
  if (port == 0 || port > 65535) {
    ThrowRange(env, "port must be in [1, 65535]");
    return env.Undefined();
  }
  sockaddr_in6 addr;
  socklen_t len = 0;
  if (!ParseHost(host, static_cast<uint16_t>(port), family_, &addr, &len)) {
    ThrowType(env, "host must be an address literal of the socket's family");
    return env.Undefined();
  }
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) ThrowErrno(env, "connect", errno);
  return env.Undefined();
}

// sendBatch(data: Uint8Array, lengths: Uint32Array, count, to: Uint8Array | null) → number
// One sendmmsg: datagram i is the next lengths[i] bytes of `data`, sent to the i-th 24-byte
// record of `to` (or to the connected peer when `to` is null). Returns how many the kernel took,
// or -errno when it took none (EAGAIN: the send buffer is full; others: the first datagram failed).
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint8_t* data = nullptr;
  size_t data_len = 0;
  uint32_t* lengths = nullptr;
  size_t lengths_len = 0;
  uint32_t count = 0;
  if (!ArgBytes(info, 0, "data", &data, &data_len) || !ArgU32Array(info, 1, "lengths", &lengths, &lengths_len) ||
      !ArgU32(info, 2, "count", &count)) {
    return env.Undefined();
  }
  uint8_t* to = nullptr;
  size_t to_len = 0;
  if (!info[3].IsNull() && !info[3].IsUndefined() && !ArgBytes(info, 3, "to", &to, &to_len)) return env.Undefined();
  if (count > kMaxBatch || count > lengths_len) {
    ThrowRange(env, "count must be at most lengths.length and 1024");
    return env.Undefined();
  }
  if (to != nullptr && to_len < static_cast<size_t>(count) * kAddressSize) {
    ThrowRange(env, "to must hold count address records");
    return env.Undefined();
  }
  if (count == 0) return Napi::Number::New(env, 0);
  if (msgs_.size() < kMaxBatch) {
    msgs_.resize(kMaxBatch);
    iovs_.resize(kMaxBatch);
    names_.resize(kMaxBatch);
  }
  size_t offset = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (lengths[i] > data_len - offset) {
      ThrowRange(env, "lengths exceed data.byteLength");
      return env.Undefined();
    }
    iovs_[i].iov_base = data + offset;
    iovs_[i].iov_len = lengths[i];
    offset += lengths[i];
    msghdr& h = msgs_[i].msg_hdr;
    std::memset(&h, 0, sizeof(h));
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    if (to != nullptr) {
      socklen_t len = 0;
      if (!DecodeAddress(to + i * kAddressSize, &names_[i], &len)) {
        ThrowType(env, "to holds an address record with an unknown family");
        return env.Undefined();
      }
      h.msg_name = &names_[i];
      h.msg_namelen = len;
    }
  }
  int n;
  do {
    n = sendmmsg(fd_, msgs_.data(), count, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n >= 0 ? n : -errno);
}

int UdpSocket::RecvOnce(uint8_t* slots, size_t slot_size, uint32_t* lengths, uint8_t* from, uint32_t max) {
  if (msgs_.size() < kMaxBatch) {
    msgs_.resize(kMaxBatch);
    iovs_.resize(kMaxBatch);
    names_.resize(kMaxBatch);
  }
  for (uint32_t i = 0; i < max; i++) {
    iovs_[i].iov_base = slots + static_cast<size_t>(i) * slot_size;
    iovs_[i].iov_len = slot_size;
    msghdr& h = msgs_[i].msg_hdr;
    std::memset(&h, 0, sizeof(h));
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    h.msg_name = &names_[i];
    h.msg_namelen = sizeof(sockaddr_in6);
  }
  int n;
  do {
    n = recvmmsg(fd_, msgs_.data(), max, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    lengths[i] = msgs_[i].msg_len;
    uint8_t flags = (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) ? kAddressTruncated : 0;
    EncodeAddress(&names_[i], from + static_cast<size_t>(i) * kAddressSize, flags);
  }
  return n;
}

namespace {

// Checks the receive buffers against slotSize × max; returns false with a JS exception pending.
bool CheckRecvBuffers(Napi::Env env, size_t slots_len, uint32_t slot_size, size_t lengths_len, size_t from_len,
                      uint32_t max) {
  if (max == 0 || max > kMaxBatch) {
    ThrowRange(env, "maxBatch must be in [1, 1024]");
    return false;
  }
  if (slot_size == 0 || slot_size > 65536) {
    ThrowRange(env, "slotSize must be in [1, 65536]");
    return false;
  }
  if (slots_len < static_cast<size_t>(slot_size) * max || lengths_len < max || from_len < max * kAddressSize) {
    ThrowRange(env, "slots, lengths and from must hold maxBatch entries");
    return false;
  }
  return true;
}

}  // namespace

// recvInto(slots, slotSize, lengths, from, max) → count (0: nothing queued) or -errno.
Napi::Value UdpSocket::RecvInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  uint8_t* slots = nullptr;
  size_t slots_len = 0;
  uint32_t slot_size = 0, max = 0;
  uint32_t* lengths = nullptr;
  size_t lengths_len = 0;
  uint8_t* from = nullptr;
  size_t from_len = 0;
  if (!ArgBytes(info, 0, "slots", &slots, &slots_len) || !ArgU32(info, 1, "slotSize", &slot_size) ||
      !ArgU32Array(info, 2, "lengths", &lengths, &lengths_len) || !ArgBytes(info, 3, "from", &from, &from_len) ||
      !ArgU32(info, 4, "max", &max)) {
    return env.Undefined();
  }
  if (!CheckRecvBuffers(env, slots_len, slot_size, lengths_len, from_len, max)) return env.Undefined();
  return Napi::Number::New(env, RecvOnce(slots, slot_size, lengths, from, max));
}

// startRecv(slots, slotSize, lengths, from, maxBatch, maxBatchesPerWake, onBatch(count, stopped))
// On readable: up to maxBatchesPerWake recvmmsg calls, one onBatch per call that returned
// something (count < 0 is -errno of a failed call). The buffers are reused after onBatch returns.
// stopped = true: receiving stopped (uv_poll error, or the buffers were detached by JS).
Napi::Value UdpSocket::StartRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (receiving_) {
    ThrowError(env, "already receiving");
    return env.Undefined();
  }
  uint8_t* slots = nullptr;
  size_t slots_len = 0;
  uint32_t slot_size = 0, max = 0, per_wake = 0;
  uint32_t* lengths = nullptr;
  size_t lengths_len = 0;
  uint8_t* from = nullptr;
  size_t from_len = 0;
  Napi::Function on_batch;
  if (!ArgBytes(info, 0, "slots", &slots, &slots_len) || !ArgU32(info, 1, "slotSize", &slot_size) ||
      !ArgU32Array(info, 2, "lengths", &lengths, &lengths_len) || !ArgBytes(info, 3, "from", &from, &from_len) ||
      !ArgU32(info, 4, "maxBatch", &max) || !ArgU32(info, 5, "maxBatchesPerWake", &per_wake) ||
      !ArgFunction(info, 6, "onBatch", &on_batch)) {
    return env.Undefined();
  }
  if (!CheckRecvBuffers(env, slots_len, slot_size, lengths_len, from_len, max)) return env.Undefined();
  if (per_wake == 0) {
    ThrowRange(env, "maxBatchesPerWake must be at least 1");
    return env.Undefined();
  }
  if (poller_ == nullptr) {
    int err = 0;
    poller_ = Poller::Open(EventLoop(env), fd_, this, &UdpSocket::OnReadable, &err);
    if (poller_ == nullptr) {
      ThrowErrno(env, "uv_poll_init", err);
      return env.Undefined();
    }
  }
  int rc = poller_->Start(UV_READABLE);
  if (rc != 0) {
    ThrowErrno(env, "uv_poll_start", -rc);
    return env.Undefined();
  }
  slots_ref_ = Napi::Persistent(info[0]);
  lengths_ref_ = Napi::Persistent(info[2]);
  from_ref_ = Napi::Persistent(info[3]);
  on_batch_ = Napi::Persistent(on_batch);
  if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, "kadmesh:udp", Value());
  slot_size_ = slot_size;
  max_batch_ = max;
  max_batches_per_wake_ = per_wake;
  receiving_ = true;
  return env.Undefined();
}

Napi::Value UdpSocket::StopRecv(const Napi::CallbackInfo& info) {
  if (poller_ != nullptr) poller_->Stop();
  receiving_ = false;
  return info.Env().Undefined();
}

void UdpSocket::OnReadable(void* owner, int status, int events) {
  UdpSocket* self = static_cast<UdpSocket*>(owner);
  if (status < 0) {
    // The poll itself failed: stop rather than spin on a level-triggered error, and say so.
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->poller_->Stop();
    self->receiving_ = false;
    CallFromLoop(env, self->Value(), self->on_batch_.Value(),
                 {Napi::Number::New(env, status), Napi::Boolean::New(env, true)}, *self->async_);
    return;
  }
  self->DrainReadable();
}

void UdpSocket::DrainReadable() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object self = Value();
  for (uint32_t b = 0; b < max_batches_per_wake_ && receiving_ && fd_ >= 0; b++) {
    void* slots = nullptr;
    void* lengths = nullptr;
    void* from = nullptr;
    size_t slots_len = 0, lengths_len = 0, from_len = 0;
    if (!TypedArrayData(env, slots_ref_.Value(), &slots, &slots_len) ||
        !TypedArrayData(env, lengths_ref_.Value(), &lengths, &lengths_len) ||
        !TypedArrayData(env, from_ref_.Value(), &from, &from_len) ||
        slots_len < static_cast<size_t>(slot_size_) * max_batch_ || lengths_len < max_batch_ * 4u ||
        from_len < max_batch_ * kAddressSize) {
      // The buffers were detached (transferred) by JS: stop instead of writing into freed memory.
      poller_->Stop();
      receiving_ = false;
      CallFromLoop(env, self, on_batch_.Value(), {Napi::Number::New(env, -EFAULT), Napi::Boolean::New(env, true)}, *async_);
      return;
    }
    int n = RecvOnce(static_cast<uint8_t*>(slots), slot_size_, static_cast<uint32_t*>(lengths),
                     static_cast<uint8_t*>(from), max_batch_);
    if (n == 0) return;
    CallFromLoop(env, self, on_batch_.Value(), {Napi::Number::New(env, n), Napi::Boolean::New(env, false)}, *async_);
    if (n > 0 && static_cast<uint32_t>(n) < max_batch_) return;  // drained
  }
}

Napi::Value UdpSocket::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  LetGo();
  return info.Env().Undefined();
}

}  // namespace kadmesh
