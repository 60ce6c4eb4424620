// The public C++ API (cpp/include/ringwire/ringwire.hpp) between threads of one process, under the
// sanitizers like the rest of test/native: a sequence across threads with fragmented and streamed
// messages, role rules (taken, takeover of an ended thread), ERR_PEER_DEAD while waiting, timeouts,
// Reserve/Commit and Drain, damaged files and positions (errors, never a crash).
// The cross-language and cross-process tests are test/cpp/*.test.ts.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ringwire/ringwire.hpp>

#include "harness.h"

namespace rw = ringwire::api;
using namespace std::chrono_literals;
using ringwire::test::SequenceMessage;

namespace {

std::string Path(const char* what) {
  static int n = 0;
  return "/dev/shm/ringwire-api-test-" + std::string(what) + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

rw::Channel Open(const std::string& path, uint32_t capacity) {
  rw::ChannelOptions o;
  o.create = true;
  o.capacity = capacity;
  auto c = rw::Channel::Open(path, o);
  CHECK(c.ok());
  return std::move(c).value();
}

// Message i of the test sequence: mostly small, every 16th larger than a record, some larger than the ring.
uint32_t SizeOf(uint32_t i) { return i % 16 == 15 ? ringwire::sequence::Size(i, 7, 2100, 9000) : ringwire::sequence::Size(i, 7, 0, 300); }

void SequenceAcrossThreads() {
  const std::string path = Path("seq");
  const uint32_t kCount = 20000;
  rw::Channel ch = Open(path, 4096);
  std::thread producer([&] {
    auto tx = ch.ClaimSender();
    CHECK(tx.ok());
    for (uint32_t i = 0; i < kCount; ++i) {
      auto m = SequenceMessage(i, SizeOf(i));
      auto r = tx->Send(m, 20s);
      CHECK(r.ok());
    }
    tx->Close();
  });
  auto rx = ch.ClaimReceiver();
  CHECK(rx.ok());
  std::vector<uint8_t> m;
  uint32_t got = 0;
  for (;; ++got) {
    auto r = rx->Recv(m, 20s);
    if (!r) {
      CHECK_EQ(int(r.error().code), int(rw::Errc::kChannelClosed));
      CHECK(rx->ended());
      break;
    }
    CHECK(m == SequenceMessage(got, SizeOf(got)));
  }
  producer.join();
  CHECK_EQ(got, kCount);
  CHECK_EQ(rx->dropped(), uint64_t(0));
  CHECK(rw::Channel::Unlink(path).value());
}

void RolesAndTakeover() {
  const std::string path = Path("roles");
  rw::Channel ch = Open(path, 4096);
  auto tx = ch.ClaimSender();
  CHECK(tx.ok());
  auto again = ch.ClaimSender();  // the same thread holds it: taken (one sender per channel)
  CHECK(!again.ok() && again.error().code == rw::Errc::kRoleTaken);
  // A receiver claimed by a thread that ends without releasing it: the next claimant takes it over.
  std::optional<rw::Receiver> orphan;
  std::thread([&] {
    auto rx = ch.ClaimReceiver();
    CHECK(rx.ok());
    orphan.emplace(std::move(rx).value());
  }).join();
  auto rx = ch.ClaimReceiver();
  CHECK(rx.ok());
  CHECK(tx->TrySend(std::string_view("hello")).value());
  std::string s;
  CHECK(rx->TryRecv(s).value() && s == "hello");
  orphan.reset();  // its Release must not give away the role it lost
  CHECK(!ch.ClaimReceiver().ok());
  CHECK(rw::Channel::Unlink(path).value());
}

void PeerDeadAndTimeout() {
  const std::string path = Path("dead");
  rw::Channel ch = Open(path, 4096);
  auto rx = ch.ClaimReceiver();
  CHECK(rx.ok());
  std::vector<uint8_t> m;
  auto t0 = std::chrono::steady_clock::now();
  auto r = rx->Recv(m, 50ms);  // no sender yet: a timeout, not a dead peer
  CHECK(!r.ok() && r.error().code == rw::Errc::kTimeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  std::optional<rw::Sender> orphan;
  std::thread([&] {
    auto tx = ch.ClaimSender();
    CHECK(tx.ok());
    CHECK(tx->TrySend(std::string_view("last words")).value());
    orphan.emplace(std::move(tx).value());  // the thread ends holding the role
  }).join();
  CHECK(rx->Recv(m, 10s).ok());  // what it committed arrives
  t0 = std::chrono::steady_clock::now();
  r = rx->Recv(m, 10s);
  CHECK(!r.ok() && r.error().code == rw::Errc::kPeerDead);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // ~100 ms, far from the 10 s deadline
  orphan.reset();
  CHECK(rw::Channel::Unlink(path).value());
}

void ReserveCommitDrain() {
  const std::string path = Path("reserve");
  rw::Channel ch = Open(path, 1024);
  auto tx = ch.ClaimSender();
  auto rx = ch.ClaimReceiver();
  CHECK(tx.ok() && rx.ok());
  CHECK(tx->Commit(1).error().code == rw::Errc::kReserve);
  auto span = tx->Reserve(100);
  CHECK(span.ok() && span->size() == 100);
  std::memcpy(span->data(), "zero-copy", 9);
  CHECK(tx->TrySend(std::string_view("x")).error().code == rw::Errc::kReserve);
  CHECK(tx->Commit(9).ok());
  CHECK(tx->Reserve(600).error().code == rw::Errc::kOutOfRange);  // over one record (504)
  CHECK(tx->TrySend(std::vector<uint8_t>(2000)).error().code == rw::Errc::kTooLargeForTrySend);
  uint32_t sent = 1;
  while (tx->TrySend(std::string_view("fill")).value()) ++sent;  // until full: false, not an error
  std::vector<std::string> seen;
  auto n = rx->Drain([&](std::span<const uint8_t> v) { seen.emplace_back(reinterpret_cast<const char*>(v.data()), v.size()); });
  CHECK(n.ok() && *n == sent && seen[0] == "zero-copy" && seen[1] == "fill");
  tx->Close();
  std::string s;
  auto end = rx->Recv(s, 1s);
  CHECK(!end.ok() && end.error().code == rw::Errc::kChannelClosed && rx->ended());
  CHECK(rw::Channel::Unlink(path).value());
}

void DamagedFilesAndPositions() {
  const std::string path = Path("damaged");
  FILE* f = std::fopen(path.c_str(), "wb");
  CHECK(f != nullptr);
  std::vector<uint8_t> junk(4096, 0xab);
  CHECK_EQ(std::fwrite(junk.data(), 1, junk.size(), f), junk.size());
  std::fclose(f);
  auto bad = rw::Channel::Open(path);
  CHECK(!bad.ok() && bad.error().code == rw::Errc::kNotAChannel);
  CHECK(std::remove(path.c_str()) == 0);
  auto missing = rw::Channel::Open(path);
  CHECK(!missing.ok() && missing.error().code == rw::Errc::kNoSuchChannel);
  CHECK(rw::Channel::Open("no/such/dir/x").error().code == rw::Errc::kNoSuchChannel);
  CHECK(rw::Channel::Open("bad name").error().code == rw::Errc::kOutOfRange);
  rw::ChannelOptions mismatch;
  mismatch.capacity = 2048;
  rw::Channel ch = Open(path, 1024);
  CHECK(rw::Channel::Open(path, mismatch).error().code == rw::Errc::kChannelMismatch);
  // A producer position that is not 8-aligned, then a record whose length runs past the ring.
  auto rx = ch.ClaimReceiver();
  CHECK(rx.ok());
  uint8_t* base = nullptr;
  {
    auto tx = ch.ClaimSender();
    CHECK(tx->TrySend(std::string_view("ok")).value());
    tx->Release();
  }
  std::vector<uint8_t> m;
  CHECK(rx->Recv(m, 1s).ok());
  // Reach into the mapping through a second, independent mapping of the file.
  auto raw = ringwire::shm::Open(path, {});
  CHECK(raw.code == ringwire::shm::Code::kOk);
  base = raw.mapping->base;
  const uint32_t tail = ringwire::test::TailWord(base);
  ringwire::test::SetWord(base, ringwire::layout::kTailOffset, tail + 3);
  auto r = rx->Recv(m, 1s);
  CHECK(!r.ok() && r.error().code == rw::Errc::kCorrupt);
  ringwire::test::SetWord(base, ringwire::layout::kControlBytes + (tail & 1023), 5000);  // length 5000 in a 1 KiB ring
  ringwire::test::SetWord(base, ringwire::layout::kControlBytes + (tail & 1023) + 4, ringwire::layout::kTypeMessage);
  ringwire::test::SetWord(base, ringwire::layout::kTailOffset, tail + 16);
  r = rx->Recv(m, 1s);
  CHECK(!r.ok() && r.error().code == rw::Errc::kCorrupt);
  CHECK(rw::Channel::Unlink(path).value());
}

}  // namespace

int main() {
  SequenceAcrossThreads();
  RolesAndTakeover();
  PeerDeadAndTimeout();
  ReserveCommitDrain();
  DamagedFilesAndPositions();
  std::printf("api_channel: ok\n");
  return 0;
}
