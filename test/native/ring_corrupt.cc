// Shared memory holding what the ring never writes: CheckRing rejects bad control blocks;
// producers and consumers facing bad positions or record headers say kCorrupt (-1 from Drain),
// write nothing, and read nothing outside the ring (the memory is exactly TotalBytes(capacity), so
// AddressSanitizer builds catch any stray access).
#include "harness.h"

namespace ringwire::test {
namespace {

constexpr uint32_t kCap = 1024;

std::vector<uint8_t> Snapshot(RingMemory& m) { return std::vector<uint8_t>(m.base(), m.base() + m.size()); }
bool Unchanged(RingMemory& m, const std::vector<uint8_t>& before) {
  return std::memcmp(m.base(), before.data(), m.size()) == 0;
}

void CheckRingRejects() {
  RingMemory m(kCap, 4096);
  RingInfo info;
  CHECK_EQ(CheckRing(m.base(), m.size(), &info), Status::kOk);
  CHECK_EQ(info.capacity, kCap);
  CHECK_EQ(info.max_message, 4096u);
  CHECK_EQ(CheckRing(nullptr, m.size(), &info), Status::kCorrupt);
  CHECK_EQ(CheckRing(m.base(), layout::kControlBytes - 1, &info), Status::kCorrupt);
  CHECK_EQ(CheckRing(m.base(), m.size() - 1, &info), Status::kCorrupt);  // data region cut short

  // A valid control block at a misaligned address: rejected before any (misaligned) load.
  {
    std::unique_ptr<uint64_t[]> words(new uint64_t[m.size() / 8 + 1]);
    uint8_t* odd = reinterpret_cast<uint8_t*>(words.get()) + 4;
    std::memcpy(odd, m.base(), m.size());
    CHECK_EQ(CheckRing(odd, m.size(), &info), Status::kCorrupt);
    CHECK_EQ(InitRing(odd, m.size(), kCap, 0, 0), Status::kCorrupt);
  }

  struct Field {
    const char* name;
    size_t offset;
    std::vector<uint32_t> bad;
  };
  const std::vector<Field> fields = {
      {"magic", layout::kMagicOffset, {0, layout::kMagic ^ 1, layout::kMagic ^ 0x80000000u, 0x52575231}},
      {"version", layout::kVersionOffset, {0, layout::kVersion + 1, 0xFFFFFFFFu}},
      {"capacity",
       layout::kCapacityOffset,
       {0, 1, 1000, 1536, 3u << 10, layout::kMinCapacity / 2, layout::kMaxCapacity * 2u, 0x80000001u,
        2 * kCap /* more than the memory holds */}},
      {"data offset", layout::kDataOffsetOffset, {0, 8, layout::kControlBytes + 8, layout::kControlBytes - 8}},
  };
  for (const Field& f : fields) {
    for (uint32_t v : f.bad) {
      RingMemory r(kCap);
      SetWord(r.base(), f.offset, v);
      if (CheckRing(r.base(), r.size(), &info) != Status::kCorrupt) {
        std::fprintf(stderr, "CheckRing accepted %s = 0x%x\n", f.name, v);
        CHECK(false);
      }
    }
  }
  // Every single-bit flip of the magic is caught.
  for (int bit = 0; bit < 32; ++bit) {
    RingMemory r(kCap);
    SetWord(r.base(), layout::kMagicOffset, layout::kMagic ^ (1u << bit));
    CHECK_EQ(CheckRing(r.base(), r.size(), nullptr), Status::kCorrupt);
  }
  // Fields CheckRing does not judge are reported as found.
  SetWord(m.base(), layout::kCodecOffset, 42);
  CHECK_EQ(CheckRing(m.base(), m.size(), &info), Status::kOk);
  CHECK_EQ(info.codec, 42u);

  // InitRing: bad capacity or too little memory, and it writes nothing then.
  auto before = Snapshot(m);
  for (uint32_t cap : {0u, 1000u, layout::kMinCapacity / 2, layout::kMaxCapacity * 2u, 3u << 10}) {
    CHECK_EQ(InitRing(m.base(), m.size(), cap, 0, 0), Status::kTooLarge);
  }
  CHECK_EQ(InitRing(m.base(), m.size(), 2 * kCap, 0, 0), Status::kTooLarge);
  CHECK_EQ(InitRing(m.base(), m.size() - 1, kCap, 0, 0), Status::kTooLarge);
  CHECK(Unchanged(m, before));
}

// A ring holding two published records ("hello", then 20 bytes of 'b'), 16 + 32 bytes.
struct TwoRecords {
  RingMemory m{kCap};
  TwoRecords(uint32_t start = 0) {
    SetPositions(m.base(), start);
    Producer p(m.base());
    CHECK_EQ(p.TryWrite("hello", 5), Status::kOk);
    std::vector<uint8_t> b(20, 'b');
    CHECK_EQ(p.TryWrite(b.data(), 20), Status::kOk);
  }
};

// Drain and ReadMessage on a fresh consumer both refuse, deliver nothing, release nothing.
void ExpectConsumerRefuses(RingMemory& m, const char* what) {
  const uint32_t head = HeadWord(m.base());
  {
    Consumer c(m.base());
    int calls = 0;
    int64_t n = c.Drain([&](const Record&) { ++calls; });
    if (n != -1 || calls != 0) {
      std::fprintf(stderr, "case: %s\n", what);
      CHECK_EQ(n, int64_t(-1));
      CHECK_EQ(calls, 0);
    }
    CHECK_EQ(HeadWord(m.base()), head);
    CHECK_EQ(c.Drain([&](const Record&) { ++calls; }), int64_t(-1));  // and keeps refusing
  }
  {
    Consumer c(m.base());
    std::vector<uint8_t> out;
    if (c.ReadMessage(&out, 1u << 20) != Status::kCorrupt) {
      std::fprintf(stderr, "case: %s (ReadMessage)\n", what);
      CHECK(false);
    }
    CHECK_EQ(HeadWord(m.base()), head);
  }
}

void GarbageRecordHeaders() {
  struct Case {
    const char* name;
    uint32_t len, type;
  };
  const std::vector<Case> cases = {
      {"length 0xFFFFFFFF", 0xFFFFFFFFu, layout::kTypeMessage},
      {"length 0xFFFFFFF8", 0xFFFFFFF8u, layout::kTypeMessage},
      {"length 2^31", 0x80000000u, layout::kTypeMessage},
      {"length = capacity", kCap, layout::kTypeMessage},
      {"length = capacity - 8", kCap - 8, layout::kTypeMessage},
      {"length past the published tail", 5 + 32 + 8, layout::kTypeMessage},
      {"length 41 (past the tail by one alignment step)", 41, layout::kTypeMessage},
      {"type 0", 5, 0},
      {"type 6", 5, layout::kTypeFragLast + 1},
      {"type 0xFFFFFFFF", 5, 0xFFFFFFFFu},
      {"pad not reaching the end", 8, layout::kTypePad},
      {"pad of zero length mid-region", 0, layout::kTypePad},
      {"pad to the end but past the tail", kCap - 8, layout::kTypePad},
  };
  for (const Case& k : cases) {
    TwoRecords t;
    SetWord(t.m.data(), 0, k.len);
    SetWord(t.m.data(), 4, k.type);
    ExpectConsumerRefuses(t.m, k.name);
  }
  // The same with the records just below 2^32 and in the second record: the first one is
  // delivered and released, then -1.
  for (const Case& k : cases) {
    TwoRecords t(0xFFFFFFF0u);  // "hello" at offset 1008 (wraps the counter), the second at 0
    // Here 32 bytes are published after "hello": 25 bytes (40 with header) are past the tail.
    SetWord(t.m.data(), 0, k.len == 5 + 32 + 8 ? 25 : k.len);
    SetWord(t.m.data(), 4, k.type);
    Consumer c(t.m.base());
    std::vector<std::string> got;
    int64_t n = c.Drain([&](const Record& r) { got.emplace_back(reinterpret_cast<const char*>(r.data), r.length); });
    if (n != -1) std::fprintf(stderr, "case: %s (second record)\n", k.name);
    CHECK_EQ(n, int64_t(-1));
    CHECK_EQ(got.size(), size_t(1));
    CHECK(got[0] == "hello");
    CHECK_EQ(HeadWord(t.m.base()), 0u);  // 0xFFFFFFF0 + 16
  }
  // A record that would straddle the end of the data region: rejected even though published.
  {
    RingMemory m(kCap);
    SetPositions(m.base(), 1000);
    Producer p(m.base());
    std::vector<uint8_t> x(100, 'x');
    CHECK_EQ(p.TryWrite(x.data(), 16), Status::kOk);  // 24 bytes: up to the end exactly
    CHECK_EQ(p.TryWrite(x.data(), 100), Status::kOk);  // at 0
    SetWord(m.data(), 1000, 17);                       // 8 + 24 = 32 > 24 bytes left
    ExpectConsumerRefuses(m, "straddling record");
    SetWord(m.data(), 1000, 16);
    SetWord(m.data(), 1004, layout::kTypePad);
    Consumer c(m.base());  // a pad of exactly the rest is fine
    int calls = 0;
    CHECK_EQ(c.Drain([&](const Record& r) { calls += r.length == 100; }), int64_t(1));
    CHECK_EQ(calls, 1);
  }
}

void BadPositionsForTheConsumer() {
  struct Case {
    const char* name;
    uint32_t tail, head;
  };
  const std::vector<Case> cases = {
      {"tail beyond capacity", kCap + 8, 0},
      {"tail far beyond", 0x40000000u, 0},
      {"tail misaligned", 4, 0},
      {"tail misaligned, in range", 44, 0},
      {"tail behind head", 0xFFFFFFF8u, 0},
      {"head misaligned near the end", kCap + 8, kCap - 4},
      {"head misaligned", 48, 4},
      {"both misaligned", 44, 4},
  };
  for (const Case& k : cases) {
    TwoRecords t;
    SetWord(t.m.base(), layout::kTailOffset, k.tail);
    SetWord(t.m.base(), layout::kHeadOffset, k.head);
    // A valid-looking header at the misaligned head, as far as it fits in the data region, so
    // that only the position check stands between the consumer and the bytes past the end.
    const uint32_t at = k.head & (kCap - 1);
    if (k.head % 8 != 0) {
      SetWord(t.m.data(), at, 0);
      if (at + 8 <= kCap) SetWord(t.m.data(), at + 4, layout::kTypeMessage);
    }
    ExpectConsumerRefuses(t.m, k.name);
  }
  // A running consumer whose tail word turns bad.
  for (const Case& k : cases) {
    if (k.head != 0) continue;
    TwoRecords t;
    Consumer c(t.m.base());
    CHECK_EQ(c.Drain([](const Record&) {}, 1), int64_t(1));  // head 16
    SetWord(t.m.base(), layout::kTailOffset, k.tail + 48);  // judged from head 48, after the 'b' record
    int calls = 0;
    int64_t n = c.Drain([&](const Record&) { ++calls; });
    if (n != -1) std::fprintf(stderr, "case: running, %s\n", k.name);
    CHECK_EQ(n, int64_t(-1));
    CHECK_EQ(calls, 1);  // the record already known to be published (tail cached) is still delivered
  }
}

// A producer that finds bad positions: kCorrupt and nothing written, not even a pad.
void BadPositionsForTheProducer() {
  struct Case {
    const char* name;
    uint32_t tail, head;
  };
  const std::vector<Case> cases = {
      {"head ahead of tail", 0, 64},
      {"head misaligned", 0, 4},
      {"head misaligned behind", 64, 4},
      {"head too far behind", 2 * kCap, 0},
      {"tail misaligned near the end", kCap - 4, kCap - 4},
      {"tail misaligned", 12, 8},
      {"tail misaligned, head behind", kCap - 4, 0},
  };
  for (const Case& k : cases) {
    for (uint32_t n : {0u, 1u, 100u, layout::MaxRecordPayload(kCap)}) {
      RingMemory m(kCap);
      SetWord(m.base(), layout::kTailOffset, k.tail);
      SetWord(m.base(), layout::kHeadOffset, k.head);
      auto before = Snapshot(m);
      Producer p(m.base());
      std::vector<uint8_t> msg(n, 'q');
      Status st = p.TryWrite(msg.data(), n);
      if (st != Status::kCorrupt) std::fprintf(stderr, "case: %s, %u bytes\n", k.name, n);
      CHECK_EQ(st, Status::kCorrupt);
      CHECK(Unchanged(m, before));
      Status cs;
      CHECK(p.Claim(n, &cs) == nullptr);
      CHECK_EQ(cs, Status::kCorrupt);
      CHECK(Unchanged(m, before));
    }
  }
  // A running producer whose head word turns bad: noticed when it next needs the consumer's head.
  for (uint32_t bad_head : {uint32_t(1024 + 64), 4u, 0xFFFFFF00u}) {
    RingMemory m(kCap);
    Producer p(m.base());
    std::vector<uint8_t> msg(56, 'r');
    for (int k = 0; k < 16; ++k) CHECK_EQ(p.TryWrite(msg.data(), 56), Status::kOk);  // full
    SetWord(m.base(), layout::kHeadOffset, bad_head);
    auto before = Snapshot(m);
    CHECK_EQ(p.TryWrite(msg.data(), 56), Status::kCorrupt);
    CHECK(Unchanged(m, before));
  }
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  CheckRingRejects();
  GarbageRecordHeaders();
  BadPositionsForTheConsumer();
  BadPositionsForTheProducer();
  std::printf("ring_corrupt: 4 case groups passed\n");
  return 0;
}
