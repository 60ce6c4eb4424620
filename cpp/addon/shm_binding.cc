// ShmChannel: a channel file mapped by C++ (cpp/shm/shm.h) and handed to JS as an external
// ArrayBuffer, plus the futex waits the TS ring uses on it (lib/channel/shm.ts).
//
// Lifetime: the mapping is reference-counted. The ArrayBuffer holds one reference (dropped by its
// finalizer), each async waiter thread holds one while it lives. close() detaches the ArrayBuffer,
// so every JS view of it becomes empty (stray use reads nothing instead of touching unmapped
// memory), and stops the waiter threads; munmap happens when the last reference goes.
//
// Async waits: a dedicated thread per waiting side (not the libuv pool, whose four threads fs and
// crypto need) sleeps on the futex and reports through a thread-safe function; the TSFN is unref'd,
// the caller (lib/core/park.ts parkAsync) keeps the event loop alive with a timer while it waits.
#include "addon.h"

#if defined(__linux__)

#include <array>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shm/futex.h"
#include "ring/layout.h"
#include "shm/shm.h"

namespace ringwire::addon {
namespace {

const char* CodeName(shm::Code code) {
  switch (code) {
    case shm::Code::kNotFound: return "ERR_NO_SUCH_CHANNEL";
    case shm::Code::kNotAChannel: return "ERR_NOT_A_CHANNEL";
    default: return "ERR_SYSTEM";
  }
}

Napi::Error OpenError(Napi::Env env, const shm::OpenResult& r) {
  Napi::Error err = MakeError(env, CodeName(r.code), r.message);
  if (r.sys_errno != 0) err.Set("errno", Napi::Number::New(env, r.sys_errno));
  return err;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw ArgTypeError(info.Env(), std::string(what) + " must be a string");
  }
  std::string s = info[index].As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) {
    throw ArgTypeError(info.Env(), std::string(what) + " must be a non-empty string without NUL characters");
  }
  return s;
}

// Milliseconds (a number, Infinity or negative meaning no limit) to nanoseconds (-1: no limit).
int64_t TimeoutArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsNumber()) throw ArgTypeError(info.Env(), "timeoutMs must be a number");
  double ms = info[index].As<Napi::Number>().DoubleValue();
  if (!(ms >= 0) || ms > 1e12) return -1;  // NaN, negative, Infinity: no limit
  return int64_t(ms * 1e6);
}

// One waiting side's thread: takes one request at a time (word offset, value, timeout), sleeps on
// the futex, and reports the result to JS as onWake(offset, result).
class AsyncWaiter {
 public:
  AsyncWaiter(Napi::Env env, Napi::Function on_wake, std::shared_ptr<shm::Mapping> mapping, uint32_t offset)
      : env_(env), mapping_(std::move(mapping)), offset_(offset) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, on_wake, "ringwire.futexWaiter", 0, 1);
    tsfn_.Unref(env);
    // Registered after the TSFN's own cleanup hook, so it runs before it (hooks run in reverse):
    // the thread is joined while the TSFN is still valid.
    napi_add_env_cleanup_hook(env, &AsyncWaiter::OnEnvCleanup, this);
    thread_ = std::thread([this] { Run(); });
  }
  ~AsyncWaiter() {
    Stop();
    napi_remove_env_cleanup_hook(env_, &AsyncWaiter::OnEnvCleanup, this);
  }
  AsyncWaiter(const AsyncWaiter&) = delete;
  AsyncWaiter& operator=(const AsyncWaiter&) = delete;

  void Start(uint32_t value, int64_t timeout_ns) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      value_ = value;
      timeout_ns_ = timeout_ns;
      requested_ = true;
    }
    cv_.notify_one();
  }

  // Joins the thread (the JS thread calls this; the thread never blocks on JS).
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_one();
    // Cut a sleep short; other sleepers on this word re-check their condition and sleep again.
    // Repeated until the thread has left: a wake sent between its check of stopped_ and its entry
    // into FUTEX_WAIT is lost, and it would sleep out its whole timeout while we block in join.
    std::unique_lock<std::mutex> lock(mu_);
    while (!exited_ && thread_.joinable()) {
      lock.unlock();
      futex::Wake(Word());
      lock.lock();
      exited_cv_.wait_for(lock, std::chrono::milliseconds(1), [this] { return exited_; });
    }
    lock.unlock();
    if (thread_.joinable()) thread_.join();
  }

 private:
  static void OnEnvCleanup(void* self) { static_cast<AsyncWaiter*>(self)->Stop(); }

  const uint32_t* Word() const { return reinterpret_cast<const uint32_t*>(mapping_->base + offset_); }

  void Run() {
    bool closing = false;  // the TSFN said napi_closing: it may be freed, so no Release either
    for (;;) {
      uint32_t value;
      int64_t timeout_ns;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopped_ || requested_; });
        if (stopped_) break;
        requested_ = false;
        value = value_;
        timeout_ns = timeout_ns_;
      }
      int32_t r = futex::WaitCode(Word(), value, timeout_ns);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_) break;  // nobody waits for it any more (and the env may be going away)
      }
      auto* result = new int32_t(r);
      // Non-blocking (unbounded queue): this thread never waits for the JS thread, so Stop() can
      // join it from the JS thread without deadlock.
      napi_status st = tsfn_.NonBlockingCall(result, [offset = offset_](Napi::Env env, Napi::Function fn, int32_t* res) {
        int32_t v = *res;
        delete res;
        if (env == nullptr || fn.IsEmpty()) return;  // the environment is being torn down
        // The raw call: a failure here (the env shutting down) must not become a C++ exception
        // thrown through the TSFN trampoline, which would terminate the process.
        napi_value args[2];
        napi_value ignored;
        if (napi_create_uint32(env, offset, &args[0]) != napi_ok || napi_create_int32(env, v, &args[1]) != napi_ok) return;
        napi_call_function(env, env.Undefined(), fn, 2, args, &ignored);
      });
      if (st != napi_ok) delete result;
      if (st == napi_closing) {
        closing = true;
        break;
      }
    }
    if (!closing) tsfn_.Release();
    {
      std::lock_guard<std::mutex> lock(mu_);
      exited_ = true;
    }
    exited_cv_.notify_all();
  }

  napi_env env_;
  std::shared_ptr<shm::Mapping> mapping_;
  uint32_t offset_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable exited_cv_;
  bool requested_ = false;
  bool stopped_ = false;
  bool exited_ = false;  // Run has returned from its last use of the TSFN (guarded by mu_)
  uint32_t value_ = 0;
  int64_t timeout_ns_ = -1;
};

