// Roles, streams and waits of a channel, as lib/core/roles.ts and lib/core/park.ts define them (the
// TypeScript side is the reference; this is the same protocol, word for word, so a C++ peer and a
// Node peer can share one channel file). Layout of the words: cpp/ring/layout.h.
//
// Every access to a header word is seq_cst, like the JS Atomics it pairs with: the claims, stream
// starts and park handshakes are store -> load (Dekker) patterns, which acquire/release alone does
// not order.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

#include "../result.hpp"
#include "core.hpp"

namespace ringwire::api::detail {

namespace L = ringwire::layout;

inline std::atomic_ref<uint32_t> Ref(uint8_t* base, size_t off) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(base + off));
}
inline uint32_t Load(uint8_t* base, size_t off) { return Ref(base, off).load(std::memory_order_seq_cst); }
inline void Store(uint8_t* base, size_t off, uint32_t v) { Ref(base, off).store(v, std::memory_order_seq_cst); }
// Returns the value found (== expected: exchanged).
inline uint32_t Cas(uint8_t* base, size_t off, uint32_t expected, uint32_t desired) {
  Ref(base, off).compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
  return expected;
}

enum class Role { kSender = 0, kReceiver = 1 };
inline const char* RoleName(Role r) { return r == Role::kSender ? "sender" : "receiver"; }
inline size_t OwnerOff(Role r) { return r == Role::kSender ? L::kSenderOwnerOffset : L::kReceiverOwnerOffset; }
inline size_t EchoOff(Role r) { return r == Role::kSender ? L::kSenderEchoOffset : L::kReceiverEchoOffset; }
inline size_t PidOff(Role r) { return r == Role::kSender ? L::kSenderPidOffset : L::kReceiverPidOffset; }
inline size_t StartOff(Role r) { return r == Role::kSender ? L::kSenderStartOffset : L::kReceiverStartOffset; }
inline size_t ParkOff(Role r) { return r == Role::kSender ? L::kTxParkedOffset : L::kRxParkedOffset; }
inline uint32_t ClosedBit(Role r) { return r == Role::kSender ? L::kSenderClosed : L::kReceiverClosed; }

// The calling thread as a role holder (thread-local: each thread is its own holder).
struct ThreadIdentity {
  bool known = false;  // false where /proc does not show the thread: random tokens, no liveness
  uint32_t tid = 0;
  uint32_t pid = 0;
  uint64_t start = 0;
};

inline const ThreadIdentity& Self() {
  thread_local const ThreadIdentity self = [] {
    ThreadIdentity id;
    const auto tid = int32_t(syscall(SYS_gettid));
    shm::ProcInfo p = shm::Probe(tid);
    if (tid > 0 && p.alive && p.start_known) {
      id.known = true;
      id.tid = uint32_t(tid);
      id.pid = uint32_t(getpid());
      id.start = p.start;
    }
    return id;
  }();
  return self;
}

// Whether `owner`, found in the owner word of `role`, is a thread that ended (false: alive or unknown).
inline bool OwnerDead(uint8_t* base, Role role, uint32_t owner) {
  return Self().known && owner != 0 && owner <= 0x7fffffffu && shm::HolderDead(base, int(role), int32_t(owner));
}
inline bool RoleHolderDead(uint8_t* base, Role role) { return OwnerDead(base, role, Load(base, OwnerOff(role))); }
inline bool Gone(uint8_t* base, Role role) { return Load(base, OwnerOff(role)) == 0 || RoleHolderDead(base, role); }

inline std::string DescribeHolder(uint8_t* base, Role role) {
  const uint32_t tid = Load(base, OwnerOff(role));
  if (tid == 0) return "nobody";
  const uint32_t pid = Load(base, EchoOff(role)) == tid ? Load(base, PidOff(role)) : 0;
  return "thread " + std::to_string(tid) + (pid != 0 ? " of process " + std::to_string(pid) : "");
}

inline constexpr int kSettleTries = 50;  // lib/core/roles.ts SETTLE_TRIES
inline void Pause() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

