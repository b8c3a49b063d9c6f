#include "volumes/catalog.h"

#include <cerrno>
#include <utility>

#include <nlohmann/json.hpp>

namespace strata::volumes {
namespace {

constexpr char kColumns[] =
    "name, backend, fs, size_bytes, pending_bytes, mkfs_options, mount_options, labels, path, "
    "ref, origin, snapshot, state, created";

std::string ListJson(const std::vector<std::string>& items) { return nlohmann::json(items).dump(); }

std::string LabelsJson(const std::map<std::string, std::string>& labels) {
  return nlohmann::json(labels).dump();
}

// Binds the record's columns in kColumns order from index 1.
Status BindRecord(Statement& stmt, const VolumeRecord& v) {
  STRATA_TRY(stmt.Bind(1, v.name));
  STRATA_TRY(stmt.Bind(2, BackendName(v.backend)));
  STRATA_TRY(stmt.Bind(3, thinpool::FilesystemName(v.fs)));
  STRATA_TRY(stmt.Bind(4, static_cast<int64_t>(v.size_bytes)));
  STRATA_TRY(stmt.Bind(5, static_cast<int64_t>(v.pending_size_bytes)));
  STRATA_TRY(stmt.Bind(6, ListJson(v.mkfs_options)));
  STRATA_TRY(stmt.Bind(7, ListJson(v.mount_options)));
  STRATA_TRY(stmt.Bind(8, LabelsJson(v.labels)));
  STRATA_TRY(stmt.Bind(9, v.path));
  STRATA_TRY(stmt.Bind(10, v.ref));
  STRATA_TRY(stmt.Bind(11, v.origin));
  STRATA_TRY(stmt.Bind(12, int64_t{v.snapshot ? 1 : 0}));
  STRATA_TRY(stmt.Bind(13, StateName(v.state)));
  STRATA_TRY(stmt.Bind(14, v.created_unix));
  return Ok();
}

// Parses JSON written by this file; a corrupt value reads as empty rather than failing a listing.
template <class T>
T ParseJsonColumn(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return T{};
  try {
    return j.get<T>();
  } catch (const nlohmann::json::exception&) {
    return T{};
  }
}

Result<VolumeRecord> ReadRecord(const Statement& stmt) {
  VolumeRecord v;
  v.name = stmt.ColumnText(0);
  STRATA_ASSIGN_OR_RETURN_CTX(v.backend, ParseBackend(stmt.ColumnText(1)), "volume " + v.name);
  STRATA_ASSIGN_OR_RETURN_CTX(v.fs, ParseFilesystem(stmt.ColumnText(2)), "volume " + v.name);
  v.size_bytes = static_cast<uint64_t>(stmt.ColumnInt(3));
  v.pending_size_bytes = static_cast<uint64_t>(stmt.ColumnInt(4));
  v.mkfs_options = ParseJsonColumn<std::vector<std::string>>(stmt.ColumnText(5));
  v.mount_options = ParseJsonColumn<std::vector<std::string>>(stmt.ColumnText(6));
  v.labels = ParseJsonColumn<std::map<std::string, std::string>>(stmt.ColumnText(7));
  v.path = stmt.ColumnText(8);
  v.ref = stmt.ColumnText(9);
  v.origin = stmt.ColumnText(10);
  v.snapshot = stmt.ColumnInt(11) != 0;
  STRATA_ASSIGN_OR_RETURN_CTX(v.state, ParseState(stmt.ColumnText(12)), "volume " + v.name);
  v.created_unix = stmt.ColumnInt(13);
  return v;
}

Result<std::vector<VolumeRecord>> ReadAll(Statement& stmt) {
  std::vector<VolumeRecord> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    STRATA_ASSIGN_OR_RETURN(VolumeRecord v, ReadRecord(stmt));
    out.push_back(std::move(v));
  }
}

Result<std::vector<Attachment>> ReadAttachments(Statement& stmt) {
  std::vector<Attachment> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(Attachment{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnInt(2) != 0,
                             stmt.ColumnInt(3)});
  }
}

}  // namespace

Status Catalog::Insert(const VolumeRecord& volume) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare(std::string("INSERT INTO volumes (") + kColumns +
                                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  STRATA_TRY(BindRecord(stmt, volume));
  Status inserted = stmt.Run();
  if (!inserted.ok() && inserted.error().code() == EEXIST) {
    return Error(EEXIST, "volume \"" + volume.name + "\" already exists");
  }
  return inserted;
}

