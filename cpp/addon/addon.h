// Shared pieces of the Node-API glue (common.cc): per-environment state (no process-wide globals,
// so the addon loads in every worker thread) and errors that are instances of lib/errors.ts classes.
#pragma once

#include <napi.h>

#include <string>

namespace ringwire::addon {

// One per environment (thread), set by the module's Init (SetInstanceData).
struct EnvData {
  // lib/errors.ts RingwireError, RingwireTypeError, RingwireRangeError, set by setErrorClass().
  Napi::FunctionReference error_class, type_error_class, range_error_class;
};

// A RingwireError(code, message) when the JS class was registered, else an Error with `code`.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);
// A bad argument: RingwireTypeError (ERR_INVALID_ARG) / RingwireRangeError (ERR_OUT_OF_RANGE),
// or a TypeError / RangeError with that code before the classes are registered.
Napi::Error ArgTypeError(Napi::Env env, const std::string& message);
Napi::Error ArgRangeError(Napi::Env env, const std::string& message);
// setErrorClass(RingwireError, RingwireTypeError, RingwireRangeError), exported by both addons.
Napi::Value SetErrorClasses(const Napi::CallbackInfo& info);

// Returns the Uint8Array argument `index` or throws a TypeError naming `what`.
Napi::Uint8Array Uint8ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* what);
// Returns the non-negative integer argument `index` (<= max) or throws naming `what`.
uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* what, uint32_t max = UINT32_MAX);

// Detaches the mapping's ArrayBuffer (every JS view of it becomes empty) and drops the reference;
// idempotent. Called before the memory is unmapped.
void DetachBuffer(Napi::Reference<Napi::ArrayBuffer>& buffer);

void InitShmBindings(Napi::Env env, Napi::Object exports);  // shm_binding.cc: mapped channel files
void InitLogBindings(Napi::Env env, Napi::Object exports);  // log_binding.cc: exports.log

}  // namespace ringwire::addon
