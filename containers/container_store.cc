#include "containers/container_store.h"

#include <cerrno>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/strings.h"

namespace strata::containers {
namespace {

constexpr std::string_view kColumns =
    "id, name, image, image_ref, command, state, detached, auto_remove, pid, pid_start, "
    "monitor_pid, monitor_start, exit_code, resources, created, started, finished";

Result<State> ParseState(const std::string& text) {
  if (text == "created") return State::kCreated;
  if (text == "running") return State::kRunning;
  if (text == "exited") return State::kExited;
  if (text == "removing") return State::kRemoving;
  return Error(EINVAL, "container state \"" + text + "\" unknown");
}

std::string ResourcesJson(const ContainerRecord& r) {
  nlohmann::json volumes = nlohmann::json::array();
  for (const VolumeUse& v : r.volumes) volumes.push_back({{"volume", v.volume}, {"target", v.target}});
  return nlohmann::json{{"volumes", volumes}, {"cgroups", r.cgroup_dirs}}.dump();
}

Result<ContainerRecord> FromRow(const Statement& row) {
  ContainerRecord r;
  r.id = row.ColumnText(0);
  r.name = row.ColumnText(1);
  r.image = row.ColumnText(2);
  r.image_ref = row.ColumnText(3);
  STRATA_ASSIGN_OR_RETURN(r.state, ParseState(row.ColumnText(5)));
  r.detached = row.ColumnInt(6) != 0;
  r.auto_remove = row.ColumnInt(7) != 0;
  r.pid = static_cast<pid_t>(row.ColumnInt(8));
  r.pid_start = static_cast<uint64_t>(row.ColumnInt(9));
  r.monitor_pid = static_cast<pid_t>(row.ColumnInt(10));
  r.monitor_start = static_cast<uint64_t>(row.ColumnInt(11));
  if (!row.ColumnIsNull(12)) r.exit_code = static_cast<int>(row.ColumnInt(12));
  r.created = row.ColumnInt(14);
  r.started = row.ColumnInt(15);
  r.finished = row.ColumnInt(16);
  try {
    r.command = nlohmann::json::parse(row.ColumnText(4)).get<std::vector<std::string>>();
    nlohmann::json res = nlohmann::json::parse(row.ColumnText(13));
    for (const auto& v : res.value("volumes", nlohmann::json::array())) {
      r.volumes.push_back({v.at("volume").get<std::string>(), v.at("target").get<std::string>()});
    }
    r.cgroup_dirs = res.value("cgroups", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return Error(EINVAL, "container " + r.id + ": malformed record: " + e.what());
  }
  return r;
}

Status BindFields(Statement& stmt, const ContainerRecord& r) {
  STRATA_TRY(stmt.Bind(1, r.id));
  if (r.name.empty()) {
    STRATA_TRY(stmt.BindNull(2));
  } else {
    STRATA_TRY(stmt.Bind(2, r.name));
  }
  STRATA_TRY(stmt.Bind(3, r.image));
  STRATA_TRY(stmt.Bind(4, r.image_ref));
  STRATA_TRY(stmt.Bind(5, nlohmann::json(r.command).dump()));
  STRATA_TRY(stmt.Bind(6, StateName(r.state)));
  STRATA_TRY(stmt.Bind(7, r.detached ? 1 : 0));
  STRATA_TRY(stmt.Bind(8, r.auto_remove ? 1 : 0));
  STRATA_TRY(stmt.Bind(9, static_cast<int64_t>(r.pid)));
  STRATA_TRY(stmt.Bind(10, static_cast<int64_t>(r.pid_start)));
  STRATA_TRY(stmt.Bind(11, static_cast<int64_t>(r.monitor_pid)));
  STRATA_TRY(stmt.Bind(12, static_cast<int64_t>(r.monitor_start)));
  if (r.exit_code) {
    STRATA_TRY(stmt.Bind(13, static_cast<int64_t>(*r.exit_code)));
  } else {
    STRATA_TRY(stmt.BindNull(13));
  }
  STRATA_TRY(stmt.Bind(14, ResourcesJson(r)));
  STRATA_TRY(stmt.Bind(15, r.created));
  STRATA_TRY(stmt.Bind(16, r.started));
  STRATA_TRY(stmt.Bind(17, r.finished));
  return Ok();
}

bool IsNameChar(char c, bool first) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '_' || c == '.' || c == '-'));
}

}  // namespace

std::string_view StateName(State state) {
  switch (state) {
    case State::kCreated: return "created";
    case State::kRunning: return "running";
    case State::kExited: return "exited";
    case State::kRemoving: return "removing";
  }
  return "unknown";
}

Status ValidateName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128;
  for (size_t i = 0; ok && i < name.size(); ++i) ok = IsNameChar(name[i], i == 0);
  if (ok) return Ok();
  return Error(EINVAL, "container name \"" + std::string(name) +
                           "\": want a letter or digit, then letters, digits, '_', '.' or '-' "
                           "(at most 128)");
}

