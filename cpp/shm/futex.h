// Futex wait/wake on a 32-bit word of a MAP_SHARED mapping, for waits between processes.
//
// No FUTEX_PRIVATE_FLAG: a private futex is keyed by (mm, address) and only matches waiters of
// the same process; a shared one is keyed by (inode, page offset) for a file mapping, so a
// waiter in one process and a waker in another (or two mappings of the same file in one process)
// meet on the same key.
//
// The ring never depends on a futex for correctness, only for sleeping: a side sets its park word,
// re-checks its condition, then waits while the word still holds the value it saw (the kernel
// compares atomically with queueing the waiter), and the peer wakes it after a publish when the
// park word is set. Spurious returns (EINTR, EAGAIN, wake-ups meant for someone else) are fine:
// every caller re-checks its condition in a loop.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

namespace ringwire::futex {

enum class WaitResult : int32_t {
  kWoken = 0,        // woken (or spuriously): re-check the condition
  kTimedOut = 1,     // the timeout passed without a wake
  kNotEqual = 2,     // the word did not hold `expected` when the kernel looked
  kInterrupted = 3,  // a signal arrived: re-check, or sleep again for what is left
};

// Sleeps while *addr == expected, up to timeout_ns (< 0: no limit).
inline WaitResult Wait(const uint32_t* addr, uint32_t expected, int64_t timeout_ns) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = time_t(timeout_ns / 1000000000);
    ts.tv_nsec = long(timeout_ns % 1000000000);
    tsp = &ts;
  }
  // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC).
  long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, tsp, nullptr, 0);
  if (r == 0) return WaitResult::kWoken;
  if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
  if (errno == EAGAIN) return WaitResult::kNotEqual;
  return WaitResult::kInterrupted;  // EINTR (and nothing else FUTEX_WAIT returns on a valid word)
}

// Sleeps while *addr == expected, up to timeout_ns; 0 when woken (or the word differs, or a signal
// came), 1 when timed out: what the addon's wait() returns to JS.
inline int32_t WaitCode(const uint32_t* addr, uint32_t expected, int64_t timeout_ns) {
  return Wait(addr, expected, timeout_ns) == WaitResult::kTimedOut ? 1 : 0;
}

// Wakes every waiter on *addr (in any process that maps the same file); returns how many.
inline int Wake(const uint32_t* addr) {
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  return r < 0 ? 0 : int(r);
}

}  // namespace ringwire::futex
