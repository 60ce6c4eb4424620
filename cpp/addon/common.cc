// The Node-API glue both addons share (this one and the test-only one, test/native/addon): errors
// that are instances of the JS error classes of lib/errors.ts, each with a code, and argument checks.
#include "addon.h"

namespace ringwire::addon {

namespace {

// An instance of the registered class `cls` built from `args`, or a plain `Fallback` with `code`.
template <class Fallback>
Napi::Error Coded(Napi::Env env, const Napi::FunctionReference& cls, std::initializer_list<napi_value> args,
                  const char* code, const std::string& message) {
  if (!cls.IsEmpty()) return Napi::Error(env, cls.New(args));
  Napi::Error err = Fallback::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

EnvData& Data(Napi::Env env) { return *env.GetInstanceData<EnvData>(); }

}  // namespace

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  return Coded<Napi::Error>(env, Data(env).error_class, {Napi::String::New(env, code), Napi::String::New(env, message)}, code,
                            message);
}

Napi::Error ArgTypeError(Napi::Env env, const std::string& message) {
  return Coded<Napi::TypeError>(env, Data(env).type_error_class, {Napi::String::New(env, message)}, "ERR_INVALID_ARG", message);
}

Napi::Error ArgRangeError(Napi::Env env, const std::string& message) {
  return Coded<Napi::RangeError>(env, Data(env).range_error_class,
                                 {Napi::String::New(env, "ERR_OUT_OF_RANGE"), Napi::String::New(env, message)},
                                 "ERR_OUT_OF_RANGE", message);
}

Napi::Uint8Array Uint8ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw ArgTypeError(info.Env(), std::string(what) + " must be a Uint8Array");
  }
  return info[index].As<Napi::Uint8Array>();
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* what, uint32_t max) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw ArgTypeError(info.Env(), std::string(what) + " must be a number");
  }
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= double(max)) || v != double(uint64_t(v))) {
    throw ArgRangeError(info.Env(), std::string(what) + " must be an integer from 0 to " + std::to_string(max) + ", got " +
                                        info[index].ToString().Utf8Value());
  }
  return uint32_t(v);
}

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  for (size_t i = 0; i < 3; ++i) {
    if (info.Length() <= i || !info[i].IsFunction()) {
      throw ArgTypeError(info.Env(), "setErrorClass(RingwireError, RingwireTypeError, RingwireRangeError): functions expected");
    }
  }
  EnvData& d = Data(info.Env());
  d.error_class = Napi::Persistent(info[0].As<Napi::Function>());
  d.type_error_class = Napi::Persistent(info[1].As<Napi::Function>());
  d.range_error_class = Napi::Persistent(info[2].As<Napi::Function>());
  return info.Env().Undefined();
}

void DetachBuffer(Napi::Reference<Napi::ArrayBuffer>& buffer) {
  if (buffer.IsEmpty()) return;
  Napi::ArrayBuffer ab = buffer.Value();
  if (!ab.IsDetached()) ab.Detach();
  buffer.Reset();
}

}  // namespace ringwire::addon
