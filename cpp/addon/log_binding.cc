// The persistent log's native half (format: log_format.h; the TS half: lib/log/). JS appends and
// reads records directly in mapped memory (a Node-API call per record would cost more than the
// record); this file does what JS cannot: create/preallocate/map/unmap files, the writer lock,
// msync, touching pages ahead of the writer, futex wait/wake across processes, CRC32C with the
// hardware instruction (bulk commit of a batch, verify, recovery scans).
//
// A LogFile owns one mapping. The mapping is shared (std::shared_ptr) by the external ArrayBuffer
// handed to JS, by the background threads and by waiters, and is unmapped when the last of them
// lets go. close() detaches the ArrayBuffer first, so a JS view can never reach unmapped memory.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "addon.h"
#include "log/format.h"
#include "log/scan.h"
#include "shm/futex.h"
#include "shm/shm.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4  // Linux 5.7 (file mappings: 5.13); older kernels say EINVAL
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels say EINVAL and we touch pages instead
#endif

namespace ringwire::addon {
namespace {

using namespace logfmt;

struct Mapping {
  uint8_t* addr = nullptr;
  size_t size = 0;
  int fd = -1;
  bool writable = false;
  ~Mapping() {
    if (addr != nullptr) munmap(addr, size);
    if (fd >= 0) ::close(fd);
  }
};

std::string ErrnoText(int err) { return std::string(strerror(err)); }

Napi::Error SysError(Napi::Env env, const char* code, const std::string& what, int err) {
  Napi::Error e = MakeError(env, code, what + ": " + ErrnoText(err));
  e.Value().Set("errno", Napi::Number::New(env, err));
  return e;
}

uint32_t* WordAt(Mapping& m, size_t offset) { return reinterpret_cast<uint32_t*>(m.addr + offset); }

// A stoppable background loop (page toucher, interval msync).
struct Worker {
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }
  // Sleeps up to `ms`; false when asked to stop.
  bool SleepFor(uint32_t ms) {
    std::unique_lock<std::mutex> lock(mu);
    return !cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop; });
  }
  bool Stopped() {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  }
};

// Prefaults pages writable ahead of the writer, so its first store to a page does not take the
// page fault (and the filesystem's page_mkwrite) on the hot path. The writer raises `target` as it
// advances (a window ahead of it, not the whole segment: populated pages are dirty pages, which the
// kernel writes back whether or not records ever land in them).
struct Toucher : Worker {
  size_t done = 0;    // pages below this are populated (guarded by mu)
  size_t target = 0;  // populate up to here (guarded by mu)
};

void TouchAhead(std::shared_ptr<Mapping> m, Toucher* t) {
  constexpr size_t kChunk = 1 << 20;
  bool populate = true;
  while (true) {
    size_t from, to;
    {
      std::unique_lock<std::mutex> lock(t->mu);
      t->cv.wait(lock, [&] { return t->stop || t->done < t->target; });
      if (t->stop) return;
      from = t->done;
      to = t->target - from > kChunk ? from + kChunk : t->target;
    }
    if (populate && madvise(m->addr + from, to - from, MADV_POPULATE_WRITE) != 0) populate = false;
    if (!populate) {
      // An atomic add of zero faults the page in writable and never changes a byte, even when the
      // writer is storing to the same word concurrently. Relaxed: it orders nothing.
      for (size_t p = from; p < to; p += kPageBytes) {
        std::atomic_ref<uint32_t>(*WordAt(*m, p)).fetch_add(0, std::memory_order_relaxed);
      }
    }
    std::lock_guard<std::mutex> lock(t->mu);
    t->done = to;
  }
}

