#include "shm.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <ctime>

namespace kadmesh {

namespace {

// Largest region accepted (argument check, not policy: rings are a few MiB).
constexpr double kMaxRegion = 1024.0 * 1024 * 1024;

}  // namespace

void Mapping::Unmap() {
  if (unmapped) return;
  munmap(addr, length);
  unmapped = true;
}

void Mapping::Release() {
  if (--refs > 0) return;
  Unmap();
  delete this;
}

Napi::Function ShmRegion::Init(Napi::Env env) {
  return Define(env, "ShmRegion", {
    InstanceAccessor<&ShmRegion::GetBuffer>("buffer"),
    InstanceAccessor<&ShmRegion::GetByteLength>("byteLength"),
    InstanceAccessor<&ShmRegion::GetUid>("uid"),
    InstanceAccessor<&ShmRegion::GetMode>("mode"),
    InstanceAccessor<&ShmRegion::GetClosed>("closed"),
    InstanceMethod<&ShmRegion::FutexWake>("futexWake"),
    InstanceMethod<&ShmRegion::FutexWait>("futexWait"),
    InstanceMethod<&ShmRegion::Close>("close"),
  });
}

// new ShmRegion(path, byteLength, create)
// create: open(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) + fchmod 0600 + ftruncate(byteLength).
// open:   open(O_NOFOLLOW) an existing file; byteLength is ignored, the file's size is mapped.
// Either way the fd is closed right after mmap; uid and mode come from fstat of that fd.
bool ShmRegion::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return false;
  if (!info[1].IsNumber()) {
    ThrowType(env, "byteLength must be a number");
    return false;
  }
  bool create = ArgTrue(info, 2);
  double requested = info[1].As<Napi::Number>().DoubleValue();
  if (create && !(requested >= 4096 && requested <= kMaxRegion && std::floor(requested) == requested)) {
    ThrowRange(env, "byteLength must be an integer in [4096, 1 GiB]");
    return false;
  }
  int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  int fd = open(path.c_str(), flags, 0600);
  if (fd < 0) {
    ThrowErrno(env, "open", errno);
    return false;
  }
  const char* failed = nullptr;
  struct stat st;
  if (create && fchmod(fd, 0600) != 0) failed = "fchmod";
  if (failed == nullptr && create && ftruncate(fd, static_cast<off_t>(requested)) != 0) failed = "ftruncate";
  if (failed == nullptr && fstat(fd, &st) != 0) failed = "fstat";
  if (failed == nullptr && !S_ISREG(st.st_mode)) {
    close(fd);
    ThrowType(env, "path is not a regular file");
    return false;
  }
  if (failed == nullptr && !(st.st_size >= 4096 && static_cast<double>(st.st_size) <= kMaxRegion)) {
    close(fd);
    if (create) unlink(path.c_str());
    ThrowRange(env, "the file size must be in [4096, 1 GiB]");
    return false;
  }
  void* addr = MAP_FAILED;
  if (failed == nullptr) {
    addr = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) failed = "mmap";
  }
  int err = errno;
  close(fd);
  if (failed != nullptr) {
    if (create) unlink(path.c_str());
    ThrowErrno(env, failed, err);
    return false;
  }
  byte_length_ = static_cast<size_t>(st.st_size);
  uid_ = st.st_uid;
  mode_ = st.st_mode & 07777;
  mapping_ = new Mapping();
  mapping_->addr = addr;
  mapping_->length = byte_length_;
  mapping_->refs = 2;  // this object + the ArrayBuffer
  napi_value ab;
  napi_status status = napi_create_external_arraybuffer(
      env, addr, byte_length_,
      [](napi_env, void*, void* hint) { static_cast<Mapping*>(hint)->Release(); }, mapping_, &ab);
  if (status != napi_ok) {
    mapping_->refs = 1;
    bool pending = false;
    napi_value ignored = nullptr;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    if (create) unlink(path.c_str());
    ThrowError(env, "cannot expose the mapping as an external ArrayBuffer (external buffers disallowed?)");
    return false;  // the destructor releases the last reference and unmaps
  }
  buffer_ = Napi::Persistent(Napi::ArrayBuffer(env, ab));
  return true;
}

ShmRegion::~ShmRegion() {
  buffer_.Reset();
  if (mapping_ != nullptr) mapping_->Release();
}

