// Errors of the C++ API: a status code (the same names as the TypeScript side's `code`s) with a
// message, and Result<T>, an std::expected-like value-or-error. No call of this API throws; a
// "full" or "empty" ring is a value (false, nothing received), never an error.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace ringwire::api {

enum class Errc : int32_t {
  kRoleTaken = 1,            // ERR_ROLE_TAKEN: the role is held by a live thread
  kChannelClosed,            // ERR_CHANNEL_CLOSED: this stream is over (closed, ended, or a new one started)
  kTimeout,                  // ERR_TIMEOUT
  kNotAChannel,              // ERR_NOT_A_CHANNEL: the file is not a (valid, complete) channel
  kCorrupt,                  // ERR_CORRUPT: shared memory holds something the ring never writes
  kPeerDead,                 // ERR_PEER_DEAD: waiting on a peer whose thread ended
  kNoSuchChannel,            // ERR_NO_SUCH_CHANNEL
  kChannelMismatch,          // ERR_CHANNEL_MISMATCH: the file exists with other options
  kSystem,                   // ERR_SYSTEM: an OS call failed (sys_errno says which error)
  kMessageTooLarge,          // ERR_MESSAGE_TOO_LARGE: over the channel's maxMessageBytes
  kTooLargeForTrySend,       // ERR_TOO_LARGE_FOR_TRY_SEND: can only be streamed (Send)
  kReserve,                  // ERR_RESERVE: Commit/Abort without Reserve, or Send with one open
  kOutOfRange,               // ERR_OUT_OF_RANGE / ERR_INVALID_ARG: a bad option or argument
  kNotALog,                  // ERR_NOT_A_LOG
  kTooManyReaders,           // ERR_TOO_MANY_READERS: every reader slot of the log is held
  kLocked,                   // ERR_LOCKED: the log already has a writer (one per log)
};

inline const char* CodeName(Errc c) {
  switch (c) {
    case Errc::kRoleTaken: return "ERR_ROLE_TAKEN";
    case Errc::kChannelClosed: return "ERR_CHANNEL_CLOSED";
    case Errc::kTimeout: return "ERR_TIMEOUT";
    case Errc::kNotAChannel: return "ERR_NOT_A_CHANNEL";
    case Errc::kCorrupt: return "ERR_CORRUPT";
    case Errc::kPeerDead: return "ERR_PEER_DEAD";
    case Errc::kNoSuchChannel: return "ERR_NO_SUCH_CHANNEL";
    case Errc::kChannelMismatch: return "ERR_CHANNEL_MISMATCH";
    case Errc::kSystem: return "ERR_SYSTEM";
    case Errc::kMessageTooLarge: return "ERR_MESSAGE_TOO_LARGE";
    case Errc::kTooLargeForTrySend: return "ERR_TOO_LARGE_FOR_TRY_SEND";
    case Errc::kReserve: return "ERR_RESERVE";
    case Errc::kOutOfRange: return "ERR_OUT_OF_RANGE";
    case Errc::kNotALog: return "ERR_NOT_A_LOG";
    case Errc::kTooManyReaders: return "ERR_TOO_MANY_READERS";
    case Errc::kLocked: return "ERR_LOCKED";
  }
  return "ERR_UNKNOWN";
}

struct Error {
  Errc code;
  std::string message;
  int sys_errno = 0;
};

// A value or an Error. value() / operator* on an error (or error() on a value) is a precondition
// violation, as with std::expected: check ok() first.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::kSystem, {}};
  bool failed_ = false;
};

inline Error MakeError(Errc code, std::string message, int sys_errno = 0) { return Error{code, std::move(message), sys_errno}; }

}  // namespace ringwire::api