inline uint32_t EpochOf(uint32_t word) { return word >> L::kEpochShift; }
inline uint32_t NextStream(uint32_t word) { return (EpochOf(word) + 1) << L::kEpochShift; }
inline uint32_t Unread(uint8_t* base) { return Load(base, L::kTailOffset) - Load(base, L::kHeadOffset); }

struct Claim {
  uint32_t token = 0;
  uint32_t open = 0;  // the stream word the role was claimed under
};

inline Error RoleTaken(Role role) {
  return MakeError(Errc::kRoleTaken, std::string("the ") + RoleName(role) + " role of this channel is already taken by a live thread (one " +
                                         RoleName(role) + " per channel across all threads and processes)");
}

// lib/core/roles.ts acquire(): the owner word from 0, or from a dead holder, to our tid.
inline Result<uint32_t> Acquire(uint8_t* base, Role role) {
  const ThreadIdentity& me = Self();
  uint32_t token = me.tid;
  if (!me.known) {
    std::random_device rd;
    token = (rd() % 0x7ffffffeu) + 1;
  }
  for (int attempt = 0; attempt < kSettleTries; ++attempt) {
    // compare-exchange: exactly one claimant moves the word from 0 (free) to its tid.
    const uint32_t prev = Cas(base, OwnerOff(role), 0, token);
    if (prev != 0) {
      if (!me.known || !OwnerDead(base, role, prev)) {
        // A receiver that has just returned its end gives the role back right after.
        if (role == Role::kReceiver && (Load(base, L::kClosedOffset) & L::kEndSeen) != 0) {
          Pause();
          continue;
        }
        return RoleTaken(role);
      }
      // Takeover from the dead tid (of several takers exactly one wins); a dead holder with our own
      // (reused) tid goes to 0 first, then is claimed as a free role.
      const uint32_t to = prev == token ? 0 : token;
      if (Cas(base, OwnerOff(role), prev, to) != prev || to == 0) continue;
    }
    if (me.known) {
      // Echo cleared, pid and start time, then the echo (a checker reads it first and last).
      Store(base, EchoOff(role), 0);
      Store(base, StartOff(role), uint32_t(me.start));
      Store(base, StartOff(role) + 4, uint32_t(me.start >> 32));
      Store(base, PidOff(role), me.pid);
      Store(base, EchoOff(role), token);
    }
    // A holder that died asleep left its park word set.
    Store(base, ParkOff(role), 0);
    return token;
  }
  return RoleTaken(role);
}

inline void ReleaseRole(uint8_t* base, Role role, uint32_t token) { Cas(base, OwnerOff(role), token, 0); }

// A position read from shared memory must lie between head and tail, 8-aligned.
inline bool PositionOk(uint8_t* base, uint32_t pos) {
  const uint32_t head = Load(base, L::kHeadOffset);
  const uint32_t used = Load(base, L::kTailOffset) - head;
  const uint32_t capacity = Load(base, L::kCapacityOffset);
  return pos - head <= used && used <= capacity && ((pos | head) & 7u) == 0;
}
inline Error BadPosition(uint32_t pos) {
  return MakeError(Errc::kCorrupt, "stream start position " + std::to_string(pos) + " is not between the consumer position and the producer's");
}

inline Result<uint32_t> SenderStream(uint8_t* base) {
  for (int attempt = 0; attempt < kSettleTries; ++attempt) {
    const uint32_t word = Load(base, L::kClosedOffset);
    if ((word & L::kClosedBits) == 0) return word;  // join (a dead sender's stream: continue at tail)
    const bool ended = (word & (L::kEndSeen | L::kReceiverClosed)) != 0 || (Unread(base) == 0 && RoleHolderDead(base, Role::kReceiver));
    if (ended) {
      // We hold the sender role: tail is where the next stream starts; recorded before the CAS.
      const uint32_t next = NextStream(word);
      Store(base, L::kStreamStartOffset, Load(base, L::kTailOffset));
      Store(base, L::kStreamStartEpochOffset, EpochOf(next));
      // compare-exchange: of several starters (a sender and a receiver) exactly one starts it.
      if (Cas(base, L::kClosedOffset, word, next) == word) return next;
      continue;
    }
    Pause();  // its receiver may be about to return its end
  }
  const uint32_t left = Unread(base);
  return MakeError(Errc::kChannelClosed,
                   "the sender of this channel closed its stream, and the receiver (" + DescribeHolder(base, Role::kReceiver) +
                       ") has not received its end yet" + (left != 0 ? " (" + std::to_string(left) + " bytes unread)" : "") +
                       ": a new stream starts once a receiver has received everything and its end, or closes");
}

