// LogReader: reads a ringwire log directory (written by Node's LogWriter) from C++, as
// lib/log/reader.ts does: records in sequence order straight from read-only mappings of the
// segments, across segment rolls; Follow waits for the writer (a futex wait on the control file's
// notify word, announced in a reader slot and its parked bit, lib/log/readers.ts). Any number of
// readers in any processes; a reader writes nothing but, while it follows, its reader slot.
//
// Every length and offset read from a segment is checked against the mapped bytes; a committed but
// malformed record is kCorrupt naming the segment file and the offset. Values are copies (a
// LogEntry owns its bytes); the codec is the writer's (for 'json' / 'string' logs the bytes are
// UTF-8 text; 'v8' is Node's business).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "channel.hpp"
#include "detail/core.hpp"
#include "detail/roles.hpp"
#include "result.hpp"

namespace ringwire::api {

struct LogEntry {
  uint64_t sequence = 0;
  uint64_t timestamp = 0;  // milliseconds since the Unix epoch, when the writer appended it
  std::vector<uint8_t> value;
  std::string_view text() const { return {reinterpret_cast<const char*>(value.data()), value.size()}; }
};

struct LogReaderOptions {
  enum class From { kStart, kEnd, kSequence };
  From from = From::kStart;  // the oldest record kept, only records appended from now, or `sequence` on
  uint64_t sequence = 0;     // with kSequence: the first record at or after it
  bool verify = true;        // check every record's CRC32C
};

namespace detail {

namespace F = ringwire::logfmt;

inline constexpr const char* kControlFile = "log.ctl";
inline constexpr std::string_view kSegmentSuffix = ".rwlog";

// lib/log/format.ts segmentIndexOf: 20 decimal digits and ".rwlog", else -1.
inline int64_t SegmentIndexOf(std::string_view name) {
  if (name.size() != 20 + kSegmentSuffix.size() || name.substr(20) != kSegmentSuffix) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + uint64_t(name[i] - '0');
    if (v > (1ull << 53)) return -1;
  }
  return int64_t(v);
}

struct SegmentRef {
  uint64_t index;
  std::string path;
};

inline Result<std::vector<SegmentRef>> ListSegments(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return MakeError(errno == ENOENT ? Errc::kNotALog : Errc::kSystem, "opendir " + dir + ": " + std::strerror(errno), errno);
  std::vector<SegmentRef> out;
  // Bounded by the directory's entries.
  while (dirent* e = readdir(d.get())) {
    const int64_t index = SegmentIndexOf(e->d_name);
    if (index >= 0) out.push_back({uint64_t(index), dir + "/" + e->d_name});
  }
  std::sort(out.begin(), out.end(), [](const SegmentRef& a, const SegmentRef& b) { return a.index < b.index; });
  return out;
}

inline Result<std::shared_ptr<shm::Mapping>> MapFile(const std::string& path, bool writable, size_t min_bytes, Errc too_small) {
  const int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return MakeError(errno == ENOENT ? too_small : Errc::kSystem, "open " + path + ": " + std::strerror(errno), errno);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) < min_bytes) {
    ::close(fd);
    return MakeError(too_small, path + " is not a regular file of at least " + std::to_string(min_bytes) + " bytes");
  }
  void* mem = mmap(nullptr, size_t(st.st_size), writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (mem == MAP_FAILED) return MakeError(Errc::kSystem, "mmap " + path + ": " + std::strerror(e), e);
  return std::make_shared<shm::Mapping>(static_cast<uint8_t*>(mem), size_t(st.st_size));
}

inline uint64_t ReadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Reader slots (lib/log/readers.ts): a follower holds one while it waits, with a parked bit.
inline constexpr uint32_t kReclaiming = 0xffffffffu;  // -1: the writer is reclaiming the slot
inline size_t SlotOff(uint32_t k) { return F::kCtlReadersOffset + size_t(k) * F::kReaderSlotBytes; }
inline size_t ParkedWordOff(uint32_t k) { return F::kCtlParkedOffset + 4 * (k >> 5); }
inline uint32_t ParkedBit(uint32_t k) { return 1u << (k & 31); }