// Shared by a wait's thread and the environment's cleanup hook: `gone` says the environment (its
// TSFN, the promise) no longer exists; the thread reads it and uses the TSFN under the same lock.
struct WaitGuard {
  std::mutex mu;
  bool gone = false;
  std::shared_ptr<Mapping> map;
  size_t offset = 0;
  static void OnEnvCleanup(void* arg) {
    auto* holder = static_cast<std::shared_ptr<WaitGuard>*>(arg);
    WaitGuard& g = **holder;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      g.gone = true;
    }
    // Let the thread leave its sleep now (other sleepers on the word re-check and sleep again).
    futex::Wake(WordAt(*g.map, g.offset));
    delete holder;
  }
};

struct WaitCtx {
  Napi::Promise::Deferred deferred;
  const char* result;
  std::shared_ptr<WaitGuard>* guard;  // the cleanup hook's argument, freed by whoever removes it
};

class LogFile : public Napi::ObjectWrap<LogFile> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LogFile",
                       {InstanceAccessor<&LogFile::Buffer>("buffer"), InstanceAccessor<&LogFile::Size>("size"),
                        InstanceMethod<&LogFile::Lock>("lock"), InstanceMethod<&LogFile::Msync>("msync"),
                        InstanceMethod<&LogFile::Populate>("populate"), InstanceMethod<&LogFile::SyncEvery>("syncEvery"),
                        InstanceMethod<&LogFile::Wake>("wake"), InstanceMethod<&LogFile::Wait>("wait"),
                        InstanceMethod<&LogFile::Commit>("commit"), InstanceMethod<&LogFile::ScanSegment>("scan"),
                        InstanceMethod<&LogFile::Zero>("zero"), InstanceMethod<&LogFile::Write>("write"),
                        InstanceMethod<&LogFile::Adopt>("adopt"), InstanceMethod<&LogFile::Close>("close")});
  }

  // new LogFile(path, mode, bytes, perm = 0600): mode 0 read-only; 1 read-write, extended
  // (zero-filled) to at least `bytes`; 2 create (must not exist; permission bits exactly `perm`,
  // whatever the umask) and preallocate `bytes`.
  explicit LogFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LogFile>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw ArgTypeError(env, "path must be a string");
    path_ = info[0].As<Napi::String>().Utf8Value();
    uint32_t mode = Uint32Arg(info, 1, "mode", 2);
    uint32_t bytes = Uint32Arg(info, 2, "bytes", uint32_t(kMaxSegmentBytes));
    // Permission bits only: no setuid, setgid or sticky.
    uint32_t perm = info.Length() > 3 && !info[3].IsUndefined() ? Uint32Arg(info, 3, "perm", 0777) : 0600;
    auto m = std::make_shared<Mapping>();
    m->writable = mode != 0;
    int flags = O_CLOEXEC | (mode == 0 ? O_RDONLY : O_RDWR) | (mode == 2 ? O_CREAT | O_EXCL : 0);
    m->fd = ::open(path_.c_str(), flags, mode_t(perm));
    if (m->fd < 0) throw SysError(env, errno == ENOENT ? "ERR_NOT_FOUND" : "ERR_IO", "open " + path_, errno);
    // open() applied the umask: set the requested bits exactly (as channel files do, cpp/shm/shm.h).
    if (mode == 2 && fchmod(m->fd, mode_t(perm)) != 0) {
      int e = errno;
      unlink(path_.c_str());
      throw SysError(env, "ERR_IO", "fchmod " + path_, e);
    }
    struct stat st;
    if (fstat(m->fd, &st) != 0) throw SysError(env, "ERR_IO", "fstat " + path_, errno);
    if (!S_ISREG(st.st_mode)) throw MakeError(env, "ERR_NOT_A_LOG", path_ + " is not a regular file");
    uint64_t size = uint64_t(st.st_size);
    if (mode != 0 && size < bytes) {
      // Preallocate: a full disk is an error here (at roll time), not a SIGBUS at write time.
      int err = posix_fallocate(m->fd, 0, off_t(bytes));
      if (err != 0) {
        if (mode == 2) unlink(path_.c_str());
        throw SysError(env, err == ENOSPC ? "ERR_NO_SPACE" : "ERR_IO", "preallocate " + std::to_string(bytes) + " bytes for " + path_, err);
      }
      size = bytes;
    }
    if (size == 0) throw MakeError(env, "ERR_CORRUPT", path_ + ": empty file (offset 0)");
    if (size > kMaxSegmentBytes + kPageBytes) {
      throw MakeError(env, "ERR_CORRUPT", path_ + ": " + std::to_string(size) + " bytes is larger than any log file");
    }
    m->size = size_t(size);
    void* addr = mmap(nullptr, m->size, mode == 0 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (addr == MAP_FAILED) throw SysError(env, "ERR_IO", "mmap " + path_, errno);
    m->addr = static_cast<uint8_t*>(addr);
    map_ = m;
  }

  ~LogFile() override { StopWorkers(); }

 private:
  Mapping& Map(const Napi::Env& env) {
    if (!map_) throw MakeError(env, "ERR_LOG_CLOSED", path_ + " is closed");
    return *map_;
  }
  // Checks [offset, offset + length) lies in the mapping.
  void CheckRange(const Napi::Env& env, uint64_t offset, uint64_t length, const char* what) {
    if (offset > Map(env).size || length > map_->size - offset) {
      throw ArgRangeError(env, std::string(what) + ": range " + std::to_string(offset) + "+" + std::to_string(length) +
                                           " is outside " + path_ + " (" + std::to_string(map_->size) + " bytes)");
    }
  }
  size_t WordArg(const Napi::CallbackInfo& info, size_t index) {
    uint32_t off = Uint32Arg(info, index, "offset");
    if (off % 4 != 0) throw ArgRangeError(info.Env(), "offset must be a multiple of 4");
    CheckRange(info.Env(), off, 4, "word");
    return off;
  }
  void StopWorkers() {
    if (toucher_) toucher_->Stop();
    if (syncer_) syncer_->Stop();
    toucher_.reset();
    syncer_.reset();
  }

  // The ArrayBuffer over the mapping, made at the first use: V8 counts it as external memory
  // (collecting garbage when that grows), and a spare segment (see Adopt) never needs one.
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    Mapping& m = Map(info.Env());
    if (buffer_.IsEmpty()) {
      // The ArrayBuffer keeps its own reference to the mapping, released by its finalizer.
      auto* hold = new std::shared_ptr<Mapping>(map_);
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), m.addr, m.size, [](Napi::Env, void*, std::shared_ptr<Mapping>* h) { delete h; }, hold);
      buffer_ = Napi::Persistent(ab);
    }
    return buffer_.Value();
  }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(Map(info.Env()).size)); }

  // lock() -> true if this file description now holds the exclusive lock, false if another does.
  // flock: the kernel drops it when the holder's last descriptor closes, including on SIGKILL, so
  // a dead writer's successor takes over without cleanup.
  Napi::Value Lock(const Napi::CallbackInfo& info) {
    Mapping& m = Map(info.Env());
    if (flock(m.fd, LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    throw SysError(info.Env(), "ERR_IO", "flock " + path_, errno);
  }

  // msync(offset, length): writes the pages of the range to the file and waits (MS_SYNC).
  Napi::Value Msync(const Napi::CallbackInfo& info) {
    uint32_t off = Uint32Arg(info, 0, "offset");
    uint32_t len = Uint32Arg(info, 1, "length");
    CheckRange(info.Env(), off, len, "msync");
    size_t start = off & ~size_t(kPageBytes - 1);
    if (len != 0 && msync(map_->addr + start, off + len - start, MS_SYNC) != 0) throw SysError(info.Env(), "ERR_IO", "msync " + path_, errno);
    return info.Env().Undefined();
  }

  // populate(from, to): prefaults the pages of [from, to) (clamped to the file) in a background
  // thread; later calls extend the range (`from` is used by the first call only).
  Napi::Value Populate(const Napi::CallbackInfo& info) {
    uint32_t from = Uint32Arg(info, 0, "from");
    uint32_t to = Uint32Arg(info, 1, "to");
    CheckRange(info.Env(), from, 0, "populate");
    if (!map_->writable) return info.Env().Undefined();
    size_t end = to < map_->size ? to : map_->size;
    if (!toucher_) {
      auto t = std::make_unique<Toucher>();
      t->done = t->target = from & ~size_t(kPageBytes - 1);
      try {
        t->thread = std::thread(TouchAhead, map_, t.get());
      } catch (const std::system_error&) {
        // No thread to be had (a limit). Prefaulting only saves the writer its page faults, and the
        // writer calls this after committing a record: never fail that append. Tried again next call.
        return info.Env().Undefined();
      }
      toucher_ = std::move(t);
    }
    {
      std::lock_guard<std::mutex> lock(toucher_->mu);
      if (end > toucher_->target) toucher_->target = end;
    }
    toucher_->cv.notify_all();
    return info.Env().Undefined();
  }

  // syncEvery(ms): msyncs the whole mapping every `ms` in a background thread until close().
  Napi::Value SyncEvery(const Napi::CallbackInfo& info) {
    uint32_t ms = Uint32Arg(info, 0, "intervalMs", 3600 * 1000);
    if (ms == 0) throw ArgRangeError(info.Env(), "intervalMs must be positive");
    Map(info.Env());
    if (syncer_) return info.Env().Undefined();
    auto w = std::make_unique<Worker>();
    try {
      w->thread = std::thread([m = map_, self = w.get(), ms] {
        while (self->SleepFor(ms)) msync(m->addr, m->size, MS_SYNC);  // clean pages cost nothing
      });
    } catch (const std::system_error& e) {
      // Durability 'interval' depends on this thread: an error that says so, not a bare one.
      throw SysError(info.Env(), "ERR_IO", "cannot start the thread that msyncs " + path_ + " every " + std::to_string(ms) + " ms", e.code().value());
    }
    syncer_ = std::move(w);
    return info.Env().Undefined();
  }

  // wake(offset) -> how many threads (in any process) asleep on the word were woken (FUTEX_WAKE,
  // shared; 0 also when the call fails).
  Napi::Value Wake(const Napi::CallbackInfo& info) {
    size_t off = WordArg(info, 0);
    return Napi::Number::New(info.Env(), futex::Wake(WordAt(*map_, off)));
  }

  // wait(offset, expected, timeoutMs) -> Promise<'woken' | 'not-equal' | 'timed-out'>: sleeps in a
  // thread of its own while the word equals `expected` (timeoutMs < 0: no limit), without blocking
  // the event loop; the pending promise keeps the loop alive (a ThreadSafeFunction holds a ref).
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t off = WordArg(info, 0);
    uint32_t expected = Uint32Arg(info, 1, "expected");
    if (info.Length() < 3 || !info[2].IsNumber()) throw ArgTypeError(env, "timeoutMs must be a number");
    double timeout = info[2].As<Napi::Number>().DoubleValue();
    // NaN, Infinity and more than ~30 years mean no limit (the conversion below must not overflow).
    if (!(timeout >= 0) || timeout > 1e12) timeout = -1;
    auto* ctx = new WaitCtx{Napi::Promise::Deferred::New(env), "woken", nullptr};
    Napi::Promise promise = ctx->deferred.Promise();
    auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "ringwire.log.wait", 0, 1);
    // Registered after the TSFN's own cleanup hook, so it runs before it (hooks run in reverse
    // order): when the environment goes away (a worker thread terminated while its follow() is
    // parked) the thread learns it under the lock before the TSFN is freed, and never touches it.
    auto guard = std::make_shared<WaitGuard>();
    guard->map = map_;
    guard->offset = off;
    ctx->guard = new std::shared_ptr<WaitGuard>(guard);
    napi_add_env_cleanup_hook(env, &WaitGuard::OnEnvCleanup, ctx->guard);
    std::thread([m = map_, off, expected, timeout, ctx, tsfn, guard]() mutable {
      uint32_t* word = WordAt(*m, off);
      const char* result = "woken";
      auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(int64_t(timeout * 1000));
      while (true) {
        int64_t left = -1;
        if (timeout >= 0) {
          left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now()).count();
          if (left <= 0) {
            result = "timed-out";
            break;
          }
        }
        futex::WaitResult r = futex::Wait(word, expected, left);
        if (r == futex::WaitResult::kWoken) break;  // woken (or spuriously: the caller re-checks either way)
        if (r == futex::WaitResult::kNotEqual) {
          result = "not-equal";
          break;
        }
        if (r == futex::WaitResult::kTimedOut) {
          result = "timed-out";
          break;
        }
        // kInterrupted: sleep again for what is left.
      }
      std::lock_guard<std::mutex> lock(guard->mu);
      if (guard->gone) {  // the environment (its TSFN, the promise) is gone; nobody awaits
        delete ctx;
        return;
      }
      ctx->result = result;
      // Non-blocking (unbounded queue): the JS thread's cleanup hook may be waiting for this lock.
      napi_status st = tsfn.NonBlockingCall(ctx, [](Napi::Env env, Napi::Function, WaitCtx* c) {
        if (env != nullptr) {
          napi_remove_env_cleanup_hook(env, &WaitGuard::OnEnvCleanup, c->guard);
          delete c->guard;
          c->deferred.Resolve(Napi::String::New(env, c->result));
        }
        delete c;  // with no env the cleanup hook has run and freed c->guard
      });
      if (st != napi_ok) delete ctx;  // the environment is going away; nobody awaits the promise
      // napi_closing already dropped this thread's use of the TSFN, which may be freed by now.
      if (st != napi_closing) tsfn.Release();
    }).detach();
    return promise;
  }

  // commit(start, end) -> records: finishes the records the JS writer laid out in [start, end) (one
  // record, or a batch): for each (length word with the in-progress bit set) computes the CRC32C
  // with the hardware instruction and commits it. One call per append or per batch.
  Napi::Value Commit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t start = Uint32Arg(info, 0, "start");
    uint32_t end = Uint32Arg(info, 1, "end");
    if (start > end || start % kRecordAlign != 0) throw ArgRangeError(env, "commit: bad range");
    CheckRange(env, start, end - start, "commit");
    if (!map_->writable) throw MakeError(env, "ERR_IO", path_ + " is mapped read-only");  // a store would SIGSEGV
    uint32_t n = 0;
    for (uint64_t p = start; p < end; ++n) {
      uint8_t* rec = map_->addr + p;
      uint32_t word;
      std::memcpy(&word, rec, 4);  // ours: only this thread writes it until the commit below
      uint32_t length = word & kLengthMask;
      if ((word & kInProgress) == 0 || length < kRecordHeaderBytes || length > end - p) {
        throw MakeError(env, "ERR_CORRUPT", path_ + ": commit found no in-progress record at offset " + std::to_string(p));
      }
      uint32_t crc = RecordCrc(rec, length);
      std::memcpy(rec + kRecCrcOffset, &crc, 4);
      // Release: the payload, fields and CRC above are visible to whoever acquires this word.
      std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(rec)).store(length, std::memory_order_release);
      p += AlignRecord(length);
    }
    return Napi::Number::New(env, n);
  }

  // scan() -> the validation of this segment (log_scan.h) as a plain object.
  Napi::Value ScanSegment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Mapping& m = Map(env);
    logscan::ScanResult r = logscan::Scan(m.addr, m.size);
    Napi::Object o = Napi::Object::New(env);
    auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
    o.Set("problem", Napi::String::New(env, r.problem == logscan::Problem::kNone ? "" : logscan::ProblemName(r.problem)));
    num("problemOffset", double(r.problem_offset));
    o.Set("inProgress", Napi::Boolean::New(env, r.problem == logscan::Problem::kInProgress));
    num("end", double(r.end));
    num("records", double(r.records));
    num("nextSequence", double(r.next_seq));
    num("lastTimestamp", double(r.last_timestamp));
    num("payloadBytes", double(r.payload_bytes));
    o.Set("sealed", Napi::Boolean::New(env, r.sealed));
    num("dirtyEnd", double(r.dirty_end));
    o.Set("headerValid", Napi::Boolean::New(env, r.problem != logscan::Problem::kBadHeader));
    num("epoch", r.header.epoch);
    num("index", double(r.header.index));
    num("baseSequence", double(r.header.base_seq));
    num("segmentBytes", double(r.header.segment_bytes));
    num("created", double(r.header.created));
    num("codec", r.header.codec);
    return o;
  }

  // zero(from, to): clears bytes [from, to) (recovery: the crashed writer's unfinished tail).
  Napi::Value Zero(const Napi::CallbackInfo& info) {
    uint32_t from = Uint32Arg(info, 0, "from");
    uint32_t to = Uint32Arg(info, 1, "to");
    if (from > to) throw ArgRangeError(info.Env(), "zero: from > to");
    CheckRange(info.Env(), from, to - from, "zero");
    if (!map_->writable) throw MakeError(info.Env(), "ERR_IO", path_ + " is mapped read-only");
    std::memset(map_->addr + from, 0, to - from);
    return info.Env().Undefined();
  }

  // write(offset, bytes): copies `bytes` into the mapping at `offset` (a segment header, without
  // making an ArrayBuffer for the file).
  Napi::Value Write(const Napi::CallbackInfo& info) {
    uint32_t off = Uint32Arg(info, 0, "offset");
    Napi::Uint8Array bytes = Uint8ArrayArg(info, 1, "bytes");
    CheckRange(info.Env(), off, bytes.ByteLength(), "write");
    if (!map_->writable) throw MakeError(info.Env(), "ERR_IO", path_ + " is mapped read-only");
    std::memcpy(map_->addr + off, bytes.Data(), bytes.ByteLength());
    return info.Env().Undefined();
  }

  // adopt(spare, path): from now on this LogFile maps the spare's file, at the same address, so
  // its ArrayBuffer and every JS view of it stay valid and V8 sees no new external memory (no
  // collection per segment). The spare's page tables move with it (mremap), so the pages it
  // prefaulted stay faulted in. Our old file's mapping is moved aside (MREMAP_DONTUNMAP leaves
  // an empty mapping in its place, which the spare's replaces: the address is never free for
  // another thread's mmap to take) and unmapped, its descriptor closed, in a background thread:
  // unmapping 64 MiB of dirty pages takes milliseconds. The spare is closed; `path` is ours now.
  // Both writable, of the same size. On kernels without MREMAP_DONTUNMAP for file mappings
  // (before 5.13) the old mapping is replaced in place, unmapped on this thread.
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsString()) throw ArgTypeError(env, "adopt(spare, path): a LogFile and a path");
    LogFile* spare = Unwrap(info[0].As<Napi::Object>());
    if (spare == nullptr || spare == this) throw ArgTypeError(env, "adopt: spare must be another LogFile");
    Mapping& m = Map(env);
    Mapping& sm = spare->Map(env);
    if (!m.writable || !sm.writable || m.size != sm.size) {
      throw ArgRangeError(env, "adopt: both files must be writable and of the same size (" + std::to_string(m.size) + " and " + std::to_string(sm.size) + " bytes)");
    }
    StopWorkers();  // they use the old file's mapping and descriptor
    spare->StopWorkers();
    DetachBuffer(spare->buffer_);  // no JS view may reach the spare's old address
    // Where the old pages go the kernel picks (no MREMAP_FIXED): a fixed destination is unmapped
    // before the call can fail, as it does on 5.7-5.12, and munmapping it again then could take
    // a mapping another thread made there meanwhile. The address hint is passed explicitly: glibc
    // before 2.37 hands the kernel whatever is in that register otherwise.
    void* aside = mremap(m.addr, m.size, m.size, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, nullptr);
    if (mremap(sm.addr, sm.size, m.size, MREMAP_MAYMOVE | MREMAP_FIXED, m.addr) == MAP_FAILED) {
      int e = errno;
      if (aside != MAP_FAILED) munmap(aside, m.size);  // our mapping is still in place (emptied of page tables)
      throw SysError(env, "ERR_IO", "mremap " + spare->path_, e);
    }
    const int old_fd = m.fd;
    m.fd = sm.fd;
    sm.fd = -1;
    sm.addr = nullptr;  // moved: nothing left for the spare's Mapping to unmap
    spare->map_.reset();
    path_ = info[1].As<Napi::String>().Utf8Value();
    const size_t size = m.size;
    auto release = [aside, size, old_fd] {
      if (aside != MAP_FAILED) munmap(aside, size);
      ::close(old_fd);
    };
    try {
      std::thread(release).detach();
    } catch (const std::system_error&) {
      release();  // no thread to be had (a limit): here, rather than fail a roll already made
    }
    return env.Undefined();
  }

  // close(): stops the background threads, detaches the ArrayBuffer (every JS view of it becomes
  // empty), closes the file and drops this object's reference to the mapping. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopWorkers();
    DetachBuffer(buffer_);
    if (map_ && map_->fd >= 0) {
      // Unlock now, not when the last reference goes: the mapping keeps the open file description
      // (and so a flock) alive until munmap, which waits for the ArrayBuffer's finalizer.
      flock(map_->fd, LOCK_UN);
      ::close(map_->fd);
      map_->fd = -1;
    }
    map_.reset();
    return info.Env().Undefined();
  }

  std::string path_;
  std::shared_ptr<Mapping> map_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  std::unique_ptr<Toucher> toucher_;
  std::unique_ptr<Worker> syncer_;
};

