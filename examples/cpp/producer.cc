// producer.cc: the C++ twin of the README's producer.mjs. Sends {"i":0} ... {"i":999} on the
// channel 'orders' and ends the stream. The channel's codec is 'json': Node's consumer decodes each
// message as JSON, so the C++ side sends JSON text (it neither parses nor produces JSON itself).
#include <cstdio>
#include <string>

#include <ringwire/ringwire.hpp>

namespace rw = ringwire::api;

static int Fail(const rw::Error& e) {
  std::fprintf(stderr, "producer: %s: %s\n", rw::CodeName(e.code), e.message.c_str());
  return 1;
}

int main(int argc, char** argv) {
  rw::ChannelOptions options;
  options.create = true;  // whoever starts first creates the channel
  options.codec = rw::Codec::kJson;
  auto channel = rw::Channel::Open(argc > 1 ? argv[1] : "orders", options);  // /dev/shm/ringwire-orders
  if (!channel) return Fail(channel.error());
  auto tx = channel->ClaimSender();
  if (!tx) return Fail(tx.error());
  for (int i = 0; i < 1000; i++) {
    const std::string order = "{\"i\":" + std::to_string(i) + "}";
    if (auto sent = tx->Send(order); !sent) return Fail(sent.error());  // blocks while the ring is full
  }
  tx->Close();  // the consumer gets every message, then the end
  return 0;
}
