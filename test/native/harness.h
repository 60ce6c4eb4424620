// Shared by the C++ tests: a CHECK that works with NDEBUG too, a seeded PRNG, ring memory of
// exactly TotalBytes(capacity) (so AddressSanitizer sees any overrun), and a streaming writer that
// publishes a fragmented message record by record, as lib/channel/sender.ts does.
#pragma once

#ifdef NDEBUG
#error "the ringwire tests must be built without NDEBUG"
#endif

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ring/layout.h"
#include "ring/ring.h"
#include "sequence.h"

namespace ringwire::test {

inline const char* Name(Status s) {
  switch (s) {
    case Status::kOk: return "kOk";
    case Status::kFull: return "kFull";
    case Status::kEmpty: return "kEmpty";
    case Status::kTooLarge: return "kTooLarge";
    case Status::kCorrupt: return "kCorrupt";
  }
  return "Status(?)";
}

template <class T>
std::string Show(const T& v) {
  if constexpr (std::is_same_v<T, Status>) {
    return Name(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_pointer_v<T>) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(v));
    return buf;
  } else if constexpr (std::is_signed_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else {
    char buf[48];
    unsigned long long u = static_cast<unsigned long long>(v);
    std::snprintf(buf, sizeof buf, "%llu (0x%llx)", u, u);
    return buf;
  }
}

[[noreturn]] inline void Fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace ringwire::test

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond)) ::ringwire::test::Fail(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_EQ(a, b)                                                                                      \
  do {                                                                                                      \
    const auto check_a_ = (a);                                                                              \
    const auto check_b_ = (b);                                                                              \
    if (!(check_a_ == check_b_)) {                                                                          \
      ::ringwire::test::Fail(__FILE__, __LINE__,                                                            \
                             std::string(#a " == " #b ": ") + ::ringwire::test::Show(check_a_) + " vs " + \
                                 ::ringwire::test::Show(check_b_));                                         \
    }                                                                                                       \
  } while (0)

namespace ringwire::test {

// splitmix64: small, seeded, and the same on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return uint32_t(Next() % n); }  // n > 0
  bool OneIn(uint32_t n) { return Below(n) == 0; }

 private:
  uint64_t state_;
};

// Ring memory of exactly TotalBytes(capacity) bytes, 8-aligned, initialised with InitRing.
class RingMemory {
 public:
  explicit RingMemory(uint32_t capacity, uint32_t max_message = 1u << 20)
      : size_(layout::TotalBytes(capacity)), words_(new uint64_t[size_ / 8]) {
    std::memset(words_.get(), 0xEE, size_);  // the data region starts as junk, as in a reused mapping
    CHECK_EQ(InitRing(words_.get(), size_, capacity, max_message, 0), Status::kOk);
    CHECK_EQ(CheckRing(words_.get(), size_, nullptr), Status::kOk);
  }
  uint8_t* base() { return reinterpret_cast<uint8_t*>(words_.get()); }
  uint8_t* data() { return base() + layout::kControlBytes; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  std::unique_ptr<uint64_t[]> words_;
};

inline uint32_t GetWord(const uint8_t* base, size_t offset) {
  uint32_t v;
  std::memcpy(&v, base + offset, 4);
  return v;
}
inline void SetWord(uint8_t* base, size_t offset, uint32_t v) { std::memcpy(base + offset, &v, 4); }
inline uint32_t TailWord(const uint8_t* base) { return GetWord(base, layout::kTailOffset); }
inline uint32_t HeadWord(const uint8_t* base) { return GetWord(base, layout::kHeadOffset); }

// Moves an empty ring to position `pos` (8-aligned); call before constructing Producer/Consumer.
inline void SetPositions(uint8_t* base, uint32_t pos) {
  SetWord(base, layout::kTailOffset, pos);
  SetWord(base, layout::kHeadOffset, pos);
}

// Writes one message, fragmenting it when it exceeds one record, publishing each record as it goes
// so that the consumer can make room (the blocking writer's protocol; see lib/channel/sender.ts #advance).
// Advance() writes what fits now: kOk when the whole message is out, kFull when it needs room.
class StreamWriter {
 public:
  StreamWriter(const uint8_t* bytes, uint32_t n) : bytes_(bytes), n_(n) {}

  Status Advance(Producer& p) {
    const uint32_t max_payload = p.max_record_payload();
    if (n_ <= max_payload) {
      if (done_) return Status::kOk;
      Status st = p.TryWrite(bytes_, n_);
      if (st == Status::kOk) done_ = true;
      return st;
    }
    while (sent_ < n_) {
      Status st = p.WriteFragment(bytes_, n_, &sent_);
      if (st != Status::kOk) return st;
      p.Publish();  // one fragment at a time, so the consumer can make room
    }
    done_ = true;
    return Status::kOk;
  }
  bool done() const { return done_; }
  bool started() const { return sent_ != 0 || done_; }

 private:
  const uint8_t* bytes_;
  uint32_t n_;
  uint32_t sent_ = 0;
  bool done_ = false;
};

inline std::vector<uint8_t> SequenceMessage(uint32_t i, uint32_t size) {
  std::vector<uint8_t> v(size);
  sequence::Fill(v.data(), size, i);
  return v;
}

}  // namespace ringwire::test
