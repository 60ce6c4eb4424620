// Channels between processes from C++: Channel::Open maps the same channel file as Channel.open in
// Node (a name in /dev/shm, or a path), and Sender / Receiver follow the same rules as
// lib/channel/sender.ts and lib/channel/receiver.ts: one sender and one receiver per channel across all threads
// and processes (a role is held by a thread; a dead holder's role is taken over), streams one after
// another, fragmentation of large messages, at-least-once delivery, the same park protocol.
//
// Codecs: the ring carries bytes. A C++ peer sends and receives the bytes of a message; on a
// 'bytes' channel they are the Node side's Uint8Array, on a 'string' or 'json' channel they are
// UTF-8 text (for 'json', the JSON text: the C++ side neither parses nor produces JSON, that is
// the caller's business). 'v8' (Node's structured serialization) is Node's business only.
//
// Errors are Result values (result.hpp); no call throws, except that an exception thrown by a
// Drain callback passes through (after the space of what was drained is handed back).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detail/reader.hpp"
#include "detail/roles.hpp"
#include "result.hpp"

namespace ringwire::api {

// The codec a channel was created with (the same ids as lib/codecs.ts).
enum class Codec : uint32_t { kBytes = 1, kString = 2, kJson = 3, kV8 = 4, kCustom = 255 };

inline const char* CodecName(Codec c) {
  switch (c) {
    case Codec::kBytes: return "bytes";
    case Codec::kString: return "string";
    case Codec::kJson: return "json";
    case Codec::kV8: return "v8";
    case Codec::kCustom: return "custom";
  }
  return "unknown";
}

// No time limit for Send / Recv.
inline constexpr std::chrono::milliseconds kForever{-1};

inline constexpr uint32_t kDefaultCapacity = 1u << 20;
inline constexpr uint32_t kDefaultMaxMessageBytes = 256u << 20;
inline constexpr uint32_t kMaxMessageBytes = 1u << 30;
inline constexpr size_t kMaxNameLength = 200;

struct ChannelOptions {
  bool create = false;  // create the channel when it does not exist (race-free, like Node's)
  // When the channel is created: its capacity (power of two, 1 KiB .. 1 GiB; default 1 MiB), codec
  // (default bytes) and largest message. When it exists: any of them given must match it.
  std::optional<uint32_t> capacity;
  std::optional<Codec> codec;
  std::optional<uint32_t> max_message_bytes;
  uint32_t mode = 0600;       // permission bits of a created file, applied exactly
  uint32_t spin_micros = 20;  // a waiting call spins this long before it parks
};

class Sender;
class Receiver;

namespace detail {

struct Shared {
  std::shared_ptr<shm::Mapping> mapping;
  uint8_t* base = nullptr;
  uint32_t capacity = 0;
  uint32_t max_message = 0;
  uint32_t spin_micros = 0;
};

struct Location {
  std::string path;
  bool named = false;
};

// lib/shm.ts locateChannel: a plain name is /dev/shm/ringwire-<name>; anything with '/' is a path.
inline Result<Location> Locate(std::string_view name_or_path) {
  if (name_or_path.empty()) return MakeError(Errc::kOutOfRange, "the channel name or path must be a non-empty string");
  if (name_or_path.find('\0') != std::string_view::npos) return MakeError(Errc::kOutOfRange, "the channel name or path contains a NUL character");
  if (name_or_path.find('/') != std::string_view::npos) return Location{std::string(name_or_path), false};
  bool ok = name_or_path.size() <= kMaxNameLength && name_or_path.find("..") == std::string_view::npos;
  for (char c : name_or_path) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return MakeError(Errc::kOutOfRange, "invalid channel name \"" + std::string(name_or_path) +
                                            "\": use letters, digits, '.', '_' and '-' (at most 200, no '..'), or a path containing '/'");
  }
  return Location{"/dev/shm/ringwire-" + std::string(name_or_path), true};
}

inline Error FromShm(const shm::OpenResult& r) {
  switch (r.code) {
    case shm::Code::kNotFound: return MakeError(Errc::kNoSuchChannel, r.message);
    case shm::Code::kNotAChannel: return MakeError(Errc::kNotAChannel, r.message);
    default: return MakeError(Errc::kSystem, r.message, r.sys_errno);
  }
}

inline bool KnownCodec(uint32_t id) { return (id >= 1 && id <= 4) || id == 255; }

}  // namespace detail