Status Catalog::Update(const VolumeRecord& volume) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store_->Prepare("UPDATE volumes SET name = ?1, backend = ?2, fs = ?3, size_bytes = ?4, "
                      "pending_bytes = ?5, mkfs_options = ?6, mount_options = ?7, labels = ?8, "
                      "path = ?9, ref = ?10, origin = ?11, snapshot = ?12, state = ?13, "
                      "created = ?14 WHERE name = ?1"));
  STRATA_TRY(BindRecord(stmt, volume));
  STRATA_TRY(stmt.Run());
  if (store_->ChangedRows() == 0) {
    return Error(ENOENT, "no such volume \"" + volume.name + "\"");
  }
  return Ok();
}

Status Catalog::Delete(const std::string& name) {
  return store_->Transaction([&]() -> Status {
    STRATA_ASSIGN_OR_RETURN(Statement detach,
                            store_->Prepare("DELETE FROM volume_attachments WHERE volume = ?"));
    STRATA_TRY(detach.Bind(1, name));
    STRATA_TRY(detach.Run());
    STRATA_ASSIGN_OR_RETURN(Statement del, store_->Prepare("DELETE FROM volumes WHERE name = ?"));
    STRATA_TRY(del.Bind(1, name));
    return del.Run();
  });
}

Result<std::optional<VolumeRecord>> Catalog::Find(const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store_->Prepare(std::string("SELECT ") + kColumns + " FROM volumes WHERE name = ?"));
  STRATA_TRY(stmt.Bind(1, name));
  STRATA_ASSIGN_OR_RETURN(std::vector<VolumeRecord> rows, ReadAll(stmt));
  if (rows.empty()) return std::optional<VolumeRecord>();
  return std::optional<VolumeRecord>(std::move(rows.front()));
}

Result<std::vector<VolumeRecord>> Catalog::List(std::optional<VolumeState> state) {
  if (!state) {
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt,
        store_->Prepare(std::string("SELECT ") + kColumns + " FROM volumes ORDER BY name"));
    return ReadAll(stmt);
  }
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare(std::string("SELECT ") + kColumns +
                                          " FROM volumes WHERE state = ? ORDER BY name"));
  STRATA_TRY(stmt.Bind(1, StateName(*state)));
  return ReadAll(stmt);
}

Result<std::vector<VolumeRecord>> Catalog::Unsettled() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare(std::string("SELECT ") + kColumns +
                                          " FROM volumes WHERE state != 'ready' ORDER BY name"));
  return ReadAll(stmt);
}

Result<std::vector<std::string>> Catalog::Names() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store_->Prepare("SELECT name FROM volumes"));
  std::vector<std::string> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(stmt.ColumnText(0));
  }
}

Result<std::vector<Attachment>> Catalog::Attachments(std::optional<std::string> volume) {
  constexpr char kSelect[] = "SELECT volume, target, read_only, created FROM volume_attachments";
  if (!volume) {
    STRATA_ASSIGN_OR_RETURN(Statement stmt,
                            store_->Prepare(std::string(kSelect) + " ORDER BY volume, target"));
    return ReadAttachments(stmt);
  }
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt, store_->Prepare(std::string(kSelect) + " WHERE volume = ? ORDER BY target"));
  STRATA_TRY(stmt.Bind(1, *volume));
  return ReadAttachments(stmt);
}

Result<std::optional<Attachment>> Catalog::AttachmentAt(const std::string& target) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare("SELECT volume, target, read_only, created FROM "
                                          "volume_attachments WHERE target = ?"));
  STRATA_TRY(stmt.Bind(1, target));
  STRATA_ASSIGN_OR_RETURN(std::vector<Attachment> rows, ReadAttachments(stmt));
  if (rows.empty()) return std::optional<Attachment>();
  return std::optional<Attachment>(std::move(rows.front()));
}

Status Catalog::AddAttachment(const Attachment& a) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare("INSERT INTO volume_attachments (volume, target, "
                                          "read_only, created) VALUES (?, ?, ?, ?)"));
  STRATA_TRY(stmt.Bind(1, a.volume));
  STRATA_TRY(stmt.Bind(2, a.target));
  STRATA_TRY(stmt.Bind(3, int64_t{a.read_only ? 1 : 0}));
  STRATA_TRY(stmt.Bind(4, a.created_unix));
  Status added = stmt.Run();
  if (!added.ok() && added.error().code() == EEXIST) {
    return Error(EEXIST, a.target + " already has a volume attached");
  }
  return added;
}

Status Catalog::RemoveAttachment(const std::string& volume, const std::string& target) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store_->Prepare("DELETE FROM volume_attachments WHERE volume = ? AND target = ?"));
  STRATA_TRY(stmt.Bind(1, volume));
  STRATA_TRY(stmt.Bind(2, target));
  return stmt.Run();
}

}  // namespace strata::volumes
