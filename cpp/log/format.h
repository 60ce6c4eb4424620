// ringwire persistent log format: the one description of the bytes in a log directory.
// lib/log/format.ts mirrors every constant here; test/log/format.test.ts checks the two agree
// (the addon exports these values as `log.constants`).
//
// A log is a directory:
//
//   <dir>/log.ctl                   control file (4 KiB): lock, wake-up word, writer stats
//   <dir>/00000000000000000000.rwlog   segment 0 (segmentBytes, preallocated, mmap'd)
//   <dir>/00000000000000000001.rwlog   segment 1 ...     (name = segment index, 20 decimal digits)
//   <dir>/*.tmp                     a segment being created (linked into place once its header
//                                   is complete, so a reader never sees a half-written header); a
//                                   JS writer keeps its next segment as one (a spare) meanwhile
//
// Segment file:
//
//   0            128                                                      segmentBytes
//   +------------+--------+--------+-----+--------+-----+------+----------+
//   | seg header | record | record | ... | record | EOS | zero | ... zero |
//   +------------+--------+--------+-----+--------+-----+------+----------+
//
// Segment header (128 bytes; u64 = little-endian, JS reads lo + hi * 2^32):
//    0 magic 'RWL1'    4 version    8 header bytes (128)    12 epoch (random, non-zero)
//   16 segment index (u64)          24 base sequence (u64): sequence of the first record
//   32 segment bytes (u64)          40 created (u64, ms since the Unix epoch)
//   48 codec id       52 reserved   56 header CRC32C of bytes [0, 56)    60..127 zero
//
// Record (8-byte aligned; never straddles segments):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-------------------------------------------------------------+
//   |P|     record length (31 bits) = 32 + payload length           |  0  length word (commit point)
//   +-+-------------------------------------------------------------+
//   |          CRC32C(record length as u32, bytes [8, length))      |  4
//   +---------------------------------------------------------------+
//   |                   type (1 DATA, 2 END_OF_SEGMENT)             |  8
//   +---------------------------------------------------------------+
//   |                  epoch (= the segment header's)               | 12
//   +---------------------------------------------------------------+
//   |                        sequence (u64)                         | 16
//   +---------------------------------------------------------------+
//   |                timestamp (u64, ms since the Unix epoch)       | 24
//   +---------------------------------------------------------------+
//   |  payload (length - 32 bytes), zero to seven bytes to 8-align  | 32
//   +---------------------------------------------------------------+
//
// P = in progress. The writer stores the length word with P set, writes payload and fields, then
// the CRC, and finally the length word without P with a release store: a reader that
// acquire-loads a length word without P sees the whole record. A zero length word means "nothing
// here yet" (segments are zero-filled); the length counts the header, so a record (even with an
// empty payload) never has length 0.
// Sequence numbers of DATA records are consecutive across the whole log (the next segment's
// base sequence is the previous segment's last sequence + 1).
//
// End of segment: when a record does not fit (every record leaves room for the 32-byte EOS), the
// writer creates the next segment (complete header, renamed into place), then commits an
// END_OF_SEGMENT record (no payload: length 32, sequence = the next segment's base sequence). A reader that
// meets EOS opens segment index + 1.
//
// Control file (4 KiB, one 128-byte region per writer of its words; version 2):
//      0 magic 'RWLC'  4 control version (2)  8 segment bytes (creator's)  12 codec id
//     16 created (u64 ms)
//    128 notify: the writer bumps it after each publish; readers futex-wait on it
//    256 parked: a bitmap of the reader slots whose follower is asleep on notify (2 words: bit k of
//        word k / 32 is slot k; each follower sets and clears its own bit; the writer reads both
//        words after each publish and wakes only when one is non-zero)
//    384 writer pid (0 when closed)  388 reserved  392 writer start (u64 ms)
//    512 stats, written by the writer under a sequence lock (odd while writing), u64 lo/hi each:
//        512 seq  520 next sequence  528 payload bytes  536 rolls  544 flushes  552 segment index
//        560 wakes (futex wakes the writer issued)
//   1024 reader slots: 64 x 32 bytes, one per follow() in progress (any process or thread):
//        0 owner: the follower's thread id (0 free, -1 being reclaimed by the writer; taken by
//        compare-exchange), as channel roles are held (cpp/ring/layout.h)
//        4 its pid  8 thread start (u64, clock ticks after boot, /proc/<tid>/stat field 22; 0
//        unknown)  16 echo: the owner tid again, stored after the identity (a checker that reads
//        echo == owner reads a complete identity)  20..31 reserved
//   A slot whose owner thread is dead (no such thread, or another one with the same id: the start
//   time differs) is reclaimed: by a follower that finds no free slot, or by the writer when a
//   wake found nobody asleep although parked bits are set (a follower killed while asleep).
// Version 1 (a parked count at 256, no slots) is upgraded in place by the next writer's open;
// readers refuse it (ERR_NOT_A_LOG).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h>
#define RINGWIRE_HAVE_SSE42_PATH 1
#endif

