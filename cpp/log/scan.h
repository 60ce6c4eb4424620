// Validation of log segments (format: log_format.h): the header check, and the scan that recovery
// and `verify` share. Everything read from the file is bounds-checked against the bytes actually
// mapped: a truncated, zero-filled, bit-flipped or foreign file gives a Problem, never a bad access.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "log/format.h"

namespace ringwire::logscan {

enum class Problem : uint32_t {
  kNone = 0,
  kBadHeader = 1,    // magic, version, sizes or header CRC
  kTruncated = 2,    // the file is shorter than its header says
  kInProgress = 3,   // a record the writer never committed (it crashed, or is writing it now)
  kBadLength = 4,    // a length word that does not fit the segment
  kBadType = 5,
  kBadEpoch = 6,     // a record from another segment (or stale bytes)
  kBadSequence = 7,  // not the sequence that follows the previous record
  kBadCrc = 8,
  kGarbage = 9,      // non-zero bytes after the last record
};

inline const char* ProblemName(Problem p) {
  switch (p) {
    case Problem::kNone: return "none";
    case Problem::kBadHeader: return "bad segment header";
    case Problem::kTruncated: return "segment file truncated";
    case Problem::kInProgress: return "record in progress (never committed)";
    case Problem::kBadLength: return "bad record length";
    case Problem::kBadType: return "bad record type";
    case Problem::kBadEpoch: return "record epoch does not match the segment";
    case Problem::kBadSequence: return "record sequence out of order";
    case Problem::kBadCrc: return "record CRC mismatch";
    case Problem::kGarbage: return "non-zero bytes after the last record";
  }
  return "unknown";
}

struct SegmentHeader {
  uint32_t epoch = 0;
  uint64_t index = 0;
  uint64_t base_seq = 0;
  uint64_t segment_bytes = 0;
  uint64_t created = 0;
  uint32_t codec = 0;
};

struct ScanResult {
  SegmentHeader header;
  Problem problem = Problem::kNone;
  uint64_t problem_offset = 0;
  uint64_t end = 0;            // offset just past the last valid record (EOS included)
  uint64_t records = 0;        // valid DATA records
  uint64_t next_seq = 0;       // sequence the next DATA record gets
  uint64_t last_timestamp = 0;
  uint64_t payload_bytes = 0;
  bool sealed = false;         // ends with a valid END_OF_SEGMENT
  uint64_t dirty_end = 0;      // one past the last non-zero byte at or after `end` (== end if none)
};

namespace detail {
template <class T>
inline T Read(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
}  // namespace detail

// Checks the 128-byte header at `base` (`size` bytes mapped). Does not require size >= segment bytes.
inline bool ReadHeader(const uint8_t* base, uint64_t size, SegmentHeader* h) {
  using namespace logfmt;
  using detail::Read;
  if (size < kSegmentHeaderBytes) return false;
  if (Read<uint32_t>(base + kSegMagicOffset) != kSegmentMagic) return false;
  if (Read<uint32_t>(base + kSegVersionOffset) != kVersion) return false;
  if (Read<uint32_t>(base + kSegHeaderBytesOffset) != kSegmentHeaderBytes) return false;
  if (Read<uint32_t>(base + kSegHeaderCrcOffset) != Crc32c(0, base, kSegHeaderCrcOffset)) return false;
  h->epoch = Read<uint32_t>(base + kSegEpochOffset);
  h->index = Read<uint64_t>(base + kSegIndexOffset);
  h->base_seq = Read<uint64_t>(base + kSegBaseSeqOffset);
  h->segment_bytes = Read<uint64_t>(base + kSegBytesOffset);
  h->created = Read<uint64_t>(base + kSegCreatedOffset);
  h->codec = Read<uint32_t>(base + kSegCodecOffset);
  // Sequences and indexes must stay exact as JS numbers (2^53).
  constexpr uint64_t kMaxSafe = (1ull << 53) - 1;
  return h->epoch != 0 && ValidSegmentBytes(h->segment_bytes) && h->base_seq < kMaxSafe && h->index < kMaxSafe;
}

// Scans the records of the segment mapped at `base` (`size` bytes, possibly less than the header
// says when the file was truncated). `base` must be 8-byte aligned (mmap gives page alignment).
inline ScanResult Scan(const uint8_t* base, uint64_t size) {
  using namespace logfmt;
  using detail::Read;
  ScanResult r;
  if (!ReadHeader(base, size, &r.header)) {
    r.problem = Problem::kBadHeader;
    r.problem_offset = 0;
    return r;
  }
  const uint64_t declared = r.header.segment_bytes;
  const uint64_t limit = size < declared ? size : declared;
  uint64_t p = kSegmentHeaderBytes;
  uint64_t seq = r.header.base_seq;
  while (true) {
    if (p + kRecordHeaderBytes > limit) {
      if (limit < declared) {
        r.problem = Problem::kTruncated;
        r.problem_offset = limit;
      }
      break;  // a full segment without EOS: only possible as the live tail
    }
    // Acquire: pairs with the writer's release store of the length word (the commit point); the
    // fields and payload of a committed record are visible once its length word is.
    uint32_t word = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(base + p)))
                        .load(std::memory_order_acquire);
    if (word == 0) break;
    Problem bad = Problem::kNone;
    const uint32_t length = word & kLengthMask;
    const uint8_t* rec = base + p;
    if ((word & kInProgress) != 0) {
      bad = Problem::kInProgress;
    } else if (length < kRecordHeaderBytes || p + length > declared) {
      bad = Problem::kBadLength;
    } else if (p + length > limit) {
      bad = Problem::kTruncated;
    } else {
      const uint32_t type = Read<uint32_t>(rec + kRecTypeOffset);
      if (type != kTypeData && type != kTypeEndOfSegment) {
        bad = Problem::kBadType;
      } else if (type == kTypeData && p + AlignRecord(length) + kEndOfSegmentBytes > declared) {
        bad = Problem::kBadLength;  // a DATA record always leaves room for the EOS
      } else if (type == kTypeEndOfSegment && length != kEndOfSegmentBytes) {
        bad = Problem::kBadLength;
      } else if (Read<uint32_t>(rec + kRecEpochOffset) != r.header.epoch) {
        bad = Problem::kBadEpoch;
      } else if (Read<uint64_t>(rec + kRecSeqOffset) != seq) {
        bad = Problem::kBadSequence;
      } else if (Read<uint32_t>(rec + kRecCrcOffset) != RecordCrc(rec, length)) {
        bad = Problem::kBadCrc;
      } else if (type == kTypeEndOfSegment) {
        r.sealed = true;
        p += kEndOfSegmentBytes;
        break;
      } else {
        ++r.records;
        ++seq;
        r.payload_bytes += length - kRecordHeaderBytes;
        r.last_timestamp = Read<uint64_t>(rec + kRecTimeOffset);
        p += AlignRecord(length);
        continue;
      }
    }
    r.problem = bad;
    r.problem_offset = p;
    break;
  }
  if (r.problem == Problem::kNone && limit < declared) {
    r.problem = Problem::kTruncated;  // even when what is left is whole: the file must be full size
    r.problem_offset = limit;
  }
  if (p > limit) p = limit;  // a file cut inside the padding after a complete record
  r.end = p;
  r.next_seq = seq;
  // Non-zero bytes past the end: the crashed writer's unfinished record, or garbage.
  uint64_t first_dirty = limit, last_dirty = p;
  uint64_t i = p;  // 8-aligned: records are
  for (; i + 8 <= limit && Read<uint64_t>(base + i) == 0; i += 8) {
  }
  for (; i < limit; ++i) {
    if (base[i] != 0) {
      first_dirty = i;
      break;
    }
  }
  if (first_dirty < limit) {
    // base[first_dirty] != 0, so this stops above first_dirty.
    uint64_t j = limit;
    while (j > first_dirty && (j & 7) != 0 && base[j - 1] == 0) --j;
    if ((j & 7) == 0) {
      while (j >= first_dirty + 8 && Read<uint64_t>(base + j - 8) == 0) j -= 8;
      while (base[j - 1] == 0) --j;
    }
    last_dirty = j;
  }
  r.dirty_end = first_dirty < limit ? last_dirty : p;
  if (r.problem == Problem::kNone && first_dirty < limit) {
    r.problem = Problem::kGarbage;
    r.problem_offset = first_dirty;
  }
  return r;
}

}  // namespace ringwire::logscan
