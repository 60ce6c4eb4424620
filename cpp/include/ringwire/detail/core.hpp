// The one place where the public C++ API includes the ringwire core headers (layout, ring, channel
// files, futexes, log format and scan). When those headers move, only these paths change.
#pragma once

#include "shm/futex.h"
#include "ring/layout.h"
#include "log/format.h"
#include "log/scan.h"
#include "ring/ring.h"
#include "shm/shm.h"
