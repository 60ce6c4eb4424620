// cpp/ring/park.h between two threads: a producer and a consumer on a small ring that never spin,
// each parking (futex, cpp/shm/futex.h) as soon as it finds the ring full / empty, and each waking
// the other after a publish only when PeerParked says so. A lost wake shows as a sleep that runs to
// its timeout (the peer is never idle while the other sleeps, so no sleep may time out), which
// fails the test long before ctest's own limit.
#include <atomic>
#include <thread>

#include "harness.h"
#include "ring/park.h"
#include "shm/futex.h"

namespace ringwire::test {
namespace {

constexpr uint32_t kCapacity = 1024;
constexpr uint32_t kCount = 200000;
constexpr uint32_t kSeed = 0x9A4Cu;
constexpr int64_t kSleepNs = 5'000'000'000;  // far longer than any wait with a live peer

uint32_t Load(uint8_t* base, size_t offset) {
  // Acquire: a position published by the peer (what its wake, or our re-check, is about).
  return std::atomic_ref<uint32_t>(*park::Word(base, offset)).load(std::memory_order_acquire);
}

struct Side {
  uint64_t parks = 0;
  uint64_t wakes = 0;
};

// The sleep of park.h: a futex wait that must never time out here.
void Sleep(uint32_t* word, uint32_t seen) {
  if (futex::Wait(word, seen, kSleepNs) == futex::WaitResult::kTimedOut) {
    std::fprintf(stderr, "ring_park: a sleep timed out: a wake was lost\n");
    std::abort();
  }
}

void Produce(uint8_t* base, Side* side) {
  Producer p(base);
  std::vector<uint8_t> buf(64);
  for (uint32_t i = 0; i < kCount; ++i) {
    const uint32_t n = sequence::Size(i, kSeed, 0, 64);
    sequence::Fill(buf.data(), n, i);
    for (;;) {
      Status st = p.TryWriteMessage(buf.data(), n);
      CHECK(st == Status::kOk || st == Status::kFull);
      if (st == Status::kOk) break;
      ++side->parks;
      // Ready when the message surely fits (the bound of a write at any offset).
      park::ParkProducer(
          base,
          [&] { return kCapacity - (Load(base, layout::kTailOffset) - Load(base, layout::kHeadOffset)) >= layout::MessageBytesBound(kCapacity, n); },
          Sleep);
    }
    if (p.ConsumerParked()) {
      ++side->wakes;
      futex::Wake(park::Word(base, layout::kTailOffset));
    }
  }
}

void Consume(uint8_t* base, Side* side) {
  Consumer c(base);
  std::vector<uint8_t> out;
  for (uint32_t i = 0; i < kCount; ++i) {
    for (;;) {
      Status st = c.ReadMessage(&out, 64);
      CHECK(st == Status::kOk || st == Status::kEmpty);
      if (st == Status::kOk) break;
      ++side->parks;
      park::ParkConsumer(base, [&] { return Load(base, layout::kTailOffset) != Load(base, layout::kHeadOffset); }, Sleep);
    }
    CHECK(sequence::Check(out.data(), uint32_t(out.size()), i, kSeed, 0, 64));
    if (c.ProducerParked()) {
      ++side->wakes;
      futex::Wake(park::Word(base, layout::kHeadOffset));
    }
  }
}

}  // namespace
}  // namespace ringwire::test

int main() {
  using namespace ringwire;
  using namespace ringwire::test;
  RingMemory m(kCapacity, 64);
  Side tx, rx;
  std::thread consumer(Consume, m.base(), &rx);
  std::thread producer(Produce, m.base(), &tx);
  producer.join();
  consumer.join();
  CHECK_EQ(TailWord(m.base()), HeadWord(m.base()));
  // Neither side ever spins, so on a 1 KiB ring both must have slept (and been woken) many times.
  CHECK(tx.parks + rx.parks > 0);
  CHECK_EQ(GetWord(m.base(), layout::kRxParkedOffset), 0u);
  CHECK_EQ(GetWord(m.base(), layout::kTxParkedOffset), 0u);
  std::printf("ring_park: %u messages; producer parked %llu times, consumer %llu; wakes sent %llu / %llu\n", kCount,
              (unsigned long long)tx.parks, (unsigned long long)rx.parks, (unsigned long long)rx.wakes,
              (unsigned long long)tx.wakes);
  return 0;
}
