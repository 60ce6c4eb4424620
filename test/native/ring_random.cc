// Seeded random traffic through one ring, single-threaded, over at least 100 wrap-arounds per case:
// random sizes (some fragmented), random claim/abort and short commits, random Drain batches.
// Checks every message, where every record lies (8-aligned, never straddling the end, a pad
// whenever the rest of the region is too short), that the writers touch nothing outside the data
// region but the tail and head words (canaries before and after the ring, and the whole control
// block), and that positions starting just below 2^32 wrap correctly.
#include "harness.h"

namespace ringwire::test {
namespace {

constexpr size_t kCanary = 64;
constexpr uint8_t kCanaryByte = 0xA5;
constexpr uint32_t kMinWraps = 100;

// A ring with canaries on both sides; the ring itself stays 8-aligned.
class GuardedRing {
 public:
  explicit GuardedRing(uint32_t capacity)
      : capacity_(capacity), words_(new uint64_t[(2 * kCanary + layout::TotalBytes(capacity)) / 8]) {
    std::memset(all(), kCanaryByte, 2 * kCanary + layout::TotalBytes(capacity));
    CHECK_EQ(InitRing(base(), layout::TotalBytes(capacity), capacity, 1u << 24, 7), Status::kOk);
  }
  uint8_t* all() { return reinterpret_cast<uint8_t*>(words_.get()); }
  uint8_t* base() { return all() + kCanary; }
  uint8_t* data() { return base() + layout::kControlBytes; }
  void CheckCanaries() {
    for (size_t k = 0; k < kCanary; ++k) {
      CHECK_EQ(all()[k], kCanaryByte);
      CHECK_EQ(base()[layout::TotalBytes(capacity_) + k], kCanaryByte);
    }
  }