Status ContainerStore::Insert(const ContainerRecord& record) {
  STRATA_TRY(ValidateName(record.name.empty() ? "x" : record.name));
  return store_.Transaction([&]() -> Status {
    if (!record.name.empty()) {
      STRATA_ASSIGN_OR_RETURN(Statement taken,
                              store_.Prepare("SELECT id FROM containers WHERE name = ?1"));
      STRATA_TRY(taken.Bind(1, record.name));
      STRATA_ASSIGN_OR_RETURN(bool exists, taken.Step());
      if (exists) {
        return Error(EEXIST, "container name \"" + record.name + "\" is taken by container " +
                                 taken.ColumnText(0).substr(0, 12) +
                                 "; remove it with `strata rm " + record.name +
                                 "` or choose another --name");
      }
    }
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt,
        store_.Prepare("INSERT INTO containers (" + std::string(kColumns) +
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                       "?15, ?16, ?17)"));
    STRATA_TRY(BindFields(stmt, record));
    return stmt.Run();
  });
}

Status ContainerStore::Update(const ContainerRecord& record) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store_.Prepare("UPDATE containers SET name = ?2, image = ?3, image_ref = ?4, command = ?5, "
                     "state = ?6, detached = ?7, auto_remove = ?8, pid = ?9, pid_start = ?10, "
                     "monitor_pid = ?11, monitor_start = ?12, exit_code = ?13, resources = ?14, "
                     "created = ?15, started = ?16, finished = ?17 WHERE id = ?1"));
  STRATA_TRY(BindFields(stmt, record));
  STRATA_TRY(stmt.Run());
  if (store_.ChangedRows() == 0) {
    return Error(ENOENT, "container " + record.DisplayName() + ": no such container");
  }
  return Ok();
}

Status ContainerStore::Delete(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store_.Prepare("DELETE FROM containers WHERE id = ?1"));
  STRATA_TRY(stmt.Bind(1, id));
  return stmt.Run();
}

Result<ContainerRecord> ContainerStore::Get(std::string_view ref) {
  if (ref.empty()) return Error(EINVAL, "container: empty name or id");
  STRATA_ASSIGN_OR_RETURN(
      Statement by_name,
      store_.Prepare("SELECT " + std::string(kColumns) + " FROM containers WHERE name = ?1"));
  STRATA_TRY(by_name.Bind(1, ref));
  STRATA_ASSIGN_OR_RETURN(bool named, by_name.Step());
  if (named) return FromRow(by_name);
  bool hex = ref.size() <= 64;
  for (char c : ref) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  std::vector<ContainerRecord> matches;
  if (hex) {
    STRATA_ASSIGN_OR_RETURN(Statement by_id,
                            store_.Prepare("SELECT " + std::string(kColumns) +
                                           " FROM containers WHERE substr(id, 1, ?2) = ?1"));
    STRATA_TRY(by_id.Bind(1, ref));
    STRATA_TRY(by_id.Bind(2, static_cast<int64_t>(ref.size())));
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, by_id.Step());
      if (!row) break;
      STRATA_ASSIGN_OR_RETURN(ContainerRecord record, FromRow(by_id));
      matches.push_back(std::move(record));
    }
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    std::vector<std::string> ids;
    for (const ContainerRecord& m : matches) ids.push_back(m.DisplayName());
    return Error(EINVAL, "container id prefix " + std::string(ref) + " is ambiguous: " +
                             Join(ids, ", ") + "; give more digits");
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<ContainerRecord> all, List());
  std::vector<std::string> names;
  for (const ContainerRecord& c : all) {
    if (!c.name.empty()) names.push_back(c.name);
  }
  std::vector<std::string_view> views(names.begin(), names.end());
  return Error(ENOENT, "no such container: " + std::string(ref) + DidYouMean(ref, views));
}

Result<std::vector<ContainerRecord>> ContainerStore::List() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_.Prepare("SELECT " + std::string(kColumns) +
                                         " FROM containers ORDER BY created DESC, rowid DESC"));
  std::vector<ContainerRecord> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    STRATA_ASSIGN_OR_RETURN(ContainerRecord record, FromRow(stmt));
    out.push_back(std::move(record));
  }
  return out;
}

drivers::LayerStore::RemoveGuard ContainerStore::LayerGuard(Store& store) {
  return [&store](const std::string& id) -> Status {
    STRATA_ASSIGN_OR_RETURN(Statement stmt,
                            store.Prepare("SELECT coalesce(name, substr(id, 1, 12)) FROM "
                                          "containers WHERE id = ?1 AND state != 'removing'"));
    STRATA_TRY(stmt.Bind(1, id));
    STRATA_ASSIGN_OR_RETURN(bool used, stmt.Step());
    if (!used) return Ok();
    std::string name = stmt.ColumnText(0);
    return Error(EBUSY, "layer " + id.substr(0, 12) + " is the root of container " + name +
                            "; remove the container with `strata rm " + name + "`");
  };
}

images::ImageStore::RemoveGuard ContainerStore::ImageGuard(Store& store) {
  return [&store](const images::ImageRecord& image) -> Status {
    STRATA_ASSIGN_OR_RETURN(Statement stmt,
                            store.Prepare("SELECT coalesce(name, substr(id, 1, 12)), state FROM "
                                          "containers WHERE image = ?1 ORDER BY created"));
    STRATA_TRY(stmt.Bind(1, image.id));
    std::vector<std::string> users;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(stmt.ColumnText(0) + " (" + stmt.ColumnText(1) + ")");
    }
    if (users.empty()) return Ok();
    return Error(EBUSY, "image " + image.DisplayName() + " is used by container" +
                            (users.size() == 1 ? " " : "s ") + Join(users, ", ") +
                            "; remove " + (users.size() == 1 ? "it" : "them") +
                            " first with `strata rm`");
  };
}

}  // namespace strata::containers
