// Single-threaded behaviour of one ring: empty, one record, wrap with padding, claim/commit/abort,
// full, the largest record, and Drain's batch limit.
#include "harness.h"

namespace ringwire::test {
namespace {

constexpr uint32_t kCap = 1024;  // MaxRecordPayload = 504

struct Seen {
  uint32_t offset;  // of the record header in the data region
  uint32_t length;
  uint32_t type;
  std::vector<uint8_t> bytes;
};

// Drains up to `max` records, remembering where each one was.
std::vector<Seen> DrainAll(Consumer& c, RingMemory& m, size_t max = SIZE_MAX, int64_t* result = nullptr) {
  std::vector<Seen> seen;
  int64_t n = c.Drain(
      [&](const Record& r) {
        uint32_t offset = uint32_t(r.data - m.data()) - uint32_t(layout::kRecordHeaderBytes);
        seen.push_back({offset, r.length, r.type, std::vector<uint8_t>(r.data, r.data + r.length)});
      },
      max);
  if (result != nullptr) *result = n;
  CHECK(n >= 0);
  CHECK_EQ(size_t(n), seen.size());
  return seen;
}

std::vector<uint8_t> Bytes(uint32_t n, uint8_t salt) {
  std::vector<uint8_t> v(n);
  for (uint32_t k = 0; k < n; ++k) v[k] = uint8_t(k * 7u + salt);
  return v;
}

void EmptyRingReadsNothing() {
  RingMemory m(kCap);
  Consumer c(m.base());
  int calls = 0;
  CHECK_EQ(c.Drain([&](const Record&) { ++calls; }), int64_t(0));
  CHECK_EQ(calls, 0);
  std::vector<uint8_t> out = {1, 2, 3};
  CHECK_EQ(c.ReadMessage(&out, 1u << 20), Status::kEmpty);
  CHECK_EQ(out.size(), size_t(3));  // untouched
  CHECK_EQ(HeadWord(m.base()), 0u);

  // Empty again after one message went through.
  Producer p(m.base());
  CHECK_EQ(p.TryWrite("x", 1), Status::kOk);
  CHECK_EQ(DrainAll(c, m).size(), size_t(1));
  CHECK_EQ(c.Drain([&](const Record&) { ++calls; }), int64_t(0));
  CHECK_EQ(c.ReadMessage(&out, 1u << 20), Status::kEmpty);
  CHECK_EQ(calls, 0);
}

void WriteReadOne() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  CHECK_EQ(p.TryWrite("hello", 5), Status::kOk);
  CHECK_EQ(TailWord(m.base()), 16u);  // 8 header + 5 payload, aligned to 8
  CHECK_EQ(GetWord(m.data(), 0), 5u);
  CHECK_EQ(GetWord(m.data(), 4), layout::kTypeMessage);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].offset, 0u);
  CHECK_EQ(seen[0].length, 5u);
  CHECK_EQ(seen[0].type, layout::kTypeMessage);
  CHECK(std::memcmp(seen[0].bytes.data(), "hello", 5) == 0);
  CHECK_EQ(HeadWord(m.base()), 16u);

  // Zero-length message; ReadMessage path.
  CHECK_EQ(p.TryWrite(nullptr, 0), Status::kOk);
  CHECK_EQ(TailWord(m.base()), 24u);
  std::vector<uint8_t> out = {9};
  CHECK_EQ(c.ReadMessage(&out, 1u << 20), Status::kOk);
  CHECK(out.empty());
  CHECK_EQ(HeadWord(m.base()), 24u);
}

// Moves tail and head to data offset 1000 (24 bytes before the end) through real writes.
void AdvanceTo1000(Producer& p, Consumer& c, RingMemory& m) {
  auto a = Bytes(496, 1), b = Bytes(488, 2);
  CHECK_EQ(p.TryWrite(a.data(), 496), Status::kOk);  // 504 bytes
  CHECK_EQ(DrainAll(c, m).size(), size_t(1));
  CHECK_EQ(p.TryWrite(b.data(), 488), Status::kOk);  // 496 bytes
  CHECK_EQ(DrainAll(c, m).size(), size_t(1));
  CHECK_EQ(TailWord(m.base()), 1000u);
  CHECK_EQ(HeadWord(m.base()), 1000u);
}

