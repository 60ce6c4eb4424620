// Two threads, one ring: a producer writes sequence messages (mostly small, every 4096th larger
// than the ring itself, streamed in fragments) while a consumer reads them, alternating between
// ReadMessage and batched Drain with its own reassembly. Every message is checked with
// sequence::Check, both sides keep a running checksum, and the positions start just below 2^32.
// Full and empty spin with yield(); a time limit (RINGWIRE_STRESS_SECONDS, 120 s) turns a hang into
// a failure. RINGWIRE_STRESS_MESSAGES sets the count (10 million; the TSan build uses fewer).
#include <atomic>
#include <chrono>
#include <thread>

#include "harness.h"

namespace ringwire::test {
namespace {

constexpr uint32_t kCapacity = 1u << 16;
constexpr uint32_t kStart = 0xFFFFF000u;
constexpr uint32_t kSeed = 0x57E55u;
constexpr uint32_t kModeBlock = 100000;  // the consumer switches read mode every this many messages

using Clock = std::chrono::steady_clock;

struct Range {
  uint32_t min, max;
};
Range RangeOf(uint32_t i) {
  return i % 4096 == 7 ? Range{layout::MaxRecordPayload(kCapacity) + 1, 3 * kCapacity} : Range{0, 64};
}

uint64_t Fnv(uint64_t h, const uint8_t* p, size_t n) {
  h = (h ^ n) * 0x100000001b3ull;
  for (size_t k = 0; k < n; ++k) h = (h ^ p[k]) * 0x100000001b3ull;
  return h;
}

// Spins until `ready()` with yield(); fails loudly past the deadline. Returns the spins.
template <class F>
uint64_t SpinUntil(F&& ready, Clock::time_point deadline, const char* who, uint32_t i) {
  uint64_t spins = 0;
  while (!ready()) {
    ++spins;
    if (spins % 1024 == 0 && Clock::now() > deadline) {
      std::fprintf(stderr, "ring_stress: time limit exceeded: %s stuck at message %u\n", who, i);
      std::abort();
    }
    std::this_thread::yield();
  }
  return spins;
}

struct Side {
  uint64_t checksum = 0xcbf29ce484222325ull;
  uint64_t bytes = 0;
  uint64_t spins = 0;
  uint64_t fragmented = 0;
};

void Produce(uint8_t* base, uint32_t count, Clock::time_point deadline, Side* side) {
  Producer p(base);
  std::vector<uint8_t> buf(3 * kCapacity);
  for (uint32_t i = 0; i < count; ++i) {
    Range r = RangeOf(i);
    const uint32_t n = sequence::Size(i, kSeed, r.min, r.max);
    sequence::Fill(buf.data(), n, i);
    side->checksum = Fnv(side->checksum, buf.data(), n);
    side->bytes += n;
    if (n <= p.max_record_payload()) {
      side->spins += SpinUntil(
          [&] {
            Status st = p.TryWriteMessage(buf.data(), n);
            CHECK(st == Status::kOk || st == Status::kFull);
            return st == Status::kOk;
          },
          deadline, "producer", i);
    } else {
      ++side->fragmented;
      StreamWriter w(buf.data(), n);
      side->spins += SpinUntil(
          [&] {
            Status st = w.Advance(p);
            CHECK(st == Status::kOk || st == Status::kFull);
            return st == Status::kOk;
          },
          deadline, "producer (fragmented)", i);
    }
  }
}

void Consume(uint8_t* base, uint32_t count, Clock::time_point deadline, Side* side, uint64_t* dropped) {
  Consumer c(base);
  std::vector<uint8_t> out, assembly;
  uint32_t expected_total = 0;
  bool partial = false;
  uint32_t i = 0;

  auto accept = [&](const uint8_t* data, uint32_t n) {
    CHECK(i < count);
    Range r = RangeOf(i);
    if (!sequence::Check(data, n, i, kSeed, r.min, r.max)) {
      std::fprintf(stderr, "ring_stress: message %u is wrong (size %u)\n", i, n);
      std::abort();
    }
    if (n > layout::MaxRecordPayload(kCapacity)) ++side->fragmented;
    side->checksum = Fnv(side->checksum, data, n);
    side->bytes += n;
    ++i;
  };

  while (i < count) {
    const bool drain_mode = (i / kModeBlock) % 2 == 1 || partial;
    if (!drain_mode) {
      side->spins += SpinUntil(
          [&] {
            Status st = c.ReadMessage(&out, 3 * kCapacity);
            CHECK(st == Status::kOk || st == Status::kEmpty);
            return st == Status::kOk;
          },
          deadline, "consumer (ReadMessage)", i);
      accept(out.data(), uint32_t(out.size()));
      continue;
    }
    // Drain mode: whole batches, fragments reassembled here.
    int64_t got = 0;
    side->spins += SpinUntil(
        [&] {
          got = c.Drain(
              [&](const Record& rec) {
                switch (rec.type) {
                  case layout::kTypeMessage:
                    CHECK(!partial);
                    accept(rec.data, rec.length);
                    break;
                  case layout::kTypeFragFirst:
                    CHECK(!partial && rec.length >= layout::kFragPrefixBytes);
                    std::memcpy(&expected_total, rec.data, 4);
                    assembly.assign(rec.data + layout::kFragPrefixBytes, rec.data + rec.length);
                    partial = true;
                    break;
                  case layout::kTypeFragMiddle:
                  case layout::kTypeFragLast:
                    CHECK(partial);
                    assembly.insert(assembly.end(), rec.data, rec.data + rec.length);
                    CHECK(assembly.size() <= expected_total);
                    if (rec.type == layout::kTypeFragLast) {
                      CHECK_EQ(assembly.size(), size_t(expected_total));
                      partial = false;
                      accept(assembly.data(), expected_total);
                    }
                    break;
                  default:
                    CHECK(false);
                }
              },
              64);
          CHECK(got >= 0 && got <= 64);
          return got > 0;
        },
        deadline, "consumer (Drain)", i);
  }
  CHECK(!partial);
  *dropped = c.dropped();
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire::test;
  uint32_t count = 10'000'000;
  if (const char* env = std::getenv("RINGWIRE_STRESS_MESSAGES")) count = uint32_t(std::strtoul(env, nullptr, 10));
  double limit_s = 120;
  if (const char* env = std::getenv("RINGWIRE_STRESS_SECONDS")) limit_s = std::strtod(env, nullptr);
  CHECK(count > 0 && limit_s > 0);

  RingMemory m(kCapacity, 3 * kCapacity);
  SetPositions(m.base(), kStart);
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit_s));
  Side tx, rx;
  uint64_t dropped = 1;
  std::thread consumer(Consume, m.base(), count, deadline, &rx, &dropped);
  std::thread producer(Produce, m.base(), count, deadline, &tx);
  producer.join();
  consumer.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  CHECK_EQ(rx.checksum, tx.checksum);
  CHECK_EQ(rx.bytes, tx.bytes);
  CHECK_EQ(rx.fragmented, tx.fragmented);
  CHECK(count < 8192 || tx.fragmented > 0);
  CHECK_EQ(dropped, uint64_t(0));
  const uint32_t tail = TailWord(m.base()), head = HeadWord(m.base());
  CHECK_EQ(tail, head);  // everything written was read and released
  const uint64_t ring_bytes = uint64_t(uint32_t(tail - kStart));
  if (count >= 1000) CHECK(tail < kStart);  // the 32-bit positions wrapped
  std::printf("ring_stress: %u messages (%llu fragmented), %.1f MB of payload in %.2f s; "
              "%llu producer / %llu consumer spins; positions 0x%08x -> 0x%08x (+%llu mod 2^32)\n",
              count, (unsigned long long)tx.fragmented, double(tx.bytes) / 1e6, seconds,
              (unsigned long long)tx.spins, (unsigned long long)rx.spins, kStart, tail,
              (unsigned long long)ring_bytes);
  return 0;
}
