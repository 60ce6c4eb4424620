// Seeded corruption fuzz: valid traffic, then random damage to the control block and the data
// region, then reads and writes by the existing producer/consumer and by fresh ones attached to the
// damaged ring. What is allowed:
//   - damage the ring never reads (unused control bytes, free data space): everything still works,
//     every message arrives intact, nothing says kCorrupt;
//   - any other damage: valid data or kCorrupt / -1, records inside the data region, and a producer
//     or consumer that accepts the positions it found only when they are consistent.
// The ring memory is exactly TotalBytes(capacity), so under AddressSanitizer this also shows that
// no access leaves the ring. RINGWIRE_FUZZ_ITERATIONS overrides the iteration count (20000).
#include <deque>

#include "harness.h"

namespace ringwire::test {
namespace {

struct Range {
  uint32_t min, max;
};

// Valid traffic between one producer and one consumer: sequence messages, some fragmented.
class Traffic {
 public:
  Traffic(Producer& p, Consumer& c, uint32_t capacity, uint32_t seed)
      : p_(p), c_(c), capacity_(capacity), seed_(seed) {}

  Range RangeOf(uint32_t i) const {
    return i % 4 == 0 ? Range{0, 2 * capacity_} : Range{0, layout::MaxRecordPayload(capacity_)};
  }
  uint32_t max_message() const { return 2 * capacity_; }

  // Writes up to `count` messages; false when the ring is full (a fragmented one may be half out).
  bool Write(uint32_t count) {
    for (; count > 0; --count) {
      if (w_ == nullptr) {
        Range r = RangeOf(next_write_);
        msg_ = SequenceMessage(next_write_, sequence::Size(next_write_, seed_, r.min, r.max));
        w_ = std::make_unique<StreamWriter>(msg_.data(), uint32_t(msg_.size()));
      }
      Status st = w_->Advance(p_);
      CHECK(st == Status::kOk || st == Status::kFull);
      if (st != Status::kOk) return false;
      w_.reset();
      ++next_write_;
    }
    return true;
  }

  // Reads one message and checks it is the next one.
  Status Read() {
    Status st = c_.ReadMessage(&out_, max_message());
    CHECK(st == Status::kOk || st == Status::kEmpty);
    if (st == Status::kOk) {
      Range r = RangeOf(next_read_);
      if (!sequence::Check(out_.data(), uint32_t(out_.size()), next_read_, seed_, r.min, r.max)) {
        std::fprintf(stderr, "message %u wrong (size %zu)\n", next_read_, out_.size());
        CHECK(false);
      }
      ++next_read_;
    }
    return st;
  }

  // Reads everything, finishing a half-written message, and checks the ring is then empty.
  void Finish() {
    for (int step = 0; step < 100000; ++step) {
      for (int k = 0; k < 100000 && Read() == Status::kOk; ++k) {
      }
      if (w_ == nullptr) break;
      Write(1);
    }
    CHECK(w_ == nullptr);
    CHECK_EQ(next_read_, next_write_);
  }

  uint32_t written() const { return next_write_; }