namespace ringwire::logfmt {

// Segment header.
inline constexpr uint32_t kSegmentMagic = 0x314C5752;  // "RWL1" little-endian
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kSegmentHeaderBytes = 128;
inline constexpr size_t kSegMagicOffset = 0;
inline constexpr size_t kSegVersionOffset = 4;
inline constexpr size_t kSegHeaderBytesOffset = 8;
inline constexpr size_t kSegEpochOffset = 12;
inline constexpr size_t kSegIndexOffset = 16;
inline constexpr size_t kSegBaseSeqOffset = 24;
inline constexpr size_t kSegBytesOffset = 32;
inline constexpr size_t kSegCreatedOffset = 40;
inline constexpr size_t kSegCodecOffset = 48;
inline constexpr size_t kSegHeaderCrcOffset = 56;  // CRC32C of bytes [0, 56)

// Records.
inline constexpr uint32_t kRecordHeaderBytes = 32;
inline constexpr uint32_t kRecordAlign = 8;
inline constexpr size_t kRecLengthOffset = 0;
inline constexpr size_t kRecCrcOffset = 4;
inline constexpr size_t kRecTypeOffset = 8;
inline constexpr size_t kRecEpochOffset = 12;
inline constexpr size_t kRecSeqOffset = 16;
inline constexpr size_t kRecTimeOffset = 24;
inline constexpr uint32_t kInProgress = 0x80000000u;
inline constexpr uint32_t kLengthMask = 0x7fffffffu;
inline constexpr uint32_t kTypeData = 1;
inline constexpr uint32_t kTypeEndOfSegment = 2;
inline constexpr uint32_t kEndOfSegmentBytes = kRecordHeaderBytes;  // EOS has no payload

// Segment sizes: whole pages, so msync/madvise ranges and the preallocation are page-exact.
inline constexpr uint64_t kPageBytes = 4096;
inline constexpr uint64_t kMinSegmentBytes = 64 * 1024;
inline constexpr uint64_t kMaxSegmentBytes = 1ull << 30;  // keeps offsets < 2^31 (Int32Array indexes in JS)
inline constexpr uint64_t kDefaultSegmentBytes = 64ull << 20;

// Control file.
inline constexpr uint32_t kControlMagic = 0x434C5752;  // "RWLC"
inline constexpr uint32_t kControlBytes = 4096;
inline constexpr uint32_t kControlVersion = 2;
inline constexpr uint32_t kControlVersionParkedCount = 1;  // upgraded by the writer (see above)
inline constexpr size_t kCtlMagicOffset = 0;
inline constexpr size_t kCtlVersionOffset = 4;
inline constexpr size_t kCtlSegmentBytesOffset = 8;
inline constexpr size_t kCtlCodecOffset = 12;
inline constexpr size_t kCtlCreatedOffset = 16;
inline constexpr size_t kCtlNotifyOffset = 128;
inline constexpr size_t kCtlParkedOffset = 256;
inline constexpr uint32_t kParkedWords = 2;
inline constexpr size_t kCtlWriterPidOffset = 384;
inline constexpr size_t kCtlWriterStartOffset = 392;
inline constexpr size_t kCtlStatsOffset = 512;
inline constexpr size_t kStatSeq = 0;
inline constexpr size_t kStatNextSequence = 8;
inline constexpr size_t kStatBytes = 16;
inline constexpr size_t kStatRolls = 24;
inline constexpr size_t kStatFlushes = 32;
inline constexpr size_t kStatSegment = 40;
inline constexpr size_t kStatWakes = 48;
inline constexpr size_t kStatsBytes = 56;
inline constexpr size_t kCtlReadersOffset = 1024;
inline constexpr uint32_t kReaderSlots = 64;
inline constexpr uint32_t kReaderSlotBytes = 32;
inline constexpr size_t kSlotOwnerOffset = 0;
inline constexpr size_t kSlotPidOffset = 4;
inline constexpr size_t kSlotStartOffset = 8;
inline constexpr size_t kSlotEchoOffset = 16;

constexpr uint64_t AlignRecord(uint64_t n) { return (n + (kRecordAlign - 1)) & ~uint64_t(kRecordAlign - 1); }
// Bytes a DATA record with `n` payload bytes occupies.
constexpr uint64_t RecordBytes(uint64_t n) { return AlignRecord(kRecordHeaderBytes + n); }
// Largest payload of a segment of `segment_bytes` (one record plus the EOS after the header).
constexpr uint64_t MaxPayload(uint64_t segment_bytes) {
  return segment_bytes - kSegmentHeaderBytes - kRecordHeaderBytes - kEndOfSegmentBytes;
}
constexpr bool ValidSegmentBytes(uint64_t n) {
  return n >= kMinSegmentBytes && n <= kMaxSegmentBytes && n % kPageBytes == 0;
}

static_assert(kSegHeaderCrcOffset + 4 <= kSegmentHeaderBytes);
static_assert(kSegmentHeaderBytes % kRecordAlign == 0, "the first record must be aligned");
static_assert(kRecTimeOffset + 8 == kRecordHeaderBytes);
static_assert(kRecordHeaderBytes % kRecordAlign == 0);
static_assert(kRecSeqOffset % 8 == 0 && kRecTimeOffset % 8 == 0);
static_assert(kSegIndexOffset % 8 == 0 && kSegBaseSeqOffset % 8 == 0 && kSegBytesOffset % 8 == 0 &&
              kSegCreatedOffset % 8 == 0);
static_assert(kCtlNotifyOffset % 128 == 0 && kCtlParkedOffset - kCtlNotifyOffset >= 128,
              "the writer's notify word and the readers' parked word must not share a prefetch pair");
static_assert(kCtlStatsOffset + kStatsBytes <= kCtlReadersOffset);
static_assert(kParkedWords * 32 == kReaderSlots, "one parked bit per reader slot");
static_assert(kCtlParkedOffset + 4 * kParkedWords <= kCtlWriterPidOffset);
static_assert(kCtlReadersOffset + kReaderSlots * kReaderSlotBytes <= kControlBytes);
static_assert(kCtlReadersOffset % 128 == 0 && kReaderSlotBytes % 8 == 0 && kSlotStartOffset % 8 == 0);
static_assert(kSlotEchoOffset + 4 <= kReaderSlotBytes);
static_assert(kMinSegmentBytes % kPageBytes == 0 && kMaxSegmentBytes % kPageBytes == 0);
static_assert(kDefaultSegmentBytes >= kMinSegmentBytes && kDefaultSegmentBytes <= kMaxSegmentBytes);
static_assert(MaxPayload(kMaxSegmentBytes) < kInProgress, "lengths must fit in 31 bits");
static_assert(RecordBytes(0) == 32 && RecordBytes(1) == 40 && RecordBytes(8) == 40 && RecordBytes(100) == 136);

// ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ----
// Crc32c(crc, p, n) extends a finished CRC (start from 0): Crc32c(Crc32c(0, a), b) == Crc32c(0, a ++ b).
// lib/log/crc32c.ts computes the same function (slicing-by-16 tables); a test compares them.

inline constexpr uint32_t kCrcPoly = 0x82F63B78u;

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrcPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
inline constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

inline uint32_t Crc32cSoftware(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

#ifdef RINGWIRE_HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) inline uint32_t Crc32cHardware(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = uint32_t(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}
inline bool HasHardwareCrc() {
  static const bool has = __builtin_cpu_supports("sse4.2");  // a CPU fact, the same for every thread
  return has;
}
#else
inline uint32_t Crc32cHardware(uint32_t crc, const void* data, size_t n) { return Crc32cSoftware(crc, data, n); }
inline bool HasHardwareCrc() { return false; }
#endif

inline uint32_t Crc32c(uint32_t crc, const void* data, size_t n) {
  return HasHardwareCrc() ? Crc32cHardware(crc, data, n) : Crc32cSoftware(crc, data, n);
}

// The CRC a record at `rec` of `length` bytes (header included, >= kRecordHeaderBytes) must carry.
inline uint32_t RecordCrc(const uint8_t* rec, uint32_t length) {
  uint32_t c = Crc32c(0, &length, 4);
  return Crc32c(c, rec + kRecTypeOffset, length - kRecTypeOffset);
}

}  // namespace ringwire::logfmt