// A slot is held like a channel role (detail/roles.hpp): the owner word is the follower's tid, then
// its pid, its thread's start time and an echo of the tid; where threads cannot be told apart, a
// random token per thread, and ended holders are never found.
inline uint32_t SlotToken() {
  thread_local const uint32_t token = Self().known ? Self().tid : uint32_t(std::random_device()() % 0x7ffffffeu) + 1;
  return token;
}

inline shm::HolderWords SlotWords(uint32_t k) {
  const size_t s = SlotOff(k);
  return {s + F::kSlotOwnerOffset, s + F::kSlotEchoOffset, s + F::kSlotStartOffset};
}

inline bool SlotDead(uint8_t* ctl, uint32_t k, uint32_t owner) {
  if (owner == 0 || owner > 0x7fffffffu || !Self().known) return false;  // free, being reclaimed, or unknowable
  return shm::HolderEnded(ctl, SlotWords(k), int32_t(owner));
}

inline uint32_t TakeSlot(uint8_t* ctl, uint32_t k) {
  const ThreadIdentity& me = Self();
  const size_t s = SlotOff(k);
  Ref(ctl, ParkedWordOff(k)).fetch_and(~ParkedBit(k), std::memory_order_seq_cst);  // an ended owner may have died asleep
  if (me.known) {
    Store(ctl, s + F::kSlotEchoOffset, 0);  // the previous owner's identity no longer counts
    Store(ctl, s + F::kSlotStartOffset, uint32_t(me.start));
    Store(ctl, s + F::kSlotStartOffset + 4, uint32_t(me.start >> 32));
    Store(ctl, s + F::kSlotPidOffset, me.pid);
    Store(ctl, s + F::kSlotEchoOffset, me.tid);  // publish point of the identity (see HolderEnded)
  }
  return k;
}

// A slot index, or -1 if all are held by live followers.
inline int64_t ClaimSlot(uint8_t* ctl) {
  const uint32_t me = SlotToken();
  for (uint32_t k = 0; k < F::kReaderSlots; ++k) {
    // compare-exchange: exactly one claimant moves the owner word from 0 (free) to its tid.
    if (Cas(ctl, SlotOff(k) + F::kSlotOwnerOffset, 0, me) == 0) return TakeSlot(ctl, k);
  }
  for (uint32_t k = 0; k < F::kReaderSlots; ++k) {
    const size_t owner_off = SlotOff(k) + F::kSlotOwnerOffset;
    const uint32_t owner = Load(ctl, owner_off);
    if (!SlotDead(ctl, k, owner)) continue;
    // Of several takers exactly one wins; an ended holder with our own (reused) tid goes through 0.
    if (owner == me) {
      if (Cas(ctl, owner_off, owner, 0) == owner && Cas(ctl, owner_off, 0, me) == 0) return TakeSlot(ctl, k);
    } else if (Cas(ctl, owner_off, owner, me) == owner) {
      return TakeSlot(ctl, k);
    }
  }
  return -1;
}

inline void ReleaseSlot(uint8_t* ctl, uint32_t k) {
  Ref(ctl, ParkedWordOff(k)).fetch_and(~ParkedBit(k), std::memory_order_seq_cst);
  Store(ctl, SlotOff(k) + F::kSlotEchoOffset, 0);
  Cas(ctl, SlotOff(k) + F::kSlotOwnerOffset, SlotToken(), 0);
}

}  // namespace detail

class LogReader {
 public:
  static Result<LogReader> Open(const std::string& dir, const LogReaderOptions& options = {}) {
    auto ctl = detail::MapFile(dir + "/" + detail::kControlFile, true, logfmt::kControlBytes, Errc::kNotALog);
    if (!ctl) {
      if (ctl.error().code == Errc::kNotALog) return MakeError(Errc::kNotALog, dir + " holds no ringwire log (" + ctl.error().message + ")");
      return ctl.error();
    }
    uint8_t* c = (*ctl)->base;
    if (detail::Load(c, logfmt::kCtlMagicOffset) != logfmt::kControlMagic) {
      return MakeError(Errc::kNotALog, dir + "/log.ctl is not a ringwire log control file (bad magic)");
    }
    const uint32_t version = detail::Load(c, logfmt::kCtlVersionOffset);
    if (version != logfmt::kControlVersion) {
      return MakeError(Errc::kNotALog, dir + "/log.ctl has control file version " + std::to_string(version) + ", this reader reads version " +
                                           std::to_string(logfmt::kControlVersion));
    }
    auto s = std::make_unique<State>();
    s->dir = dir;
    s->ctl = std::move(*ctl);
    s->codec = detail::Load(c, logfmt::kCtlCodecOffset);
    s->verify = options.verify;
    LogReader r(std::move(s));
    if (auto st = r.Start(options); !st) return st.error();
    return r;
  }

