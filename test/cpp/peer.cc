// A C++ peer for the cross-language tests (test/cpp/*.test.ts) and the bench (bench/cpp-peers.mjs),
// built on the public API (<ringwire/ringwire.hpp>). One program, several roles:
//
//   peer send  <channel> <first> <count> <sizes> <end: close|release>
//       sends sequence messages first .. first+count-1 (test/native/sequence.h) with Send (blocking,
//       fragmenting what does not fit one record), then closes the stream or releases the role.
//       <sizes> is "seed,min,max,every,bigmin,bigmax": message i has sequence::Size(i, seed, min,
//       max) bytes, except every `every`-th one (i % every == every - 1; every 0: none), which has
//       Size(i, seed, bigmin, bigmax): mostly small messages with a few large (fragmented) ones.
//   peer recv  <channel> <first|any> <count> <sizes> <report: 0|1|hold>
//       receives up to `count` messages (or until the end of the stream), checking that each is the
//       next sequence message ("any": the first one received sets the start); with report 1 it
//       writes each index to stdout as it is received (one write per message, unbuffered), so a
//       test that kills it knows what it had received. Last line: "done <received> <next index>".
//       With "hold" it reports too, and after the last message writes "holding" and sleeps (up to
//       a minute) without another receive call: the message in hand, for a test that kills it.
//   peer log   <dir> <count> <timeout ms>
//       follows the log in <dir> until `count` records were read; prints each record's sequence and
//       its text as "<sequence> <text>" lines.
//   peer log-write <dir> <count> <segment bytes>
//       appends records 0 .. count-1 to the log in <dir> (json codec), record i being the JSON text
//       {"i":i,"text":"record i record i ..."} ("record i " 1 + i % 17 times), as test/cpp/log.test.ts
//       builds them in Node; prints "done <next sequence>".
//   peer bench-producer <channel> <size> <count>  /  peer bench-consumer <channel> <size> <count>
//       the bench's peers (bench/workers/xproc-ringwire.mjs in C++): byte 0 of message i is i & 255;
//       the consumer prints "ready", then one JSON line { messages, seconds, bad }.
//
// Exit status: 0 done, 2 an API error (code and message on stderr), 3 a wrong message, 1 usage.
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <ringwire/ringwire.hpp>

#include "../native/sequence.h"

namespace rw = ringwire::api;
namespace seq = ringwire::sequence;

namespace {

[[noreturn]] void Die(const char* what, const rw::Error& e) {
  std::fprintf(stderr, "peer: %s: %s: %s\n", what, rw::CodeName(e.code), e.message.c_str());
  std::exit(2);
}

template <class T>
T Must(rw::Result<T> r, const char* what) {
  if (!r) Die(what, r.error());
  return std::move(r).value();
}

uint32_t Arg(char** argv, int k) { return uint32_t(std::strtoul(argv[k], nullptr, 10)); }

// The <sizes> argument (see the top of the file).
struct Sizes {
  uint32_t seed = 0, min = 0, max = 0, every = 0, bigmin = 0, bigmax = 0;
  explicit Sizes(const char* spec) {
    if (std::sscanf(spec, "%u,%u,%u,%u,%u,%u", &seed, &min, &max, &every, &bigmin, &bigmax) != 6) {
      std::fprintf(stderr, "peer: <sizes> must be seed,min,max,every,bigmin,bigmax, got %s\n", spec);
      std::exit(1);
    }
  }
  bool Big(uint32_t i) const { return every != 0 && i % every == every - 1; }
  uint32_t Size(uint32_t i) const { return Big(i) ? seq::Size(i, seed, bigmin, bigmax) : seq::Size(i, seed, min, max); }
  bool Check(const std::vector<uint8_t>& m, uint32_t i) const {
    return Big(i) ? seq::Check(m.data(), uint32_t(m.size()), i, seed, bigmin, bigmax) : seq::Check(m.data(), uint32_t(m.size()), i, seed, min, max);
  }
};

void WriteLine(const std::string& line) {
  // Unbuffered: a SIGKILL right after must not lose what was reported.
  const std::string s = line + "\n";
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(1, s.data() + done, s.size() - done);
    if (n <= 0) std::exit(2);
    done += size_t(n);
  }
}

int Send(char** argv) {
  auto channel = Must(rw::Channel::Open(argv[2]), "open");
  const uint32_t first = Arg(argv, 3), count = Arg(argv, 4);
  const Sizes sizes(argv[5]);
  const bool close = std::strcmp(argv[6], "close") == 0;
  auto tx = Must(channel.ClaimSender(), "claim sender");
  std::vector<uint8_t> buf;
  for (uint32_t i = first; i < first + count; ++i) {
    const uint32_t n = sizes.Size(i);
    buf.resize(n);
    seq::Fill(buf.data(), n, i);
    if (auto r = tx.Send(buf, std::chrono::seconds(30)); !r) Die("send", r.error());
  }
  if (close) tx.Close();
  else tx.Release();
  return 0;
}