class Channel {
 public:
  // Opens (and with options.create, creates) the channel `name_or_path`, shared with Node.
  static Result<Channel> Open(std::string_view name_or_path, const ChannelOptions& options = {}) {
    auto where = detail::Locate(name_or_path);
    if (!where) return where.error();
    const uint32_t capacity = options.capacity.value_or(kDefaultCapacity);
    if (!layout::IsPowerOfTwo(capacity) || capacity < layout::kMinCapacity || capacity > layout::kMaxCapacity) {
      return MakeError(Errc::kOutOfRange, "options.capacity must be a power of two from 1024 to 2^30, got " + std::to_string(capacity));
    }
    const uint32_t max_message = options.max_message_bytes.value_or(kDefaultMaxMessageBytes);
    if (max_message < 1 || max_message > kMaxMessageBytes) {
      return MakeError(Errc::kOutOfRange, "options.max_message_bytes must be from 1 to 2^30, got " + std::to_string(max_message));
    }
    const uint32_t codec = uint32_t(options.codec.value_or(Codec::kBytes));
    if (!detail::KnownCodec(codec)) return MakeError(Errc::kOutOfRange, "options.codec is not a known codec id: " + std::to_string(codec));
    if (options.mode > 0777) return MakeError(Errc::kOutOfRange, "options.mode must be permission bits (0 to 0777)");
    if (options.spin_micros > 1000000) return MakeError(Errc::kOutOfRange, "options.spin_micros must be at most 1000000");
    shm::OpenOptions o;
    o.create = options.create;
    o.no_follow = where->named;  // a symlink at a name in /dev/shm is refused
    o.capacity = capacity;
    o.max_message = max_message;
    o.codec = codec;
    o.mode = options.mode;
    shm::OpenResult r = shm::Open(where->path, o);
    if (r.code != shm::Code::kOk) return detail::FromShm(r);
    // shm::Open checked the ring's geometry; what the TS side checks besides (validateControlBlock).
    if (r.info.max_message < 1 || r.info.max_message > kMaxMessageBytes) {
      return MakeError(Errc::kNotAChannel, where->path + ": max message bytes " + std::to_string(r.info.max_message) + " out of range");
    }
    if (!detail::KnownCodec(r.info.codec)) return MakeError(Errc::kNotAChannel, where->path + ": unknown codec id " + std::to_string(r.info.codec));
    auto mismatch = [&](const char* what, uint32_t mine, uint32_t theirs) {
      return MakeError(Errc::kChannelMismatch, "Channel::Open: " + where->path + " exists with " + what + " " + std::to_string(theirs) +
                                                   ", options." + what + " is " + std::to_string(mine));
    };
    if (options.capacity && r.info.capacity != capacity) return mismatch("capacity", capacity, r.info.capacity);
    if (options.max_message_bytes && r.info.max_message != max_message) return mismatch("max_message_bytes", max_message, r.info.max_message);
    if (options.codec && r.info.codec != codec) return mismatch("codec", codec, r.info.codec);
    Channel c;
    c.shared_.mapping = std::move(r.mapping);
    c.shared_.base = c.shared_.mapping->base;
    c.shared_.capacity = r.info.capacity;
    c.shared_.max_message = r.info.max_message;
    c.shared_.spin_micros = options.spin_micros;
    c.path_ = std::move(where->path);
    c.codec_ = Codec(r.info.codec);
    c.created_ = r.created;
    return c;
  }

  // Removes the channel file (false if there was none); a path only if it holds a channel.
  static Result<bool> Unlink(std::string_view name_or_path) {
    auto where = detail::Locate(name_or_path);
    if (!where) return where.error();
    shm::OpenResult r = shm::Unlink(where->path, !where->named);
    if (r.code == shm::Code::kNotFound) return false;
    if (r.code != shm::Code::kOk) return detail::FromShm(r);
    return true;
  }

  // Claims the sending / receiving role for the calling thread (see the class comments).
  Result<Sender> ClaimSender() const;
  Result<Receiver> ClaimReceiver() const;