void WrapInsertsPadding() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  AdvanceTo1000(p, c, m);

  // 20 payload bytes need 32; only 24 remain before the end: a 24-byte pad, the record at 0.
  auto msg = Bytes(20, 3);
  CHECK_EQ(p.TryWrite(msg.data(), 20), Status::kOk);
  CHECK_EQ(TailWord(m.base()), 1000u + 24u + 32u);
  CHECK_EQ(GetWord(m.data(), 1000), 16u);  // pad length: 24 - header
  CHECK_EQ(GetWord(m.data(), 1004), layout::kTypePad);
  CHECK_EQ(GetWord(m.data(), 0), 20u);
  CHECK_EQ(GetWord(m.data(), 4), layout::kTypeMessage);
  // max = 1: the pad is skipped and does not count.
  auto seen = DrainAll(c, m, 1);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].offset, 0u);
  CHECK_EQ(seen[0].type, layout::kTypeMessage);
  CHECK(seen[0].bytes == msg);
  CHECK_EQ(HeadWord(m.base()), 1056u);
}

void ExactFitNeedsNoPad() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  AdvanceTo1000(p, c, m);
  auto msg = Bytes(16, 4);  // 24 bytes: exactly the rest of the region
  CHECK_EQ(p.TryWrite(msg.data(), 16), Status::kOk);
  CHECK_EQ(TailWord(m.base()), 1024u);
  CHECK_EQ(p.TryWrite(msg.data(), 1), Status::kOk);  // next record starts at 0
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(2));
  CHECK_EQ(seen[0].offset, 1000u);
  CHECK(seen[0].bytes == msg);
  CHECK_EQ(seen[1].offset, 0u);
  CHECK_EQ(seen[1].length, 1u);
}

void SmallestPad() {
  RingMemory m(kCap);
  SetPositions(m.base(), 1016);  // 8 bytes before the end: a pad of header only
  Producer p(m.base());
  Consumer c(m.base());
  CHECK_EQ(p.TryWrite("a", 1), Status::kOk);
  CHECK_EQ(GetWord(m.data(), 1016), 0u);
  CHECK_EQ(GetWord(m.data(), 1020), layout::kTypePad);
  CHECK_EQ(TailWord(m.base()), 1016u + 8u + 16u);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].offset, 0u);
  CHECK_EQ(seen[0].bytes[0], uint8_t('a'));
}

void ClaimCommitShorter() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  Status st;
  uint8_t* dst = p.Claim(100, &st);
  CHECK_EQ(st, Status::kOk);
  CHECK_EQ(dst, m.data() + 8);
  CHECK_EQ(TailWord(m.base()), 0u);  // nothing visible before the commit
  std::memcpy(dst, "0123456789", 10);
  p.Commit(10);
  CHECK_EQ(TailWord(m.base()), 24u);  // the record shrank to 8 + 10, aligned: not 112
  uint8_t* next = p.Claim(4, &st);
  CHECK_EQ(next, m.data() + 24 + 8);  // the unused part of the claim is reused at once
  std::memcpy(next, "abcd", 4);
  p.Commit(4);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(2));
  CHECK_EQ(seen[0].length, 10u);
  CHECK(std::memcmp(seen[0].bytes.data(), "0123456789", 10) == 0);
  CHECK_EQ(seen[1].offset, 24u);
  CHECK(std::memcmp(seen[1].bytes.data(), "abcd", 4) == 0);

  // Claim 0, commit 0; Claim with a type.
  dst = p.Claim(0, &st);
  CHECK(dst != nullptr);
  p.Commit(0, layout::kTypeMessage);
  seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].length, 0u);
}

void AppendPublishesOnlyOnPublish() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  Status st;
  for (int k = 0; k < 3; ++k) {
    uint8_t* dst = p.Claim(12, &st);
    CHECK(dst != nullptr);
    std::memset(dst, 'a' + k, 12);
    p.Append(12);
  }
  CHECK_EQ(TailWord(m.base()), 0u);
  CHECK_EQ(DrainAll(c, m).size(), size_t(0));
  p.Publish();
  CHECK_EQ(TailWord(m.base()), 3u * 24u);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(3));
  for (int k = 0; k < 3; ++k) CHECK_EQ(seen[k].bytes[11], uint8_t('a' + k));
}

