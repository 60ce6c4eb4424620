// cpp/shm/shm.h and cpp/shm/futex.h: channel files (race-free create, validated open, unlink), the liveness
// of role holders (threads), and futex wait/wake between threads of one process (the shared futex key is the
// same between processes; test/xproc covers those).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "shm/futex.h"
#include "harness.h"
#include "shm/shm.h"

using namespace ringwire;

namespace {

std::string Dir() {
  char tmpl[] = "/tmp/ringwire-shm-test-XXXXXX";
  CHECK(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  CHECK(f != nullptr);
  if (!bytes.empty()) CHECK_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

std::vector<uint8_t> Bytes(const shm::Mapping& m) { return std::vector<uint8_t>(m.base, m.base + m.size); }

shm::OpenOptions Create(uint32_t capacity) {
  shm::OpenOptions o;
  o.create = true;
  o.capacity = capacity;
  o.max_message = 1u << 20;
  o.codec = 1;
  o.mode = 0600;
  return o;
}

void ConcurrentCreate(const std::string& dir) {
  for (int round = 0; round < 20; ++round) {
    const std::string path = dir + "/race-" + std::to_string(round);
    constexpr int kThreads = 8;
    std::vector<shm::OpenResult> results(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        results[t] = shm::Open(path, Create(4096));
      });
    }
    for (auto& th : threads) th.join();
    int created = 0;
    for (auto& r : results) {
      CHECK_EQ(r.code, shm::Code::kOk);
      CHECK_EQ(r.info.capacity, 4096u);
      created += r.created ? 1 : 0;
    }
    CHECK_EQ(created, 1);
    // One file: a word written through one mapping is read through every other.
    detail::StoreRelease(results[0].mapping->base, layout::kTailOffset, 0x1234u * uint32_t(round + 1));
    for (auto& r : results) CHECK_EQ(detail::LoadAcquire(r.mapping->base, layout::kTailOffset), 0x1234u * uint32_t(round + 1));
    struct stat st {};
    CHECK_EQ(stat(path.c_str(), &st), 0);
    CHECK_EQ(int(st.st_mode & 0777), 0600);
    CHECK_EQ(uint64_t(st.st_size), uint64_t(layout::TotalBytes(4096)));
    CHECK_EQ(shm::Unlink(path, true).code, shm::Code::kOk);
  }
}

void BadFiles(const std::string& dir) {
  const std::string good = dir + "/good";
  auto made = shm::Open(good, Create(1024));
  CHECK_EQ(made.code, shm::Code::kOk);
  const std::vector<uint8_t> valid = Bytes(*made.mapping);
  auto with_word = [&](size_t off, uint32_t v) {
    auto b = valid;
    std::memcpy(b.data() + off, &v, 4);
    return b;
  };
  std::vector<std::vector<uint8_t>> cases = {
      {},
      std::vector<uint8_t>(100, 0x41),
      std::vector<uint8_t>(layout::TotalBytes(1024), 0),
      std::vector<uint8_t>(valid.begin(), valid.begin() + 1023),
      std::vector<uint8_t>(valid.begin(), valid.end() - 8),
      with_word(layout::kVersionOffset, layout::kVersion + 1),
      with_word(layout::kVersionOffset, 1),  // the layout before thread-level roles and stream epochs
      with_word(layout::kCapacityOffset, 4096),
      with_word(layout::kCapacityOffset, 1000),
      with_word(layout::kCapacityOffset, 0x80000000u),
      with_word(layout::kDataOffsetOffset, 0),
  };
  auto longer = valid;
  longer.resize(valid.size() + 4096);
  cases.push_back(longer);
  test::Rng rng(7);
  for (int k = 0; k < 200; ++k) {
    std::vector<uint8_t> g(rng.Below(8192));
    for (auto& x : g) x = uint8_t(rng.Next());
    if (g.size() >= 8 && rng.OneIn(2)) std::memcpy(g.data(), &layout::kMagic, 4);
    cases.push_back(std::move(g));
  }
  const std::string bad = dir + "/bad";
  for (size_t k = 0; k < cases.size(); ++k) {
    WriteFile(bad, cases[k]);
    shm::OpenOptions o;  // open only, and also with create (an existing bad file is never replaced)
    auto r = shm::Open(bad, o);
    CHECK_EQ(r.code, shm::Code::kNotAChannel);
    CHECK(r.mapping == nullptr);
    CHECK_EQ(shm::Open(bad, Create(1024)).code, shm::Code::kNotAChannel);
  }
  CHECK_EQ(shm::Open(dir, shm::OpenOptions{}).code, shm::Code::kNotAChannel);  // a directory
  CHECK_EQ(shm::Open(dir + "/missing", shm::OpenOptions{}).code, shm::Code::kNotFound);
  CHECK_EQ(shm::Open(dir + "/no/such/dir/x", Create(1024)).code, shm::Code::kSystem);
  // A symlink at a name is refused when no_follow is set.
  const std::string link = dir + "/link";
  CHECK_EQ(symlink(good.c_str(), link.c_str()), 0);
  shm::OpenOptions nf;
  nf.no_follow = true;
  CHECK_EQ(shm::Open(link, nf).code, shm::Code::kNotAChannel);
  CHECK_EQ(shm::Open(link, shm::OpenOptions{}).code, shm::Code::kOk);
  // Unlink checks the magic when asked.
  WriteFile(bad, std::vector<uint8_t>(64, 0x41));
  CHECK_EQ(shm::Unlink(bad, true).code, shm::Code::kNotAChannel);
  CHECK_EQ(shm::Unlink(bad, false).code, shm::Code::kOk);
  CHECK_EQ(shm::Unlink(bad, false).code, shm::Code::kNotFound);
  CHECK_EQ(shm::Unlink(link, false).code, shm::Code::kOk);
  CHECK_EQ(shm::Unlink(good, true).code, shm::Code::kOk);
}

void Liveness(const std::string& dir) {
  shm::ProcInfo self = shm::Probe(int32_t(getpid()));
  CHECK(self.alive);
  CHECK(self.start_known);
  CHECK(self.start > 0);
  CHECK(!shm::Probe(0).alive);
  CHECK(!shm::Probe(-5).alive);
  CHECK(!shm::Probe(0x7fffffff).alive);
  // A child that has exited and been reaped is dead; one that has exited but not been reaped (a
  // zombie) is dead too.
  pid_t child = fork();
  if (child == 0) _exit(0);
  for (int k = 0; k < 1000 && shm::Probe(child).alive; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(!shm::Probe(child).alive);  // zombie until waited for
  int status = 0;
  CHECK_EQ(waitpid(child, &status, 0), child);
  CHECK(!shm::Probe(child).alive);

  auto r = shm::Open(dir + "/roles", Create(1024));
  CHECK_EQ(r.code, shm::Code::kOk);
  uint8_t* base = r.mapping->base;
  // Records `tid` as the sender the way a claimant does (lib/core/roles.ts): echo cleared, start, pid, echo.
  auto record = [base](int32_t tid, uint64_t start) {
    detail::StoreRelease(base, layout::kSenderEchoOffset, 0);
    detail::StoreRelease(base, layout::kSenderStartOffset, uint32_t(start));
    detail::StoreRelease(base, layout::kSenderStartOffset + 4, uint32_t(start >> 32));
    detail::StoreRelease(base, layout::kSenderPidOffset, uint32_t(getpid()));
    detail::StoreRelease(base, layout::kSenderOwnerOffset, uint32_t(tid));
    detail::StoreRelease(base, layout::kSenderEchoOffset, uint32_t(tid));
  };
  // A second thread of this process holds the role: alive while it runs, dead once it has ended
  // although the process lives on.
  std::atomic<int32_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread holder([&] {
    tid.store(int32_t(gettid()));
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (tid.load() == 0) std::this_thread::yield();
  shm::ProcInfo t = shm::Probe(tid.load());
  CHECK(t.alive && t.start_known);
  // Identity not complete (echo differs): alive whatever the start words say.
  detail::StoreRelease(base, layout::kSenderOwnerOffset, uint32_t(tid.load()));
  CHECK(!shm::HolderDead(base, 0, tid.load()));
  record(tid.load(), t.start);
  CHECK(!shm::HolderDead(base, 0, tid.load()));
  // The same tid with another start time: a different thread reused it, so the holder is dead.
  record(tid.load(), t.start + 1);
  CHECK(shm::HolderDead(base, 0, tid.load()));
  record(tid.load(), t.start);
  stop.store(true);
  holder.join();
  bool gone = false;
  for (int k = 0; k < 1000 && !(gone = shm::HolderDead(base, 0, tid.load())); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(gone);
  CHECK(shm::HolderDead(base, 1, child));
  CHECK(shm::HolderDead(base, 1, -1));
  CHECK_EQ(shm::Unlink(dir + "/roles", true).code, shm::Code::kOk);
}

void Futex(const std::string& dir) {
  auto r = shm::Open(dir + "/futex", Create(1024));
  CHECK_EQ(r.code, shm::Code::kOk);
  auto* word = reinterpret_cast<uint32_t*>(r.mapping->base + layout::kTailOffset);
  // A value that differs returns at once; an unchanged one times out.
  CHECK_EQ(futex::Wait(word, 99, 1000000000), futex::WaitResult::kNotEqual);
  CHECK_EQ(futex::Wait(word, 0, 2000000), futex::WaitResult::kTimedOut);
  // A second mapping of the same file wakes a sleeper on the first (the shared key is the file),
  // with one wake: the sleeper is either queued on the futex or sees the new value when it tries.
  // Timed: woken within kWake of the store and wake, far below its deadline (kDeadline), where a
  // sleeper whose wake was lost would find the new value and return as if woken.
  constexpr auto kWake = std::chrono::milliseconds(200);
  constexpr auto kDeadline = std::chrono::milliseconds(2000);
  auto other = shm::Open(dir + "/futex", shm::OpenOptions{});
  CHECK_EQ(other.code, shm::Code::kOk);
  auto* other_word = reinterpret_cast<uint32_t*>(other.mapping->base + layout::kTailOffset);
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> parked{false};
  std::atomic<Clock::rep> woke_at{0};
  std::thread sleeper([&] {
    const auto deadline = Clock::now() + kDeadline;
    // Relaxed: only tells the waker the sleeper is about to wait; the futex's value check, not this
    // flag, is what makes the wake safe.
    parked.store(true, std::memory_order_relaxed);
    for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
      // Acquire: pairs with the waker's release store of the word.
      if (std::atomic_ref<uint32_t>(*word).load(std::memory_order_acquire) != 0) break;
      futex::Wait(word, 0, std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
    }
    woke_at.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);  // read after join()
  });
  // Bounded poll for the sleeper to park (no sleep "long enough"); 5 s on a loaded machine.
  for (int k = 0; k < 50000 && !parked.load(std::memory_order_relaxed); ++k) std::this_thread::sleep_for(std::chrono::microseconds(100));
  CHECK(parked.load(std::memory_order_relaxed));
  const auto woken = Clock::now();
  // Release: the sleeper's acquire load of the word sees 1 after it wakes.
  std::atomic_ref<uint32_t>(*other_word).store(1, std::memory_order_release);
  futex::Wake(other_word);
  sleeper.join();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::duration(woke_at.load(std::memory_order_relaxed)) - woken.time_since_epoch()).count();
  if (ms >= kWake.count()) {
    ringwire::test::Fail(__FILE__, __LINE__, "the futex sleeper woke " + std::to_string(ms) + " ms after the wake (bound " + std::to_string(kWake.count()) + " ms: a lost wake?)");
  }
  CHECK_EQ(shm::Unlink(dir + "/futex", true).code, shm::Code::kOk);
}

}  // namespace

int main() {
  const std::string dir = Dir();
  ConcurrentCreate(dir);
  BadFiles(dir);
  Liveness(dir);
  Futex(dir);
  rmdir(dir.c_str());
  std::printf("shm_files: ok\n");
  return 0;
}