  const std::string& path() const { return path_; }
  uint32_t capacity() const { return shared_.capacity; }
  uint32_t max_message_bytes() const { return shared_.max_message; }
  Codec codec() const { return codec_; }
  bool created() const { return created_; }  // whether Open created the file
  bool sender_closed() const { return (detail::Load(shared_.base, layout::kClosedOffset) & layout::kSenderClosed) != 0; }
  bool receiver_closed() const { return (detail::Load(shared_.base, layout::kClosedOffset) & layout::kReceiverClosed) != 0; }

 private:
  Channel() = default;
  detail::Shared shared_;
  std::string path_;
  Codec codec_ = Codec::kBytes;
  bool created_ = false;
};

// The sending end. The role belongs to the thread that claimed it: while that thread lives the
// role is taken; when it ends (or its process dies) the next claimant takes it over. Destroying a
// Sender gives the role back without ending the stream (Release); Close ends the stream.
class Sender {
 public:
  Sender(Sender&&) noexcept = default;
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      Release();
      s_ = std::move(other.s_);
    }
    return *this;
  }
  ~Sender() { Release(); }

  // Sends now if there is room: true if sent, false if the ring is full. A message over one record
  // (capacity / 2 - 8 bytes) is written whole or not at all; one that can never fit at once is
  // kTooLargeForTrySend (Send streams it).
  Result<bool> TrySend(std::span<const uint8_t> message) {
    if (auto r = CheckOpen("TrySend"); !r) return r.error();
    if (s_->reserved) return ReserveOpen();
    return TryWrite(message.data(), message.size(), true);
  }
  Result<bool> TrySend(std::string_view text) { return TrySend(AsBytes(text)); }

  // Sends, blocking the calling thread while the ring is full (up to `timeout`). A message too
  // large for the ring at once is streamed in fragments as the receiver makes room. kPeerDead
  // when the receiver's thread ended while we wait for room; kChannelClosed if it closed.
  Result<void> Send(std::span<const uint8_t> message, std::chrono::milliseconds timeout = kForever) {
    if (auto r = CheckOpen("Send"); !r) return r;
    if (s_->reserved) return ReserveOpen();
    const uint8_t* data = message.data();
    const size_t n = message.size();
    auto first = TryWrite(data, n, false);
    if (!first) return first.error();
    if (*first) return {};
    const auto deadline = detail::DeadlineOf(timeout);
    uint32_t done = 0;
    uint32_t seen_head = 0;
    // Bounded: each pass writes at least one record, or waits (until the deadline or the peer's end).
    for (;;) {
      auto need = Advance(data, uint32_t(n), &done);
      if (need && *need < 0) return {};
      Result<void> waited = need ? Wait(uint32_t(*need), &seen_head, deadline, timeout) : Result<void>(need.error());
      if (!waited) {
        // A fragmented message abandoned part-way: the receiver need not keep its fragments.
        if (done > 0 && done < n) detail::NoFragmentInProgress(s_->base());
        return waited;
      }
    }
  }
  Result<void> Send(std::string_view text, std::chrono::milliseconds timeout = kForever) { return Send(AsBytes(text), timeout); }

  // Zero-copy write: `n` bytes of ring memory to fill, then Commit(len) or Abort(). An empty span
  // with data() == nullptr when the ring has no room now. n is at most one record.
  Result<std::span<uint8_t>> Reserve(uint32_t n) {
    if (auto r = CheckOpen("Reserve"); !r) return r.error();
    const uint32_t limit = std::min(s_->w.max_record_payload(), s_->shared.max_message);
    if (n > limit) return MakeError(Errc::kOutOfRange, "Reserve: n must be from 0 to " + std::to_string(limit) + " (one record), got " + std::to_string(n));
    if (s_->reserved) return MakeError(Errc::kReserve, "Reserve: the previous reservation is not committed or aborted");
    Status st;
    uint8_t* at = s_->w.Claim(n, &st);
    if (at == nullptr) {
      if (st == Status::kFull) {
        ++s_->counters.full;
        return std::span<uint8_t>();
      }
      return Corrupt();
    }
    s_->reserved = true;
    s_->reserved_bytes = n;
    return std::span<uint8_t>(at, n);
  }

  // Publishes the first `len` bytes of the reservation as one message.
  Result<void> Commit(uint32_t len) {
    if (!s_ || !s_->reserved) return MakeError(Errc::kReserve, "Commit: nothing is reserved");
    if (len > s_->reserved_bytes) {
      return MakeError(Errc::kOutOfRange, "Commit: len must be from 0 to the reserved size (" + std::to_string(s_->reserved_bytes) + "), got " + std::to_string(len));
    }
    s_->reserved = false;
    s_->w.Commit(len);
    Published();
    Count(len);
    return {};
  }

  Result<void> Abort() {
    if (!s_ || !s_->reserved) return MakeError(Errc::kReserve, "Abort: nothing is reserved");
    s_->reserved = false;
    s_->w.Abort();
    return {};
  }

  // Ends the stream: the receiver gets every message sent before this, then the end. Gives the role back.
  void Close() { GiveUp(true); }
  // Gives the role back without ending the stream (another thread or process may take it over).
  void Release() { GiveUp(false); }
  bool closed() const { return !s_ || s_->closed; }

 private:
  friend class Channel;
  struct State {
    State(const detail::Shared& sh, const detail::Claim& c) : shared(sh), w(sh.base), token(c.token), open(c.open) {}
    detail::Shared shared;
    Producer w;
    uint32_t token;
    uint32_t open;
    bool closed = false;
    bool reserved = false;
    uint32_t reserved_bytes = 0;
    detail::Counters counters;
    uint8_t* base() const { return shared.base; }
  };
  explicit Sender(std::unique_ptr<State> s) : s_(std::move(s)) {}

  static std::span<const uint8_t> AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
  static Error ReserveOpen() { return MakeError(Errc::kReserve, "send: a reservation is open; commit or abort it first"); }
  static Error Corrupt() { return MakeError(Errc::kCorrupt, "the consumer position in shared memory is not within a ring's length behind the producer's"); }

  Result<void> CheckOpen(const char* what) const {
    if (!s_ || s_->closed) return MakeError(Errc::kChannelClosed, std::string(what) + ": this sender is closed");
    const uint32_t word = detail::Load(s_->base(), layout::kClosedOffset);
    if (word == s_->open) return {};
    // Only the receiver (closing) or a starter of a new stream (after ours ended) changes the word.
    return MakeError(Errc::kChannelClosed, std::string(what) + (detail::EpochOf(word) == detail::EpochOf(s_->open)
                                                                    ? ": the receiver closed the channel"
                                                                    : ": a new stream started on this channel; this sender's stream is closed"));
  }

  void Published() { detail::WakeIfParked(s_->base(), layout::kRxParkedOffset, layout::kTailOffset); }

  void Count(uint64_t n) {
    s_->counters.bytes += n;
    if ((++s_->counters.messages & 1023) == 0) FlushStats();
  }
  void FlushStats() { detail::WriteStats(s_->base(), layout::kTxStatsOffset, s_->counters); }

  // The whole message now or nothing: true if written, false if full.
  Result<bool> TryWrite(const uint8_t* data, size_t n, bool fail_if_never_fits) {
    if (n > s_->shared.max_message) {
      return MakeError(Errc::kMessageTooLarge, "message of " + std::to_string(n) + " bytes exceeds maxMessageBytes (" + std::to_string(s_->shared.max_message) + ")");
    }
    Status st;
    if (n <= s_->w.max_record_payload()) {
      st = s_->w.TryWrite(data, uint32_t(n));
    } else if (!layout::FitsAtOnce(s_->shared.capacity, n)) {
      if (!fail_if_never_fits) return false;  // Send streams it instead
      return MakeError(Errc::kTooLargeForTrySend, "TrySend: a message of " + std::to_string(n) + " bytes cannot be written at once into a " +
                                                      std::to_string(s_->shared.capacity) + "-byte ring; use Send, which streams it in fragments");
    } else {
      st = s_->w.TryWriteMessage(data, uint32_t(n));
    }
    if (st == Status::kFull) {
      ++s_->counters.full;
      return false;
    }
    if (st != Status::kOk) return Corrupt();
    Published();
    Count(n);
    return true;
  }

  // Writes as much of the message as fits without waiting: -1 when it is complete, else the
  // payload bytes of the record it needs room for next. Fragments are published one by one so
  // the receiver can make room (lib/channel/sender.ts #advance).
  Result<int64_t> Advance(const uint8_t* data, uint32_t n, uint32_t* done) {
    if (auto r = CheckOpen("Send"); !r) return r.error();
    Producer& w = s_->w;
    if (n <= w.max_record_payload()) {
      auto r = TryWrite(data, n, true);
      if (!r) return r.error();
      return *r ? int64_t(-1) : int64_t(n);
    }
    while (*done < n) {
      const bool first = *done == 0;
      const uint32_t size = layout::FragmentChunk(s_->shared.capacity, w.tail() & (s_->shared.capacity - 1), n - *done, first) +
                            (first ? uint32_t(layout::kFragPrefixBytes) : 0);
      const Status st = w.WriteFragment(data, n, done);
      if (st == Status::kFull) {
        ++s_->counters.full;
        return int64_t(size);
      }
      if (st != Status::kOk) return Corrupt();
      w.Publish();
      Published();
    }
    Count(n);
    return int64_t(-1);
  }

  // Waits for room for a record of `need` payload bytes (or for the stream to end under us).
  Result<void> Wait(uint32_t need, uint32_t* seen_head, detail::Clock::time_point deadline, std::chrono::milliseconds timeout) {
    uint8_t* base = s_->base();
    const uint32_t capacity = s_->shared.capacity;
    auto room = [&] {
      if (detail::Load(base, layout::kClosedOffset) != s_->open) return true;
      const uint32_t tail = s_->w.tail();
      const uint32_t head = detail::Load(base, layout::kHeadOffset);
      *seen_head = head;
      const uint32_t bytes = layout::Align(need + uint32_t(layout::kRecordHeaderBytes));
      const uint32_t contiguous = capacity - (tail & (capacity - 1));
      const uint64_t total = bytes > contiguous ? uint64_t(bytes) + contiguous : bytes;
      const uint32_t used = tail - head;
      // A damaged head counts as "ready": the next write reports it.
      return used > capacity || total <= capacity - used;
    };
    const detail::ParkSite site{base, layout::kTxParkedOffset, layout::kHeadOffset, detail::Role::kReceiver};
    return detail::Park(site, room, [&] { return *seen_head; }, s_->shared.spin_micros, deadline, "Send", timeout, [&] {
      ++s_->counters.parks;
      FlushStats();
    });
  }

  void GiveUp(bool end) {
    if (!s_ || s_->closed) return;
    s_->closed = true;
    if (s_->reserved) {
      s_->reserved = false;
      s_->w.Abort();
    }
    FlushStats();
    if (end) {
      detail::MarkStream(s_->base(), layout::kSenderClosed, s_->open);
      futex::Wake(reinterpret_cast<const uint32_t*>(s_->base() + layout::kTailOffset));  // a parked receiver must see the end
    }
    detail::ReleaseRole(s_->base(), detail::Role::kSender, s_->token);
  }

  std::unique_ptr<State> s_;
};

