// Messages larger than one record: the records a fragmented message is made of, reassembly by
// ReadMessage at sizes around each fragment boundary, the all-or-nothing TryWriteMessage and its
// kTooLarge, the "abandoned fragmented message is dropped" rule, and fragment sequences that only
// a broken or hostile producer writes.
#include "harness.h"

namespace ringwire::test {
namespace {

constexpr uint32_t kCap = 1024;
constexpr uint32_t kMaxPayload = layout::MaxRecordPayload(kCap);                          // 504
constexpr uint32_t kFirstChunk = kMaxPayload - uint32_t(layout::kFragPrefixBytes);       // 496
constexpr uint32_t kMaxMessage = 1u << 20;

struct Rec {
  uint32_t type;
  uint32_t length;
  uint32_t offset;        // of the record header in the data region
  uint32_t prefix_total;  // FRAG_FIRST only
  uint32_t prefix_reserved;
};

// Streams message `bytes` through the ring, draining in between, and returns its records.
std::vector<Rec> RecordsOf(const std::vector<uint8_t>& bytes, uint32_t start, std::vector<uint8_t>* joined) {
  RingMemory m(kCap);
  SetPositions(m.base(), start);
  Producer p(m.base());
  Consumer c(m.base());
  StreamWriter w(bytes.data(), uint32_t(bytes.size()));
  std::vector<Rec> recs;
  joined->clear();
  for (int step = 0; step < 100000 && !w.done(); ++step) {
    Status st = w.Advance(p);
    CHECK(st == Status::kOk || st == Status::kFull);
    int64_t n = c.Drain([&](const Record& r) {
      Rec rec{r.type, r.length, uint32_t(r.data - layout::kRecordHeaderBytes - (m.base() + layout::kControlBytes)), 0, 0};
      const uint8_t* payload = r.data;
      uint32_t len = r.length;
      if (r.type == layout::kTypeFragFirst) {
        CHECK(r.length >= layout::kFragPrefixBytes);
        std::memcpy(&rec.prefix_total, r.data, 4);
        std::memcpy(&rec.prefix_reserved, r.data + 4, 4);
        payload += layout::kFragPrefixBytes;
        len -= uint32_t(layout::kFragPrefixBytes);
      }
      joined->insert(joined->end(), payload, payload + len);
      recs.push_back(rec);
    });
    CHECK(n >= 0);
  }
  CHECK(w.done());
  CHECK_EQ(c.Drain([](const Record&) {}), int64_t(0));
  return recs;
}

void FragmentLayout() {
  std::vector<uint8_t> joined;
  // One byte over a record: FIRST (full) + LAST (the 9 bytes the prefix displaced, plus one).
  auto msg = SequenceMessage(1, kMaxPayload + 1);
  auto recs = RecordsOf(msg, 0, &joined);
  CHECK_EQ(recs.size(), size_t(2));
  CHECK_EQ(recs[0].type, layout::kTypeFragFirst);
  CHECK_EQ(recs[0].length, kMaxPayload);
  CHECK_EQ(recs[0].prefix_total, kMaxPayload + 1);
  CHECK_EQ(recs[0].prefix_reserved, 0u);
  CHECK_EQ(recs[1].type, layout::kTypeFragLast);
  CHECK_EQ(recs[1].length, 9u);
  CHECK(joined == msg);

  // FIRST + LAST both full.
  msg = SequenceMessage(2, kFirstChunk + kMaxPayload);
  recs = RecordsOf(msg, 0, &joined);
  CHECK_EQ(recs.size(), size_t(2));
  CHECK_EQ(recs[1].type, layout::kTypeFragLast);
  CHECK_EQ(recs[1].length, kMaxPayload);
  CHECK(joined == msg);

  // From offset 8, the MIDDLE is cut where the data region ends (520 + 8 + 496 = 1024), so the
  // LAST carries the remaining 9 bytes.
  msg = SequenceMessage(3, kFirstChunk + kMaxPayload + 1);
  recs = RecordsOf(msg, 8, &joined);
  CHECK_EQ(recs.size(), size_t(3));
  CHECK_EQ(recs[1].type, layout::kTypeFragMiddle);
  CHECK_EQ(recs[1].offset, 520u);
  CHECK_EQ(recs[1].length, 496u);
  CHECK_EQ(recs[2].type, layout::kTypeFragLast);
  CHECK_EQ(recs[2].offset, 0u);
  CHECK_EQ(recs[2].length, 9u);
  CHECK(joined == msg);

  // Less than kMinFragmentRoom before the end: a pad, and the fragment starts at offset 0.
  msg = SequenceMessage(5, 3 * kMaxPayload);
  recs = RecordsOf(msg, kCap - 72, &joined);
  CHECK_EQ(recs[0].type, layout::kTypeFragFirst);
  CHECK_EQ(recs[0].offset, 0u);
  CHECK(joined == msg);

  // Many records: each fragment but the last is full or ends exactly at the end of the data region.
  const uint32_t n = 7 * kCap + 3;
  msg = SequenceMessage(4, n);
  recs = RecordsOf(msg, 200, &joined);
  uint32_t cut = 0;
  for (size_t k = 0; k < recs.size(); ++k) {
    CHECK_EQ(recs[k].type, k == 0 ? layout::kTypeFragFirst
                           : k + 1 == recs.size() ? layout::kTypeFragLast
                                                  : layout::kTypeFragMiddle);
    const uint32_t end = recs[k].offset + layout::Align(recs[k].length + uint32_t(layout::kRecordHeaderBytes));
    CHECK(end <= kCap);
    if (k + 1 < recs.size() && recs[k].length != kMaxPayload) {
      CHECK_EQ(end, kCap);
      CHECK(recs[k].length - (k == 0 ? layout::kFragPrefixBytes : 0) >= layout::kMinFragmentRoom);
      ++cut;
    }
  }
  CHECK(cut > 0);
  CHECK(joined == msg);
}

// Streams `n`-byte message i with a ReadMessage consumer that runs whenever the writer is blocked.
void RoundTrip(uint32_t i, uint32_t n, uint32_t start) {
  RingMemory m(kCap);
  SetPositions(m.base(), start);
  Producer p(m.base());
  Consumer c(m.base());
  auto msg = SequenceMessage(i, n);
  StreamWriter w(msg.data(), n);
  std::vector<uint8_t> out;
  int got = 0;
  for (int step = 0; step < 100000 && got == 0; ++step) {
    Status st = w.Advance(p);
    CHECK(st == Status::kOk || st == Status::kFull);
    Status rs = c.ReadMessage(&out, kMaxMessage);
    if (rs == Status::kOk) {
      ++got;
      CHECK(w.done());  // no message is complete before its last record
    } else {
      CHECK_EQ(rs, Status::kEmpty);
      CHECK_EQ(st, Status::kFull);  // otherwise the writer was done and the message complete
    }
  }
  CHECK_EQ(got, 1);
  CHECK_EQ(out.size(), size_t(n));
  CHECK(out == msg);
  CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kEmpty);
  CHECK_EQ(c.dropped(), uint64_t(0));
  CHECK_EQ(TailWord(m.base()), HeadWord(m.base()));
}

void BoundarySizes() {
  std::vector<uint32_t> sizes;
  for (uint32_t base : {kMaxPayload, kFirstChunk + kMaxPayload, kFirstChunk + 2 * kMaxPayload,
                        kFirstChunk + 5 * kMaxPayload, kCap, 2 * kCap}) {
    for (uint32_t d = 0; d < 5; ++d) sizes.push_back(base - 2 + d);
  }
  sizes.push_back(0);
  sizes.push_back(1);
  sizes.push_back(100 * kCap + 17);
  uint32_t i = 0;
  for (uint32_t n : sizes) {
    for (uint32_t start : {0u, 8u, 512u, 1000u, 1016u, 0xFFFFFC00u, 0xFFFFFFF8u}) RoundTrip(i++, n, start);
  }
}

// TryWriteMessage: all records now or nothing, kTooLarge exactly when !FitsAtOnce, and the bound
// holds: the bytes a message takes never exceed MessageBytesBound.
void TryWriteMessageAllOrNothing() {
  uint32_t fits = 0;
  for (uint32_t n = 0; n <= 3 * kCap; n += (n < kMaxPayload - 16 || n > kMaxPayload + 64) ? 37 : 1) {
    RingMemory m(kCap);
    Producer p(m.base());
    Consumer c(m.base());
    auto msg = SequenceMessage(n, n);
    Status st = p.TryWriteMessage(msg.data(), n);
    if (layout::FitsAtOnce(kCap, n)) {
      ++fits;
      CHECK_EQ(st, Status::kOk);
      CHECK(uint64_t(TailWord(m.base())) <= layout::MessageBytesBound(kCap, n));
      std::vector<uint8_t> out;
      CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
      CHECK(out == msg);
    } else {
      CHECK(n > kMaxPayload);
      CHECK_EQ(st, Status::kTooLarge);
      CHECK_EQ(TailWord(m.base()), 0u);
      CHECK_EQ(c.Drain([](const Record&) {}), int64_t(0));
    }
  }
  CHECK(fits > 0);
  uint32_t fragmented_fits = 0;
  for (uint32_t n = kMaxPayload + 1; n <= 4 * kCap; ++n) fragmented_fits += layout::FitsAtOnce(kCap, n);
  std::printf("  fragmented sizes that FitsAtOnce accepts (capacity %u): %u\n", kCap, fragmented_fits);
  CHECK(fragmented_fits > 0);
  // Fragmented and fits an empty ring, but not the free space now: kFull, nothing written.
  {
    RingMemory m(kCap);
    SetPositions(m.base(), 0xFFFFFFF8u);
    Producer p(m.base());
    Consumer c(m.base());
    auto small = SequenceMessage(7, 400);  // with the pad before it, 416 of 1024 bytes in use
    CHECK_EQ(p.TryWriteMessage(small.data(), 400), Status::kOk);
    auto big = SequenceMessage(8, kMaxPayload + 100);
    CHECK(layout::FitsAtOnce(kCap, big.size()));
    const uint32_t before = TailWord(m.base());
    CHECK_EQ(p.TryWriteMessage(big.data(), uint32_t(big.size())), Status::kFull);
    CHECK_EQ(TailWord(m.base()), before);
    std::vector<uint8_t> out;
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    CHECK(out == small);
    CHECK_EQ(p.TryWriteMessage(big.data(), uint32_t(big.size())), Status::kOk);  // room now
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    CHECK(out == big);
  }
  // A one-record message on a ring without room: kFull, and the ring is unchanged.
  RingMemory m(kCap);
  Producer p(m.base());
  auto msg = SequenceMessage(9, kMaxPayload);
  CHECK_EQ(p.TryWriteMessage(msg.data(), kMaxPayload), Status::kOk);
  CHECK_EQ(p.TryWriteMessage(msg.data(), kMaxPayload), Status::kOk);
  CHECK_EQ(p.TryWriteMessage(msg.data(), kMaxPayload), Status::kFull);
  CHECK_EQ(p.TryWriteMessage(msg.data(), 0), Status::kFull);
  CHECK_EQ(TailWord(m.base()), 1024u);
}

// Writes one record of the given type and payload and publishes it.
void Put(Producer& p, uint32_t type, const std::vector<uint8_t>& payload) {
  Status st;
  uint8_t* dst = p.Claim(uint32_t(payload.size()), &st);
  CHECK_EQ(st, Status::kOk);
  if (!payload.empty()) std::memcpy(dst, payload.data(), payload.size());
  p.Commit(uint32_t(payload.size()), type);
}

std::vector<uint8_t> First(uint32_t total, const std::vector<uint8_t>& chunk) {
  std::vector<uint8_t> v(8, 0);
  std::memcpy(v.data(), &total, 4);
  v.insert(v.end(), chunk.begin(), chunk.end());
  return v;
}

void AbandonedMessageIsDropped() {
  const std::vector<uint8_t> a(40, 'a'), b(40, 'b'), whole = {'o', 'k'};
  std::vector<uint8_t> out;
  {
    // FIRST, MIDDLE, then a whole message: the partial one is dropped, the whole one delivered.
    RingMemory m(kCap);
    Producer p(m.base());
    Consumer c(m.base());
    Put(p, layout::kTypeFragFirst, First(200, a));
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kEmpty);  // buffered across calls
    Put(p, layout::kTypeFragMiddle, b);
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kEmpty);
    Put(p, layout::kTypeMessage, whole);
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    CHECK(out == whole);
    CHECK_EQ(c.dropped(), uint64_t(1));
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kEmpty);
    // A later complete message does not count again.
    Put(p, layout::kTypeMessage, whole);
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    CHECK_EQ(c.dropped(), uint64_t(1));
  }
  {
    // FIRST, then a new FIRST + LAST: the first is dropped, the second assembled.
    RingMemory m(kCap);
    Producer p(m.base());
    Consumer c(m.base());
    Put(p, layout::kTypeFragFirst, First(100, a));
    Put(p, layout::kTypeFragFirst, First(80, b));
    Put(p, layout::kTypeFragLast, a);
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    std::vector<uint8_t> want = b;
    want.insert(want.end(), a.begin(), a.end());
    CHECK(out == want);
    CHECK_EQ(c.dropped(), uint64_t(1));
  }
  {
    // Both in one ring at once, read by one call: still exactly one delivered, one dropped.
    RingMemory m(kCap);
    Producer p(m.base());
    Consumer c(m.base());
    Put(p, layout::kTypeFragFirst, First(100, a));
    Put(p, layout::kTypeFragMiddle, a);
    Put(p, layout::kTypeFragFirst, First(100, a));
    Put(p, layout::kTypeMessage, whole);
    CHECK_EQ(c.ReadMessage(&out, kMaxMessage), Status::kOk);
    CHECK(out == whole);
    CHECK_EQ(c.dropped(), uint64_t(2));
  }
}

