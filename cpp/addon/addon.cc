// Module entry: constants (checked against lib/core/layout.ts by a test), error class
// registration (common.cc), and the bindings of the other files in this folder.
#include "addon.h"

#include "ring/layout.h"
#include "ring/ring.h"

namespace ringwire::addon {

namespace {

Napi::Object Constants(Napi::Env env) {
  using namespace layout;
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double v) { c.Set(name, Napi::Number::New(env, v)); };
  set("MAGIC", kMagic);
  set("VERSION", kVersion);
  set("REGION", kRegion);
  set("HEADER_OFFSET", kHeaderOffset);
  set("TX_STATS_OFFSET", kTxStatsOffset);
  set("RX_STATS_OFFSET", kRxStatsOffset);
  set("TAIL_OFFSET", kTailOffset);
  set("FRAG_IN_PROGRESS_OFFSET", kFragInProgressOffset);
  set("HEAD_OFFSET", kHeadOffset);
  set("PARK_OFFSET", kParkOffset);
  set("CONTROL_BYTES", kControlBytes);
  set("MAGIC_OFFSET", kMagicOffset);
  set("VERSION_OFFSET", kVersionOffset);
  set("CAPACITY_OFFSET", kCapacityOffset);
  set("DATA_OFFSET_OFFSET", kDataOffsetOffset);
  set("MAX_MESSAGE_OFFSET", kMaxMessageOffset);
  set("CODEC_OFFSET", kCodecOffset);
  set("CLOSED_OFFSET", kClosedOffset);
  set("SENDER_OWNER_OFFSET", kSenderOwnerOffset);
  set("RECEIVER_OWNER_OFFSET", kReceiverOwnerOffset);
  set("SENDER_PID_OFFSET", kSenderPidOffset);
  set("RECEIVER_PID_OFFSET", kReceiverPidOffset);
  set("SENDER_START_OFFSET", kSenderStartOffset);
  set("RECEIVER_START_OFFSET", kReceiverStartOffset);
  set("SENDER_CLOSED", kSenderClosed);
  set("RECEIVER_CLOSED", kReceiverClosed);
  set("END_SEEN", kEndSeen);
  set("CLOSED_BITS", kClosedBits);
  set("EPOCH_SHIFT", kEpochShift);
  set("STREAM_START_OFFSET", kStreamStartOffset);
  set("SENDER_ECHO_OFFSET", kSenderEchoOffset);
  set("RECEIVER_ECHO_OFFSET", kReceiverEchoOffset);
  set("STREAM_START_EPOCH_OFFSET", kStreamStartEpochOffset);
  set("RX_EPOCH_OFFSET", kRxEpochOffset);
  set("RX_PARKED_OFFSET", kRxParkedOffset);
  set("TX_PARKED_OFFSET", kTxParkedOffset);
  set("STAT_SEQ", kStatSeq);
  set("STAT_MESSAGES", kStatMessages);
  set("STAT_BYTES", kStatBytes);
  set("STAT_FULL", kStatFull);
  set("STAT_PARKS", kStatParks);
  set("STATS_BYTES", kStatsBytes);
  set("RECORD_HEADER_BYTES", kRecordHeaderBytes);
  set("RECORD_ALIGN", kRecordAlign);
  set("TYPE_PAD", kTypePad);
  set("TYPE_MESSAGE", kTypeMessage);
  set("TYPE_FRAG_FIRST", kTypeFragFirst);
  set("TYPE_FRAG_MIDDLE", kTypeFragMiddle);
  set("TYPE_FRAG_LAST", kTypeFragLast);
  set("FRAG_PREFIX_BYTES", kFragPrefixBytes);
  set("MIN_FRAGMENT_ROOM", kMinFragmentRoom);
  set("MIN_CAPACITY", kMinCapacity);
  set("MAX_CAPACITY", kMaxCapacity);
  return c;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new EnvData());  // freed by Node when this environment (thread) goes away
  exports.Set("constants", Constants(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClasses, "setErrorClass"));
  Napi::Object status = Napi::Object::New(env);
  status.Set("OK", int32_t(Status::kOk));
  status.Set("FULL", int32_t(Status::kFull));
  status.Set("EMPTY", int32_t(Status::kEmpty));
  status.Set("TOO_LARGE", int32_t(Status::kTooLarge));
  status.Set("CORRUPT", int32_t(Status::kCorrupt));
  exports.Set("status", status);
  InitShmBindings(env, exports);
  InitLogBindings(env, exports);
  return exports;
}

}  // namespace ringwire::addon

static Napi::Object InitRingwire(Napi::Env env, Napi::Object exports) { return ringwire::addon::Init(env, exports); }
NODE_API_MODULE(ringwire, InitRingwire)
