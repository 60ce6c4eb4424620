// ringwire channels in files: create (race-free), open (validated), unlink, and the liveness of
// the threads that hold a role. Linux only (O_TMPFILE, /proc); the Node-API glue is
// cpp/addon/shm_binding.cc, the TS side lib/channel/shm.ts.
//
// Creating: an unnamed file (O_TMPFILE) in the target's directory is sized, mapped and initialised
// (the magic last, with release), and only then given its name with linkat(), which fails with
// EEXIST if another process got there first: that process's channel is then opened instead. So a
// named channel is always complete; two concurrent creators end up sharing one channel. Where
// O_TMPFILE is not supported, a uniquely named temporary file plus link()/unlink() does the same.
//
// Opening: everything is checked against the file before anything is mapped or exposed: a regular
// file, at least a control block, the magic, version, capacity and data offset, and a size equal to
// what the capacity needs. The header is then checked again in the mapping (CheckRing).
//
// Limitation (as with LMDB and any mmap-based store): a process that can write the file can also
// truncate it while others have it mapped; touching the lost pages then raises SIGBUS. Files are
// created 0600, so only the owner's processes can do that. Space is reserved up front with
// posix_fallocate, so a full tmpfs fails the create instead of raising SIGBUS later.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "ring/layout.h"
#include "ring/ring.h"

namespace ringwire::shm {

enum class Code : int32_t {
  kOk = 0,
  kNotFound = 1,     // no file at that path (and create was not asked)
  kNotAChannel = 2,  // the file is not a (valid, complete) ringwire channel
  kSystem = 3,       // an OS call failed (message names it and errno)
  kExists = 4,       // internal: another creator won the race
};

// One mmap of a channel file; unmapped when the last owner (JS buffer, waiter thread) lets go.
struct Mapping {
  uint8_t* base = nullptr;
  size_t size = 0;
  Mapping(uint8_t* b, size_t s) : base(b), size(s) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (base != nullptr) munmap(base, size);
  }
};

struct OpenOptions {
  bool create = false;
  bool no_follow = false;  // refuse a symlink at the final component (names in /dev/shm)
  uint32_t capacity = 0;
  uint32_t max_message = 0;
  uint32_t codec = 0;
  uint32_t mode = 0600;
};

struct OpenResult {
  Code code = Code::kOk;
  std::string message;
  int sys_errno = 0;
  std::shared_ptr<Mapping> mapping;
  RingInfo info;
  bool created = false;
};

