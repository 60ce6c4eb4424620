// LogWriter: appends records to a ringwire log directory from C++, in the format Node's LogReader,
// `ringwire verify` and the CLI read (cpp/log/format.h), as lib/log/writer.ts writes it: one writer
// per log (flock on log.ctl), a record committed by a release store of its length word after its
// payload, fields and CRC32C, rolls to a new segment (created complete under a temporary name,
// then the end-of-segment record), the notify word bumped after each commit and parked followers
// woken (and the slots of dead ones freed), recovery of the tail a crashed writer left.
// What it does not do (lib/log/writer.ts does): retention, durability modes other than 'process'
// (Flush() msyncs on demand), upgrading a version-1 control file.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "log_reader.hpp"

namespace ringwire::api {

struct LogWriterOptions {
  std::optional<uint64_t> segment_bytes;  // of new segments: a multiple of 4096, 64 KiB .. 1 GiB (default 64 MiB)
  std::optional<Codec> codec;             // of a new log (default json); an existing log's must match
};

namespace detail {

inline uint64_t NowMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

inline std::string SegmentName(uint64_t index) {
  char name[40];
  std::snprintf(name, sizeof name, "%020llu.rwlog", static_cast<unsigned long long>(index));
  return name;
}

inline Error SysError(const std::string& what, const std::string& path, int e) {
  return MakeError(Errc::kSystem, what + " " + path + ": " + std::strerror(e), e);
}

inline void PutU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void PutU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

inline void WriteSegmentHeader(uint8_t* base, const logscan::SegmentHeader& h) {
  std::memset(base, 0, F::kSegmentHeaderBytes);
  PutU32(base + F::kSegMagicOffset, F::kSegmentMagic);
  PutU32(base + F::kSegVersionOffset, F::kVersion);
  PutU32(base + F::kSegHeaderBytesOffset, F::kSegmentHeaderBytes);
  PutU32(base + F::kSegEpochOffset, h.epoch);
  PutU64(base + F::kSegIndexOffset, h.index);
  PutU64(base + F::kSegBaseSeqOffset, h.base_seq);
  PutU64(base + F::kSegBytesOffset, h.segment_bytes);
  PutU64(base + F::kSegCreatedOffset, h.created);
  PutU32(base + F::kSegCodecOffset, h.codec);
  PutU32(base + F::kSegHeaderCrcOffset, F::Crc32c(0, base, F::kSegHeaderCrcOffset));
}

// Maps `path` read-write at `bytes` (extending a shorter file, zero-filled); with `create`, makes it
// (O_EXCL, 0600, space reserved).
inline Result<std::shared_ptr<shm::Mapping>> MapWritable(const std::string& path, uint64_t bytes, bool create) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  if (fd < 0) return SysError("open", path, errno);
  shm::detail::Fd guard(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) return SysError("fstat", path, errno);
  if (uint64_t(st.st_size) < bytes && ftruncate(fd, off_t(bytes)) != 0) return SysError("ftruncate", path, errno);
  if (create) {
    const int fa = posix_fallocate(fd, 0, off_t(bytes));
    if (fa != 0 && fa != EOPNOTSUPP && fa != EINVAL) return SysError("posix_fallocate", path, fa);
  }
  void* mem = mmap(nullptr, size_t(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) return SysError("mmap", path, errno);
  return std::make_shared<shm::Mapping>(static_cast<uint8_t*>(mem), size_t(bytes));
}

// Creates segment h.index complete with its header under a temporary name, then links it into
// place (link fails if the name exists), so no reader ever sees a partial header.
inline Result<std::shared_ptr<shm::Mapping>> CreateSegment(const std::string& dir, const logscan::SegmentHeader& h) {
  const std::string path = dir + "/" + SegmentName(h.index);
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  auto m = MapWritable(tmp, h.segment_bytes, true);
  if (!m) return m.error();
  WriteSegmentHeader((*m)->base, h);
  const int linked = link(tmp.c_str(), path.c_str());
  const int e = errno;
  unlink(tmp.c_str());
  if (linked != 0) return SysError("link", path, e);
  return m;
}

inline uint32_t NewEpoch() {
  std::random_device rd;
  // Bounded: random_device returns 0 with probability 2^-32 per call.
  for (int k = 0; k < 64; ++k) {
    if (uint32_t v = rd(); v != 0) return v;
  }
  return 1;
}

// Writes a record's header and payload at `rec` and commits it: the length word goes from
// in-progress to `length` with a release store, after everything else (the commit point).
inline void WriteRecord(uint8_t* rec, uint32_t type, uint32_t epoch, uint64_t seq, const uint8_t* payload, uint32_t n) {
  const uint32_t length = F::kRecordHeaderBytes + n;
  std::atomic_ref<uint32_t> word(*reinterpret_cast<uint32_t*>(rec));
  word.store(F::kInProgress, std::memory_order_relaxed);  // a crash from here on leaves an unfinished record
  PutU32(rec + F::kRecTypeOffset, type);
  PutU32(rec + F::kRecEpochOffset, epoch);
  PutU64(rec + F::kRecSeqOffset, seq);
  PutU64(rec + F::kRecTimeOffset, NowMs());
  if (n != 0) std::memcpy(rec + F::kRecordHeaderBytes, payload, n);
  PutU32(rec + F::kRecCrcOffset, F::RecordCrc(rec, length));
  // Release: payload, fields and CRC are visible to a reader that acquire-loads this word.
  word.store(length, std::memory_order_release);
}

}  // namespace detail

class LogWriter {
 public:
  static Result<LogWriter> Open(const std::string& dir, const LogWriterOptions& options = {}) {
    if (options.segment_bytes && !logfmt::ValidSegmentBytes(*options.segment_bytes)) {
      return MakeError(Errc::kOutOfRange, "options.segment_bytes must be a multiple of 4096 from 65536 to 2^30, got " + std::to_string(*options.segment_bytes));
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return MakeError(Errc::kSystem, "mkdir " + dir + ": " + ec.message(), ec.value());
    auto s = std::make_unique<State>();
    s->dir = dir;
    if (auto r = OpenControl(*s, options); !r) return r.error();
    LogWriter w(std::move(s));
    if (auto r = w.Recover(); !r) return r.error();
    uint8_t* ctl = w.s_->ctl->base;
    detail::Store(ctl, logfmt::kCtlWriterPidOffset, uint32_t(getpid()));
    const uint64_t now = detail::NowMs();
    detail::Store(ctl, logfmt::kCtlWriterStartOffset, uint32_t(now));
    detail::Store(ctl, logfmt::kCtlWriterStartOffset + 4, uint32_t(now >> 32));
    w.PublishStats();
    return w;
  }

  LogWriter(LogWriter&&) noexcept = default;
  LogWriter& operator=(LogWriter&& other) noexcept {
    if (this != &other) {
      Close();
      s_ = std::move(other.s_);
    }
    return *this;
  }
  ~LogWriter() { Close(); }

  // Appends one record (the payload as the log's codec expects it: JSON text for 'json', UTF-8 for
  // 'string', any bytes for 'bytes'); returns its sequence number.
  Result<uint64_t> Append(std::span<const uint8_t> payload) {
    if (!s_) return MakeError(Errc::kChannelClosed, "LogWriter::Append: the writer is closed");
    const uint64_t max = std::min<uint64_t>(logfmt::MaxPayload(s_->segment_bytes), logfmt::kLengthMask - logfmt::kRecordHeaderBytes);
    if (payload.size() > max) {
      return MakeError(Errc::kMessageTooLarge, "a " + std::to_string(payload.size()) + "-byte record does not fit a segment (at most " + std::to_string(max) + " bytes)");
    }
    const uint32_t n = uint32_t(payload.size());
    if (s_->pos + logfmt::kRecordHeaderBytes + n > s_->limit()) {
      if (auto r = Roll(); !r) return r.error();
      if (s_->pos + logfmt::kRecordHeaderBytes + n > s_->limit()) return MakeError(Errc::kMessageTooLarge, "the record does not fit a new segment");
    }
    const uint64_t seq = s_->seq;
    detail::WriteRecord(s_->seg->base + s_->pos, logfmt::kTypeData, s_->header.epoch, seq, payload.data(), n);
    s_->pos += logfmt::AlignRecord(logfmt::kRecordHeaderBytes + n);
    ++s_->seq;
    s_->bytes += n;
    Published();
    return seq;
  }
  Result<uint64_t> Append(std::string_view text) { return Append(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size())); }