  LogReader(LogReader&&) noexcept = default;
  LogReader& operator=(LogReader&& other) noexcept {
    if (this != &other) {
      Close();
      s_ = std::move(other.s_);
    }
    return *this;
  }
  ~LogReader() { Close(); }

  // The next record into `out`: true, or false if none is committed yet.
  Result<bool> Read(LogEntry& out) {
    if (!s_) return MakeError(Errc::kChannelClosed, "LogReader::Read: the reader is closed");
    // Bounded by the records present: each pass consumes one or moves to a newer segment.
    for (;;) {
      auto p = Next();
      if (!p) return p.error();
      if (*p < 0) return false;
      const uint64_t seq = s_->seq - 1;
      if (seq < s_->skip_until) continue;
      const uint8_t* rec = s_->seg->base + *p;
      uint32_t length;
      std::memcpy(&length, rec, 4);  // checked by Next
      out.sequence = seq;
      out.timestamp = detail::ReadU64(rec + logfmt::kRecTimeOffset);
      out.value.assign(rec + logfmt::kRecordHeaderBytes, rec + length);
      return true;
    }
  }

  // The next record, waiting for the writer up to `timeout` (kTimeout after it). While a reader
  // follows it holds one of the log's 64 reader slots (kTooManyReaders if none is free), kept
  // until Close.
  Result<void> Follow(LogEntry& out, std::chrono::milliseconds timeout = kForever) {
    const auto deadline = detail::DeadlineOf(timeout);
    // Bounded by the deadline: each pass reads, or sleeps until the writer publishes or time is up.
    for (;;) {
      auto r = Read(out);
      if (!r) return r.error();
      if (*r) return {};
      if (s_->slot < 0) {
        s_->slot = detail::ClaimSlot(s_->ctl->base);
        if (s_->slot < 0) {
          return MakeError(Errc::kTooManyReaders, "LogReader::Follow: the log in " + s_->dir + " already has " + std::to_string(logfmt::kReaderSlots) +
                                                      " followers (live ones, in any process)");
        }
      }
      const auto now = detail::Clock::now();
      if (now >= deadline) return detail::TimeoutError("LogReader::Follow", timeout);
      // Announce, re-check, sleep: the writer bumps notify after every commit, then reads the
      // parked bitmap; the fetch_or is the seq_cst store half of that handshake.
      uint8_t* ctl = s_->ctl->base;
      const uint32_t k = uint32_t(s_->slot);
      const uint32_t seen = detail::Load(ctl, logfmt::kCtlNotifyOffset);
      detail::Ref(ctl, detail::ParkedWordOff(k)).fetch_or(detail::ParkedBit(k), std::memory_order_seq_cst);
      auto avail = Available();
      if (avail && !*avail) {
        const int64_t ns = deadline == detail::Clock::time_point::max()
                               ? -1
                               : std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
        futex::Wait(reinterpret_cast<const uint32_t*>(ctl + logfmt::kCtlNotifyOffset), seen, ns);
      }
      detail::Ref(ctl, detail::ParkedWordOff(k)).fetch_and(~detail::ParkedBit(k), std::memory_order_seq_cst);
      if (!avail) return avail.error();
    }
  }

  // The sequence number of the next record this reader returns (or waits for).
  uint64_t next_sequence() const { return s_ ? std::max(s_->seq, s_->skip_until) : 0; }
  // Records this reader never saw because retention deleted their segment first.
  uint64_t skipped() const { return s_ ? s_->skipped : 0; }
  Codec codec() const { return s_ ? Codec(s_->codec) : Codec::kBytes; }