// The first receiver of a stream a sender started skips what the ended stream left unread.
inline Result<void> SkipToStreamStart(uint8_t* base, uint32_t word) {
  const uint32_t epoch = EpochOf(word);
  if (Load(base, L::kRxEpochOffset) == epoch) return {};
  if (Load(base, L::kStreamStartEpochOffset) == epoch) {
    const uint32_t start = Load(base, L::kStreamStartOffset);
    if (!PositionOk(base, start)) return BadPosition(start);
    Store(base, L::kHeadOffset, start);
  }
  Store(base, L::kRxEpochOffset, epoch);
  return {};
}

inline Result<uint32_t> ReceiverStream(uint8_t* base) {
  for (int attempt = 0; attempt < kSettleTries; ++attempt) {
    const uint32_t word = Load(base, L::kClosedOffset);
    if ((word & (L::kEndSeen | L::kReceiverClosed)) == 0) {
      if (auto r = SkipToStreamStart(base, word); !r) return r.error();
      return word;
    }
    if ((word & L::kEndSeen) != 0 || Gone(base, Role::kSender)) {
      // Ended: start the next stream, discarding what the ended one left unread.
      const uint32_t tail = Load(base, L::kTailOffset);
      if (!PositionOk(base, tail)) return BadPosition(tail);
      const uint32_t next = NextStream(word);
      if (Cas(base, L::kClosedOffset, word, next) == word) {
        Store(base, L::kHeadOffset, tail);  // we hold the receiver role: head is ours to move
        Store(base, L::kRxEpochOffset, EpochOf(next));
        return next;
      }
      continue;
    }
    Pause();  // a live sender: maybe a new one about to start the next stream
  }
  return MakeError(Errc::kChannelClosed, "the receiver of this channel closed its stream while its sender (" +
                                             DescribeHolder(base, Role::kSender) +
                                             ") is still attached: a new stream starts once that sender closes, releases its role or ends");
}

// lib/core/roles.ts claimRole(): takes the role, then joins the current stream or starts the next one.
inline Result<Claim> ClaimRole(uint8_t* base, Role role) {
  auto token = Acquire(base, role);
  if (!token) return token.error();
  auto open = role == Role::kSender ? SenderStream(base) : ReceiverStream(base);
  if (!open) {
    ReleaseRole(base, role, *token);
    return open.error();
  }
  return Claim{*token, *open};
}

// Sets `bit` in the stream word if it still holds the stream `open` was claimed under.
inline void MarkStream(uint8_t* base, uint32_t bit, uint32_t open) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint32_t word = Load(base, L::kClosedOffset);
    if (EpochOf(word) != EpochOf(open) || (word & bit) != 0) return;
    if (Cas(base, L::kClosedOffset, word, word | bit) == word) return;
  }
}

// ---- Waits (lib/core/park.ts) ----------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
inline constexpr auto kSlice = std::chrono::milliseconds(250);  // lib/core/park.ts SLICE_MS

inline Clock::time_point DeadlineOf(std::chrono::milliseconds timeout) {
  return timeout.count() < 0 ? Clock::time_point::max() : Clock::now() + timeout;
}

inline Error TimeoutError(const char* what, std::chrono::milliseconds timeout) {
  return MakeError(Errc::kTimeout, std::string(what) + ": timed out after " + std::to_string(timeout.count()) + " ms");
}