// crc32c(bytes, init = 0, software = false) -> u32: the CRC32C of `bytes` continuing `init`.
Napi::Value Crc32cJs(const Napi::CallbackInfo& info) {
  Napi::Uint8Array bytes = Uint8ArrayArg(info, 0, "bytes");
  uint32_t init = info.Length() > 1 ? Uint32Arg(info, 1, "init") : 0;
  bool software = info.Length() > 2 && info[2].ToBoolean().Value();
  uint32_t c = software ? Crc32cSoftware(init, bytes.Data(), bytes.ByteLength())
                        : Crc32c(init, bytes.Data(), bytes.ByteLength());
  return Napi::Number::New(info.Env(), c);
}

// fsyncDir(path): makes created/renamed/unlinked names in a directory durable.
Napi::Value FsyncDir(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw ArgTypeError(info.Env(), "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SysError(info.Env(), "ERR_IO", "open " + path, errno);
  int rc = fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw SysError(info.Env(), "ERR_IO", "fsync " + path, err);
  return info.Env().Undefined();
}

Napi::Object LogConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double v) { c.Set(name, Napi::Number::New(env, v)); };
  set("SEGMENT_MAGIC", kSegmentMagic);
  set("VERSION", kVersion);
  set("SEGMENT_HEADER_BYTES", kSegmentHeaderBytes);
  set("SEG_MAGIC_OFFSET", kSegMagicOffset);
  set("SEG_VERSION_OFFSET", kSegVersionOffset);
  set("SEG_HEADER_BYTES_OFFSET", kSegHeaderBytesOffset);
  set("SEG_EPOCH_OFFSET", kSegEpochOffset);
  set("SEG_INDEX_OFFSET", kSegIndexOffset);
  set("SEG_BASE_SEQ_OFFSET", kSegBaseSeqOffset);
  set("SEG_BYTES_OFFSET", kSegBytesOffset);
  set("SEG_CREATED_OFFSET", kSegCreatedOffset);
  set("SEG_CODEC_OFFSET", kSegCodecOffset);
  set("SEG_HEADER_CRC_OFFSET", kSegHeaderCrcOffset);
  set("RECORD_HEADER_BYTES", kRecordHeaderBytes);
  set("RECORD_ALIGN", kRecordAlign);
  set("REC_LENGTH_OFFSET", kRecLengthOffset);
  set("REC_CRC_OFFSET", kRecCrcOffset);
  set("REC_TYPE_OFFSET", kRecTypeOffset);
  set("REC_EPOCH_OFFSET", kRecEpochOffset);
  set("REC_SEQ_OFFSET", kRecSeqOffset);
  set("REC_TIME_OFFSET", kRecTimeOffset);
  set("IN_PROGRESS", kInProgress);
  set("LENGTH_MASK", kLengthMask);
  set("TYPE_DATA", kTypeData);
  set("TYPE_END_OF_SEGMENT", kTypeEndOfSegment);
  set("END_OF_SEGMENT_BYTES", kEndOfSegmentBytes);
  set("PAGE_BYTES", double(kPageBytes));
  set("MIN_SEGMENT_BYTES", double(kMinSegmentBytes));
  set("MAX_SEGMENT_BYTES", double(kMaxSegmentBytes));
  set("DEFAULT_SEGMENT_BYTES", double(kDefaultSegmentBytes));
  set("CONTROL_MAGIC", kControlMagic);
  set("CONTROL_BYTES", kControlBytes);
  set("CONTROL_VERSION", kControlVersion);
  set("CONTROL_VERSION_PARKED_COUNT", kControlVersionParkedCount);
  set("PARKED_WORDS", kParkedWords);
  set("CTL_MAGIC_OFFSET", kCtlMagicOffset);
  set("CTL_VERSION_OFFSET", kCtlVersionOffset);
  set("CTL_SEGMENT_BYTES_OFFSET", kCtlSegmentBytesOffset);
  set("CTL_CODEC_OFFSET", kCtlCodecOffset);
  set("CTL_CREATED_OFFSET", kCtlCreatedOffset);
  set("CTL_NOTIFY_OFFSET", kCtlNotifyOffset);
  set("CTL_PARKED_OFFSET", kCtlParkedOffset);
  set("CTL_WRITER_PID_OFFSET", kCtlWriterPidOffset);
  set("CTL_WRITER_START_OFFSET", kCtlWriterStartOffset);
  set("CTL_STATS_OFFSET", kCtlStatsOffset);
  set("STAT_SEQ", kStatSeq);
  set("STAT_NEXT_SEQUENCE", kStatNextSequence);
  set("STAT_BYTES", kStatBytes);
  set("STAT_ROLLS", kStatRolls);
  set("STAT_FLUSHES", kStatFlushes);
  set("STAT_SEGMENT", kStatSegment);
  set("STAT_WAKES", kStatWakes);
  set("STATS_BYTES", kStatsBytes);
  set("CTL_READERS_OFFSET", kCtlReadersOffset);
  set("READER_SLOTS", kReaderSlots);
  set("READER_SLOT_BYTES", kReaderSlotBytes);
  set("SLOT_OWNER_OFFSET", kSlotOwnerOffset);
  set("SLOT_PID_OFFSET", kSlotPidOffset);
  set("SLOT_START_OFFSET", kSlotStartOffset);
  set("SLOT_ECHO_OFFSET", kSlotEchoOffset);
  return c;
}

}  // namespace

void InitLogBindings(Napi::Env env, Napi::Object exports) {
  Napi::Object log = Napi::Object::New(env);
  log.Set("constants", LogConstants(env));
  log.Set("LogFile", LogFile::Define(env));
  log.Set("crc32c", Napi::Function::New(env, Crc32cJs, "crc32c"));
  log.Set("fsyncDir", Napi::Function::New(env, FsyncDir, "fsyncDir"));
  log.Set("hardwareCrc", Napi::Boolean::New(env, HasHardwareCrc()));
  exports.Set("log", log);
}

}  // namespace ringwire::addon