namespace detail {

inline OpenResult Fail(Code code, std::string message, int err = 0) {
  OpenResult r;
  r.code = code;
  r.message = std::move(message);
  r.sys_errno = err;
  return r;
}

inline OpenResult SysFail(const char* call, const std::string& path, int err) {
  return Fail(Code::kSystem, std::string(call) + " " + path + ": " + std::strerror(err), err);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

inline bool ReadFully(int fd, void* out, size_t n, off_t at) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    ssize_t r = pread(fd, p, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
    at += r;
  }
  return true;
}

inline std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Maps an open file after checking it holds a complete channel. Every field comes from the file,
// so every field is checked before it is used (a size, an offset, a capacity).
inline OpenResult Attach(int fd, const std::string& path) {
  using namespace layout;
  struct stat st {};
  if (fstat(fd, &st) != 0) return SysFail("fstat", path, errno);
  if (!S_ISREG(st.st_mode)) return Fail(Code::kNotAChannel, path + " is not a regular file");
  if (st.st_size < off_t(kControlBytes)) {
    return Fail(Code::kNotAChannel, path + " is " + std::to_string(st.st_size) + " bytes, smaller than a ringwire control block (" +
                                        std::to_string(kControlBytes) + ")");
  }
  uint32_t head[6];
  if (!ReadFully(fd, head, sizeof head, 0)) return Fail(Code::kNotAChannel, path + ": cannot read the header");
  if (head[kMagicOffset / 4] != kMagic) return Fail(Code::kNotAChannel, path + " does not start with the ringwire magic");
  if (head[kVersionOffset / 4] != kVersion) {
    return Fail(Code::kNotAChannel, path + " has layout version " + std::to_string(head[kVersionOffset / 4]) +
                                        "; this build reads version " + std::to_string(kVersion));
  }
  uint32_t capacity = head[kCapacityOffset / 4];
  if (!IsPowerOfTwo(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) {
    return Fail(Code::kNotAChannel, path + " has an invalid capacity (" + std::to_string(capacity) + ")");
  }
  if (head[kDataOffsetOffset / 4] != kControlBytes) return Fail(Code::kNotAChannel, path + " has an invalid data offset");
  if (uint64_t(st.st_size) != TotalBytes(capacity)) {
    return Fail(Code::kNotAChannel, path + " is " + std::to_string(st.st_size) + " bytes but its capacity " +
                                        std::to_string(capacity) + " needs " + std::to_string(TotalBytes(capacity)) +
                                        " (truncated or not a ringwire channel)");
  }
  size_t size = TotalBytes(capacity);
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) return SysFail("mmap", path, errno);
  auto mapping = std::make_shared<Mapping>(static_cast<uint8_t*>(mem), size);
  OpenResult r;
  // The header may have changed since the pread: the mapping is what we use, so check it there.
  if (CheckRing(mem, size, &r.info) != Status::kOk || r.info.capacity != capacity) {
    return Fail(Code::kNotAChannel, path + ": the header changed while it was being opened");
  }
  r.mapping = std::move(mapping);
  return r;
}

inline OpenResult Create(const std::string& path, const OpenOptions& o) {
  using namespace layout;
  if (!IsPowerOfTwo(o.capacity) || o.capacity < kMinCapacity || o.capacity > kMaxCapacity) {
    return Fail(Code::kNotAChannel, "invalid capacity " + std::to_string(o.capacity));
  }
  const std::string dir = DirName(path);
  std::string temp;  // set when O_TMPFILE is unavailable and a named temporary file is used
  int raw = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, o.mode & 07777);
  if (raw < 0) {
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return SysFail("open(O_TMPFILE) in", dir, errno);
    std::random_device rd;
    char suffix[48];
    std::snprintf(suffix, sizeof suffix, ".%d.%08x.tmp", int(getpid()), unsigned(rd()));
    temp = dir + "/.ringwire-create" + suffix;
    raw = open(temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, o.mode & 07777);
    if (raw < 0) return SysFail("open", temp, errno);
  }
  Fd fd(raw);
  auto drop_temp = [&] {
    if (!temp.empty()) unlink(temp.c_str());
  };
  // The requested mode exactly, whatever the umask.
  if (fchmod(fd.get(), o.mode & 07777) != 0) {
    int e = errno;
    drop_temp();
    return SysFail("fchmod", path, e);
  }
  const size_t size = TotalBytes(o.capacity);
  if (ftruncate(fd.get(), off_t(size)) != 0) {
    int e = errno;
    drop_temp();
    return SysFail("ftruncate", path, e);
  }
  // Reserve the pages now: on a full tmpfs a later first touch would raise SIGBUS instead.
  int fa = posix_fallocate(fd.get(), 0, off_t(size));
  if (fa != 0 && fa != EOPNOTSUPP && fa != EINVAL) {
    drop_temp();
    return SysFail("posix_fallocate", path, fa);
  }
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (mem == MAP_FAILED) {
    int e = errno;
    drop_temp();
    return SysFail("mmap", path, e);
  }
  auto mapping = std::make_shared<Mapping>(static_cast<uint8_t*>(mem), size);
  OpenResult r;
  // Magic last, with release (InitRing): complete before the name below makes the file reachable.
  if (InitRing(mem, size, o.capacity, o.max_message, o.codec) != Status::kOk ||
      CheckRing(mem, size, &r.info) != Status::kOk) {
    drop_temp();
    return Fail(Code::kNotAChannel, "cannot initialise a channel of capacity " + std::to_string(o.capacity));
  }
  // Publish under the final name; EEXIST: another creator won, and its channel is the one.
  int linked;
  if (temp.empty()) {
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd.get());
    linked = linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
  } else {
    linked = link(temp.c_str(), path.c_str());
  }
  int e = errno;
  drop_temp();
  if (linked != 0) {
    if (e == EEXIST) return Fail(Code::kExists, path + " exists");
    return SysFail("link", path, e);
  }
  r.mapping = std::move(mapping);
  r.created = true;
  return r;
}

}  // namespace detail

// Opens the channel file at `path`, creating it when asked and absent.
inline OpenResult Open(const std::string& path, const OpenOptions& o) {
  // Bounded: each retry means another process created or removed the file in between.
  for (int attempt = 0; attempt < 16; ++attempt) {
    int raw = open(path.c_str(), O_RDWR | O_CLOEXEC | (o.no_follow ? O_NOFOLLOW : 0));
    if (raw >= 0) {
      detail::Fd fd(raw);
      return detail::Attach(fd.get(), path);
    }
    int e = errno;
    if (e == ELOOP && o.no_follow) return detail::Fail(Code::kNotAChannel, path + " is a symbolic link");
    if (e == EISDIR) return detail::Fail(Code::kNotAChannel, path + " is a directory");
    if (e != ENOENT) return detail::SysFail("open", path, e);
    if (!o.create) return detail::Fail(Code::kNotFound, "no channel at " + path);
    OpenResult r = detail::Create(path, o);
    if (r.code != Code::kExists) return r;
  }
  return detail::Fail(Code::kSystem, path + " keeps appearing and disappearing (created and unlinked concurrently)");
}

