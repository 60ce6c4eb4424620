// The C++ LogWriter and LogReader (cpp/include/ringwire) between threads, under the sanitizers like
// the rest of test/native: a follower thread reads every record while the writer appends across
// segment rolls (sequence, content, the wake of a parked follower), one writer per log (the lock),
// a reopened writer continues the sequence, and a damaged record is kCorrupt, not a crash. The
// cross-language tests (Node reads what C++ wrote and the reverse) are test/cpp/log.test.ts.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <ringwire/ringwire.hpp>

#include "harness.h"

namespace rw = ringwire::api;
using namespace std::chrono_literals;

namespace {

std::string Payload(uint32_t i) { return std::string(i % 300, char('a' + i % 26)) + std::to_string(i); }

void FollowWhileWriting(const std::string& dir) {
  const uint32_t kCount = 20000;
  rw::LogWriterOptions o;
  o.segment_bytes = 64 * 1024;
  o.codec = rw::Codec::kString;
  auto log = rw::LogWriter::Open(dir, o);
  CHECK(log.ok());
  CHECK(!rw::LogWriter::Open(dir, o).ok());  // one writer per log
  auto reader = rw::LogReader::Open(dir);
  CHECK(reader.ok());
  std::thread follower([&] {
    rw::LogEntry e;
    for (uint32_t i = 0; i < kCount; ++i) {
      auto r = reader->Follow(e, 20s);
      CHECK(r.ok());
      CHECK_EQ(e.sequence, uint64_t(i));
      CHECK(e.text() == Payload(i));
    }
  });
  for (uint32_t i = 0; i < kCount; ++i) {
    auto seq = log->Append(Payload(i));
    CHECK(seq.ok() && *seq == i);
    if (i % 4096 == 0) std::this_thread::sleep_for(1ms);  // let the follower catch up and park
  }
  follower.join();
  log->Close();
  auto again = rw::LogWriter::Open(dir);  // the lock went with Close; the sequence continues
  CHECK(again.ok() && again->next_sequence() == kCount);
}

void DamagedRecord(const std::string& dir) {
  {
    auto log = rw::LogWriter::Open(dir);
    CHECK(log.ok());
    for (int i = 0; i < 3; ++i) CHECK(log->Append(std::string_view("{\"ok\":true}")).ok());
  }
  const std::string segment = dir + "/" + ringwire::api::detail::SegmentName(0);
  FILE* f = std::fopen(segment.c_str(), "r+b");
  CHECK(f != nullptr);
  CHECK(std::fseek(f, ringwire::logfmt::kSegmentHeaderBytes + ringwire::logfmt::kRecordHeaderBytes + 1, SEEK_SET) == 0);
  CHECK(std::fputc('X', f) != EOF);
  std::fclose(f);
  auto reader = rw::LogReader::Open(dir);
  CHECK(reader.ok());
  rw::LogEntry e;
  auto r = reader->Read(e);
  CHECK(!r.ok() && r.error().code == rw::Errc::kCorrupt);
  CHECK(r.error().message.find(segment) != std::string::npos);
}

}  // namespace

int main() {
  const std::string root = "/tmp/ringwire-api-log-" + std::to_string(getpid());
  FollowWhileWriting(root + "/follow");
  DamagedRecord(root + "/damaged");
  std::filesystem::remove_all(root);
  std::printf("api_log: ok\n");
  return 0;
}
