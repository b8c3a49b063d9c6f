// LayerStore, part 2: the layer records in the metadata store, lookup, and crash recovery.
// The operations (create, mount, remove, diff) are in layer_store.cc.
#include <ctime>

#include "drivers/layer_lock.h"
#include "drivers/layer_store.h"

namespace strata::drivers {
namespace {

constexpr std::string_view kRowColumns =
    "id, parent, kind, driver, created, state, mount_count, mount_path";
constexpr size_t kMaxChainDepth = 10000;  // a longer parent chain can only be a cycle

std::string KindName(LayerKind kind) { return kind == LayerKind::kReadWrite ? "rw" : "ro"; }

Error NoSuchLayer(const std::string& id) {
  return Error(ENOENT, "layer \"" + id + "\": no such layer");
}

}  // namespace

bool IsValidLayerId(std::string_view id) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (id.empty() || id.size() > 128 || !alnum(id[0])) return false;
  for (char c : id) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// --- Rows -------------------------------------------------------------------------------------

Result<std::optional<LayerStore::Row>> LayerStore::LoadRow(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store_.Prepare("SELECT " + std::string(kRowColumns) +
                                                         " FROM layers WHERE id = ?1"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<Row>();
  Row row;
  row.record.id = stmt.ColumnText(0);
  row.record.parent = stmt.ColumnText(1);
  row.record.kind = stmt.ColumnText(2) == "rw" ? LayerKind::kReadWrite : LayerKind::kReadOnly;
  row.record.driver = stmt.ColumnText(3);
  row.record.created_unix = stmt.ColumnInt(4);
  row.state = stmt.ColumnText(5);
  row.record.mount_count = static_cast<int>(stmt.ColumnInt(6));
  row.mount_path = stmt.ColumnText(7);
  return std::optional<Row>(std::move(row));
}

Result<LayerStore::Row> LayerStore::LoadReady(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> row, LoadRow(id));
  if (!row || row->state != "ready") return NoSuchLayer(id);
  return std::move(*row);
}

Result<std::vector<std::string>> LayerStore::ChildrenOf(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_.Prepare("SELECT id FROM layers WHERE parent = ?1 ORDER BY id"));
  STRATA_TRY(stmt.Bind(1, id));
  std::vector<std::string> children;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return children;
    children.push_back(stmt.ColumnText(0));
  }
}

Result<LayerRecord> LayerStore::ToRecord(Row row) {
  STRATA_ASSIGN_OR_RETURN(row.record.children, ChildrenOf(row.record.id));
  return std::move(row.record);
}

Status LayerStore::InsertCreating(const std::string& id, const std::string& parent,
                                  LayerKind kind) {
  return store_.Transaction([&]() -> Status {
    if (!parent.empty()) {
      STRATA_ASSIGN_OR_RETURN(std::optional<Row> parent_row, LoadRow(parent));
      if (!parent_row || parent_row->state != "ready") return NoSuchLayer(parent).Wrap("parent");
    }
    STRATA_ASSIGN_OR_RETURN(std::optional<Row> existing, LoadRow(id));
    if (existing) return Error(EEXIST, "layer \"" + id + "\" already exists");
    STRATA_ASSIGN_OR_RETURN(
        Statement insert,
        store_.Prepare("INSERT INTO layers (id, parent, kind, driver, created, state) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, 'creating')"));
    STRATA_TRY(insert.Bind(1, id));
    STRATA_TRY(parent.empty() ? insert.BindNull(2) : insert.Bind(2, parent));
    STRATA_TRY(insert.Bind(3, KindName(kind)));
    STRATA_TRY(insert.Bind(4, driver_.Name()));
    STRATA_TRY(insert.Bind(5, static_cast<int64_t>(std::time(nullptr))));
    return insert.Run();
  });
}

Status LayerStore::SetState(const std::string& id, std::string_view state) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_.Prepare("UPDATE layers SET state = ?2 WHERE id = ?1"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_TRY(stmt.Bind(2, state));
  return stmt.Run();
}

Status LayerStore::DeleteRecord(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store_.Prepare("DELETE FROM layers WHERE id = ?1"));
  STRATA_TRY(stmt.Bind(1, id));
  return stmt.Run();
}

// Callers hold the id lock, so this read-modify-write of the count cannot race.
// Mount references do not outlive a reboot (the mounts do not), so their updates need not be
// fsynced: NonDurable keeps them safe against a crashed process, which is what matters here.
Status LayerStore::SetMount(const std::string& id, int count, const std::string& path) {
  return store_.NonDurable([&]() -> Status {
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt,
        store_.Prepare("UPDATE layers SET mount_count = ?2, mount_path = ?3 WHERE id = ?1"));
    STRATA_TRY(stmt.Bind(1, id));
    STRATA_TRY(stmt.Bind(2, int64_t{count}));
    STRATA_TRY(stmt.Bind(3, path));
    return stmt.Run();
  });
}

// --- Lookup -----------------------------------------------------------------------------------

