// ringwire ring layout: the one description of the bytes shared between threads and processes.
// lib/core/layout.ts mirrors every constant here; test/unit/layout.test.ts checks the two agree
// (the addon exports these values).
//
// A ring is one contiguous region: a 1024-byte control block, then a power-of-two data region.
//
//   0        128       256       384       512       640       768             1024
//   +--------+---------+---------+---------+---------+---------+---------------+----------------+
//   | header | tx stats| rx stats| tail    | head    | park    |   reserved    | data (capacity)|
//   +--------+---------+---------+---------+---------+---------+---------------+----------------+
//
// Each 128-byte region is two cache lines, so the adjacent-line prefetcher does not couple them. The
// producer writes `tail` per message, the consumer writes `head` per batch; each stats region is
// written by its side only. The park region holds both sides' park words: each side sets its own to
// 1 before it sleeps and clears it when it wakes (only the sleeper clears it: a waker that did would
// lose a wake, see lib/ring.ts publish). They are written only around a sleep, so the peer's
// per-message read of them stays a cache hit.
//
// Header (written once by the creator, then read-only, except roles and the stream words):
//   0 magic 'RWR1'   4 layout version   8 capacity   12 data offset   16 max message bytes
//  20 codec id       24 stream word     28 sender owner   32 receiver owner
//  36 sender pid     40 receiver pid    44 stream start position
//  48 sender start (u64)   56 receiver start (u64)   64 sender echo   68 receiver echo
//  72 stream start epoch   76 receiver epoch   80..127 reserved
//
// Roles: a role's owner word holds the holder's thread id (Linux tid, unique system-wide while the
// thread lives; 0: free). The claimant then records its pid and its thread's start time
// (/proc/<tid>/stat field 22) and, last, the echo word = tid: a checker that reads owner == echo
// (both seq_cst, echo read before and after the identity words) knows the pid and start words are
// that holder's. A holder is dead when /proc/<tid>/stat is missing or a zombie, or (identity
// complete) its start time differs (the tid was reused). Without /proc the owner word is a random
// token and holders are never found dead.
//
// Stream word: bits kSenderClosed, kReceiverClosed and kEndSeen, and the stream epoch above
// kEpochShift. A new stream on the same channel (a named channel reused) is started by a
// compare-exchange of the word from the ended stream's value to (epoch + 1) << kEpochShift, by the
// first role claim that finds the stream ended (lib/core/roles.ts says when that is). A sender that starts it records the new stream's first position (stream start
// position, stream start epoch) before that compare-exchange; the first receiver of an epoch
// (receiver epoch != the stream's epoch) skips to it, discarding what the ended stream left unread.
//
// Positions are 32-bit byte counters that wrap modulo 2^32; the offset into the data region is
// `pos & (capacity - 1)`, and `tail - head` (mod 2^32) is the number of bytes in use. Capacity is at
// most 2^30, so that difference never becomes ambiguous. TS can only do 32-bit Atomics without
// allocating (BigInt), which is why positions are 32-bit on both sides.
//
// Record (8-byte aligned; a record never wraps: a padding record fills the end instead):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +---------------------------------------------------------------+
//   |                  payload length (bytes, u32)                  |
//   +---------------------------------------------------------------+
//   |                       record type (u32)                       |
//   +---------------------------------------------------------------+
//   |                 payload (length bytes), then                  |
//   |              zero to seven bytes up to 8-alignment            |
//   +---------------------------------------------------------------+
//
// A record becomes visible through the producer's release store of `tail`, made after the header
// and payload are written: a consumer that acquires `tail` sees every byte of every record before it,
// so it never sees a half-written record, and a claimed-but-uncommitted record is never visible.
//
// A message larger than one record (MaxRecordBytes = capacity / 2, header included) is sent as
// FRAG_FIRST (payload starts with its total length as u32, then 4 reserved bytes), FRAG_MIDDLE...,
// FRAG_LAST. capacity / 2 guarantees that any record, plus the padding that may precede it, fits in
// an empty ring. A fragment is cut at the end of the data region when at least kMinFragmentRoom
// payload bytes fit there (FragmentChunk), so a fragmented message wraps with at most a small pad
// and its size in the ring is bounded by MessageBytesBound: it can be written all at once whenever
// that many bytes are free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringwire::layout {

inline constexpr uint32_t kMagic = 0x31525752;  // "RWR1" little-endian
inline constexpr uint32_t kVersion = 2;  // 2: thread-level roles, stream epochs