// The receiving end. What it hands you is a copy you own (Recv / TryRecv), or, with Drain, a view
// of ring memory valid during the callback. At least once: a message's ring space goes back to the
// sender no earlier than the next receive call (or Release / Close), so if this thread or process
// dies while handling a message, the next receiver gets it again. Destroying a Receiver releases
// the role (Release); Close ends the stream for the sender too.
class Receiver {
 public:
  Receiver(Receiver&&) noexcept = default;
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      Release();
      s_ = std::move(other.s_);
    }
    return *this;
  }
  ~Receiver() { Release(); }

  // The next message into `out` (replacing its contents): true, or false if none is complete now.
  Result<bool> TryRecv(std::vector<uint8_t>& out) { return TryRecvInto(out); }
  Result<bool> TryRecv(std::string& out) { return TryRecvInto(out); }

  // The next message, blocking up to `timeout`. kChannelClosed once the sender closed and every
  // message was received (the end; the role is then given back); kPeerDead while the ring is
  // empty and the sender's thread has ended without closing (a new sender may take over).
  Result<void> Recv(std::vector<uint8_t>& out, std::chrono::milliseconds timeout = kForever) { return RecvInto(out, timeout); }
  Result<void> Recv(std::string& out, std::chrono::milliseconds timeout = kForever) { return RecvInto(out, timeout); }

  // Calls fn(std::span<const uint8_t>) for each message available now (at most `max`), with no
  // copy (the span is ring memory, valid only during the call), then hands their space back.
  template <class F>
  Result<size_t> Drain(F&& fn, size_t max = SIZE_MAX) {
    if (!s_ || s_->closed) return MakeError(Errc::kChannelClosed, "Drain: this receiver is closed");
    if (s_->ended) return size_t(0);
    struct ReleaseOnExit {
      detail::RingReader& r;
      ~ReleaseOnExit() { r.Release(); }
    } guard{s_->r};
    size_t n = 0;
    while (n < max) {
      detail::RingReader::Record rec;
      const auto got = s_->r.Read(&rec);
      if (got == detail::RingReader::kCorrupt) return CorruptRecord();
      if (got == detail::RingReader::kNone) break;
      if (rec.type == layout::kTypeMessage) {
        if (s_->expected != 0) DropPartial();
        s_->fresh = false;
        Count(rec.length);
        ++n;
        fn(std::span<const uint8_t>(rec.data, rec.length));
        continue;
      }
      auto complete = Fragment(rec);
      if (!complete) return complete.error();
      if (*complete) {
        std::vector<uint8_t> whole = TakeAssembly();
        ++n;
        fn(std::span<const uint8_t>(whole.data(), whole.size()));
      }
    }
    return n;
  }

  // Stops receiving: unread messages are discarded and the sender's next send fails.
  void Close() {
    if (!s_ || s_->closed) return;
    s_->closed = true;
    if (s_->ended) return;  // the role is given back already
    s_->r.Release();
    FlushStats();
    detail::MarkStream(s_->base(), layout::kReceiverClosed, s_->open);
    futex::Wake(reinterpret_cast<const uint32_t*>(s_->base() + layout::kHeadOffset));  // a sender parked for room must see it
    detail::ReleaseRole(s_->base(), detail::Role::kReceiver, s_->token);
  }

  // Gives the role back without closing: another thread or process continues where this one
  // stopped (what was received is handed back; a fragmented message partly received that fits the
  // ring whole stays in it for the next receiver).
  void Release() {
    if (!s_ || s_->closed) return;
    s_->closed = true;
    if (s_->ended) return;
    s_->r.Release();
    FlushStats();
    detail::ReleaseRole(s_->base(), detail::Role::kReceiver, s_->token);
  }

  bool closed() const { return !s_ || s_->closed; }
  // Whether the end of the stream was returned (Recv gave kChannelClosed).
  bool ended() const { return s_ && s_->ended; }
  // Fragmented messages the sender abandoned part-way (or whose start an earlier receiver took).
  uint64_t dropped() const { return s_ ? s_->counters.full : 0; }

 private:
  friend class Channel;
  struct State {
    State(const detail::Shared& sh, const detail::Claim& c) : shared(sh), r(sh.base), token(c.token), open(c.open) {}
    detail::Shared shared;
    detail::RingReader r;
    uint32_t token;
    uint32_t open;
    bool closed = false;
    bool ended = false;
    // Reassembly of a fragmented message.
    std::vector<uint8_t> assembly;
    uint32_t expected = 0;
    // Until the first whole message or first fragment: fragments of a message whose start an
    // earlier receiver consumed are skipped, not corruption.
    bool fresh = true;
    detail::Counters counters;  // full: dropped messages
    uint8_t* base() const { return shared.base; }
  };
  explicit Receiver(std::unique_ptr<State> s) : s_(std::move(s)) {}
  enum class Polled { kEmpty, kMessage, kEnd };

  static Error CorruptRecord() { return MakeError(Errc::kCorrupt, "a record or position in the channel's shared memory is damaged"); }

  static void Assign(std::vector<uint8_t>& out, const uint8_t* p, size_t n) { out.assign(p, p + n); }
  static void Assign(std::string& out, const uint8_t* p, size_t n) { out.assign(reinterpret_cast<const char*>(p), n); }
  static void Take(std::vector<uint8_t>& out, std::vector<uint8_t>&& whole) { out = std::move(whole); }
  static void Take(std::string& out, std::vector<uint8_t>&& whole) { Assign(out, whole.data(), whole.size()); }

  void Count(uint64_t n) {
    s_->counters.bytes += n;
    if ((++s_->counters.messages & 1023) == 0) FlushStats();
  }
  void FlushStats() { detail::WriteStats(s_->base(), layout::kRxStatsOffset, s_->counters); }

  template <class Out>
  Result<bool> TryRecvInto(Out& out) {
    if (!s_ || s_->closed) return MakeError(Errc::kChannelClosed, "TryRecv: this receiver is closed");
    if (s_->ended) return false;
    auto v = Poll(out);
    if (!v) return v.error();
    return *v == Polled::kMessage;
  }

  template <class Out>
  Result<void> RecvInto(Out& out, std::chrono::milliseconds timeout) {
    std::optional<detail::Clock::time_point> deadline;
    // Bounded: each pass returns, or waits until the deadline or the sender's end.
    for (;;) {
      if (!s_ || s_->closed) return MakeError(Errc::kChannelClosed, "Recv: this receiver is closed");
      auto v = PollOrEnd(out);
      if (!v) return v.error();
      if (*v == Polled::kMessage) return {};
      if (*v == Polled::kEnd) return MakeError(Errc::kChannelClosed, "Recv: the sender closed and every message was received; the channel is closed");
      if (!deadline) deadline = detail::DeadlineOf(timeout);
      auto ready = [&] { return s_->r.Available() || s_->r.HeldAbandoned() || detail::Load(s_->base(), layout::kClosedOffset) != s_->open; };
      const detail::ParkSite site{s_->base(), layout::kRxParkedOffset, layout::kTailOffset, detail::Role::kSender};
      auto waited = detail::Park(site, ready, [&] { return s_->r.tail_cache(); }, s_->shared.spin_micros, *deadline, "Recv", timeout, [&] {
        ++s_->counters.parks;
        FlushStats();
      });
      if (!waited) return waited;
    }
  }

  // The next message, or kEmpty. At-least-once: the space of what earlier calls returned is handed
  // back here, at the start of the next call, never that of the message this call returns.
  template <class Out>
  Result<Polled> Poll(Out& out) {
    detail::RingReader& r = s_->r;
    r.ReleaseLazily();
    // Bounded: each pass consumes a published record.
    for (;;) {
      detail::RingReader::Record rec;
      const auto got = r.Read(&rec);
      if (got == detail::RingReader::kCorrupt) return CorruptRecord();
      if (got == detail::RingReader::kNone) {
        r.ReleaseLazily();
        return Polled::kEmpty;
      }
      if (rec.type == layout::kTypeMessage) {
        if (s_->expected != 0) DropPartial();
        s_->fresh = false;
        Count(rec.length);
        Assign(out, rec.data, rec.length);
        return Polled::kMessage;
      }
      auto complete = Fragment(rec);
      if (!complete) return complete.error();
      if (*complete) {
        Take(out, TakeAssembly());
        return Polled::kMessage;
      }
    }
  }

  // Like Poll, but kEnd once the sender closed and nothing is left.
  template <class Out>
  Result<Polled> PollOrEnd(Out& out) {
    if (s_->ended) return Polled::kEnd;
    auto v = Poll(out);
    if (!v || *v != Polled::kEmpty) return v;
    const uint32_t word = detail::Load(s_->base(), layout::kClosedOffset);
    // Another stream while we hold the role (only if we were found dead): ours is over.
    if (detail::EpochOf(word) != detail::EpochOf(s_->open)) return End();
    if ((word & layout::kSenderClosed) == 0) return Polled::kEmpty;
    // The close was stored after the last publish: a poll after seeing it sees every message.
    auto last = Poll(out);
    if (!last || *last != Polled::kEmpty) return last;
    if (s_->expected != 0) DropPartial();
    return End();
  }

  // The end, returned to the user: all space handed back, END_SEEN marked, the role given back.
  Polled End() {
    s_->ended = true;
    s_->r.Release();
    FlushStats();
    detail::MarkStream(s_->base(), layout::kEndSeen, s_->open);
    detail::ReleaseRole(s_->base(), detail::Role::kReceiver, s_->token);
    return Polled::kEnd;
  }

  // Adds a fragment to the reassembly; true when it completed a message.
  Result<bool> Fragment(const detail::RingReader::Record& rec) {
    State& s = *s_;
    detail::RingReader& r = s.r;
    if (rec.type == layout::kTypeFragFirst) {
      if (s.expected != 0) DropPartial();
      s.fresh = false;
      if (rec.length < layout::kFragPrefixBytes) return MakeError(Errc::kCorrupt, "first fragment of " + std::to_string(rec.length) + " bytes has no length prefix");
      uint32_t total;
      std::memcpy(&total, rec.data, 4);
      const uint32_t chunk = rec.length - uint32_t(layout::kFragPrefixBytes);
      if (total > s.shared.max_message || chunk >= total) {
        return MakeError(Errc::kCorrupt, "fragmented message claims " + std::to_string(total) + " bytes (first fragment " + std::to_string(chunk) +
                                             ", limit " + std::to_string(s.shared.max_message) + ")");
      }
      // Announced, not yet received: reserve at most a ring's worth (a hostile prefix must not
      // make one record allocate max_message bytes); insert grows the rest.
      s.assembly.clear();
      s.assembly.reserve(std::min(total, s.shared.capacity));
      s.assembly.insert(s.assembly.end(), rec.data + layout::kFragPrefixBytes, rec.data + rec.length);
      s.expected = total;
      // A message that fits the ring whole stays there until it is complete (a successor reads it
      // again if we die); a larger one must hand its fragments back as it goes.
      r.hold_from = r.head() - layout::Align(rec.length + uint32_t(layout::kRecordHeaderBytes));
      r.holding = layout::FitsAtOnce(s.shared.capacity, total);
      r.ReleaseLazily();
      return false;
    }
    if (s.expected == 0) {
      if (s.fresh) {
        // The rest of a message an earlier receiver had started: it cannot be completed.
        if (rec.type == layout::kTypeFragLast) ++s.counters.full;
        r.ReleaseLazily();
        return false;
      }
      return MakeError(Errc::kCorrupt, "a continuation fragment arrived without a first fragment");
    }
    if (rec.length > s.expected - s.assembly.size()) {
      return MakeError(Errc::kCorrupt, "fragments add up to more than the announced " + std::to_string(s.expected) + " bytes");
    }
    s.assembly.insert(s.assembly.end(), rec.data, rec.data + rec.length);
    if (rec.type == layout::kTypeFragLast) {
      if (s.assembly.size() != s.expected) {
        return MakeError(Errc::kCorrupt, "fragmented message ended at " + std::to_string(s.assembly.size()) + " of " + std::to_string(s.expected) + " bytes");
      }
      return true;
    }
    r.ReleaseLazily();
    return false;
  }

  std::vector<uint8_t> TakeAssembly() {
    s_->r.holding = false;
    s_->expected = 0;
    std::vector<uint8_t> whole;
    whole.swap(s_->assembly);
    Count(whole.size());
    return whole;
  }

  void DropPartial() {
    s_->r.holding = false;
    s_->assembly.clear();
    s_->expected = 0;
    ++s_->counters.full;
  }

  std::unique_ptr<State> s_;
};

inline Result<Sender> Channel::ClaimSender() const {
  auto claim = detail::ClaimRole(shared_.base, detail::Role::kSender);
  if (!claim) return claim.error();
  // The Producer clears the fragment-in-progress word (a message a previous sender left unfinished
  // will not be continued); a receiver parked while keeping such a message must let go of it.
  auto s = std::unique_ptr<Sender::State>(new Sender::State(shared_, *claim));
  detail::NoFragmentInProgress(shared_.base);
  return Sender(std::move(s));
}

inline Result<Receiver> Channel::ClaimReceiver() const {
  auto claim = detail::ClaimRole(shared_.base, detail::Role::kReceiver);
  if (!claim) return claim.error();
  // The claim may have moved head (a new stream skips what the ended one left): a sender parked
  // for room must see it.
  detail::WakeIfParked(shared_.base, layout::kTxParkedOffset, layout::kHeadOffset);
  auto s = std::unique_ptr<Receiver::State>(new Receiver::State(shared_, *claim));
  return Receiver(std::move(s));
}

}  // namespace ringwire::api