// Removes the file at `path`. With check_magic, only if it starts with the ringwire magic (so a
// mistyped path does not delete some other file).
inline OpenResult Unlink(const std::string& path, bool check_magic) {
  if (check_magic) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    int raw = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (raw < 0) {
      int e = errno;
      if (e == ENOENT) return detail::Fail(Code::kNotFound, "no channel at " + path);
      return detail::SysFail("open", path, e);
    }
    detail::Fd fd(raw);
    struct stat st {};
    uint32_t magic = 0;
    if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !detail::ReadFully(fd.get(), &magic, 4, 0) ||
        magic != layout::kMagic) {
      return detail::Fail(Code::kNotAChannel, path + " is not a ringwire channel; not removing it");
    }
  }
  if (unlink(path.c_str()) != 0) {
    int e = errno;
    if (e == ENOENT) return detail::Fail(Code::kNotFound, "no channel at " + path);
    return detail::SysFail("unlink", path, e);
  }
  return OpenResult{};
}

// ---- Liveness of role holders -------------------------------------------------------------------

struct ProcInfo {
  bool alive = false;
  bool start_known = false;
  uint64_t start = 0;  // clock ticks after boot (/proc/<pid>/stat field 22)
};

namespace detail {
// Reads `path` (a /proc/.../stat file): live (not zombie) and when it started. If the file cannot
// be opened and `pid` > 0, asks kill(pid, 0) instead (/proc hidden by hidepid).
inline ProcInfo ProbeStat(const char* path, int32_t pid) {
  ProcInfo info;
  int raw = open(path, O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    // /proc hidden (hidepid) but the process exists: alive, start time unknown.
    if (pid > 0) info.alive = kill(pid, 0) == 0 || errno == EPERM;
    return info;
  }
  detail::Fd fd(raw);
  char buf[1024];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return info;
  buf[n] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (p == nullptr) return info;
  ++p;
  // Fields after comm: 3 state ... 22 starttime.
  for (int field = 3; field <= 22; ++field) {
    while (*p == ' ') ++p;
    if (*p == '\0') return info;
    if (field == 3) {
      if (*p == 'Z' || *p == 'X' || *p == 'x') return info;  // zombie or dead: gone for us
    } else if (field == 22) {
      info.alive = true;
      info.start_known = true;
      info.start = std::strtoull(p, nullptr, 10);
      return info;
    }
    while (*p != ' ' && *p != '\0') ++p;
  }
  return info;
}
}  // namespace detail

// Whether `pid` is a live (not zombie) process, or a live thread when given a tid (/proc/<tid>/stat
// works for any thread), and when it started.
inline ProcInfo Probe(int32_t pid) {
  if (pid <= 0) return ProcInfo{};
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  return detail::ProbeStat(path, pid);
}

// Whether the thread `owner` (a tid), found in the owner word of `role` (0 sender, 1 receiver) in
// the header at `base`, has ended: no such live thread (/proc/<tid>/stat works for any thread), or
// a different thread that reused the tid (the start time recorded with the role differs). The same
// rule as lib/core/roles.ts ownerDead, which claims roles (cpp/ring/layout.h describes the words).
// Where a holder's identity lives (byte offsets): the owner word holds its tid, then its start
// time (u64) and an echo of the tid stored last. Channel roles and the log's reader slots are held
// this one way (lib/core/roles.ts HolderWords).
struct HolderWords {
  size_t owner, echo, start;
};

// Whether `owner` (a tid), found in the owner word at `w`, is a thread that ended: no such live
// thread, or a different one that reused the tid (the start time recorded with it differs).
inline bool HolderEnded(uint8_t* base, HolderWords w, int32_t owner) {
  ProcInfo p = Probe(owner);
  if (!p.alive) return true;
  if (!p.start_known) return false;
  // seq_cst, like the claimant's stores (JS Atomics): it stores the echo after its pid and start
  // time, so an echo equal to the owner, read before and after them, means they are its, complete.
  auto load = [base](size_t off) { return std::atomic_ref<uint32_t>(*ringwire::detail::Word(base, off)).load(std::memory_order_seq_cst); };
  if (load(w.echo) != uint32_t(owner)) return false;  // identity still being written
  uint64_t start = uint64_t(load(w.start)) | uint64_t(load(w.start + 4)) << 32;
  if (load(w.echo) != uint32_t(owner) || load(w.owner) != uint32_t(owner)) return false;  // changed meanwhile
  return start != p.start;
}

inline bool HolderDead(uint8_t* base, int role, int32_t owner) {
  using namespace layout;
  return role == 0 ? HolderEnded(base, {kSenderOwnerOffset, kSenderEchoOffset, kSenderStartOffset}, owner)
                   : HolderEnded(base, {kReceiverOwnerOffset, kReceiverEchoOffset, kReceiverStartOffset}, owner);
}

}  // namespace ringwire::shm
