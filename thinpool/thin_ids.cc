#include "thinpool/thin_ids.h"

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>

namespace strata::thinpool {
namespace {

// The first id >= `start` and <= `max_id` that is not in `in_use`, if any. Walks the run of
// consecutive used ids starting at `start`: O(length of that run), not O(id space).
std::optional<uint32_t> FirstFreeFrom(uint32_t start, const std::set<uint32_t>& in_use,
                                      uint32_t max_id) {
  uint64_t candidate = start;
  for (auto it = in_use.lower_bound(start); it != in_use.end() && *it == candidate; ++it) {
    ++candidate;
  }
  if (candidate > max_id) return std::nullopt;
  return static_cast<uint32_t>(candidate);
}

Error OutOfRange(std::string_view what, uint32_t id, uint32_t max_id) {
  return Error(EINVAL, std::string(what) + " " + std::to_string(id) + " is out of range (0 to " +
                           std::to_string(max_id) + ")");
}

}  // namespace

Status ValidateThinId(uint32_t thin_id) {
  if (thin_id > kMaxThinId) {
    return Error(EINVAL, "thin device id " + std::to_string(thin_id) +
                             " is out of range: ids are 24 bits (0 to 16777215)");
  }
  return Ok();
}

Result<uint32_t> NextId(uint32_t last_allocated, const std::set<uint32_t>& in_use,
                        uint32_t max_id) {
  if (last_allocated > max_id) return OutOfRange("last allocated id", last_allocated, max_id);
  if (!in_use.empty() && *in_use.rbegin() > max_id) {
    return OutOfRange("id in use", *in_use.rbegin(), max_id);
  }
  const uint64_t id_count = uint64_t{max_id} + 1;
  const Error exhausted(ENOSPC, "all " + std::to_string(id_count) + " ids are in use");
  if (in_use.size() >= id_count) return exhausted;
  const uint32_t start = last_allocated == max_id ? 0 : last_allocated + 1;
  if (auto id = FirstFreeFrom(start, in_use, max_id)) return *id;
  // Wrapped past max_id: continue from 0. Some id is free (fewer than max_id + 1 are used).
  if (auto id = FirstFreeFrom(0, in_use, max_id)) return *id;
  return exhausted;
}

Result<uint32_t> NextThinId(uint32_t last_allocated, const std::set<uint32_t>& in_use) {
  return NextId(last_allocated, in_use, kMaxThinId).Wrap("thin device id");
}

}  // namespace strata::thinpool