  // Unmaps everything and gives the reader slot back.
  void Close() {
    if (!s_) return;
    if (s_->slot >= 0) detail::ReleaseSlot(s_->ctl->base, uint32_t(s_->slot));
    s_.reset();
  }

 private:
  struct State {
    std::string dir;
    std::shared_ptr<shm::Mapping> ctl;
    uint32_t codec = 0;
    bool verify = true;
    std::shared_ptr<shm::Mapping> seg;  // the segment being read (null before the first exists)
    std::string path;
    logscan::SegmentHeader header;
    uint64_t pos = 0;
    uint64_t seq = 0;
    uint64_t skip_until = 0;
    uint64_t skipped = 0;
    int64_t slot = -1;
  };
  explicit LogReader(std::unique_ptr<State> s) : s_(std::move(s)) {}

  Error Corrupt(uint64_t offset, const std::string& problem) const {
    return MakeError(Errc::kCorrupt, s_->path + " at offset " + std::to_string(offset) + ": " + problem);
  }

  Result<void> Start(const LogReaderOptions& o) {
    auto segments = detail::ListSegments(s_->dir);
    if (!segments) return segments.error();
    if (o.from == LogReaderOptions::From::kSequence) s_->skip_until = o.sequence;
    if (segments->empty()) return {};  // the writer has not created the first segment yet
    const detail::SegmentRef* pick = &segments->front();
    if (o.from == LogReaderOptions::From::kEnd) pick = &segments->back();
    if (o.from == LogReaderOptions::From::kSequence) {
      // The newest segment whose base sequence is <= the one asked for (headers read, not mapped).
      for (size_t k = segments->size() - 1; k > 0; --k) {
        uint8_t head[logfmt::kSegmentHeaderBytes];
        logscan::SegmentHeader h;
        const int fd = ::open((*segments)[k].path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const bool ok = shm::detail::ReadFully(fd, head, sizeof head, 0) && logscan::ReadHeader(head, sizeof head, &h);
        ::close(fd);
        if (ok && h.base_seq <= o.sequence) {
          pick = &(*segments)[k];
          break;
        }
      }
    }
    if (auto r = OpenSegment(*pick, false, 0); !r) return r;
    if (o.from == LogReaderOptions::From::kEnd) {
      // Bounded: the records present now.
      for (;;) {
        auto p = Next();
        if (!p) return p.error();
        if (*p < 0) break;
      }
      s_->skip_until = s_->seq;
    }
    return {};
  }

  // Maps segment `ref` and checks its header; with `check_expected`, it must start at or after `expected`.
  Result<void> OpenSegment(const detail::SegmentRef& ref, bool check_expected, uint64_t expected) {
    auto m = detail::MapFile(ref.path, false, logfmt::kSegmentHeaderBytes, Errc::kCorrupt);
    if (!m) return m.error();
    logscan::SegmentHeader h;
    std::string problem;
    uint64_t offset = 0;
    if (!logscan::ReadHeader((*m)->base, (*m)->size, &h)) {
      problem = "bad segment header";
    } else if ((*m)->size < h.segment_bytes) {
      problem = "segment file truncated (" + std::to_string((*m)->size) + " of " + std::to_string(h.segment_bytes) + " bytes)";
      offset = (*m)->size;
    } else if (h.index != ref.index) {
      problem = "header says segment " + std::to_string(h.index);  // the name is what the order follows
      offset = logfmt::kSegIndexOffset;
    } else if (h.codec != s_->codec) {
      problem = "codec id " + std::to_string(h.codec) + ", the log's is " + std::to_string(s_->codec);
    } else if (check_expected && h.base_seq < expected) {
      problem = "base sequence " + std::to_string(h.base_seq) + ", expected " + std::to_string(expected);
    }
    if (!problem.empty()) return MakeError(Errc::kCorrupt, ref.path + " at offset " + std::to_string(offset) + ": " + problem);
    if (check_expected && h.base_seq > expected) s_->skipped += h.base_seq - expected;
    s_->seg = std::move(*m);
    s_->path = ref.path;
    s_->header = h;
    s_->pos = logfmt::kSegmentHeaderBytes;
    s_->seq = h.base_seq;
    return {};
  }

  // Whether Read would find something (a committed record, or a first segment to open).
  Result<bool> Available() {
    if (!s_->seg) {
      auto segments = detail::ListSegments(s_->dir);
      if (!segments) return segments.error();
      return !segments->empty();
    }
    if (s_->pos + logfmt::kRecordHeaderBytes > s_->header.segment_bytes) return true;  // Read reports it
    const uint32_t w = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(s_->seg->base + s_->pos)).load(std::memory_order_acquire);
    return w != 0 && (w & logfmt::kInProgress) == 0;
  }