  // Writes the current segment's pages to the file and waits (msync).
  Result<void> Flush() {
    if (!s_) return MakeError(Errc::kChannelClosed, "LogWriter::Flush: the writer is closed");
    if (msync(s_->seg->base, s_->seg->size, MS_SYNC) != 0) return detail::SysError("msync", s_->path, errno);
    ++s_->flushes;
    PublishStats();
    return {};
  }

  uint64_t next_sequence() const { return s_ ? s_->seq : 0; }
  const std::string& segment() const { return s_->path; }

  // Stops writing; another process may then open the log for writing.
  void Close() {
    if (!s_) return;
    PublishStats();
    detail::Store(s_->ctl->base, logfmt::kCtlWriterPidOffset, 0);
    s_.reset();  // unmaps, closes log.ctl: the lock goes with it
  }

 private:
  struct State {
    std::string dir;
    int ctl_fd = -1;  // holds the flock
    std::shared_ptr<shm::Mapping> ctl;
    uint32_t codec = 0;
    uint64_t segment_bytes = 0;  // of new segments
    std::shared_ptr<shm::Mapping> seg;
    std::string path;
    logscan::SegmentHeader header;
    uint64_t pos = 0;
    uint64_t seq = 0;
    uint64_t bytes = 0, rolls = 0, flushes = 0, wakes = 0;
    uint32_t stats_left = 65536;
    std::chrono::steady_clock::time_point reclaim_at{};
    uint64_t limit() const { return header.segment_bytes - logfmt::kEndOfSegmentBytes; }  // room kept for the EOS
    ~State() {
      if (ctl_fd >= 0) ::close(ctl_fd);
    }
  };
  explicit LogWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}

