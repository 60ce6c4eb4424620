// consumer.cc: the C++ twin of the README's consumer.mjs. Prints each message on the channel
// 'orders' (JSON text: the channel's codec is 'json') until the sender ends the stream.
#include <cstdio>
#include <string>

#include <ringwire/ringwire.hpp>

namespace rw = ringwire::api;

static int Fail(const rw::Error& e) {
  std::fprintf(stderr, "consumer: %s: %s\n", rw::CodeName(e.code), e.message.c_str());
  return 1;
}

int main(int argc, char** argv) {
  rw::ChannelOptions options;
  options.create = true;  // whoever starts first creates the channel
  options.codec = rw::Codec::kJson;
  auto channel = rw::Channel::Open(argc > 1 ? argv[1] : "orders", options);
  if (!channel) return Fail(channel.error());
  auto rx = channel->ClaimReceiver();
  if (!rx) return Fail(rx.error());
  std::string order;
  for (;;) {
    auto got = rx->Recv(order);  // blocks until a message arrives (kForever)
    if (!got && got.error().code == rw::Errc::kChannelClosed) break;  // the sender closed: the end
    if (!got) return Fail(got.error());
    std::printf("%s\n", order.c_str());
  }
  return 0;
}