 private:
  uint32_t capacity_;
  std::unique_ptr<uint64_t[]> words_;
};

// Control block bytes other than the tail, head and fragment-in-progress words must never change.
void CheckControlBlock(const uint8_t* now, const std::vector<uint8_t>& before) {
  const auto in = [](size_t k, size_t word) { return k >= word && k < word + 4; };
  for (size_t k = 0; k < layout::kControlBytes; ++k) {
    if (in(k, layout::kTailOffset) || in(k, layout::kHeadOffset) || in(k, layout::kFragInProgressOffset)) continue;
    if (now[k] != before[k]) {
      std::fprintf(stderr, "control block byte %zu changed\n", k);
      CHECK_EQ(now[k], before[k]);
    }
  }
}

// Message i's size range: small or up to a full record; every 8th may be fragmented (up to 3
// rings long) unless `one_record`.
struct Range {
  uint32_t min, max;
};
Range RangeOf(uint32_t i, uint32_t capacity, bool one_record = false) {
  if (i % 8 == 0 && !one_record) return Range{0, 3 * capacity};
  return i % 2 == 0 ? Range{0, layout::MaxRecordPayload(capacity)} : Range{0, 64};
}

// Messages written with ReadMessage reading them: fragments, claims, aborts.
void MessagesCase(uint32_t capacity, uint32_t start, uint64_t seed) {
  GuardedRing ring(capacity);
  SetPositions(ring.base(), start);
  std::vector<uint8_t> control(ring.base(), ring.base() + layout::kControlBytes);
  Producer p(ring.base());
  Consumer c(ring.base());
  Rng rng(seed);
  const uint32_t mseed = uint32_t(seed);
  const uint32_t max_payload = p.max_record_payload();

  uint32_t next_write = 0, next_read = 0;
  std::vector<uint8_t> msg, out;
  std::unique_ptr<StreamWriter> w;
  uint64_t consumed = 0;  // bytes of ring the consumer released (head advance)
  uint32_t last_head = start;
  bool wrapped_counter = false;
  uint64_t aborts = 0, fragmented = 0;
  const uint64_t limit_steps = 50'000'000;  // bound; the case ends long before
  uint64_t steps = 0;
  for (; consumed < uint64_t(kMinWraps) * capacity + capacity; ++steps) {
    CHECK(steps < limit_steps);
    if (rng.OneIn(2)) {
      // Produce a burst.
      for (uint32_t b = 1 + rng.Below(8); b > 0; --b) {
        if (w == nullptr) {
          Range r = RangeOf(next_write, capacity);
          uint32_t n = sequence::Size(next_write, mseed, r.min, r.max);
          msg = SequenceMessage(next_write, n);
          w = std::make_unique<StreamWriter>(msg.data(), n);
          if (n > max_payload) ++fragmented;
        }
        // Sometimes a claim that is abandoned first, or a write via Claim + a shorter Commit.
        if (!w->started() && rng.OneIn(16)) {
          Status st;
          uint8_t* dst = p.Claim(rng.Below(max_payload + 1), &st);
          if (dst != nullptr) {
            std::memset(dst, 0x5A, 8);
            p.Abort();
            ++aborts;
          }
        }
        Status st;
        if (msg.size() <= max_payload && rng.OneIn(4)) {
          uint32_t n = uint32_t(msg.size());
          uint32_t extra = rng.Below(max_payload - n + 1);
          uint8_t* dst = p.Claim(n + extra, &st);
          if (dst != nullptr) {
            if (n != 0) std::memcpy(dst, msg.data(), n);
            p.Commit(n);
          }
        } else {
          st = w->Advance(p);
          if (st == Status::kOk) CHECK(w->done());
        }
        CHECK(st == Status::kOk || st == Status::kFull);
        if (st != Status::kOk) break;
        w.reset();
        ++next_write;
      }
    } else {
      // Consume a burst.
      for (uint32_t b = 1 + rng.Below(8); b > 0; --b) {
        Status st = c.ReadMessage(&out, 1u << 24);
        CHECK(st == Status::kOk || st == Status::kEmpty);
        uint32_t head = HeadWord(ring.base());
        if (head < last_head) wrapped_counter = true;
        consumed += uint32_t(head - last_head);
        last_head = head;
        if (st == Status::kEmpty) break;
        Range r = RangeOf(next_read, capacity);
        if (!sequence::Check(out.data(), uint32_t(out.size()), next_read, mseed, r.min, r.max)) {
          std::fprintf(stderr, "message %u wrong (size %zu)\n", next_read, out.size());
          CHECK(false);
        }
        ++next_read;
      }
    }
    uint32_t used = TailWord(ring.base()) - HeadWord(ring.base());
    CHECK(used <= capacity);
  }
  CHECK(next_read > 100);
  CHECK(fragmented > 0 && aborts > 0);
  CHECK_EQ(c.dropped(), uint64_t(0));
  if (start >= 0xFFFF0000u) CHECK(wrapped_counter);
  ring.CheckCanaries();
  CheckControlBlock(ring.base(), control);
  std::printf("  messages cap=%u start=0x%08x: %u messages (%llu fragmented, %llu aborts), %llu wraps, %llu steps\n",
              capacity, start, next_read, (unsigned long long)fragmented, (unsigned long long)aborts,
              (unsigned long long)(consumed / capacity), (unsigned long long)steps);
}

// One-record messages read with Drain: checks each record's placement and every pad.
void RecordsCase(uint32_t capacity, uint32_t start, uint64_t seed) {
  GuardedRing ring(capacity);
  SetPositions(ring.base(), start);
  std::vector<uint8_t> control(ring.base(), ring.base() + layout::kControlBytes);
  Producer p(ring.base());
  Consumer c(ring.base());
  Rng rng(seed);
  const uint32_t mseed = uint32_t(seed);
  const uint32_t mask = capacity - 1;

  uint32_t next_write = 0, next_read = 0;
  uint64_t consumed = 0, pads = 0, exact_fits = 0;
  std::vector<uint8_t> msg;
  uint64_t steps = 0;
  for (; consumed < uint64_t(kMinWraps) * capacity + capacity; ++steps) {
    CHECK(steps < 50'000'000);
    if (rng.OneIn(2)) {
      for (uint32_t b = 1 + rng.Below(8); b > 0; --b) {
        const Range r = RangeOf(next_write, capacity, true);
        uint32_t n = sequence::Size(next_write, mseed, r.min, r.max);
        msg = SequenceMessage(next_write, n);
        const uint32_t before = TailWord(ring.base());
        const uint32_t off = before & mask;
        const uint32_t need = layout::Align(n + uint32_t(layout::kRecordHeaderBytes));
        Status st = p.TryWrite(msg.data(), n);
        CHECK(st == Status::kOk || st == Status::kFull);
        if (st == Status::kFull) {
          CHECK_EQ(TailWord(ring.base()), before);
          uint32_t pad = need > capacity - off ? capacity - off : 0;
          CHECK(pad + need > capacity - (before - HeadWord(ring.base())));  // really no room
          break;
        }
        const uint32_t after = TailWord(ring.base());
        if (need > capacity - off) {
          // A pad from `off` to the end, then the record at 0.
          ++pads;
          CHECK_EQ(GetWord(ring.data(), off), capacity - off - uint32_t(layout::kRecordHeaderBytes));
          CHECK_EQ(GetWord(ring.data(), off + 4), layout::kTypePad);
          CHECK_EQ(after - before, capacity - off + need);
          CHECK_EQ(GetWord(ring.data(), 0), n);
        } else {
          if (need == capacity - off) ++exact_fits;
          CHECK_EQ(after - before, need);
          CHECK_EQ(GetWord(ring.data(), off), n);
        }
        ++next_write;
      }
    } else {
      const uint32_t head_before = HeadWord(ring.base());
      const uint32_t tail_now = TailWord(ring.base());
      const size_t max = 1 + rng.Below(8);
      uint32_t expect_at = head_before;  // where the next record must start
      int64_t n = c.Drain(
          [&](const Record& r) {
            uint32_t off = uint32_t(r.data - ring.data()) - uint32_t(layout::kRecordHeaderBytes);
            CHECK_EQ(off % layout::kRecordAlign, 0u);
            CHECK(uint64_t(off) + layout::kRecordHeaderBytes + r.length <= capacity);  // never straddles
            if (off != (expect_at & mask)) {
              // Only a pad may sit in between, and it runs to the end.
              CHECK_EQ(off, 0u);
              CHECK_EQ(GetWord(ring.data(), (expect_at & mask) + 4), layout::kTypePad);
              expect_at += capacity - (expect_at & mask);
            }
            CHECK_EQ(r.type, layout::kTypeMessage);
            const Range range = RangeOf(next_read, capacity, true);
            CHECK(sequence::Check(r.data, r.length, next_read, mseed, range.min, range.max));
            ++next_read;
            expect_at += layout::Align(r.length + uint32_t(layout::kRecordHeaderBytes));
            CHECK(expect_at - head_before <= tail_now - head_before);
          },
          max);
      CHECK(n >= 0 && size_t(n) <= max);
      const uint32_t head = HeadWord(ring.base());
      CHECK_EQ(head, expect_at);  // a pad is never released on its own
      consumed += uint32_t(head - head_before);
    }
  }
  CHECK(pads > 0 && next_read > 100);
  if (start >= 0xFFFF0000u) CHECK(HeadWord(ring.base()) < start);  // the 32-bit counters wrapped
  ring.CheckCanaries();
  CheckControlBlock(ring.base(), control);
  std::printf("  records  cap=%u start=0x%08x: %u records, %llu pads, %llu exact fits, %llu wraps\n", capacity,
              start, next_read, (unsigned long long)pads, (unsigned long long)exact_fits,
              (unsigned long long)(consumed / capacity));
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  uint64_t seed = 0x5EED0001;
  for (uint32_t capacity : {1024u, 4096u, 65536u}) {
    for (uint32_t start : {0u, 0xFFFFF000u, 0xFFFFFFF8u - capacity / 2}) {
      RecordsCase(capacity, start, seed++);
      MessagesCase(capacity, start, seed++);
    }
  }
  std::printf("ring_random: 18 cases passed\n");
  return 0;
}
