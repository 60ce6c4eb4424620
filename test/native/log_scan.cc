// The log segment scanner (cpp/log/scan.h) on segments built in exactly-sized heap memory (so
// AddressSanitizer sees any read past the end): a valid segment scans clean; every single-bit
// flip inside a record is caught at that record; truncation at every offset and random garbage
// never read out of bounds; hardware and table CRC32C agree.
#ifdef NDEBUG
#error "the ringwire tests must be built without NDEBUG"
#endif

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "log/format.h"
#include "log/scan.h"

using namespace ringwire;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

namespace {

constexpr uint64_t kSegment = logfmt::kMinSegmentBytes;

struct Segment {
  std::unique_ptr<uint8_t[]> mem;
  uint64_t size;
  std::vector<uint64_t> offsets;  // of each DATA record
  std::vector<uint32_t> lengths;
  uint64_t end;
};

template <class T>
void Put(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

Segment Build(std::mt19937_64& rng, uint32_t records, uint64_t base_seq, bool seal) {
  using namespace logfmt;
  Segment s{std::make_unique<uint8_t[]>(kSegment), kSegment, {}, {}, 0};
  uint8_t* m = s.mem.get();
  std::memset(m, 0, kSegment);
  Put<uint32_t>(m + kSegMagicOffset, kSegmentMagic);
  Put<uint32_t>(m + kSegVersionOffset, kVersion);
  Put<uint32_t>(m + kSegHeaderBytesOffset, kSegmentHeaderBytes);
  const uint32_t epoch = 0x1234567;
  Put<uint32_t>(m + kSegEpochOffset, epoch);
  Put<uint64_t>(m + kSegIndexOffset, 3);
  Put<uint64_t>(m + kSegBaseSeqOffset, base_seq);
  Put<uint64_t>(m + kSegBytesOffset, kSegment);
  Put<uint64_t>(m + kSegCreatedOffset, 1700000000000ull);
  Put<uint32_t>(m + kSegCodecOffset, 3);
  Put<uint32_t>(m + kSegHeaderCrcOffset, Crc32c(0, m, kSegHeaderCrcOffset));
  uint64_t p = kSegmentHeaderBytes;
  uint64_t seq = base_seq;
  auto write = [&](uint32_t type, uint32_t payload) {
    uint32_t length = kRecordHeaderBytes + payload;
    uint8_t* r = m + p;
    Put<uint32_t>(r + kRecTypeOffset, type);
    Put<uint32_t>(r + kRecEpochOffset, epoch);
    Put<uint64_t>(r + kRecSeqOffset, seq);
    Put<uint64_t>(r + kRecTimeOffset, 1700000000000ull + seq);
    for (uint32_t k = 0; k < payload; ++k) r[kRecordHeaderBytes + k] = uint8_t(rng());
    Put<uint32_t>(r + kRecCrcOffset, RecordCrc(r, length));
    Put<uint32_t>(r, length);
    return length;
  };
  for (uint32_t i = 0; i < records; ++i) {
    uint32_t payload = uint32_t(rng() % 300);
    if (p + RecordBytes(payload) + kEndOfSegmentBytes > kSegment) break;
    s.offsets.push_back(p);
    s.lengths.push_back(kRecordHeaderBytes + payload);
    p += AlignRecord(write(kTypeData, payload));
    ++seq;
  }
  if (seal) p += write(kTypeEndOfSegment, 0);
  s.end = p;
  return s;
}

void CleanScan(std::mt19937_64& rng) {
  Segment s = Build(rng, 200, 1000, true);
  logscan::ScanResult r = logscan::Scan(s.mem.get(), s.size);
  CHECK(r.problem == logscan::Problem::kNone);
  CHECK(r.sealed);
  CHECK(r.records == s.offsets.size());
  CHECK(r.next_seq == 1000 + s.offsets.size());
  CHECK(r.end == s.end);
  CHECK(r.dirty_end == r.end);
}

void BitFlips(std::mt19937_64& rng) {
  Segment s = Build(rng, 150, 0, false);
  for (int t = 0; t < 3000; ++t) {
    size_t k = rng() % s.offsets.size();
    uint64_t at = s.offsets[k] + rng() % s.lengths[k];
    int bit = int(rng() % 8);
    s.mem[at] ^= uint8_t(1u << bit);
    logscan::ScanResult r = logscan::Scan(s.mem.get(), s.size);
    CHECK(r.problem != logscan::Problem::kNone);
    CHECK(r.problem_offset == s.offsets[k]);  // CRC32C catches every single-bit error
    CHECK(r.records == k);
    s.mem[at] ^= uint8_t(1u << bit);
  }
  CHECK(logscan::Scan(s.mem.get(), s.size).problem == logscan::Problem::kNone);
}

void Truncations(std::mt19937_64& rng) {
  Segment s = Build(rng, 120, 7, true);
  for (uint64_t size = 0; size <= s.end + 64; size += 1 + rng() % 13) {
    // An exactly-sized copy: ASan flags any read at or past `size`.
    auto copy = std::make_unique<uint8_t[]>(size == 0 ? 1 : size);
    std::memcpy(copy.get(), s.mem.get(), size);
    logscan::ScanResult r = logscan::Scan(copy.get(), size);
    if (size < logfmt::kSegmentHeaderBytes) {
      CHECK(r.problem == logscan::Problem::kBadHeader);
      continue;
    }
    CHECK(r.problem == logscan::Problem::kTruncated);
    CHECK(r.end <= size);
    for (size_t k = 0; k < r.records; ++k) CHECK(s.offsets[k] + s.lengths[k] <= size);
  }
}

void Garbage(std::mt19937_64& rng) {
  for (int t = 0; t < 300; ++t) {
    Segment s = Build(rng, uint32_t(rng() % 100), 0, rng() % 2 == 0);
    std::vector<uint8_t> original(s.mem.get(), s.mem.get() + s.size);
    uint64_t from = rng() % s.size;
    uint64_t n = 1 + rng() % 4096;
    if (from + n > s.size) n = s.size - from;
    for (uint64_t k = 0; k < n; ++k) s.mem[from + k] = uint8_t(rng());
    logscan::ScanResult r = logscan::Scan(s.mem.get(), s.size);
    CHECK(r.end <= s.size && r.dirty_end <= s.size && r.end <= r.dirty_end);
    // Every record the scan accepts is one that was written, byte for byte (CRC collisions aside).
    CHECK(r.records <= s.offsets.size());
    for (size_t k = 0; k < r.records; ++k) {
      CHECK(std::memcmp(s.mem.get() + s.offsets[k], original.data() + s.offsets[k], s.lengths[k]) == 0);
    }
  }
}

void CrcAgree(std::mt19937_64& rng) {
  std::vector<uint8_t> buf(5000);
  for (int t = 0; t < 2000; ++t) {
    size_t off = rng() % 16, n = rng() % (buf.size() - 16);
    for (auto& b : buf) b = uint8_t(rng());
    uint32_t init = t % 2 == 0 ? 0 : uint32_t(rng());
    CHECK(logfmt::Crc32cHardware(init, buf.data() + off, n) == logfmt::Crc32cSoftware(init, buf.data() + off, n));
  }
  CHECK(logfmt::Crc32c(0, "123456789", 9) == 0xE3069283u);
}

}  // namespace

int main() {
  std::mt19937_64 rng(20240601);
  CleanScan(rng);
  BitFlips(rng);
  Truncations(rng);
  Garbage(rng);
  CrcAgree(rng);
  std::printf("log_scan: ok (hardware CRC32C: %s)\n", logfmt::HasHardwareCrc() ? "yes" : "no");
  return 0;
}
