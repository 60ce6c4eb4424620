// Shared pieces of the Node-API glue: per-environment state (no process-wide globals, so the
// addon loads in every worker thread) and errors that are instances of the JS RingwireError.
#pragma once

#include <napi.h>

#include <string>

namespace ringwire::addon {

struct EnvData {
  Napi::FunctionReference error_class;  // lib/errors.ts RingwireError, set by setErrorClass()
};

// A RingwireError(code, message) when the JS class was registered, else an Error with `code`.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);

// Returns the Uint8Array argument `index` or throws a TypeError naming `what`.
Napi::Uint8Array Uint8ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* what);
// Returns the non-negative integer argument `index` (<= max) or throws naming `what`.
uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* what, uint32_t max = UINT32_MAX);

void InitRingBindings(Napi::Env env, Napi::Object exports);
void InitShmBindings(Napi::Env env, Napi::Object exports);  // shm_binding.cc: mapped channel files
void InitLogBindings(Napi::Env env, Napi::Object exports);  // log_binding.cc: exports.log

}  // namespace ringwire::addon