void AbortLeavesNothing() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  Status st;
  uint8_t* dst = p.Claim(50, &st);
  CHECK(dst != nullptr);
  std::memset(dst, 'z', 50);
  p.Abort();
  CHECK_EQ(TailWord(m.base()), 0u);
  CHECK_EQ(DrainAll(c, m).size(), size_t(0));
  uint8_t* again = p.Claim(30, &st);
  CHECK_EQ(again, dst);  // the space is reused
  std::memset(again, 'y', 30);
  p.Commit(30);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].length, 30u);
  CHECK_EQ(seen[0].bytes[0], uint8_t('y'));

  // Abort drops records appended since the last publish too (TryWriteMessage relies on it).
  dst = p.Claim(8, &st);
  p.Append(8);
  dst = p.Claim(8, &st);
  CHECK(dst != nullptr);
  p.Abort();
  p.Publish();  // publishes nothing new
  CHECK_EQ(DrainAll(c, m).size(), size_t(0));
  CHECK_EQ(TailWord(m.base()), HeadWord(m.base()));
}

void AbortUndoesPadding() {
  RingMemory m(kCap);
  SetPositions(m.base(), 1000);
  Producer p(m.base());
  Consumer c(m.base());
  Status st;
  uint8_t* dst = p.Claim(100, &st);  // needs a pad up to the end, then goes to 0
  CHECK_EQ(dst, m.data() + 8);
  p.Abort();
  CHECK_EQ(p.tail(), 1000u);
  dst = p.Claim(8, &st);  // 16 bytes fit before the end: no pad now
  CHECK_EQ(dst, m.data() + 1008);
  std::memcpy(dst, "ABCDEFGH", 8);
  p.Commit(8);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(1));
  CHECK_EQ(seen[0].offset, 1000u);
  CHECK(std::memcmp(seen[0].bytes.data(), "ABCDEFGH", 8) == 0);
}

void FullThenDrained() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  auto msg = Bytes(56, 5);  // 64 bytes each: 16 fill the ring
  for (int k = 0; k < 16; ++k) CHECK_EQ(p.TryWrite(msg.data(), 56), Status::kOk);
  CHECK_EQ(TailWord(m.base()), 1024u);
  CHECK_EQ(p.TryWrite(msg.data(), 56), Status::kFull);
  CHECK_EQ(p.TryWrite(msg.data(), 0), Status::kFull);
  Status st;
  CHECK(p.Claim(0, &st) == nullptr);
  CHECK_EQ(st, Status::kFull);
  CHECK_EQ(TailWord(m.base()), 1024u);  // a full write changes nothing
  CHECK_EQ(DrainAll(c, m, 1).size(), size_t(1));
  CHECK_EQ(p.TryWrite(msg.data(), 56), Status::kOk);
  CHECK_EQ(p.TryWrite(msg.data(), 0), Status::kFull);
  CHECK_EQ(DrainAll(c, m).size(), size_t(16));
  CHECK_EQ(HeadWord(m.base()), 1088u);
}

// Free space that exists but is split by the end: the record fits, record plus pad does not.
void FullBecauseOfPadding() {
  RingMemory m(kCap);
  SetPositions(m.base(), 16);
  Producer p(m.base());
  Consumer c(m.base());
  auto a = Bytes(480, 6), b = Bytes(488, 7);
  CHECK_EQ(p.TryWrite(a.data(), 480), Status::kOk);  // 488 bytes
  CHECK_EQ(p.TryWrite(b.data(), 488), Status::kOk);  // 496 bytes: tail at 1000, 40 bytes free
  CHECK_EQ(TailWord(m.base()), 1000u);
  CHECK_EQ(p.TryWrite(a.data(), 20), Status::kFull);  // 32 + 24 of pad > 40
  CHECK_EQ(p.TryWrite(a.data(), 8), Status::kOk);     // 16, no pad: tail at 1016, 24 free
  CHECK_EQ(p.TryWrite(a.data(), 1), Status::kOk);     // 8 of pad + 16: exactly full
  CHECK_EQ(TailWord(m.base()) - HeadWord(m.base()), kCap);
  CHECK_EQ(p.TryWrite(a.data(), 0), Status::kFull);
  auto seen = DrainAll(c, m);
  CHECK_EQ(seen.size(), size_t(4));
  CHECK_EQ(seen[2].offset, 1000u);
  CHECK_EQ(seen[3].offset, 0u);
  CHECK_EQ(seen[3].length, 1u);
  CHECK(seen[1].bytes == b);
}