  // Moves past the next committed DATA record and returns its offset (the sequence is then one past
  // it), or -1 if none is committed yet. Crosses end-of-segment records.
  Result<int64_t> Next() {
    if (!s_->seg) {
      auto segments = detail::ListSegments(s_->dir);
      if (!segments) return segments.error();
      if (segments->empty()) return int64_t(-1);
      if (auto r = OpenSegment(segments->front(), false, 0); !r) return r.error();
    }
    // Bounded: each pass returns or opens a newer segment (the index strictly increases).
    for (;;) {
      const uint64_t p = s_->pos;
      const uint64_t seg_bytes = s_->header.segment_bytes;
      uint8_t* base = s_->seg->base;
      if (p + logfmt::kRecordHeaderBytes > seg_bytes) return Corrupt(p, "segment full without an end-of-segment record");
      // Acquire: pairs with the writer's release store of the length word (the commit point), so
      // the fields and payload of a committed record are visible.
      const uint32_t word = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(base + p)).load(std::memory_order_acquire);
      if (word == 0 || (word & logfmt::kInProgress) != 0) return int64_t(-1);
      const uint8_t* rec = base + p;
      const uint32_t length = word;
      uint32_t type, epoch, crc;
      std::memcpy(&type, rec + logfmt::kRecTypeOffset, 4);
      std::memcpy(&epoch, rec + logfmt::kRecEpochOffset, 4);
      std::memcpy(&crc, rec + logfmt::kRecCrcOffset, 4);
      const uint64_t seq = detail::ReadU64(rec + logfmt::kRecSeqOffset);
      if (length < logfmt::kRecordHeaderBytes || p + length > seg_bytes) return Corrupt(p, "bad record length " + std::to_string(length));
      if (type != logfmt::kTypeData && type != logfmt::kTypeEndOfSegment) return Corrupt(p, "bad record type " + std::to_string(type));
      if (type == logfmt::kTypeData && p + logfmt::AlignRecord(length) + logfmt::kEndOfSegmentBytes > seg_bytes) {
        return Corrupt(p, "bad record length " + std::to_string(length));
      }
      if (type == logfmt::kTypeEndOfSegment && length != logfmt::kEndOfSegmentBytes) return Corrupt(p, "bad end-of-segment length " + std::to_string(length));
      if (epoch != s_->header.epoch) return Corrupt(p, "record epoch does not match the segment");
      if (seq != s_->seq) return Corrupt(p, "record sequence " + std::to_string(seq) + ", expected " + std::to_string(s_->seq));
      if (s_->verify && crc != logfmt::RecordCrc(rec, length)) return Corrupt(p, "record CRC mismatch");
      if (type == logfmt::kTypeEndOfSegment) {
        if (auto r = NextSegment(); !r) return r.error();
        continue;
      }
      s_->pos = p + logfmt::AlignRecord(length);
      ++s_->seq;
      return int64_t(p);
    }
  }

  // After an end-of-segment record: the next segment (index + 1, or the next one retention left).
  Result<void> NextSegment() {
    auto segments = detail::ListSegments(s_->dir);
    if (!segments) return segments.error();
    for (const auto& ref : *segments) {
      if (ref.index > s_->header.index) return OpenSegment(ref, true, s_->seq);
    }
    return Corrupt(s_->pos, "sealed, but no later segment exists");
  }

  std::unique_ptr<State> s_;
};

}  // namespace ringwire::api
