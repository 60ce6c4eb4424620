// The test-only addon (never shipped): NativeProducer / NativeConsumer, the C++ ring driven from JS
// over memory JS owns (a SharedArrayBuffer view), to prove the C++ and TS rings interoperate
// (produce/consume run whole sequence loops in one call), and initRing. They claim no role, so
// they do not belong in the package: any code could attach a second producer to a live channel.
// Built by scripts/test-native.mjs (test/native/addon/CMakeLists.txt), loaded by
// test/helpers/testing-addon.ts and the fixtures through test/fixtures/testing-addon.mjs.
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "addon.h"
#include "ring/park.h"
#include "ring/ring.h"
#include "sequence.h"  // test/native/sequence.h

namespace ringwire::addon {
namespace {

// Validates the ring in `mem` and keeps `mem` (and so its buffer) alive while the wrapper lives.
uint8_t* AttachRing(const Napi::CallbackInfo& info, Napi::Reference<Napi::Uint8Array>* keep, RingInfo* ring) {
  Napi::Uint8Array mem = Uint8ArrayArg(info, 0, "memory");
  Status st = CheckRing(mem.Data(), mem.ByteLength(), ring);
  if (st != Status::kOk) {
    throw MakeError(info.Env(), "ERR_NOT_A_CHANNEL",
                    "memory does not hold a ringwire ring (bad magic, version, capacity or size)");
  }
  *keep = Napi::Persistent(mem);
  return mem.Data();
}

// The reference keeps the view alive, not its memory: a non-shared ArrayBuffer can be detached
// (transferred to a worker, structuredClone) and its bytes freed or handed to another owner. Every
// call checks the view still has the memory the ring was built on.
void CheckAttached(const Napi::CallbackInfo& info, const Napi::Reference<Napi::Uint8Array>& keep, const uint8_t* base) {
  Napi::Uint8Array mem = keep.Value();
  if (mem.Data() != base || mem.ByteLength() < layout::kControlBytes) {
    throw MakeError(info.Env(), "ERR_CHANNEL_CLOSED", "the ring's memory was detached (its ArrayBuffer was transferred)");
  }
}

// park(sleepMs): one round of the park protocol (cpp/ring/park.h) for this side, sleeping up to
// sleepMs while the peer's position still holds what it was. The sleep polls: a JS peer on a
// SharedArrayBuffer wakes with Atomics.notify, which a C++ thread cannot hear (the driver wakes a
// parked JS peer itself, after consumerParked() / producerParked()).
template <class ParkSide>
void ParkFor(const Napi::CallbackInfo& info, uint8_t* base, ParkSide park_side) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(Uint32Arg(info, 0, "sleepMs", 1000));
  park_side(
      base, [] { return false; },
      [end](uint32_t* word, uint32_t seen) {
        // Acquire: the peer's position, published with release.
        while (std::atomic_ref<uint32_t>(*word).load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < end) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      });
}

struct SequenceArgs {
  uint32_t seed, min, max;
};
SequenceArgs SeqArgs(const Napi::CallbackInfo& info, size_t first) {
  // maxSize bounded by the largest ring: Produce allocates it, and no larger message ever fits.
  SequenceArgs a{Uint32Arg(info, first, "seed"), Uint32Arg(info, first + 1, "minSize"),
                 Uint32Arg(info, first + 2, "maxSize", layout::kMaxCapacity)};
  if (a.min > a.max) throw ArgRangeError(info.Env(), "minSize must be <= maxSize");
  return a;
}

class NativeProducer : public Napi::ObjectWrap<NativeProducer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeProducer",
                       {InstanceMethod<&NativeProducer::TryWrite>("tryWrite"),
                        InstanceMethod<&NativeProducer::Produce>("produce"),
                        InstanceMethod<&NativeProducer::ConsumerParked>("consumerParked"),
                        InstanceMethod<&NativeProducer::Park>("park")});
  }
  explicit NativeProducer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProducer>(info) {
    RingInfo ring;
    base_ = AttachRing(info, &mem_, &ring);
    producer_.emplace(base_);
  }

 private:
  // tryWrite(bytes) -> status: the whole message (fragmented if needed) or nothing.
  Napi::Value TryWrite(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    Napi::Uint8Array msg = Uint8ArrayArg(info, 0, "message");
    if (msg.ByteLength() > UINT32_MAX) throw ArgRangeError(info.Env(), "message is larger than 4 GiB");
    Status st = producer_->TryWriteMessage(msg.Data(), uint32_t(msg.ByteLength()));
    if (st == Status::kCorrupt) throw MakeError(info.Env(), "ERR_CORRUPT", "ring positions are inconsistent");
    return Napi::Number::New(info.Env(), int32_t(st));
  }

  // produce(first, count, seed, minSize, maxSize) -> how many sequence messages were written
  // (stops early when the ring is full).
  Napi::Value Produce(const Napi::CallbackInfo& info) {
    uint32_t first = Uint32Arg(info, 0, "first");
    uint32_t count = Uint32Arg(info, 1, "count");
    SequenceArgs a = SeqArgs(info, 2);
    CheckAttached(info, mem_, base_);
    scratch_.resize(a.max);
    uint32_t done = 0;
    for (; done < count; ++done) {
      uint32_t i = first + done;
      uint32_t size = sequence::Size(i, a.seed, a.min, a.max);
      sequence::Fill(scratch_.data(), size, i);
      Status st = producer_->TryWriteMessage(scratch_.data(), size);
      if (st == Status::kFull) break;
      if (st == Status::kCorrupt) throw MakeError(info.Env(), "ERR_CORRUPT", "ring positions are inconsistent");
      if (st != Status::kOk) throw MakeError(info.Env(), "ERR_MESSAGE_TOO_LARGE", "sequence message does not fit the ring");
    }
    return Napi::Number::New(info.Env(), done);
  }

  Napi::Value ConsumerParked(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    return Napi::Boolean::New(info.Env(), producer_->ConsumerParked());
  }

  Napi::Value Park(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    ParkFor(info, base_, [](auto... a) { return park::ParkProducer(a...); });
    return info.Env().Undefined();
  }

  Napi::Reference<Napi::Uint8Array> mem_;
  uint8_t* base_ = nullptr;
  std::optional<Producer> producer_;
  std::vector<uint8_t> scratch_;
};

