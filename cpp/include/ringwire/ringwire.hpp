// ringwire for C++: the one include. Header-only, C++20, Linux; no dependency beyond the standard
// library. Native programs share channel files and logs with Node processes using ringwire.
//
//   ringwire::api::Channel    Open / Unlink a channel file; ClaimSender / ClaimReceiver
//   ringwire::api::Sender     TrySend, Send (blocking, timeout), Reserve/Commit/Abort, Close, Release
//   ringwire::api::Receiver   TryRecv, Recv (blocking, timeout), Drain, Close, Release
//   ringwire::api::LogReader  Open a log directory; Read, Follow (waits for the writer)
//   ringwire::api::LogWriter  Open (create) a log directory; Append, Flush, Close
//   ringwire::api::Result     value or Error{code, message}; no call throws
//
// README.md, "From C++", has a complete example (examples/cpp/).
#pragma once

#include "channel.hpp"
#include "log_reader.hpp"
#include "log_writer.hpp"
#include "result.hpp"