// Fragment sequences the ring never writes: ReadMessage says kCorrupt.
void BadFragmentSequences() {
  const std::vector<uint8_t> a(40, 'a');
  struct Case {
    const char* name;
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> records;
    uint32_t max_message;
  };
  std::vector<Case> cases = {
      {"middle without first", {{layout::kTypeFragMiddle, a}}, kMaxMessage},
      {"last without first", {{layout::kTypeFragLast, a}}, kMaxMessage},
      {"first shorter than its prefix", {{layout::kTypeFragFirst, {1, 2, 3}}}, kMaxMessage},
      {"first not smaller than its total", {{layout::kTypeFragFirst, First(40, a)}}, kMaxMessage},
      {"total over max_message", {{layout::kTypeFragFirst, First(5000, a)}}, 4096},
      {"continuation beyond the total", {{layout::kTypeFragFirst, First(60, a)}, {layout::kTypeFragMiddle, a}}, kMaxMessage},
      {"last too short", {{layout::kTypeFragFirst, First(100, a)}, {layout::kTypeFragLast, a}}, kMaxMessage},
  };
  for (const Case& k : cases) {
    RingMemory m(kCap);
    Producer p(m.base());
    Consumer c(m.base());
    for (const auto& [type, payload] : k.records) Put(p, type, payload);
    std::vector<uint8_t> out;
    Status st = Status::kEmpty;
    for (size_t r = 0; r < k.records.size() && st == Status::kEmpty; ++r) st = c.ReadMessage(&out, k.max_message);
    if (st != Status::kCorrupt) {
      std::fprintf(stderr, "case: %s\n", k.name);
      CHECK_EQ(st, Status::kCorrupt);
    }
  }
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  FragmentLayout();
  BoundarySizes();
  TryWriteMessageAllOrNothing();
  AbandonedMessageIsDropped();
  BadFragmentSequences();
  std::printf("ring_fragments: 5 cases passed\n");
  return 0;
}