// Where a side sleeps: its park word, the peer's position word it watches, and the peer's role.
struct ParkSite {
  uint8_t* base;
  size_t parked;
  size_t watch;
  Role peer;
};

// Blocks until ready() (after spinning `spin_micros`), or fails at `deadline` (kTimeout) or when the
// peer's thread ended with ready() still false (kPeerDead). `seen()` is the watched word's value
// that ready() last saw false. Announce (park word = 1), re-check, sleep on the peer's position:
// the peer wakes us only while the park word is set; only we clear it.
template <class Ready, class Seen, class OnPark>
Result<void> Park(const ParkSite& site, Ready&& ready, Seen&& seen, uint32_t spin_micros, Clock::time_point deadline, const char* what,
                  std::chrono::milliseconds timeout, OnPark&& on_park) {
  if (ready()) return {};
  if (spin_micros > 0) {
    const auto end = Clock::now() + std::chrono::microseconds(spin_micros);
    for (uint32_t i = 1;; ++i) {
      if (ready()) return {};
      if ((i & 63) == 0 && Clock::now() >= end) break;
    }
  }
  const bool liveness = Self().known;
  // Bounded by the deadline (each pass sleeps up to a slice) or, without one, by the peer's life.
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) return TimeoutError(what, timeout);
    auto remaining = deadline - now;
    if (liveness && remaining > kSlice) remaining = kSlice;
    Store(site.base, site.parked, 1);  // seq_cst: the store half of the handshake, before the re-check
    if (ready()) {
      Store(site.base, site.parked, 0);
      return {};
    }
    on_park();
    const int64_t ns = deadline == Clock::time_point::max() && !liveness
                           ? -1
                           : std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count();
    futex::Wait(reinterpret_cast<const uint32_t*>(site.base + site.watch), seen(), ns);
    Store(site.base, site.parked, 0);
    if (ready()) return {};
    // ready() again after the liveness check: anything the dead peer published is visible by now.
    if (liveness && RoleHolderDead(site.base, site.peer) && !ready()) {
      return MakeError(Errc::kPeerDead, std::string(what) + ": the " + RoleName(site.peer) +
                                            " of this channel ended (its thread or process is gone) without closing");
    }
  }
}

// Wakes a peer asleep on `watch` if its park word says it sleeps. The seq_cst fence orders our
// store of the position (before this call) before the load of the park word: with the sleeper's
// seq_cst store of its park word and re-check, one of the two sees the other.
inline void WakeIfParked(uint8_t* base, size_t parked, size_t watch) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (Ref(base, parked).load(std::memory_order_relaxed) != 0) futex::Wake(reinterpret_cast<const uint32_t*>(base + watch));
}

// No fragmented message is being written any more (given up part-way, or a new sender took the
// role over): a receiver keeping one lets go of it, and one parked while keeping it is woken.
inline void NoFragmentInProgress(uint8_t* base) {
  Ref(base, L::kFragInProgressOffset).store(0, std::memory_order_seq_cst);
  WakeIfParked(base, L::kRxParkedOffset, L::kTailOffset);
}

// Per-side counters under a sequence lock (lib/stats.ts writeStats).
struct Counters {
  uint64_t messages = 0, bytes = 0, full = 0, parks = 0;
};
inline void WriteStats(uint8_t* base, size_t region, const Counters& c) {
  const uint32_t seq = (Load(base, region + L::kStatSeq) + 1) | 1;
  Store(base, region + L::kStatSeq, seq);  // odd while writing
  auto put = [&](size_t off, uint64_t v) {
    Store(base, region + off, uint32_t(v));
    Store(base, region + off + 4, uint32_t(v >> 32));
  };
  put(L::kStatMessages, c.messages);
  put(L::kStatBytes, c.bytes);
  put(L::kStatFull, c.full);
  put(L::kStatParks, c.parks);
  Store(base, region + L::kStatSeq, seq + 1);  // publish point: complete once even again
}

}  // namespace ringwire::api::detail