void MaxRecord() {
  const uint32_t max = layout::MaxRecordPayload(kCap);
  CHECK_EQ(max, 504u);
  std::vector<uint8_t> msg = Bytes(max + 1, 8);
  // From any offset of an empty ring, the largest record fits (padding included).
  for (uint32_t pos : {0u, 8u, 504u, 512u, 520u, 1000u, 1016u, 0xFFFFFDF8u}) {
    RingMemory m(kCap);
    SetPositions(m.base(), pos);
    Producer p(m.base());
    Consumer c(m.base());
    CHECK_EQ(p.TryWrite(msg.data(), max + 1), Status::kTooLarge);
    // (TryWriteMessage fragments max + 1 bytes instead: see ring_fragments.cc)
    Status st;
    CHECK(p.Claim(max + 1, &st) == nullptr);
    CHECK_EQ(st, Status::kTooLarge);
    CHECK_EQ(TailWord(m.base()), pos);
    CHECK_EQ(p.TryWrite(msg.data(), max), Status::kOk);
    auto seen = DrainAll(c, m);
    CHECK_EQ(seen.size(), size_t(1));
    CHECK_EQ(seen[0].length, max);
    CHECK(std::memcmp(seen[0].bytes.data(), msg.data(), max) == 0);
    CHECK(seen[0].offset + layout::kRecordHeaderBytes + max <= kCap);
    CHECK_EQ(p.TryWriteMessage(msg.data(), max), Status::kOk);  // one record: the TryWrite path
    std::vector<uint8_t> out;
    CHECK_EQ(c.ReadMessage(&out, 1u << 20), Status::kOk);
    CHECK(std::memcmp(out.data(), msg.data(), max) == 0 && out.size() == max);
  }
}

void DrainBatchLimit() {
  RingMemory m(kCap);
  Producer p(m.base());
  Consumer c(m.base());
  for (uint8_t k = 0; k < 5; ++k) CHECK_EQ(p.TryWrite(&k, 1), Status::kOk);  // 16 bytes each
  int64_t n = 0;
  CHECK_EQ(DrainAll(c, m, 0, &n).size(), size_t(0));
  CHECK_EQ(HeadWord(m.base()), 0u);
  auto seen = DrainAll(c, m, 2, &n);
  CHECK_EQ(n, int64_t(2));
  CHECK_EQ(seen[0].bytes[0], 0);
  CHECK_EQ(seen[1].bytes[0], 1);
  CHECK_EQ(HeadWord(m.base()), 32u);  // exactly two records released
  seen = DrainAll(c, m, 2, &n);
  CHECK_EQ(n, int64_t(2));
  CHECK_EQ(seen[0].bytes[0], 2);
  CHECK_EQ(HeadWord(m.base()), 64u);
  seen = DrainAll(c, m, 2, &n);
  CHECK_EQ(n, int64_t(1));
  CHECK_EQ(seen[0].bytes[0], 4);
  CHECK_EQ(DrainAll(c, m, 2, &n).size(), size_t(0));
  CHECK_EQ(HeadWord(m.base()), 80u);
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  EmptyRingReadsNothing();
  WriteReadOne();
  WrapInsertsPadding();
  ExactFitNeedsNoPad();
  SmallestPad();
  ClaimCommitShorter();
  AppendPublishesOnlyOnPublish();
  AbortLeavesNothing();
  AbortUndoesPadding();
  FullThenDrained();
  FullBecauseOfPadding();
  MaxRecord();
  DrainBatchLimit();
  std::printf("ring_single: 13 cases passed\n");
  return 0;
}