// Control block: 128-byte regions.
inline constexpr size_t kRegion = 128;
inline constexpr size_t kHeaderOffset = 0;
inline constexpr size_t kTxStatsOffset = 1 * kRegion;
inline constexpr size_t kRxStatsOffset = 2 * kRegion;
inline constexpr size_t kTailOffset = 3 * kRegion;
inline constexpr size_t kHeadOffset = 4 * kRegion;
inline constexpr size_t kParkOffset = 5 * kRegion;
inline constexpr size_t kControlBytes = 1024;

// Header fields (byte offsets from the start of the ring).
inline constexpr size_t kMagicOffset = 0;
inline constexpr size_t kVersionOffset = 4;
inline constexpr size_t kCapacityOffset = 8;
inline constexpr size_t kDataOffsetOffset = 12;
inline constexpr size_t kMaxMessageOffset = 16;
inline constexpr size_t kCodecOffset = 20;
inline constexpr size_t kClosedOffset = 24;
inline constexpr size_t kSenderOwnerOffset = 28;
inline constexpr size_t kReceiverOwnerOffset = 32;
inline constexpr size_t kSenderPidOffset = 36;
inline constexpr size_t kReceiverPidOffset = 40;
inline constexpr size_t kSenderStartOffset = 48;
inline constexpr size_t kReceiverStartOffset = 56;
inline constexpr size_t kStreamStartOffset = 44;
inline constexpr size_t kSenderEchoOffset = 64;
inline constexpr size_t kReceiverEchoOffset = 68;
inline constexpr size_t kStreamStartEpochOffset = 72;
inline constexpr size_t kRxEpochOffset = 76;

// In the tail region (producer-written): the position of the fragmented message the producer is
// writing, as `position | 1` (positions are 8-aligned, so 0 means none), stored before its first
// fragment is published and cleared when the producer gives the message up (or a new producer
// takes over). A consumer keeps a partly received fragmented message in the ring only while this
// still names it: one the producer abandoned will never complete, and holding it would leave the
// next producer no room.
inline constexpr size_t kFragInProgressOffset = kTailOffset + 64;

// Stream word (kClosedOffset): closed bits, then the epoch.
inline constexpr uint32_t kSenderClosed = 1;
inline constexpr uint32_t kReceiverClosed = 2;
inline constexpr uint32_t kEndSeen = 4;  // a receiver returned the end of the stream to its user
inline constexpr uint32_t kClosedBits = kSenderClosed | kReceiverClosed | kEndSeen;
inline constexpr uint32_t kEpochShift = 3;

// Park words (in the park region): a side sets its word to 1 before sleeping on the peer's position.
inline constexpr size_t kRxParkedOffset = kParkOffset + 0;
inline constexpr size_t kTxParkedOffset = kParkOffset + 4;

// Stats region (one per side, written only by that side): a sequence word (odd while writing),
// then u32 lo/hi pairs.
inline constexpr size_t kStatSeq = 0;
inline constexpr size_t kStatMessages = 8;
inline constexpr size_t kStatBytes = 16;
inline constexpr size_t kStatFull = 24;  // sender: times it found the ring full; receiver: messages dropped
inline constexpr size_t kStatParks = 32;
inline constexpr size_t kStatsBytes = 40;

// Records.
inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr size_t kRecordAlign = 8;
inline constexpr uint32_t kTypePad = 1;
inline constexpr uint32_t kTypeMessage = 2;
inline constexpr uint32_t kTypeFragFirst = 3;
inline constexpr uint32_t kTypeFragMiddle = 4;
inline constexpr uint32_t kTypeFragLast = 5;
inline constexpr size_t kFragPrefixBytes = 8;  // FRAG_FIRST payload: u32 total length, u32 reserved

// Capacity bounds (bytes of data region).
inline constexpr uint32_t kMinCapacity = 1u << 10;  // 1 KiB
inline constexpr uint32_t kMaxCapacity = 1u << 30;  // 1 GiB: keeps tail - head unambiguous

constexpr bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
constexpr uint32_t Align(uint32_t n) { return (n + (kRecordAlign - 1)) & ~uint32_t(kRecordAlign - 1); }
constexpr uint32_t MaxRecordBytes(uint32_t capacity) { return capacity / 2; }
constexpr uint32_t MaxRecordPayload(uint32_t capacity) {
  return MaxRecordBytes(capacity) - uint32_t(kRecordHeaderBytes);
}
constexpr size_t TotalBytes(uint32_t capacity) { return kControlBytes + capacity; }
// Fragments: a fragment is cut at the end of the data region if at least this many payload bytes
// fit there; with less room, the producer pads to the end and the fragment starts at offset 0.
inline constexpr uint32_t kMinFragmentRoom = 64;