Napi::Value ShmRegion::GetBuffer(const Napi::CallbackInfo& info) {
  if (closed_ || buffer_.IsEmpty()) {
    ThrowClosed(info.Env(), "shared-memory region");
    return info.Env().Undefined();
  }
  return buffer_.Value();
}
Napi::Value ShmRegion::GetByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), closed_ ? 0 : static_cast<double>(byte_length_));
}
Napi::Value ShmRegion::GetUid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), uid_); }
Napi::Value ShmRegion::GetMode(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mode_); }
Napi::Value ShmRegion::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

uint32_t* ShmRegion::Word(const Napi::CallbackInfo& info, size_t arg) {
  Napi::Env env = info.Env();
  if (closed_ || mapping_ == nullptr) {
    ThrowClosed(env, "shared-memory region");
    return nullptr;
  }
  uint32_t offset = 0;
  if (!ArgU32(info, arg, "byteOffset", &offset)) return nullptr;
  if (offset % 4 != 0 || static_cast<size_t>(offset) + 4 > byte_length_) {
    ThrowRange(env, "byteOffset must be 4-aligned and inside the region");
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(mapping_->addr) + offset);
}

// futexWake(byteOffset, increment) → number of waiters woken.
// Adds `increment` to the word (so a waiter that has not slept yet sees a changed value), then
// FUTEX_WAKE without FUTEX_PRIVATE_FLAG: the waiter may be in another process.
Napi::Value ShmRegion::FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word = Word(info, 0);
  if (word == nullptr) return env.Undefined();
  uint32_t increment = 0;
  if (!ArgU32(info, 1, "increment", &increment)) return env.Undefined();
  if (increment != 0) __atomic_fetch_add(word, increment, __ATOMIC_SEQ_CST);
  long n = syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  if (n < 0) {
    ThrowErrno(env, "futex(FUTEX_WAKE)", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// futexWait(byteOffset, expected, timeoutMs) → 'ok' | 'not-equal' | 'timed-out' (as Atomics.wait).
// Blocks the calling thread: meant for worker threads. 'ok' may be spurious (EINTR); callers
// re-check the ring. timeoutMs = Infinity waits without a timeout.
Napi::Value ShmRegion::FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* word = Word(info, 0);
  if (word == nullptr) return env.Undefined();
  uint32_t expected = 0;
  if (!ArgU32(info, 1, "expected", &expected)) return env.Undefined();
  if (!info[2].IsNumber()) {
    ThrowType(env, "timeoutMs must be a number");
    return env.Undefined();
  }
  double timeout = info[2].As<Napi::Number>().DoubleValue();
  if (!(timeout >= 0)) {
    ThrowRange(env, "timeoutMs must be >= 0");
    return env.Undefined();
  }
  timespec ts;
  timespec* tsp = nullptr;
  if (!std::isinf(timeout)) {
    ts.tv_sec = static_cast<time_t>(timeout / 1000);
    ts.tv_nsec = static_cast<long>(std::fmod(timeout, 1000.0) * 1e6);
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  if (rc == 0 || errno == EINTR) return Napi::String::New(env, "ok");
  if (errno == EAGAIN) return Napi::String::New(env, "not-equal");
  if (errno == ETIMEDOUT) return Napi::String::New(env, "timed-out");
  ThrowErrno(env, "futex(FUTEX_WAIT)", errno);
  return env.Undefined();
}

// close(): detaches the ArrayBuffer (every view over it becomes empty), then unmaps. Idempotent.
// If the detach fails (e.g. the worker's environment is terminating), the memory stays mapped
// and is unmapped when the ArrayBuffer is collected: never unmap under a live view.
Napi::Value ShmRegion::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return env.Undefined();
  closed_ = true;
  bool detached = buffer_.IsEmpty();
  if (!detached) {
    napi_value ab = buffer_.Value();
    bool is_detached = false;
    if (napi_is_detached_arraybuffer(env, ab, &is_detached) == napi_ok && is_detached) {
      detached = true;
    } else {
      detached = napi_detach_arraybuffer(env, ab) == napi_ok;
    }
    buffer_.Reset();
  }
  if (detached && mapping_ != nullptr) mapping_->Unmap();
  return env.Undefined();
}

}  // namespace kadmesh
