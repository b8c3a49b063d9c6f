// Thin device id allocation policy (pure). The pool stores only 24-bit device ids; strata picks
// them (create_thin / create_snap take the id from the caller).
//
// Why monotonic and not "lowest free": an id whose `delete` has not been confirmed, or that a
// crashed operation left in the pool, may still name live data. Handing out a just-freed id
// again (containerd reuses the lowest free id first) turns every such race into EEXIST or, worse,
// into a record pointing at someone else's blocks (containerd#5110). A counter that only moves
// forward never reuses an id within a pool's life until it wraps after 0xffffff, 16.7 million
// creations later; after the wrap, ids still in use are skipped.
//
// The counter itself (the last id handed out) is persisted by the pool code, in the same store
// transaction as the intent record of the operation that uses the id, and a new pool's counter
// starts at 0, so the first id is 1 (id 0 is reached only after a wrap-around).
#pragma once

#include <cstdint>
#include <set>

#include "core/result.h"

namespace strata::thinpool {

// The largest dm-thin device id (MAX_DEV_ID = 2^24 - 1).
inline constexpr uint32_t kMaxThinId = 0xffffff;
inline constexpr uint64_t kThinIdCount = uint64_t{kMaxThinId} + 1;

// OK for 0..0xffffff; EINVAL naming the id otherwise.
Status ValidateThinId(uint32_t thin_id);

// The next id to use after `last_allocated`: the first id after it, in increasing order and
// wrapping from 0xffffff to 0, that is not in `in_use`.
//   `in_use` must hold every id the pool may still know: ids of live records, ids quarantined
//   until their `delete` is confirmed, ids of open journal operations, and ids found by a census
//   of the pool (orphans). The caller persists the returned id as the new `last_allocated`
//   before sending the kernel message.
// Errors: EINVAL if `last_allocated` or an id in `in_use` exceeds 0xffffff; ENOSPC when all
// 2^24 ids are in use.
Result<uint32_t> NextThinId(uint32_t last_allocated, const std::set<uint32_t>& in_use);

// The same policy over the id space 0..max_id (NextThinId is NextId(..., kMaxThinId)). Lets
// tests exercise wrap-around and exhaustion on a small space.
Result<uint32_t> NextId(uint32_t last_allocated, const std::set<uint32_t>& in_use,
                        uint32_t max_id);

}  // namespace strata::thinpool
