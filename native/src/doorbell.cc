#include "doorbell.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace kadmesh {

Napi::Function Doorbell::Init(Napi::Env env) {
  return Define(env, "Doorbell", {
    InstanceAccessor<&Doorbell::GetFd>("fd"),
    InstanceAccessor<&Doorbell::GetUid>("uid"),
    InstanceAccessor<&Doorbell::GetMode>("mode"),
    InstanceAccessor<&Doorbell::GetClosed>("closed"),
    InstanceMethod<&Doorbell::Ring>("ring"),
    InstanceMethod<&Doorbell::Drain>("drain"),
    InstanceMethod<&Doorbell::Watch>("watch"),
    InstanceMethod<&Doorbell::Unwatch>("unwatch"),
    InstanceMethod<&Doorbell::Close>("close"),
  });
}

// new Doorbell(path, create): create = mkfifo(path, 0600) (fails if it exists); both then open
// O_RDWR|O_NONBLOCK|O_NOFOLLOW (Linux defines O_RDWR on a FIFO: it never blocks and never EPIPEs).
bool Doorbell::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return false;
  bool create = ArgTrue(info, 1);
  if (create && mkfifo(path.c_str(), 0600) != 0) {
    ThrowErrno(env, "mkfifo", errno);
    return false;
  }
  int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (create) unlink(path.c_str());
    ThrowErrno(env, "open", err);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    if (create) unlink(path.c_str());
    ThrowType(env, "path is not a FIFO");
    return false;
  }
  if (create && fchmod(fd, 0600) == 0) st.st_mode = (st.st_mode & ~07777) | 0600;
  fd_ = fd;
  uid_ = st.st_uid;
  mode_ = st.st_mode & 07777;
  KeepAlive();
  return true;
}

Doorbell::~Doorbell() { CloseNow(); }

void Doorbell::CloseNow() {
  if (poller_ != nullptr) {
    poller_->Close();
    poller_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

bool Doorbell::CheckOpen(Napi::Env env) {
  if (fd_ >= 0) return true;
  ThrowClosed(env, "doorbell");
  return false;
}

Napi::Value Doorbell::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value Doorbell::GetUid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), uid_); }
Napi::Value Doorbell::GetMode(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mode_); }
Napi::Value Doorbell::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

// ring() → true when a byte was written, false when the FIFO is full (a wake-up is pending anyway).
Napi::Value Doorbell::Ring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  static const char kByte = 1;
  ssize_t n;
  do {
    n = write(fd_, &kByte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) return Napi::Boolean::New(env, true);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  ThrowErrno(env, "write", errno);
  return env.Undefined();
}

long Doorbell::DrainFd() {
  char buf[256];
  long total = 0;
  for (int i = 0; i < 1024; i++) {  // bounded: the FIFO holds at most 64 KiB by default
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n > 0) {
      total += n;
      if (static_cast<size_t>(n) < sizeof(buf)) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: empty
  }
  return total;
}

// drain() → bytes read (pending rings cleared).
Napi::Value Doorbell::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(DrainFd()));
}

// watch(onRing(bytes)): uv_poll on the fd; on readable, drains the FIFO, then calls onRing.
// onRing(-errno) means the poll failed and watching stopped.
Napi::Value Doorbell::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  Napi::Function fn;
  if (!ArgFunction(info, 0, "onRing", &fn)) return env.Undefined();
  if (poller_ == nullptr) {
    int err = 0;
    poller_ = Poller::Open(EventLoop(env), fd_, this, &Doorbell::OnReadable, &err);
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
  on_ring_ = Napi::Persistent(fn);
  if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, "kadmesh:doorbell", Value());
  return env.Undefined();
}

Napi::Value Doorbell::Unwatch(const Napi::CallbackInfo& info) {
  if (poller_ != nullptr) poller_->Stop();
  return info.Env().Undefined();
}

void Doorbell::OnReadable(void* owner, int status, int events) {
  Doorbell* self = static_cast<Doorbell*>(owner);
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object recv = self->Value();
  // A poll error: stop watching (no spinning on it) and report -errno instead of a count.
  if (status < 0) self->poller_->Stop();
  long n = status < 0 ? status : self->DrainFd();
  CallFromLoop(env, recv, self->on_ring_.Value(), {Napi::Number::New(env, static_cast<double>(n))}, *self->async_);
}

// close(): stops watching, closes the fd. Idempotent. The FIFO file itself is unlinked by JS.
Napi::Value Doorbell::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  LetGo();
  return info.Env().Undefined();
}

}  // namespace kadmesh