  // log.ctl: created (complete, under a temporary name, then linked) if missing; locked; checked.
  static Result<void> OpenControl(State& s, const LogWriterOptions& o) {
    using namespace logfmt;
    const std::string path = s.dir + "/" + detail::kControlFile;
    if (access(path.c_str(), F_OK) != 0) {
      const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
      auto m = detail::MapWritable(tmp, kControlBytes, true);
      if (!m) return m.error();
      uint8_t* c = (*m)->base;
      detail::PutU32(c + kCtlVersionOffset, kControlVersion);
      detail::PutU32(c + kCtlSegmentBytesOffset, uint32_t(o.segment_bytes.value_or(kDefaultSegmentBytes)));
      detail::PutU32(c + kCtlCodecOffset, uint32_t(o.codec.value_or(Codec::kJson)));
      detail::PutU64(c + kCtlCreatedOffset, detail::NowMs());
      detail::Store(c, kCtlMagicOffset, kControlMagic);
      m->reset();
      const int linked = link(tmp.c_str(), path.c_str());  // another writer may have created it first: theirs
      const int e = errno;
      unlink(tmp.c_str());
      if (linked != 0 && e != EEXIST) return detail::SysError("link", path, e);
    }
    s.ctl_fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (s.ctl_fd < 0) return detail::SysError("open", path, errno);
    if (flock(s.ctl_fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return detail::SysError("flock", path, errno);
      uint32_t pid = 0;
      shm::detail::ReadFully(s.ctl_fd, &pid, 4, kCtlWriterPidOffset);
      return MakeError(Errc::kLocked, "the log in " + s.dir + " already has a writer (pid " + std::to_string(pid) + "); one writer per log");
    }
    auto m = detail::MapFile(path, true, kControlBytes, Errc::kNotALog);
    if (!m) return m.error();
    s.ctl = std::move(*m);
    uint8_t* c = s.ctl->base;
    if (detail::Load(c, kCtlMagicOffset) != kControlMagic) return MakeError(Errc::kNotALog, path + " is not a ringwire log control file (bad magic)");
    if (const uint32_t v = detail::Load(c, kCtlVersionOffset); v != kControlVersion) {
      return MakeError(Errc::kNotALog, path + " has control file version " + std::to_string(v) + "; open it with Node's LogWriter once to upgrade it");
    }
    // Slots a previous writer died reclaiming are free.
    for (uint32_t k = 0; k < kReaderSlots; ++k) detail::Cas(c, detail::SlotOff(k) + kSlotOwnerOffset, detail::kReclaiming, 0);
    s.codec = detail::Load(c, kCtlCodecOffset);
    if (o.codec && uint32_t(*o.codec) != s.codec) {
      return MakeError(Errc::kChannelMismatch, "options.codec is " + std::string(CodecName(*o.codec)) + " but the log in " + s.dir + " was created with codec id " + std::to_string(s.codec));
    }
    s.segment_bytes = o.segment_bytes.value_or(detail::Load(c, kCtlSegmentBytesOffset));
    if (!ValidSegmentBytes(s.segment_bytes)) return MakeError(Errc::kCorrupt, path + ": segment bytes " + std::to_string(s.segment_bytes) + " is invalid");
    // Temporaries a writer that died while creating a file left behind.
    if (std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(s.dir.c_str()), closedir); d) {
      while (dirent* e = readdir(d.get())) {
        const std::string_view name = e->d_name;
        if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") unlink((s.dir + "/" + e->d_name).c_str());
      }
    }
    // The counters continue across writers (seqlock read, bounded).
    for (int attempt = 0; attempt < 10000; ++attempt) {
      const size_t at = kCtlStatsOffset;
      const uint32_t s1 = detail::Load(c, at + kStatSeq);
      auto get = [&](size_t f) { return detail::Load(c, at + f) | uint64_t(detail::Load(c, at + f + 4)) << 32; };
      s.bytes = get(kStatBytes);
      s.rolls = get(kStatRolls);
      s.flushes = get(kStatFlushes);
      s.wakes = get(kStatWakes);
      if ((s1 & 1) == 0 && detail::Load(c, at + kStatSeq) == s1) break;
    }
    return {};
  }