class ShmChannel : public Napi::ObjectWrap<ShmChannel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ShmChannel",
                       {InstanceAccessor<&ShmChannel::Buffer>("buffer"),
                        InstanceAccessor<&ShmChannel::Created>("created"),
                        InstanceMethod<&ShmChannel::Wait>("wait"),
                        InstanceMethod<&ShmChannel::WaitAsync>("waitAsync"),
                        InstanceMethod<&ShmChannel::Wake>("wake"),
                        InstanceMethod<&ShmChannel::HolderDead>("holderDead"),
                        InstanceMethod<&ShmChannel::Close>("close")});
  }

  // new ShmChannel(path, create, noFollow, capacity, maxMessageBytes, codec, mode, onWake)
  explicit ShmChannel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ShmChannel>(info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info, 0, "path");
    shm::OpenOptions o;
    o.create = info[1].ToBoolean();
    o.no_follow = info[2].ToBoolean();
    o.capacity = Uint32Arg(info, 3, "capacity");
    o.max_message = Uint32Arg(info, 4, "maxMessageBytes");
    o.codec = Uint32Arg(info, 5, "codec");
    o.mode = Uint32Arg(info, 6, "mode", 0777);  // permission bits only: no setuid, setgid or sticky
    if (info.Length() <= 7 || !info[7].IsFunction()) throw ArgTypeError(env, "onWake must be a function");
    on_wake_ = Napi::Persistent(info[7].As<Napi::Function>());
    shm::OpenResult r = shm::Open(path, o);
    if (r.code != shm::Code::kOk) throw OpenError(env, r);
    mapping_ = r.mapping;
    created_ = r.created;
    // The buffer owns one reference to the mapping, released by its finalizer.
    auto* ref = new std::shared_ptr<shm::Mapping>(mapping_);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, mapping_->base, mapping_->size,
                                                  [](Napi::Env, void*, std::shared_ptr<shm::Mapping>* hint) { delete hint; }, ref);
    buffer_ = Napi::Persistent(ab);
  }

  ~ShmChannel() override { StopWaiters(); }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    if (buffer_.IsEmpty()) return info.Env().Undefined();
    return buffer_.Value();
  }
  Napi::Value Created(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), created_); }

  // A 4-aligned word of the control block, or throws.
  uint32_t OffsetArg(const Napi::CallbackInfo& info, size_t index) {
    if (mapping_ == nullptr) throw MakeError(info.Env(), "ERR_CHANNEL_CLOSED", "the channel is closed");
    uint32_t off = Uint32Arg(info, index, "offset", uint32_t(layout::kControlBytes - 4));
    if (off % 4 != 0) throw ArgRangeError(info.Env(), "offset must be a multiple of 4");
    return off;
  }
  uint32_t* Word(uint32_t off) { return reinterpret_cast<uint32_t*>(mapping_->base + off); }

  // wait(offset, value, timeoutMs) -> 0 (woken / value differs / interrupted) or 1 (timed out).
  // Blocks the calling thread, like Atomics.wait.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    uint32_t off = OffsetArg(info, 0);
    if (info.Length() <= 1 || !info[1].IsNumber()) throw ArgTypeError(info.Env(), "value must be a number");
    uint32_t value = uint32_t(info[1].As<Napi::Number>().Int32Value());
    int64_t timeout = TimeoutArg(info, 2);
    return Napi::Number::New(info.Env(), futex::WaitCode(Word(off), value, timeout));
  }

  // waitAsync(offset, value, timeoutMs): the waiter thread of `offset` sleeps; onWake(offset,
  // result) is called on this thread afterwards. One request per offset at a time.
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    uint32_t off = OffsetArg(info, 0);
    if (info.Length() <= 1 || !info[1].IsNumber()) throw ArgTypeError(info.Env(), "value must be a number");
    uint32_t value = uint32_t(info[1].As<Napi::Number>().Int32Value());
    int64_t timeout = TimeoutArg(info, 2);
    AsyncWaiter* w = nullptr;
    for (auto& slot : waiters_) {
      if (slot.waiter != nullptr && slot.offset == off) w = slot.waiter.get();
    }
    if (w == nullptr) {
      for (auto& slot : waiters_) {
        if (slot.waiter == nullptr) {
          slot.offset = off;
          slot.waiter = std::make_unique<AsyncWaiter>(info.Env(), on_wake_.Value(), mapping_, off);
          w = slot.waiter.get();
          break;
        }
      }
    }
    if (w == nullptr) throw ArgRangeError(info.Env(), "at most two words can be waited on asynchronously");
    w->Start(value, timeout);
    return info.Env().Undefined();
  }

  // wake(offset) -> how many sleepers (in any process) were woken.
  Napi::Value Wake(const Napi::CallbackInfo& info) {
    uint32_t off = OffsetArg(info, 0);
    return Napi::Number::New(info.Env(), futex::Wake(Word(off)));
  }

  // holderDead(role, owner) -> whether the thread `owner`, as the holder of role (0 sender, 1
  // receiver), has ended (shm::HolderDead; the TS library has its own, tests compare the two).
  Napi::Value HolderDead(const Napi::CallbackInfo& info) {
    if (mapping_ == nullptr) throw MakeError(info.Env(), "ERR_CHANNEL_CLOSED", "the channel is closed");
    uint32_t role = Uint32Arg(info, 0, "role", 1);
    if (info.Length() <= 1 || !info[1].IsNumber()) throw ArgTypeError(info.Env(), "owner must be a number");
    int32_t owner = info[1].As<Napi::Number>().Int32Value();
    return Napi::Boolean::New(info.Env(), shm::HolderDead(mapping_->base, int(role), owner));
  }

  // close(): stops the waiter threads and detaches the buffer (every view of it becomes empty).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopWaiters();
    DetachBuffer(buffer_);
    mapping_.reset();
    return info.Env().Undefined();
  }

  void StopWaiters() {
    for (auto& slot : waiters_) slot.waiter.reset();
  }

  struct Slot {
    uint32_t offset = 0;
    std::unique_ptr<AsyncWaiter> waiter;
  };
  std::shared_ptr<shm::Mapping> mapping_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Napi::FunctionReference on_wake_;
  std::array<Slot, 2> waiters_;
  bool created_ = false;
};

