// ringwire: a lock-free single-producer / single-consumer ring of variable-length records over
// caller-provided memory (a SharedArrayBuffer, an mmap'd file). Layout: layout.h.
//
// Ordering, in one paragraph (the TS mirror in lib/core/ring.ts follows the same argument):
// the producer writes header + payload with plain stores, then publishes with a release store of
// `tail`; the consumer acquire-loads `tail`, so every byte before it is visible. The consumer reads
// the records, then release-stores `head`; the producer acquire-loads `head` before reusing that
// space, so the consumer's reads happen-before the producer's overwrites. Each side owns its own
// position (relaxed load) and caches the peer's, re-reading it only when the cache says full/empty.
//
// Everything read from shared memory is checked before use: a peer may be buggy, dead or hostile.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ring/layout.h"
#include "ring/park.h"

namespace ringwire {

enum class Status : int32_t {
  kOk = 0,
  kFull = 1,      // no room now; retry later
  kEmpty = 2,     // nothing to read now
  kTooLarge = 3,  // can never fit in this ring at once
  kCorrupt = 4,   // shared memory holds something the ring never writes
};

namespace detail {
inline uint32_t* Word(uint8_t* base, size_t offset) { return reinterpret_cast<uint32_t*>(base + offset); }
inline uint32_t LoadRelaxed(uint8_t* base, size_t off) {
  return std::atomic_ref<uint32_t>(*Word(base, off)).load(std::memory_order_relaxed);
}
inline uint32_t LoadAcquire(uint8_t* base, size_t off) {
  return std::atomic_ref<uint32_t>(*Word(base, off)).load(std::memory_order_acquire);
}
inline void StoreRelease(uint8_t* base, size_t off, uint32_t v) {
  std::atomic_ref<uint32_t>(*Word(base, off)).store(v, std::memory_order_release);
}
inline void StoreRelaxed(uint8_t* base, size_t off, uint32_t v) {
  std::atomic_ref<uint32_t>(*Word(base, off)).store(v, std::memory_order_relaxed);
}
}  // namespace detail

struct RingInfo {
  uint32_t capacity = 0;
  uint32_t max_message = 0;
  uint32_t codec = 0;
};

// Writes a fresh control block. The magic is stored last with release, so a process that
// acquire-loads the magic and finds it valid sees a fully initialised header.
inline Status InitRing(void* mem, size_t size, uint32_t capacity, uint32_t max_message, uint32_t codec) {
  using namespace layout;
  if (reinterpret_cast<uintptr_t>(mem) % 8 != 0) return Status::kCorrupt;
  if (!IsPowerOfTwo(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) return Status::kTooLarge;
  if (size < TotalBytes(capacity)) return Status::kTooLarge;
  auto* base = static_cast<uint8_t*>(mem);
  std::memset(base, 0, kControlBytes);
  std::memcpy(base + kVersionOffset, &kVersion, 4);
  std::memcpy(base + kCapacityOffset, &capacity, 4);
  uint32_t data_offset = uint32_t(kControlBytes);
  std::memcpy(base + kDataOffsetOffset, &data_offset, 4);
  std::memcpy(base + kMaxMessageOffset, &max_message, 4);
  std::memcpy(base + kCodecOffset, &codec, 4);
  // Release: every header word above is visible to whoever acquire-loads a valid magic.
  detail::StoreRelease(base, kMagicOffset, kMagic);
  return Status::kOk;
}

// Validates a control block found in memory of `size` bytes (attaching to something foreign).
inline Status CheckRing(const void* mem, size_t size, RingInfo* info) {
  using namespace layout;
  if (mem == nullptr || reinterpret_cast<uintptr_t>(mem) % 8 != 0 || size < kControlBytes) return Status::kCorrupt;
  auto* base = const_cast<uint8_t*>(static_cast<const uint8_t*>(mem));
  // Acquire: pairs with InitRing's release of the magic, so the fields below are initialised.
  if (detail::LoadAcquire(base, kMagicOffset) != kMagic) return Status::kCorrupt;
  if (detail::LoadRelaxed(base, kVersionOffset) != kVersion) return Status::kCorrupt;
  uint32_t capacity = detail::LoadRelaxed(base, kCapacityOffset);
  if (!IsPowerOfTwo(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) return Status::kCorrupt;
  if (detail::LoadRelaxed(base, kDataOffsetOffset) != kControlBytes) return Status::kCorrupt;
  if (size < TotalBytes(capacity)) return Status::kCorrupt;
  if (info != nullptr) {
    info->capacity = capacity;
    info->max_message = detail::LoadRelaxed(base, kMaxMessageOffset);
    info->codec = detail::LoadRelaxed(base, kCodecOffset);
  }
  return Status::kOk;
}

// The producing side. Only one Producer may exist per ring at a time (roles are enforced above).
class Producer {
 public:
  // `base` must have passed CheckRing.
  explicit Producer(void* base)
      : base_(static_cast<uint8_t*>(base)),
        data_(base_ + layout::kControlBytes),
        capacity_(detail::LoadRelaxed(base_, layout::kCapacityOffset)),
        mask_(capacity_ - 1),
        // Relaxed: only the producer writes tail; a previous producer's stores were ordered by
        // whatever handed the role over.
        tail_(detail::LoadRelaxed(base_, layout::kTailOffset)),
        published_(tail_),
        // A cache that says "full": the first Reserve acquire-loads head and checks both positions
        // (tail came from shared memory too) before anything is written.
        head_cache_(tail_ - capacity_) {
    // A fragmented message a previous producer left unfinished will not be continued. Relaxed: the
    // consumer only compares it, and our first publish (release) orders it before our records.
    detail::StoreRelaxed(base_, layout::kFragInProgressOffset, 0);
  }

  uint32_t capacity() const { return capacity_; }
  uint32_t max_record_payload() const { return layout::MaxRecordPayload(capacity_); }
  uint32_t tail() const { return tail_; }

  // Reserves room for a record of up to `n` payload bytes and returns where to write them, or
  // nullptr with `*status` set (kFull, kTooLarge, kCorrupt). Nothing is visible until Commit.
  uint8_t* Claim(uint32_t n, Status* status) {
    if (n > max_record_payload()) {
      *status = Status::kTooLarge;
      return nullptr;
    }
    uint32_t need = layout::Align(n + uint32_t(layout::kRecordHeaderBytes));
    uint32_t off = tail_ & mask_;
    uint32_t contiguous = capacity_ - off;
    uint32_t pad = need > contiguous ? contiguous : 0;
    *status = Reserve(pad + need);
    if (*status != Status::kOk) return nullptr;
    if (pad != 0) {
      WriteHeader(off, contiguous - uint32_t(layout::kRecordHeaderBytes), layout::kTypePad);
      tail_ += pad;
      off = 0;
    }
    claimed_ = need;
    return data_ + off + layout::kRecordHeaderBytes;
  }

  // Makes the claimed record (with `len` <= the claimed size) part of the pending batch and
  // publishes the batch.
  void Commit(uint32_t len, uint32_t type = layout::kTypeMessage) {
    Append(len, type);
    Publish();
  }

  // Adds the claimed record to the batch without publishing it (Publish makes the batch visible).
  void Append(uint32_t len, uint32_t type = layout::kTypeMessage) {
    uint32_t off = tail_ & mask_;
    uint32_t need = layout::Align(len + uint32_t(layout::kRecordHeaderBytes));
    if (need > claimed_) need = claimed_;  // never past the claim
    WriteHeader(off, len, type);
    tail_ += need;
    claimed_ = 0;
  }

  // Drops the claim: the space is reused by the next claim; nothing was published.
  void Abort() {
    claimed_ = 0;
    tail_ = published_;
  }

  // Copies one record (a whole message if it fits in one record).
  Status TryWrite(const void* data, uint32_t n, uint32_t type = layout::kTypeMessage) {
    Status st;
    uint8_t* dst = Claim(n, &st);
    if (dst == nullptr) return st;
    if (n != 0) std::memcpy(dst, data, n);  // a null source is undefined even for 0 bytes
    Commit(n, type);
    return Status::kOk;
  }

  // Writes a message of any size, fragmenting it when it exceeds one record; all or nothing: it
  // either publishes every fragment now or nothing (kFull), kTooLarge if it can never fit at once.
  Status TryWriteMessage(const void* data, uint32_t n) {
    if (n <= max_record_payload()) return TryWrite(data, n);
    if (!layout::FitsAtOnce(capacity_, n)) return Status::kTooLarge;
    // With the bound free, every claim below succeeds.
    Status st = Reserve(uint32_t(layout::MessageBytesBound(capacity_, n)));
    if (st != Status::kOk) return st;
    const uint8_t* src = static_cast<const uint8_t*>(data);
    uint32_t done = 0;
    while (done < n) {
      st = WriteFragment(src, n, &done);
      if (st != Status::kOk) {
        Abort();
        return st;
      }
    }
    Publish();
    return Status::kOk;
  }

  // Appends the next fragment of the n-byte message at `data` (FRAG_FIRST when *done is 0), cut
  // as layout::FragmentChunk says, and advances *done. Not published: call Publish.
  Status WriteFragment(const uint8_t* data, uint32_t n, uint32_t* done) {
    const bool first = *done == 0;
    const uint32_t chunk = layout::FragmentChunk(capacity_, tail_ & mask_, n - *done, first);
    const uint32_t prefix = first ? uint32_t(layout::kFragPrefixBytes) : 0;
    Status st;
    uint8_t* dst = Claim(chunk + prefix, &st);
    if (dst == nullptr) return st;
    if (first) {
      const uint32_t header[2] = {n, 0};
      std::memcpy(dst, header, sizeof header);
      // Relaxed: ordered before the fragment's publication by Publish's release store of tail.
      detail::StoreRelaxed(base_, layout::kFragInProgressOffset, (tail_ | 1u));
    }
    std::memcpy(dst + prefix, data + *done, chunk);
    *done += chunk;
    Append(chunk + prefix, first ? layout::kTypeFragFirst : *done == n ? layout::kTypeFragLast : layout::kTypeFragMiddle);
    return Status::kOk;
  }

  // Publishes every record appended since the last publish.
  void Publish() {
    // Release: the headers and payloads written above become visible before the new tail.
    detail::StoreRelease(base_, layout::kTailOffset, tail_);
    published_ = tail_;
  }

  // Whether the consumer said it is going to sleep (after Publish: the handshake of park.h).
  bool ConsumerParked() const { return park::PeerParked(base_, layout::kRxParkedOffset); }

 private:
  Status Reserve(uint32_t total) {
    if (total <= capacity_ - (tail_ - head_cache_)) return Status::kOk;
    // Acquire: pairs with the consumer's release of head; its reads of the freed bytes are done.
    uint32_t head = detail::LoadAcquire(base_, layout::kHeadOffset);
    uint32_t used = tail_ - head;
    if (used > capacity_ || ((head | tail_) & 7u) != 0) return Status::kCorrupt;  // head must trail tail
    head_cache_ = head;
    return total <= capacity_ - used ? Status::kOk : Status::kFull;
  }
  void WriteHeader(uint32_t off, uint32_t len, uint32_t type) {
    std::memcpy(data_ + off, &len, 4);
    std::memcpy(data_ + off + 4, &type, 4);
  }

  uint8_t* base_;
  uint8_t* data_;
  uint32_t capacity_;
  uint32_t mask_;
  uint32_t tail_;
  uint32_t published_;
  uint32_t head_cache_;
  uint32_t claimed_ = 0;
};

// A record handed to a Drain callback; `data` is valid only during the callback.
struct Record {
  const uint8_t* data;
  uint32_t length;
  uint32_t type;
};

// The consuming side. Only one Consumer may exist per ring at a time.
class Consumer {
 public:
  explicit Consumer(void* base)
      : base_(static_cast<uint8_t*>(base)),
        data_(base_ + layout::kControlBytes),
        capacity_(detail::LoadRelaxed(base_, layout::kCapacityOffset)),
        mask_(capacity_ - 1),
        // Relaxed: only the consumer writes head.
        head_(detail::LoadRelaxed(base_, layout::kHeadOffset)),
        tail_cache_(head_) {}

  uint32_t head() const { return head_; }

  // Calls fn(Record) for up to `max` records (padding skipped) and then releases their space
  // with one store of head. Returns the number of records, or -1 if the ring is corrupt (the
  // records before the corrupt one were delivered and released).
  template <class F>
  int64_t Drain(F&& fn, size_t max = SIZE_MAX) {
    int64_t count = 0;
    uint32_t head = head_;
    Status st = Status::kOk;
    while (size_t(count) < max) {
      if (head == tail_cache_ && !Refresh(head, &st)) break;
      uint32_t off = head & mask_;
      uint32_t avail = tail_cache_ - head;
      uint32_t contiguous = capacity_ - off;
      uint32_t len, type;
      std::memcpy(&len, data_ + off, 4);
      std::memcpy(&type, data_ + off + 4, 4);
      // Bounds: the record must lie inside both the published bytes and the data region.
      uint64_t size = uint64_t(layout::Align(uint32_t(len > capacity_ ? capacity_ : len))) + layout::kRecordHeaderBytes;
      if (len > capacity_ || size > avail || size > contiguous || type < layout::kTypePad || type > layout::kTypeFragLast ||
          (type == layout::kTypePad && size != contiguous)) {
        st = Status::kCorrupt;
        break;
      }
      if (type != layout::kTypePad) {
        fn(Record{data_ + off + layout::kRecordHeaderBytes, len, type});
        ++count;
      }
      head += uint32_t(size);
    }
    if (head != head_) Release(head);
    return st == Status::kCorrupt ? -1 : count;
  }

  // Reads one whole message (reassembling fragments) into `out`. kEmpty if no complete message
  // is published yet; fragments already seen stay buffered across calls. A whole message or a
  // first fragment arriving while a fragmented message is incomplete means the producer abandoned
  // that one (timeout, abort): it is dropped (counted in dropped()).
  Status ReadMessage(std::vector<uint8_t>* out, uint32_t max_message) {
    while (true) {
      bool done = false;
      bool bad = false;
      int64_t n = Drain(
          [&](const Record& r) {
            if (r.type == layout::kTypeMessage) {
              DropPartial();
              out->assign(r.data, r.data + r.length);
              done = true;
            } else if (r.type == layout::kTypeFragFirst) {
              DropPartial();
              uint32_t total = 0;
              if (r.length >= layout::kFragPrefixBytes) std::memcpy(&total, r.data, 4);
              uint32_t chunk = r.length - uint32_t(layout::kFragPrefixBytes);
              if (r.length < layout::kFragPrefixBytes || total > max_message || chunk >= total) {
                bad = true;
                return;
              }
              assembly_.assign(r.data + layout::kFragPrefixBytes, r.data + r.length);
              // Announced, not yet received: reserve at most a ring's worth (a hostile prefix must
              // not make one 8-byte record allocate max_message bytes); insert grows the rest.
              assembly_.reserve(total < capacity_ ? total : capacity_);
              expected_ = total;
              partial_ = true;
            } else if (!partial_ || r.length > expected_ - assembly_.size()) {
              bad = true;  // a continuation without its start, or longer than announced
            } else {
              assembly_.insert(assembly_.end(), r.data, r.data + r.length);
              if (r.type == layout::kTypeFragLast) {
                if (assembly_.size() != expected_) {
                  bad = true;
                  return;
                }
                out->swap(assembly_);
                assembly_.clear();
                partial_ = false;
                done = true;
              }
            }
          },
          1);
      if (n < 0 || bad) return Status::kCorrupt;
      if (done) return Status::kOk;
      if (n == 0) return Status::kEmpty;
    }
  }

  uint64_t dropped() const { return dropped_; }

  // Whether the producer is asleep waiting for space (after releasing head: park.h).
  bool ProducerParked() const { return park::PeerParked(base_, layout::kTxParkedOffset); }

 private:
  bool Refresh(uint32_t head, Status* st) {
    // Acquire: pairs with the producer's release of tail; the records before it are complete.
    uint32_t tail = detail::LoadAcquire(base_, layout::kTailOffset);
    // head too: it came from shared memory, and a misaligned one would put a header past the end.
    if (tail - head > capacity_ || ((tail | head) & 7u) != 0) {
      *st = Status::kCorrupt;
      return false;
    }
    tail_cache_ = tail;
    return tail != head;
  }
  void Release(uint32_t head) {
    // Release: our reads of the consumed records happen-before the producer reuses the space.
    detail::StoreRelease(base_, layout::kHeadOffset, head);
    head_ = head;
  }

  uint8_t* base_;
  uint8_t* data_;
  uint32_t capacity_;
  uint32_t mask_;
  uint32_t head_;
  uint32_t tail_cache_;
  void DropPartial() {
    if (partial_) ++dropped_;
    partial_ = false;
    assembly_.clear();
  }

  std::vector<uint8_t> assembly_;
  uint32_t expected_ = 0;
  bool partial_ = false;
  uint64_t dropped_ = 0;
};

}  // namespace ringwire