// Payload bytes (prefix excluded) of the next fragment of a message with `remaining` bytes left to
// write, when the producer's offset in the data region is `offset`.
constexpr uint32_t FragmentChunk(uint32_t capacity, uint32_t offset, uint64_t remaining, bool first) {
  const uint32_t prefix = first ? uint32_t(kFragPrefixBytes) : 0;
  const uint32_t full = MaxRecordPayload(capacity) - prefix;
  const uint32_t contiguous = capacity - offset;
  const uint32_t room = contiguous >= kRecordHeaderBytes + prefix + kMinFragmentRoom
                            ? contiguous - uint32_t(kRecordHeaderBytes) - prefix
                            : full;  // too little before the end: the claim pads and wraps
  const uint32_t chunk = room < full ? room : full;
  return remaining < chunk ? uint32_t(remaining) : chunk;
}

// An upper bound on the ring bytes a message of `n` bytes takes, padding included, when written
// without the consumer freeing space in between (so it wraps at most once).
constexpr uint64_t MessageBytesBound(uint32_t capacity, uint64_t n) {
  const uint64_t max_payload = MaxRecordPayload(capacity);
  if (n <= max_payload) return Align(uint32_t(n) + uint32_t(kRecordHeaderBytes)) + max_payload + kRecordHeaderBytes;
  const uint64_t per = max_payload - kFragPrefixBytes;    // the least a full fragment carries
  const uint64_t records = (n + per - 1) / per + 1;        // + the fragment cut at the end
  const uint64_t pad = kRecordHeaderBytes + kFragPrefixBytes + kMinFragmentRoom + kRecordAlign;
  return n + kFragPrefixBytes + records * (kRecordHeaderBytes + kRecordAlign - 1) + pad;
}

// Whether a message can ever be written all at once (the non-blocking write of a fragmented
// message needs that): a one-record message always can; a fragmented one if its bound fits the ring.
constexpr bool FitsAtOnce(uint32_t capacity, uint64_t n) {
  return n <= MaxRecordPayload(capacity) || MessageBytesBound(capacity, n) <= capacity;
}

static_assert(kTailOffset % kRegion == 0 && kHeadOffset % kRegion == 0);
static_assert(kHeadOffset - kTailOffset >= 128, "tail and head must not share a prefetch pair");
static_assert(kParkOffset + kRegion <= kControlBytes);
static_assert(kFragInProgressOffset % 64 == 0 && kFragInProgressOffset < kTailOffset + kRegion,
              "in the producer's region, on a cache line of its own");
static_assert(kReceiverStartOffset + 8 <= kSenderEchoOffset && kRxEpochOffset + 4 <= kTxStatsOffset, "header overflows its region");
static_assert(kStreamStartOffset == kReceiverPidOffset + 4 && kStreamStartOffset + 4 == kSenderStartOffset);
static_assert(kReceiverEchoOffset == kSenderEchoOffset + 4 && kStreamStartEpochOffset == kReceiverEchoOffset + 4 &&
              kRxEpochOffset == kStreamStartEpochOffset + 4, "header words must not overlap");
static_assert(kClosedBits < (1u << kEpochShift));
static_assert(kSenderStartOffset % 8 == 0 && kReceiverStartOffset % 8 == 0);
static_assert(kStatsBytes <= kRegion);
static_assert(kControlBytes % kRecordAlign == 0);
static_assert(IsPowerOfTwo(kMinCapacity) && IsPowerOfTwo(kMaxCapacity));
static_assert(MaxRecordPayload(kMinCapacity) > kFragPrefixBytes);
static_assert(Align(1) == 8 && Align(8) == 8 && Align(9) == 16);
static_assert(FitsAtOnce(1024, 504) && FitsAtOnce(1024, 505) && !FitsAtOnce(1024, 1024));
static_assert(FragmentChunk(1024, 0, 10000, true) == 496 && FragmentChunk(1024, 0, 10000, false) == 504);
static_assert(FragmentChunk(1024, 1024 - 80, 10000, true) == 64 && FragmentChunk(1024, 1024 - 72, 10000, true) == 496);

}  // namespace ringwire::layout