// unlinkChannel(path, checkMagic) -> true if removed, false if there was nothing there.
Napi::Value UnlinkChannel(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  shm::OpenResult r = shm::Unlink(path, info.Length() > 1 && info[1].ToBoolean());
  if (r.code == shm::Code::kNotFound) return Napi::Boolean::New(info.Env(), false);
  if (r.code != shm::Code::kOk) throw OpenError(info.Env(), r);
  return Napi::Boolean::New(info.Env(), true);
}

}  // namespace

void InitShmBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("ShmChannel", ShmChannel::Define(env));
  exports.Set("unlinkChannel", Napi::Function::New(env, UnlinkChannel, "unlinkChannel"));
}

}  // namespace ringwire::addon

#else  // not Linux: the addon still builds; channel files (O_TMPFILE, futexes, /proc) say why not.

namespace ringwire::addon {
void InitShmBindings(Napi::Env env, Napi::Object exports) {
  auto unsupported = [](const Napi::CallbackInfo& info) -> Napi::Value {
    throw MakeError(info.Env(), "ERR_NATIVE", "channel files between processes are supported on Linux only");
  };
  for (const char* name : {"ShmChannel", "unlinkChannel"}) exports.Set(name, Napi::Function::New(env, unsupported, name));
}
}  // namespace ringwire::addon

#endif
