// The consuming side of a channel's ring, as lib/core/ring.ts RingReader: records are read in place and
// their space is handed back later (at the start of the next receive call, in batches of
// capacity / 8, or when the producer sleeps for room), and a fragmented message being reassembled
// can be held in the ring until it is complete. ring.h's Consumer hands space back after every
// Drain, which is right for the addon's consumers but would lose the message in hand when a
// receiver dies (the at-least-once rule of the README's "Delivery guarantees").
#pragma once

#include <cstdint>
#include <cstring>

#include "roles.hpp"

namespace ringwire::api::detail {

class RingReader {
 public:
  struct Record {
    const uint8_t* data = nullptr;
    uint32_t length = 0;
    uint32_t type = 0;
  };
  enum Next : int { kNone = 0, kRecord = 1, kCorrupt = -1 };

  explicit RingReader(uint8_t* base)
      : base_(base),
        data_(base + L::kControlBytes),
        // The capacity was checked when the channel was opened; the header is read-only after.
        capacity_(Ref(base, L::kCapacityOffset).load(std::memory_order_relaxed)),
        mask_(capacity_ - 1),
        release_batch_(capacity_ >> 3),
        // Only the consumer writes head (the claim may just have moved it).
        head_(Load(base, L::kHeadOffset)),
        published_head_(head_),
        tail_cache_(head_) {}

  uint32_t capacity() const { return capacity_; }
  uint32_t head() const { return head_; }
  uint32_t tail_cache() const { return tail_cache_; }

  // Whether a record is published and not yet read, or the ring is corrupt (the next Read says so).
  bool Available() { return head_ != tail_cache_ || Refresh() != kNone; }

  // Whether we hold a message its producer no longer writes (the next Read then lets go of it).
  // seq_cst load: pairs with the producer's store of the word and its load of the park word.
  bool HeldAbandoned() const {
    return holding && Load(base_, L::kFragInProgressOffset) != (hold_from | 1u);
  }

  // Reads the next record (padding skipped) into `out`; its space stays ours until Release().
  Next Read(Record* out) {
    // Bounded: each pass moves head forward by a record, and only up to the published tail.
    for (;;) {
      if (head_ == tail_cache_) {
        const Next r = Refresh();
        if (r != kRecord) {
          // A held message the producer no longer writes will never complete: holding it would
          // only leave the producer no room. The producer stores this word before publishing a
          // first fragment.
          if (HeldAbandoned()) holding = false;
          return r;
        }
      }
      const uint32_t off = head_ & mask_;
      uint32_t len, type;
      std::memcpy(&len, data_ + off, 4);
      std::memcpy(&type, data_ + off + 4, 4);
      // Bounds: the record must lie inside the published bytes and inside the data region.
      const uint64_t size = len > capacity_ ? UINT64_MAX : uint64_t(L::Align(len + uint32_t(L::kRecordHeaderBytes)));
      if (size > uint32_t(tail_cache_ - head_) || size > capacity_ - off || type < L::kTypePad || type > L::kTypeFragLast ||
          (type == L::kTypePad && size != capacity_ - off)) {
        return kCorrupt;
      }
      head_ += uint32_t(size);
      if (type != L::kTypePad) {
        *out = Record{data_ + off + L::kRecordHeaderBytes, len, type};
        return kRecord;
      }
    }
  }

  // While set, nothing from hold_from on is handed back (a fragmented message being reassembled).
  bool holding = false;
  uint32_t hold_from = 0;

  // Hands space back when enough has accumulated, when the ring looks empty, or when the producer
  // sleeps for room (so it never waits on us).
  void ReleaseLazily() {
    const uint32_t to = holding ? hold_from : head_;
    if (to - published_head_ >= release_batch_ || head_ == tail_cache_ || Load(base_, L::kTxParkedOffset) != 0) Release();
  }

  void Release() {
    const uint32_t to = holding ? hold_from : head_;
    if (to == published_head_) return;
    // Publish point (seq_cst, at least release): our reads of the records before `to` are done
    // before the producer sees it.
    Store(base_, L::kHeadOffset, to);
    published_head_ = to;
    WakeIfParked(base_, L::kTxParkedOffset, L::kHeadOffset);
  }

 private:
  Next Refresh() {
    // Consume point (seq_cst, at least acquire): the producer stored tail after writing the records.
    const uint32_t tail = Load(base_, L::kTailOffset);
    if (tail - head_ > capacity_ || ((tail | head_) & 7u) != 0) return kCorrupt;
    tail_cache_ = tail;
    return tail != head_ ? kRecord : kNone;
  }

  uint8_t* base_;
  uint8_t* data_;
  uint32_t capacity_;
  uint32_t mask_;
  uint32_t release_batch_;
  uint32_t head_;
  uint32_t published_head_;
  uint32_t tail_cache_;
};

}  // namespace ringwire::api::detail
