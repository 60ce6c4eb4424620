// The one place where the public C++ API includes the ringwire core headers (layout, ring, channel
// files, futexes, log format and scan). When those headers move, only these paths change.
#pragma once

#include "../../../futex.h"
#include "../../../layout.h"
#include "../../../log_format.h"
#include "../../../log_scan.h"
#include "../../../ring.h"
#include "../../../shm.h"
