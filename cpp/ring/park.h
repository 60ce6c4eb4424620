// The ring's park/wake protocol, for C++ peers (the TS one: lib/core/park.ts; the words:
// layout.h kRxParkedOffset / kTxParkedOffset).
//
// A side that finds nothing to do (the consumer: ring empty; the producer: ring full) announces it
// is going to sleep by setting its park word, re-checks its condition, and only then sleeps on the
// peer's position word while it still holds the value it saw. The peer, after each publish, checks
// the park word (PeerParked) and wakes the sleeper only when it is set: no syscall per message.
// Only the sleeper clears its park word. The park store and the position load of the sleeper, and
// the position store and the park-word load of the peer, form a Dekker handshake: with a seq_cst
// fence (or seq_cst accesses) on both sides, either the sleeper sees the new position or the peer
// sees the park word, so a wake is never lost. How to sleep is the caller's (a futex for a file
// mapping, cpp/shm/futex.h; a condition variable; a bounded yield loop).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ring/layout.h"

namespace ringwire::park {

inline uint32_t* Word(uint8_t* base, size_t offset) { return reinterpret_cast<uint32_t*>(base + offset); }

// Whether the side whose park word is at `park_offset` said it is going to sleep. Called after a
// publish (a release store of tail or head): the seq_cst fence orders that store before this load,
// which only a full fence does (the Dekker handshake above).
inline bool PeerParked(uint8_t* base, size_t park_offset) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return std::atomic_ref<uint32_t>(*Word(base, park_offset)).load(std::memory_order_relaxed) != 0;
}

// One round of the protocol for the side owning the park word at `park_offset`, sleeping on the
// peer's position at `watch_offset`: announce, re-check ready(), sleep(word, seen) while the word
// holds `seen`, clear the announcement. Returns ready() as seen last; the caller loops (with its
// own deadline) while it is false. sleep may return early for any reason.
template <class Ready, class Sleep>
bool ParkOnce(uint8_t* base, size_t park_offset, size_t watch_offset, Ready&& ready, Sleep&& sleep) {
  std::atomic_ref<uint32_t> parked(*Word(base, park_offset));
  uint32_t* watch = Word(base, watch_offset);
  // seq_cst store, then the seq_cst load of the peer's position: our half of the handshake.
  parked.store(1, std::memory_order_seq_cst);
  uint32_t seen = std::atomic_ref<uint32_t>(*watch).load(std::memory_order_seq_cst);
  bool ok = ready();
  if (!ok) sleep(watch, seen);
  // Relaxed is enough to clear: a peer that still sees 1 only wakes us once more (a spurious wake).
  parked.store(0, std::memory_order_relaxed);
  return ok || ready();
}

// The consumer sleeps on tail with its park word set; the producer on head with its own.
template <class Ready, class Sleep>
bool ParkConsumer(uint8_t* base, Ready&& ready, Sleep&& sleep) {
  return ParkOnce(base, layout::kRxParkedOffset, layout::kTailOffset, ready, sleep);
}
template <class Ready, class Sleep>
bool ParkProducer(uint8_t* base, Ready&& ready, Sleep&& sleep) {
  return ParkOnce(base, layout::kTxParkedOffset, layout::kHeadOffset, ready, sleep);
}

}  // namespace ringwire::park
