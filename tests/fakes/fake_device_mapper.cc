#include "tests/fakes/fake_device_mapper.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

namespace strata {
namespace {

using sys::DmTarget;

constexpr uint32_t kMaxThinId = 0xffffff;     // thin ids are 24 bits
constexpr uint64_t kBaseMetadataBlocks = 10;  // superblock, space maps, btree roots: a guess

Error Injected(int code, const std::string& what) {
  return Error(code, what + ": " + std::strerror(code) + " (injected)");
}

std::vector<std::string> Split(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

std::optional<uint64_t> ParseU64(const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

bool ParseInto(const std::string& text, uint64_t* out) {
  std::optional<uint64_t> v = ParseU64(text);
  if (v) *out = *v;
  return v.has_value();
}

bool HasWord(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The arguments of a target line that name other block devices.
std::vector<std::string> DeviceArgs(const DmTarget& t) {
  std::vector<std::string> args = Split(t.params);
  if (t.type == "thin-pool" && args.size() >= 2) return {args[0], args[1]};
  if (t.type == "thin" && args.size() >= 3) return {args[0], args[2]};
  if ((t.type == "linear" || t.type == "thin") && !args.empty()) return {args[0]};
  return {};
}

Error Invalid(const std::string& what, const std::string& why) {
  return Error(EINVAL, what + ": " + why);
}

}  // namespace

int FakeDeviceMapper::TakeFailure(const std::string& op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return 0;
  int code = it->second.front();
  it->second.pop_front();
  return code;
}

Result<FakeDeviceMapper::Device*> FakeDeviceMapper::Find(const std::string& name,
                                                         const std::string& what) {
  auto it = devices_.find(name);
  if (it == devices_.end()) return Error::FromErrno(ENXIO, what + " " + name);
  return &it->second;
}

std::string FakeDeviceMapper::Resolve(const std::string& dev_arg) const {
  const std::string prefix = std::string(sys::kDmNodeDir) + "/";
  if (dev_arg.rfind(prefix, 0) == 0) {
    std::string name = dev_arg.substr(prefix.size());
    return devices_.count(name) ? name : "";
  }
  std::string major_prefix = std::to_string(kFakeMajor) + ":";
  if (dev_arg.rfind(major_prefix, 0) != 0) return "";
  std::optional<uint64_t> minor = ParseU64(dev_arg.substr(major_prefix.size()));
  for (const auto& [name, dev] : devices_) {
    if (minor && dev.minor == *minor) return name;
  }
  return "";
}

int32_t FakeDeviceMapper::References(const std::string& name) const {
  int32_t count = 0;
  for (const auto& [other, dev] : devices_) {
    for (const auto* table : {&dev.active, &dev.inactive}) {
      if (other == name || !table->has_value()) continue;
      std::set<std::string> named;  // the kernel opens each device once per table
      for (const DmTarget& t : **table) {
        for (const std::string& arg : DeviceArgs(t)) named.insert(Resolve(arg));
      }
      count += static_cast<int32_t>(named.count(name));
    }
  }
  return count;
}

std::string FakeDeviceMapper::PoolKey(const std::string& pool) const {
  auto it = devices_.find(pool);
  if (it == devices_.end()) return "";
  const auto& table = it->second.active ? it->second.active : it->second.inactive;
  if (!table || table->empty() || table->front().type != "thin-pool") return "";
  std::vector<std::string> args = Split(table->front().params);
  return args.empty() ? "" : args[0];
}

const FakeDeviceMapper::Pool* FakeDeviceMapper::PoolOf(const std::string& pool) const {
  auto it = pools_.find(PoolKey(pool));
  return it == pools_.end() ? nullptr : &it->second;
}

FakeDeviceMapper::Pool* FakeDeviceMapper::MutablePool(const std::string& pool) {
  auto it = pools_.find(PoolKey(pool));
  return it == pools_.end() ? nullptr : &it->second;
}

void FakeDeviceMapper::SetPoolMode(const std::string& pool, PoolMode mode) {
  if (Pool* p = MutablePool(pool)) p->mode = mode;
}

void FakeDeviceMapper::SetPoolMetadataBlocks(const std::string& pool, uint64_t blocks) {
  if (Pool* p = MutablePool(pool)) p->total_metadata_blocks = blocks;
}

void FakeDeviceMapper::SetThinMappedBlocks(const std::string& pool, uint32_t thin_id,
                                           uint64_t blocks) {
  Pool* p = MutablePool(pool);
  if (p != nullptr && p->thins.count(thin_id)) p->thins[thin_id].mapped_blocks = blocks;
}

void FakeDeviceMapper::SetOpenCount(const std::string& name, int32_t n) {
  auto it = devices_.find(name);
  if (it == devices_.end()) return;
  it->second.open_count = n;
  if (n == 0 && it->second.deferred_remove && References(name) == 0) Erase(name);
}

void FakeDeviceMapper::Erase(const std::string& name) {
  used_minors_.erase(devices_.at(name).minor);
  devices_.erase(name);
  // Closing this device's tables may complete deferred removals of the devices they used.
  for (auto it = devices_.begin(); it != devices_.end();) {
    const Device& d = it->second;
    bool gone = d.deferred_remove && d.open_count == 0 && References(it->first) == 0;
    if (gone) used_minors_.erase(d.minor);
    it = gone ? devices_.erase(it) : std::next(it);
  }
}

Status FakeDeviceMapper::Create(const std::string& name, const std::string& uuid) {
  calls_.push_back("create " + name);
  if (int code = TakeFailure("create")) return Injected(code, "DM_DEV_CREATE " + name);
  if (name.empty() || name.size() > sys::kDmMaxNameLength || name.find('/') != std::string::npos ||
      uuid.size() > sys::kDmMaxUuidLength) {
    return Invalid("DM_DEV_CREATE " + name, "invalid name or uuid");
  }
  for (const auto& [other, dev] : devices_) {
    if (other == name || (!uuid.empty() && dev.uuid == uuid)) {
      return Error::FromErrno(EEXIST, "DM_DEV_CREATE " + name);
    }
  }
  uint32_t minor = 0;
  while (used_minors_.count(minor)) ++minor;  // the kernel hands out the lowest free minor
  used_minors_.insert(minor);
  Device& dev = devices_[name];
  dev.uuid = uuid;
  dev.minor = minor;
  return Ok();
}

// What the kernel's target constructors would reject.
Status FakeDeviceMapper::CheckTable(const std::vector<DmTarget>& table) {
  uint64_t next = 0;
  for (const DmTarget& t : table) {
    std::string what = "target " + t.type;
    if (!target_versions_.count(t.type)) return Invalid(what, "unknown target type");
    if (t.start_sectors != next || t.length_sectors == 0) return Invalid(what, "gap or empty");
    next = t.start_sectors + t.length_sectors;
    std::vector<std::string> args = Split(t.params);
    if (t.type == "thin-pool") {
      std::optional<uint64_t> block = args.size() >= 4 ? ParseU64(args[2]) : std::nullopt;
      if (!block || *block < 128 || *block > 2097152 || *block % 128 != 0) {
        return Invalid(what, "bad arguments \"" + t.params + "\"");
      }
      (void)pools_[args[0]];  // the constructor formats fresh metadata or opens existing
    } else if (t.type == "thin") {
      std::string pool_name = args.size() >= 2 ? Resolve(args[0]) : "";
      const Pool* pool = pool_name.empty() ? nullptr : PoolOf(pool_name);
      std::optional<uint64_t> id = args.size() >= 2 ? ParseU64(args[1]) : std::nullopt;
      if (pool == nullptr || !id) return Invalid(what, "no pool or bad id in \"" + t.params + "\"");
      if (!pool->thins.count(static_cast<uint32_t>(*id))) {
        return Error::FromErrno(ENODATA, what + ": thin id " + args[1]);
      }
    }
  }
  if (table.empty()) return Invalid("table", "no targets");
  return Ok();
}

Status FakeDeviceMapper::Load(const std::string& name, const std::vector<DmTarget>& table) {
  std::string types;
  for (const DmTarget& t : table) types += " " + t.type;
  calls_.push_back("load " + name + types);
  if (int code = TakeFailure("load")) return Injected(code, "DM_TABLE_LOAD " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_TABLE_LOAD"));
  STRATA_TRY(CheckTable(table).Wrap("DM_TABLE_LOAD " + name));
  dev->inactive = table;
  return Ok();
}

Status FakeDeviceMapper::Suspend(const std::string& name, sys::DmFlush flush,
                                 sys::DmLockFs lockfs) {
  calls_.push_back("suspend " + name + (flush == sys::DmFlush::kNoFlush ? " noflush" : "") +
                   (lockfs == sys::DmLockFs::kSkipLockFs ? " skiplockfs" : ""));
  if (int code = TakeFailure("suspend")) return Injected(code, "DM_DEV_SUSPEND " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_DEV_SUSPEND"));
  dev->suspended = true;  // suspending a suspended device is not an error
  return Ok();
}

Status FakeDeviceMapper::Resume(const std::string& name) {
  calls_.push_back("resume " + name);
  if (int code = TakeFailure("resume")) return Injected(code, "resume " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "resume"));
  if (dev->inactive) {
    dev->active = std::move(dev->inactive);
    dev->inactive.reset();
  }
  dev->suspended = false;
  ++dev->event_nr;
  return Ok();
}

Status FakeDeviceMapper::Remove(const std::string& name, sys::DmRemove mode) {
  bool deferred = mode == sys::DmRemove::kDeferred;
  calls_.push_back("remove " + name + (deferred ? " deferred" : ""));
  if (int code = TakeFailure("remove")) return Injected(code, "DM_DEV_REMOVE " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_DEV_REMOVE"));
  if (dev->open_count + References(name) > 0) {
    if (!deferred) return Error::FromErrno(EBUSY, "DM_DEV_REMOVE " + name);
    dev->deferred_remove = true;  // goes at the last close
    return Ok();
  }
  Erase(name);
  return Ok();
}

Result<sys::DmDeviceInfo> FakeDeviceMapper::Info(const std::string& name) {
  if (int code = TakeFailure("info")) return Injected(code, "DM_DEV_STATUS " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_DEV_STATUS"));
  sys::DmDeviceInfo info;
  info.name = name;
  info.uuid = dev->uuid;
  info.major = kFakeMajor;
  info.minor = dev->minor;
  info.open_count = dev->open_count + References(name);
  info.event_nr = dev->event_nr;
  info.target_count = dev->active ? static_cast<uint32_t>(dev->active->size()) : 0;
  info.suspended = dev->suspended;
  info.live_table = dev->active.has_value();
  info.inactive_table = dev->inactive.has_value();
  info.deferred_remove = dev->deferred_remove;
  return info;
}

Result<std::vector<DmTarget>> FakeDeviceMapper::Table(const std::string& name) {
  if (int code = TakeFailure("table")) return Injected(code, "DM_TABLE_STATUS " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_TABLE_STATUS"));
  return dev->active.value_or(std::vector<DmTarget>{});
}

std::string FakeDeviceMapper::PoolStatus(const DmTarget& target) {
  std::vector<std::string> args = Split(target.params);
  const Pool& pool = pools_[args[0]];
  if (pool.mode == PoolMode::kFail) return "Fail";
  std::vector<std::string> features(args.begin() + std::min<size_t>(5, args.size()), args.end());
  uint64_t used_data = 0;
  for (const auto& [id, thin] : pool.thins) used_data += thin.mapped_blocks;  // sharing ignored
  bool ro = pool.mode == PoolMode::kReadOnly || HasWord(features, "read_only");
  std::ostringstream out;
  out << pool.transaction_id << " " << kBaseMetadataBlocks + pool.thins.size() << "/"
      << pool.total_metadata_blocks << " " << used_data << "/"
      << target.length_sectors / ParseU64(args[2]).value_or(128) << " "
      << (pool.metadata_snap_held ? "7" : "-") << " "
      << (pool.mode == PoolMode::kOutOfDataSpace ? "out_of_data_space"
          : ro                                   ? "ro"
                                                 : "rw")
      << " "
      << (HasWord(features, "ignore_discard")        ? "ignore_discard"
          : HasWord(features, "no_discard_passdown") ? "no_discard_passdown"
                                                     : "discard_passdown")
      << " " << (HasWord(features, "error_if_no_space") ? "error_if_no_space" : "queue_if_no_space")
      << " - " << std::min<uint64_t>(1024, pool.total_metadata_blocks / 4) << " ";
  return out.str();
}

std::string FakeDeviceMapper::ThinStatus(const DmTarget& target) {
  std::vector<std::string> args = Split(target.params);
  std::string pool_name = Resolve(args[0]);
  const Pool* pool = PoolOf(pool_name);
  if (pool == nullptr || pool->mode == PoolMode::kFail) return "Fail";
  uint64_t block = ParseU64(Split(devices_.at(pool_name).active->front().params)[2]).value_or(128);
  auto thin = pool->thins.find(static_cast<uint32_t>(ParseU64(args[1]).value_or(0)));
  uint64_t mapped = thin == pool->thins.end() ? 0 : thin->second.mapped_blocks * block;
  return std::to_string(mapped) + " " + (mapped == 0 ? "-" : std::to_string(mapped - 1));
}

Result<std::vector<DmTarget>> FakeDeviceMapper::TargetStatus(const std::string& name,
                                                             sys::DmFlush /*flush*/) {
  if (int code = TakeFailure("status")) return Injected(code, "DM_TABLE_STATUS " + name);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, "DM_TABLE_STATUS"));
  std::vector<DmTarget> out = dev->active.value_or(std::vector<DmTarget>{});
  for (DmTarget& t : out) {
    t.params = t.type == "thin-pool" ? PoolStatus(t) : t.type == "thin" ? ThinStatus(t) : "";
  }
  return out;
}

bool FakeDeviceMapper::ThinInUse(const std::string& pool_name, uint32_t thin_id) const {
  for (const auto& [name, dev] : devices_) {
    for (const auto* table : {&dev.active, &dev.inactive}) {
      if (!table->has_value()) continue;
      for (const DmTarget& t : **table) {
        std::vector<std::string> args = Split(t.params);
        if (t.type == "thin" && args.size() >= 2 && Resolve(args[0]) == pool_name &&
            ParseU64(args[1]) == thin_id) {
          return true;
        }
      }
    }
  }
  return false;
}

Status FakeDeviceMapper::CreateThin(Pool& pool, uint64_t id, std::optional<uint64_t> origin_id) {
  if (id > kMaxThinId) return Error::FromErrno(EINVAL, "thin id out of range");
  if (pool.thins.count(static_cast<uint32_t>(id))) {
    return Error::FromErrno(EEXIST, "thin id " + std::to_string(id));
  }
  if (!origin_id) {
    pool.thins[static_cast<uint32_t>(id)] = Thin{};
    return Ok();
  }
  auto origin = pool.thins.find(static_cast<uint32_t>(*origin_id));
  if (origin == pool.thins.end()) {
    return Error::FromErrno(ENODATA, "origin thin id " + std::to_string(*origin_id));
  }
  // A snapshot shares (here: starts with the count of) its origin's mapped blocks.
  pool.thins[static_cast<uint32_t>(id)] = origin->second;
  return Ok();
}

Result<std::string> FakeDeviceMapper::PoolMessage(const std::string& pool_name,
                                                  const std::vector<std::string>& argv) {
  Pool& pool = *MutablePool(pool_name);  // the caller found a live thin-pool target
  if (pool.mode == PoolMode::kReadOnly || pool.mode == PoolMode::kFail) {
    return Error::FromErrno(EOPNOTSUPP, "pool " + pool_name + " is read-only or failed");
  }
  const std::string& verb = argv.empty() ? "" : argv[0];
  size_t want = verb == "create_thin" || verb == "delete"               ? 2
                : verb == "create_snap" || verb == "set_transaction_id" ? 3
                                                                        : 1;
  uint64_t a = 0;
  uint64_t b = 0;
  if (argv.size() != want || (want >= 2 && !ParseInto(argv[1], &a)) ||
      (want == 3 && !ParseInto(argv[2], &b))) {
    return Error::FromErrno(EINVAL, "bad message");
  }
  uint32_t id = static_cast<uint32_t>(a);
  if (verb == "create_thin" || verb == "create_snap") {
    STRATA_TRY(
        CreateThin(pool, a, verb == "create_snap" ? std::optional<uint64_t>(b) : std::nullopt));
  } else if (verb == "delete") {
    if (!pool.thins.count(id)) return Error::FromErrno(ENODATA, "thin id " + argv[1]);
    if (ThinInUse(pool_name, id)) return Error::FromErrno(EBUSY, "thin id " + argv[1]);
    pool.thins.erase(id);
  } else if (verb == "set_transaction_id") {
    if (a != pool.transaction_id) return Error::FromErrno(EINVAL, "transaction id mismatch");
    pool.transaction_id = b;
  } else if (verb == "reserve_metadata_snap" || verb == "release_metadata_snap") {
    bool reserve = verb == "reserve_metadata_snap";
    if (pool.metadata_snap_held == reserve) return Error::FromErrno(reserve ? EBUSY : EINVAL, verb);
    pool.metadata_snap_held = reserve;
  } else {
    return Error::FromErrno(EINVAL, "unknown message");
  }
  return std::string();
}

Result<std::string> FakeDeviceMapper::Message(const std::string& name, uint64_t sector,
                                              const std::string& message) {
  calls_.push_back("message " + name + " " + message);
  std::string what = "DM_TARGET_MSG " + name + " \"" + message + "\"";
  if (int code = TakeFailure("message")) return Injected(code, what);
  STRATA_ASSIGN_OR_RETURN(Device * dev, Find(name, what));
  if (!dev->active) return Invalid(what, "no live table");
  for (const DmTarget& t : *dev->active) {
    if (sector < t.start_sectors || sector >= t.start_sectors + t.length_sectors) continue;
    if (t.type != "thin-pool") return Invalid(what, "target does not take messages");
    return PoolMessage(name, Split(message)).Wrap(what);
  }
  return Invalid(what, "sector beyond the device");
}

Result<std::vector<sys::DmListEntry>> FakeDeviceMapper::List() {
  if (int code = TakeFailure("list")) return Injected(code, "DM_LIST_DEVICES");
  std::vector<sys::DmListEntry> out;
  for (const auto& [name, dev] : devices_) out.push_back({name, kFakeMajor, dev.minor});
  return out;
}

Result<std::vector<uint32_t>> FakeDeviceMapper::TargetVersion(const std::string& target_type) {
  if (int code = TakeFailure("target_version")) return Injected(code, "DM_GET_TARGET_VERSION");
  auto it = target_versions_.find(target_type);
  if (it == target_versions_.end()) {
    return Error(ENOENT, "device-mapper target \"" + target_type + "\" not available");
  }
  return it->second;
}

}  // namespace strata