Result<std::string> LayerStore::ResolveId(const std::string& id_or_prefix) {
  if (!IsValidLayerId(id_or_prefix)) {
    return Error(EINVAL, "layer \"" + id_or_prefix + "\": invalid layer id");
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> exact, LoadRow(id_or_prefix));
  if (exact && exact->state == "ready") return id_or_prefix;
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_.Prepare("SELECT id FROM layers WHERE state = 'ready' AND "
                                         "substr(id, 1, ?2) = ?1 ORDER BY id LIMIT 6"));
  STRATA_TRY(stmt.Bind(1, id_or_prefix));
  STRATA_TRY(stmt.Bind(2, static_cast<int64_t>(id_or_prefix.size())));
  std::vector<std::string> matches;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    matches.push_back(stmt.ColumnText(0));
  }
  if (matches.empty()) return NoSuchLayer(id_or_prefix);
  if (matches.size() == 1) return matches[0];
  std::string message = "layer \"" + id_or_prefix + "\": ambiguous prefix, matches ";
  for (size_t i = 0; i < matches.size() && i < 5; ++i) message += (i ? ", " : "") + matches[i];
  if (matches.size() > 5) message += ", ...";
  return Error(EINVAL, message);
}

Result<LayerRecord> LayerStore::Get(const std::string& id_or_prefix) {
  STRATA_ASSIGN_OR_RETURN(std::string id, ResolveId(id_or_prefix));
  STRATA_ASSIGN_OR_RETURN(Row row, LoadReady(id));
  return ToRecord(std::move(row));
}

Result<std::vector<LayerRecord>> LayerStore::List() {
  STRATA_ASSIGN_OR_RETURN(Statement ids, store_.Prepare("SELECT id FROM layers WHERE state = "
                                                        "'ready' ORDER BY created, id"));
  std::vector<LayerRecord> records;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, ids.Step());
    if (!row) break;
    std::string id = ids.ColumnText(0);
    STRATA_ASSIGN_OR_RETURN(std::optional<Row> loaded, LoadRow(id));
    if (!loaded) continue;
    STRATA_ASSIGN_OR_RETURN(LayerRecord record, ToRecord(std::move(*loaded)));
    records.push_back(std::move(record));
  }
  return records;
}

Result<std::vector<std::string>> LayerStore::Chain(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::string current, ResolveId(id));
  std::vector<std::string> chain;
  while (!current.empty()) {
    if (chain.size() >= kMaxChainDepth) {
      return Error(EUCLEAN, "layer \"" + id + "\": parent chain longer than " +
                                std::to_string(kMaxChainDepth) + " (a cycle?)");
    }
    STRATA_ASSIGN_OR_RETURN(std::optional<Row> row, LoadRow(current));
    if (!row) return NoSuchLayer(current).Wrap("chain of \"" + id + "\"");
    chain.push_back(current);
    current = row->record.parent;
  }
  return chain;
}

// --- Recovery ---------------------------------------------------------------------------------

Status LayerStore::RollBack(const std::string& id) {
  STRATA_TRY_CTX(driver_.Remove(id), "roll back layer " + id);
  return DeleteRecord(id).Wrap("roll back layer " + id);
}

// A count whose mount is gone (reboot, manual umount, a FUSE helper that died) is reset; the
// next Mount remounts. The driver's Unmount runs first (it is idempotent): it clears what such
// a mount leaves behind, like a dead helper's mount that answers ENOTCONN, which `layer umount`
// would otherwise leave in place until the next Mount or Remove.
Status LayerStore::Reconcile(Row& row) {
  if (row.record.mount_count == 0) return Ok();
  STRATA_ASSIGN_OR_RETURN(bool mounted, driver_.IsMounted(row.record.id));
  if (mounted) return Ok();
  STRATA_TRY_CTX(driver_.Unmount(row.record.id),
                 "clean the vanished mount of layer " + row.record.id);
  STRATA_TRY(SetMount(row.record.id, 0, ""));
  row.record.mount_count = 0;
  row.mount_path.clear();
  return Ok();
}

// Rolls back one unfinished record, unless a live process holds its lock (it is still working).
Status LayerStore::RecoverOne(const std::string& id) {
  auto lock = LayerLock::Acquire(locks_dir_, id, LayerLock::Wait::kTry, {});
  if (!lock.ok()) return lock.error().code() == EWOULDBLOCK ? Ok() : std::move(lock).error();
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> row, LoadRow(id));
  if (!row) return Ok();
  if (row->state == "ready") {
    int before = row->record.mount_count;
    STRATA_TRY(Reconcile(*row));
    if (before != row->record.mount_count) recovery_.mounts_reset.push_back(id);
    return Ok();
  }
  STRATA_TRY(RollBack(id));
  lock->RemoveFile();
  recovery_.rolled_back.push_back(id);
  return Ok();
}

Status LayerStore::Recover() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_.Prepare("SELECT id FROM layers WHERE state != 'ready' OR "
                                         "mount_count > 0 ORDER BY id"));
  std::vector<std::string> ids;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.ColumnText(0));
  }
  for (const std::string& id : ids) {
    Status status = RecoverOne(id);
    if (!status.ok()) recovery_.failed.emplace_back(id, status.error().message());
  }
  return Ok();
}

}  // namespace strata::drivers