int Recv(char** argv) {
  auto channel = Must(rw::Channel::Open(argv[2]), "open");
  const bool any = std::strcmp(argv[3], "any") == 0;
  uint32_t next = any ? 0 : Arg(argv, 3);
  const uint32_t count = Arg(argv, 4);
  const Sizes sizes(argv[5]);
  const bool hold = std::strcmp(argv[6], "hold") == 0;
  const bool report = hold || std::strcmp(argv[6], "1") == 0;
  auto rx = Must(channel.ClaimReceiver(), "claim receiver");
  std::vector<uint8_t> m;
  uint32_t received = 0;
  while (received < count) {
    auto r = rx.Recv(m, std::chrono::seconds(30));
    if (!r) {
      if (r.error().code == rw::Errc::kChannelClosed && rx.ended()) break;
      Die("recv", r.error());
    }
    if (any && received == 0 && m.size() >= 4) std::memcpy(&next, m.data(), 4);
    if (!sizes.Check(m, next)) {
      std::fprintf(stderr, "peer: message %" PRIu32 " (the %" PRIu32 "th received, %zu bytes) is not sequence message %" PRIu32 "\n", received, received,
                   m.size(), next);
      return 3;
    }
    if (report) WriteLine(std::to_string(next));
    ++next;
    ++received;
  }
  if (hold) {
    WriteLine("holding");
    std::this_thread::sleep_for(std::chrono::minutes(1));
  }
  rx.Release();
  WriteLine("done " + std::to_string(received) + " " + std::to_string(next));
  return 0;
}

int Log(char** argv) {
  auto reader = Must(rw::LogReader::Open(argv[2]), "open log");
  const uint32_t count = Arg(argv, 3);
  const auto timeout = std::chrono::milliseconds(Arg(argv, 4));
  rw::LogEntry e;
  std::string out;
  for (uint32_t k = 0; k < count; ++k) {
    if (auto r = reader.Follow(e, timeout); !r) Die("follow", r.error());
    out += std::to_string(e.sequence) + " " + std::string(e.text()) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int LogWrite(char** argv) {
  rw::LogWriterOptions o;
  o.segment_bytes = Arg(argv, 4);
  o.codec = rw::Codec::kJson;
  auto log = Must(rw::LogWriter::Open(argv[2], o), "open log writer");
  const uint32_t count = Arg(argv, 3);
  for (uint32_t i = 0; i < count; ++i) {
    std::string text;
    for (uint32_t k = 0; k < 1 + i % 17; ++k) text += "record " + std::to_string(i) + " ";
    Must(log.Append("{\"i\":" + std::to_string(i) + ",\"text\":\"" + text + "\"}"), "append");
  }
  WriteLine("done " + std::to_string(log.next_sequence()));
  return 0;
}

int BenchProducer(char** argv) {
  auto channel = Must(rw::Channel::Open(argv[2]), "open");
  const uint32_t size = Arg(argv, 3), count = Arg(argv, 4);
  auto tx = Must(channel.ClaimSender(), "claim sender");
  std::vector<uint8_t> msg(size, 0x5a);
  for (uint32_t i = 0; i < count; ++i) {
    msg[0] = uint8_t(i);
    auto sent = Must(tx.TrySend(msg), "trySend");
    if (!sent) {
      if (auto r = tx.Send(msg, std::chrono::seconds(60)); !r) Die("send", r.error());
    }
  }
  tx.Close();
  return 0;
}

int BenchConsumer(char** argv) {
  auto channel = Must(rw::Channel::Open(argv[2]), "open");
  const uint32_t size = Arg(argv, 3), count = Arg(argv, 4);
  auto rx = Must(channel.ClaimReceiver(), "claim receiver");
  WriteLine("ready");
  uint32_t got = 0, bad = 0;
  std::chrono::steady_clock::time_point t0{};
  std::vector<uint8_t> m;
  auto on_message = [&](std::span<const uint8_t> v) {
    if (v.size() != size || v[0] != uint8_t(got)) ++bad;
    ++got;
  };
  while (got < count) {
    const size_t n = Must(rx.Drain(on_message, 65536), "drain");
    if (n > 0) {
      if (t0 == std::chrono::steady_clock::time_point{}) t0 = std::chrono::steady_clock::now();
      continue;
    }
    // Empty: block (spin, then futex) for the next one.
    if (auto r = rx.Recv(m, std::chrono::seconds(60)); !r) Die("recv", r.error());
    if (t0 == std::chrono::steady_clock::time_point{}) t0 = std::chrono::steady_clock::now();
    on_message(m);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // The first message starts the clock: got - 1 messages in `seconds`.
  WriteLine("{\"messages\":" + std::to_string(got - 1) + ",\"seconds\":" + std::to_string(seconds) + ",\"bad\":" + std::to_string(bad) + "}");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "send" && argc == 7) return Send(argv);
  if (mode == "recv" && argc == 7) return Recv(argv);
  if (mode == "log" && argc == 5) return Log(argv);
  if (mode == "log-write" && argc == 5) return LogWrite(argv);
  if (mode == "bench-producer" && argc == 5) return BenchProducer(argv);
  if (mode == "bench-consumer" && argc == 5) return BenchConsumer(argv);
  std::fprintf(stderr, "usage: see the comment at the top of test/cpp/peer.cc\n");
  return 1;
}