 private:
  Producer& p_;
  Consumer& c_;
  uint32_t capacity_;
  uint32_t seed_;
  uint32_t next_write_ = 0, next_read_ = 0;
  std::vector<uint8_t> msg_, out_;
  std::unique_ptr<StreamWriter> w_;
};

enum DamageKind { kUnread, kPositions, kPublished, kAnywhere, kDamageKinds };

// Control-block bytes ring.h never reads: header past the data offset word except nothing it
// judges (max message and codec are only reported), stats, the rest of the tail/head regions,
// the park region past the park words, reserved.
bool UnreadControlByte(size_t k) {
  if (k < layout::kMaxMessageOffset) return false;
  if (k >= layout::kTailOffset && k < layout::kTailOffset + 4) return false;
  if (k >= layout::kHeadOffset && k < layout::kHeadOffset + 4) return false;
  if (k >= layout::kRxParkedOffset && k < layout::kTxParkedOffset + 4) return false;
  return k < layout::kControlBytes;
}

uint32_t Mangle(Rng& rng, uint32_t v, uint32_t capacity) {
  switch (rng.Below(8)) {
    case 0: return uint32_t(rng.Next());
    case 1: return v + 4;
    case 2: return v - 8;
    case 3: return v + capacity + 8;
    case 4: return v - capacity - 8;
    case 5: return v ^ (1u << rng.Below(32));
    case 6: return v + 8 * (1 + rng.Below(4));
    default: return v + capacity - 4;
  }
}

void Damage(Rng& rng, RingMemory& m, uint32_t capacity, int kind) {
  uint8_t* base = m.base();
  const uint32_t tail = TailWord(base), head = HeadWord(base);
  const uint32_t mask = capacity - 1;
  const uint32_t flips = 1 + rng.Below(8);
  for (uint32_t f = 0; f < flips; ++f) {
    const uint8_t x = uint8_t(1 + rng.Below(255));  // never a no-op
    switch (kind) {
      case kUnread: {
        const uint32_t free_bytes = capacity - (tail - head);
        if (free_bytes != 0 && rng.OneIn(2)) {
          m.data()[(tail + rng.Below(free_bytes)) & mask] ^= x;
        } else {
          static const std::vector<size_t> unread = [] {
            std::vector<size_t> v;
            for (size_t k = 0; k < layout::kControlBytes; ++k) {
              if (UnreadControlByte(k)) v.push_back(k);
            }
            return v;
          }();
          base[unread[rng.Below(uint32_t(unread.size()))]] ^= x;
        }
        break;
      }
      case kPositions:
        if (rng.OneIn(2)) SetWord(base, layout::kTailOffset, Mangle(rng, TailWord(base), capacity));
        if (rng.OneIn(2)) SetWord(base, layout::kHeadOffset, Mangle(rng, HeadWord(base), capacity));
        break;
      case kPublished:
        if (tail != head) {
          const uint32_t at = (head + rng.Below(tail - head)) & mask;
          if (rng.OneIn(2)) {
            m.data()[at] ^= x;
          } else {  // a whole header word
            SetWord(m.data(), at & ~3u, Mangle(rng, GetWord(m.data(), at & ~3u), capacity));
          }
        }
        break;
      default:
        if (rng.OneIn(4)) {
          base[rng.Below(uint32_t(layout::kControlBytes))] ^= x;
        } else {
          m.data()[rng.Below(capacity)] ^= x;
        }
        break;
    }
  }
}

struct Stats {
  uint64_t iterations = 0, corrupt = 0, fresh_ok = 0, records = 0, messages = 0;
};

// Reads with `c` until empty, kCorrupt or the bound; checks every record it is handed.
// `fresh`: `c` was just attached to the damaged ring, so whatever it accepts must be consistent.
void ReadDamaged(Consumer& c, RingMemory& m, uint32_t capacity, uint32_t max_message, bool fresh, Rng& rng,
                 Stats& stats) {
  std::vector<uint8_t> out;
  for (uint32_t step = 0; step < capacity / 8 + 16; ++step) {
    const uint32_t head_word = HeadWord(m.base()), tail_word = TailWord(m.base());
    const uint32_t own_head = c.head();  // a fresh consumer's may be anything it read
    bool stop;
    if (rng.OneIn(2)) {
      const size_t max = 1 + rng.Below(8);
      int64_t n = c.Drain(
          [&](const Record& r) {
            CHECK(r.data >= m.data() + layout::kRecordHeaderBytes);
            CHECK(r.data + r.length <= m.data() + capacity);
            CHECK_EQ(uint32_t(r.data - m.data()) % 8, 0u);
            CHECK(r.type >= layout::kTypeMessage && r.type <= layout::kTypeFragLast);
            ++stats.records;
          },
          max);
      CHECK(n >= -1 && n <= int64_t(max));
      if (n < 0) ++stats.corrupt;
      if (fresh && n > 0 && step == 0) {
        // It trusted the positions it found: they must have been consistent.
        CHECK(head_word % 8 == 0 && tail_word % 8 == 0 && tail_word - head_word <= capacity);
        ++stats.fresh_ok;
      }
      stop = n <= 0;
    } else {
      Status st = c.ReadMessage(&out, max_message);
      CHECK(st == Status::kOk || st == Status::kEmpty || st == Status::kCorrupt);
      if (st == Status::kOk) {
        CHECK(out.size() <= max_message);
        ++stats.messages;
        if (fresh && step == 0) {
          CHECK(head_word % 8 == 0 && tail_word % 8 == 0 && tail_word - head_word <= capacity);
          ++stats.fresh_ok;
        }
      }
      if (st == Status::kCorrupt) ++stats.corrupt;
      stop = st != Status::kOk;
    }
    // The consumer moves its head only from and to aligned positions, by at most a ring, and
    // publishes it.
    if (c.head() != own_head) {
      CHECK(own_head % 8 == 0 && c.head() % 8 == 0);
      CHECK(c.head() - own_head <= capacity);
      CHECK_EQ(HeadWord(m.base()), c.head());
    }
    if (stop) break;
  }
}

// Writes with `p`; every status is one the ring defines, and an accepted write is consistent.
void WriteDamaged(Producer& p, RingMemory& m, uint32_t capacity, bool fresh, Rng& rng, Stats& stats) {
  for (uint32_t k = 0; k < 4; ++k) {
    const uint32_t head_word = HeadWord(m.base()), tail_word = TailWord(m.base());
    const uint32_t own_tail = p.tail();
    const uint32_t n = rng.Below(p.max_record_payload() + 1);
    std::vector<uint8_t> msg(n, uint8_t(k));
    Status st = rng.OneIn(2) ? p.TryWrite(msg.data(), n) : p.TryWriteMessage(msg.data(), n);
    CHECK(st == Status::kOk || st == Status::kFull || st == Status::kCorrupt);
    if (st == Status::kCorrupt) {
      ++stats.corrupt;
      CHECK_EQ(TailWord(m.base()), tail_word);
      break;
    }
    if (st != Status::kOk) continue;
    CHECK_EQ(p.tail() % 8, 0u);
    CHECK_EQ(TailWord(m.base()), p.tail());
    CHECK(p.tail() - own_tail <= capacity);
    if (fresh && k == 0) {
      CHECK(head_word % 8 == 0 && tail_word % 8 == 0 && tail_word - head_word <= capacity);
      CHECK(p.tail() - head_word <= capacity);
      ++stats.fresh_ok;
    }
  }
}

void Iteration(Rng& rng, uint32_t iteration, Stats& stats) {
  const uint32_t capacity = 1024u << rng.Below(3);
  RingMemory m(capacity, 2 * capacity);
  SetPositions(m.base(), uint32_t(rng.Next()) & ~7u);
  Producer p(m.base());
  Consumer c(m.base());
  Traffic t(p, c, capacity, iteration);

  // Valid traffic leaving some messages unread (maybe a fragmented one half written).
  for (uint32_t round = rng.Below(4); round > 0; --round) {
    t.Write(rng.Below(6));
    for (uint32_t r = rng.Below(6); r > 0 && t.Read() == Status::kOk; --r) {
    }
  }
  t.Write(1 + rng.Below(6));

  const int kind = int(rng.Below(kDamageKinds));
  Damage(rng, m, capacity, kind);
  ++stats.iterations;

  if (kind == kUnread) {
    // Bytes the ring never reads: the traffic goes on as if nothing happened.
    CHECK_EQ(CheckRing(m.base(), m.size(), nullptr), Status::kOk);
    t.Finish();
    t.Write(3);
    t.Finish();
    return;
  }

  RingInfo info;
  const bool attachable = CheckRing(m.base(), m.size(), &info) == Status::kOk;
  if (kind != kAnywhere) CHECK(attachable);
  // Fresh sides (only on a ring that passes CheckRing, as the constructors require).
  if (attachable && rng.OneIn(2)) {
    Consumer fc(m.base());
    ReadDamaged(fc, m, info.capacity, 2 * capacity, true, rng, stats);
    Producer fp(m.base());
    WriteDamaged(fp, m, info.capacity, true, rng, stats);
    Consumer fc2(m.base());
    ReadDamaged(fc2, m, info.capacity, 2 * capacity, true, rng, stats);
  } else {
    ReadDamaged(c, m, capacity, 2 * capacity, false, rng, stats);
    WriteDamaged(p, m, capacity, false, rng, stats);
    ReadDamaged(c, m, capacity, 2 * capacity, false, rng, stats);
  }
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  uint32_t iterations = 20000;
  if (const char* env = std::getenv("RINGWIRE_FUZZ_ITERATIONS")) iterations = uint32_t(std::strtoul(env, nullptr, 10));
  Rng rng(0xF022C0DEull);
  Stats stats;
  for (uint32_t i = 0; i < iterations; ++i) Iteration(rng, i, stats);
  // The fuzz must have reached both outcomes many times, or it tested little.
  CHECK(stats.corrupt > iterations / 20);
  CHECK(stats.fresh_ok > iterations / 50);
  CHECK(stats.records > iterations && stats.messages > iterations / 10);
  std::printf("ring_fuzz: %llu iterations: %llu kCorrupt, %llu fresh sides accepting consistent positions, "
              "%llu records + %llu messages read from damaged rings\n",
              (unsigned long long)stats.iterations, (unsigned long long)stats.corrupt,
              (unsigned long long)stats.fresh_ok, (unsigned long long)stats.records,
              (unsigned long long)stats.messages);
  return 0;
}