  logscan::SegmentHeader NewHeader(uint64_t index, uint64_t base_seq) const {
    logscan::SegmentHeader h;
    h.epoch = detail::NewEpoch();
    h.index = index;
    h.base_seq = base_seq;
    h.segment_bytes = s_->segment_bytes;
    h.created = detail::NowMs();
    h.codec = s_->codec;
    return h;
  }

  void Use(std::shared_ptr<shm::Mapping> m, const std::string& path, const logscan::SegmentHeader& h, uint64_t pos) {
    s_->seg = std::move(m);
    s_->path = path;
    s_->header = h;
    s_->pos = pos;
  }

  Result<void> StartSegment(uint64_t index, uint64_t base_seq) {
    const logscan::SegmentHeader h = NewHeader(index, base_seq);
    auto m = detail::CreateSegment(s_->dir, h);
    if (!m) return m.error();
    Use(std::move(*m), s_->dir + "/" + detail::SegmentName(index), h, logfmt::kSegmentHeaderBytes);
    return {};
  }

  // Finds the tail, keeps its valid prefix, zeroes the rest, and positions the writer after it.
  Result<void> Recover() {
    auto segments = detail::ListSegments(s_->dir);
    if (!segments) return segments.error();
    s_->seq = 0;
    if (segments->empty()) return StartSegment(0, 0);
    const detail::SegmentRef& tail = segments->back();
    uint8_t head[logfmt::kSegmentHeaderBytes];
    logscan::SegmentHeader h;
    const int fd = ::open(tail.path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && shm::detail::ReadFully(fd, head, sizeof head, 0) && logscan::ReadHeader(head, sizeof head, &h);
    if (fd >= 0) ::close(fd);
    if (!ok) return MakeError(Errc::kCorrupt, tail.path + " at offset 0: bad segment header");
    if (h.index != tail.index) return MakeError(Errc::kCorrupt, tail.path + ": header says segment " + std::to_string(h.index));
    auto m = detail::MapWritable(tail.path, h.segment_bytes, false);  // extends a truncated file (zero-filled)
    if (!m) return m.error();
    const logscan::ScanResult r = logscan::Scan((*m)->base, (*m)->size);
    if (r.problem == logscan::Problem::kBadHeader) return MakeError(Errc::kCorrupt, tail.path + " at offset 0: bad segment header");
    if (r.dirty_end > r.end) std::memset((*m)->base + r.end, 0, r.dirty_end - r.end);  // an unfinished record, or garbage
    if (r.records == 0 && segments->size() > 1) {
      // The previous writer may have died in a roll (this tail created, the previous segment not
      // sealed yet): lib/log/writer.ts repairs that; this writer leaves it to it.
      const auto& prev = (*segments)[segments->size() - 2];
      auto pm = detail::MapFile(prev.path, false, logfmt::kSegmentHeaderBytes, Errc::kCorrupt);
      if (!pm) return pm.error();
      const logscan::ScanResult pr = logscan::Scan((*pm)->base, (*pm)->size);
      if (!pr.sealed || pr.next_seq != h.base_seq) {
        return MakeError(Errc::kCorrupt, prev.path + " is not sealed before the empty tail " + tail.path +
                                             " (a writer died in a roll): open the log once with Node's LogWriter, which repairs it");
      }
    }
    s_->seq = r.records == 0 ? h.base_seq : r.next_seq;
    if (r.sealed) return StartSegment(tail.index + 1, r.next_seq);  // sealed, yet the last: its successor is gone
    Use(std::move(*m), tail.path, h, r.end);
    return {};
  }

  // Ends the current segment and continues in a new one (created complete before the EOS points to it).
  Result<void> Roll() {
    const logscan::SegmentHeader next = NewHeader(s_->header.index + 1, s_->seq);
    auto m = detail::CreateSegment(s_->dir, next);
    if (!m) return m.error();
    detail::WriteRecord(s_->seg->base + s_->pos, logfmt::kTypeEndOfSegment, s_->header.epoch, s_->seq, nullptr, 0);
    Use(std::move(*m), s_->dir + "/" + detail::SegmentName(next.index), next, logfmt::kSegmentHeaderBytes);
    ++s_->rolls;
    Published();
    PublishStats();
    return {};
  }

  // After a commit: bumps the notify word, then wakes parked followers if any. seq_cst store and
  // loads: with a follower's seq_cst fetch_or of its parked bit and its re-check, one of the two
  // sees the other (lib/log/writer.ts, top).
  void Published() {
    uint8_t* c = s_->ctl->base;
    detail::Store(c, logfmt::kCtlNotifyOffset, uint32_t(s_->seq));
    if ((detail::Load(c, logfmt::kCtlParkedOffset) | detail::Load(c, logfmt::kCtlParkedOffset + 4)) != 0) Wake();
    if (--s_->stats_left == 0) PublishStats();
  }

  // Wakes the followers asleep on notify; if there was none, frees the slots of dead ones (at most
  // every 100 ms): a follower killed while asleep would otherwise cost every append a wake.
  void Wake() {
    ++s_->wakes;
    uint8_t* c = s_->ctl->base;
    if (futex::Wake(reinterpret_cast<const uint32_t*>(c + logfmt::kCtlNotifyOffset)) > 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < s_->reclaim_at) return;
    s_->reclaim_at = now + std::chrono::milliseconds(100);
    for (uint32_t k = 0; k < logfmt::kReaderSlots; ++k) {
      if ((detail::Load(c, detail::ParkedWordOff(k)) & detail::ParkedBit(k)) == 0) continue;
      const size_t s = detail::SlotOff(k);
      const uint32_t owner = detail::Load(c, s + logfmt::kSlotOwnerOffset);
      // The exchange to RECLAIMING wins the slot from its dead owner; meanwhile nobody can own it.
      if (!detail::SlotDead(c, k, owner) || detail::Cas(c, s + logfmt::kSlotOwnerOffset, owner, detail::kReclaiming) != owner) continue;
      detail::Ref(c, detail::ParkedWordOff(k)).fetch_and(~detail::ParkedBit(k), std::memory_order_seq_cst);
      detail::Store(c, s + logfmt::kSlotEchoOffset, 0);
      detail::Store(c, s + logfmt::kSlotOwnerOffset, 0);
    }
  }

  // Counters for `ringwire stat`, under the control file's sequence lock (odd while writing).
  void PublishStats() {
    s_->stats_left = 65536;
    uint8_t* c = s_->ctl->base;
    const size_t at = logfmt::kCtlStatsOffset;
    const uint32_t seq = (detail::Load(c, at + logfmt::kStatSeq) + 1) | 1;
    detail::Store(c, at + logfmt::kStatSeq, seq);
    auto put = [&](size_t f, uint64_t v) {
      detail::Store(c, at + f, uint32_t(v));
      detail::Store(c, at + f + 4, uint32_t(v >> 32));
    };
    put(logfmt::kStatNextSequence, s_->seq);
    put(logfmt::kStatBytes, s_->bytes);
    put(logfmt::kStatRolls, s_->rolls);
    put(logfmt::kStatFlushes, s_->flushes);
    put(logfmt::kStatSegment, s_->header.index);
    put(logfmt::kStatWakes, s_->wakes);
    detail::Store(c, at + logfmt::kStatSeq, seq + 1);  // publish point: a consistent set once even again
  }

  std::unique_ptr<State> s_;
};

}  // namespace ringwire::api
