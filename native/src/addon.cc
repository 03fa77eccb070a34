// kadmesh native fast path: module entry. Exposes factories (so JS never calls `new` on a
// native class and a fake binding is a plain object), constants and a feature probe.
#include <sys/socket.h>

#include "common.h"
#include "doorbell.h"
#include "shm.h"
#include "udp.h"

namespace kadmesh {

namespace {

struct Constructors {
  Napi::FunctionReference udp;
  Napi::FunctionReference shm;
  Napi::FunctionReference doorbell;
};

Constructors* Ctors(Napi::Env env) { return env.GetInstanceData<Constructors>(); }

// Raw napi_new_instance (see common.h): a constructor that threw leaves its exception pending and
// returns undefined here.
Napi::Value Construct(const Napi::CallbackInfo& info, const Napi::FunctionReference& ctor,
                      std::initializer_list<napi_value> args) {
  napi_value result = NewInstance(info.Env(), ctor, args);
  return result == nullptr ? info.Env().Undefined() : Napi::Value(info.Env(), result);
}

Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  return Construct(info, Ctors(info.Env())->udp, {info[0]});
}

Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  return Construct(info, Ctors(info.Env())->shm, {info[0], info[1], Napi::Boolean::New(info.Env(), true)});
}

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  return Construct(info, Ctors(info.Env())->shm, {info[0], Napi::Number::New(info.Env(), 0), Napi::Boolean::New(info.Env(), false)});
}

Napi::Value DoorbellCreate(const Napi::CallbackInfo& info) {
  return Construct(info, Ctors(info.Env())->doorbell, {info[0], Napi::Boolean::New(info.Env(), true)});
}

Napi::Value DoorbellOpen(const Napi::CallbackInfo& info) {
  return Construct(info, Ctors(info.Env())->doorbell, {info[0], Napi::Boolean::New(info.Env(), false)});
}

Napi::Value Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  uint32_t napi = 0;
  napi_get_version(env, &napi);
  SetProperty(env, out, "napiVersion", Napi::Number::New(env, napi));
#ifdef SO_BUSY_POLL
  SetProperty(env, out, "busyPoll", Napi::Boolean::New(env, true));
#else
  SetProperty(env, out, "busyPoll", Napi::Boolean::New(env, false));
#endif
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Constructors* ctors = new Constructors();
  ctors->udp = Napi::Persistent(UdpSocket::Init(env));
  ctors->shm = Napi::Persistent(ShmRegion::Init(env));
  ctors->doorbell = Napi::Persistent(Doorbell::Init(env));
  env.SetInstanceData(ctors);
  SetProperty(env, exports, "abiVersion", Napi::Number::New(env, kAbiVersion));
  SetProperty(env, exports, "addressSize", Napi::Number::New(env, kAddressSize));
  SetProperty(env, exports, "maxBatch", Napi::Number::New(env, kMaxBatch));
  SetProperty(env, exports, "features", Napi::Function::New(env, Features, "features"));
  SetProperty(env, exports, "udpOpen", Napi::Function::New(env, UdpOpen, "udpOpen"));
  SetProperty(env, exports, "shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  SetProperty(env, exports, "shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  SetProperty(env, exports, "doorbellCreate", Napi::Function::New(env, DoorbellCreate, "doorbellCreate"));
  SetProperty(env, exports, "doorbellOpen", Napi::Function::New(env, DoorbellOpen, "doorbellOpen"));
  return exports;
}

}  // namespace

}  // namespace kadmesh

static Napi::Object InitKadmesh(Napi::Env env, Napi::Object exports) { return kadmesh::Init(env, exports); }

NODE_API_MODULE(kadmesh_native, InitKadmesh)