class NativeConsumer : public Napi::ObjectWrap<NativeConsumer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeConsumer",
                       {InstanceMethod<&NativeConsumer::Read>("read"),
                        InstanceMethod<&NativeConsumer::Consume>("consume"),
                        InstanceMethod<&NativeConsumer::ProducerParked>("producerParked"),
                        InstanceMethod<&NativeConsumer::Park>("park")});
  }
  explicit NativeConsumer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeConsumer>(info) {
    RingInfo ring;
    base_ = AttachRing(info, &mem_, &ring);
    consumer_.emplace(base_);
    max_message_ = ring.max_message;
  }

 private:
  // read() -> Uint8Array (a copy of the next whole message) or null when none is complete yet.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    Status st = consumer_->ReadMessage(&buf_, max_message_);
    if (st == Status::kEmpty) return info.Env().Null();
    if (st != Status::kOk) throw MakeError(info.Env(), "ERR_CORRUPT", "the ring holds a malformed record");
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), buf_.size());
    std::copy(buf_.begin(), buf_.end(), out.Data());
    return out;
  }

  // consume(first, count, seed, minSize, maxSize) -> how many messages were read and verified as
  // sequence messages first, first+1, ... (stops early when the ring is empty; throws on mismatch).
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    uint32_t first = Uint32Arg(info, 0, "first");
    uint32_t count = Uint32Arg(info, 1, "count");
    SequenceArgs a = SeqArgs(info, 2);
    CheckAttached(info, mem_, base_);
    uint32_t done = 0;
    for (; done < count; ++done) {
      Status st = consumer_->ReadMessage(&buf_, max_message_);
      if (st == Status::kEmpty) break;
      if (st != Status::kOk) throw MakeError(info.Env(), "ERR_CORRUPT", "the ring holds a malformed record");
      uint32_t i = first + done;
      if (buf_.size() > UINT32_MAX || !sequence::Check(buf_.data(), uint32_t(buf_.size()), i, a.seed, a.min, a.max)) {
        throw MakeError(info.Env(), "ERR_SEQUENCE",
                        "message " + std::to_string(i) + " does not match the sequence (" + std::to_string(buf_.size()) + " bytes)");
      }
    }
    return Napi::Number::New(info.Env(), done);
  }

  Napi::Value ProducerParked(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    return Napi::Boolean::New(info.Env(), consumer_->ProducerParked());
  }

  Napi::Value Park(const Napi::CallbackInfo& info) {
    CheckAttached(info, mem_, base_);
    ParkFor(info, base_, [](auto... a) { return park::ParkConsumer(a...); });
    return info.Env().Undefined();
  }

  Napi::Reference<Napi::Uint8Array> mem_;
  uint8_t* base_ = nullptr;
  std::optional<Consumer> consumer_;
  std::vector<uint8_t> buf_;
  uint32_t max_message_ = 0;
};

Napi::Value InitRingMemory(const Napi::CallbackInfo& info) {
  Napi::Uint8Array mem = Uint8ArrayArg(info, 0, "memory");
  uint32_t capacity = Uint32Arg(info, 1, "capacity");
  uint32_t max_message = Uint32Arg(info, 2, "maxMessageBytes");
  uint32_t codec = Uint32Arg(info, 3, "codec");
  if (InitRing(mem.Data(), mem.ByteLength(), capacity, max_message, codec) != Status::kOk) {
    throw ArgRangeError(info.Env(), "capacity must be a power of two within the layout bounds and memory large enough");
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new EnvData());  // freed by Node when this environment (thread) goes away
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClasses, "setErrorClass"));
  exports.Set("NativeProducer", NativeProducer::Define(env));
  exports.Set("NativeConsumer", NativeConsumer::Define(env));
  exports.Set("initRing", Napi::Function::New(env, InitRingMemory, "initRing"));
  return exports;
}

}  // namespace

}  // namespace ringwire::addon

static Napi::Object InitTesting(Napi::Env env, Napi::Object exports) { return ringwire::addon::Init(env, exports); }
NODE_API_MODULE(ringwire_testing, InitTesting)
