#include "core/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

namespace strata {
namespace {

// The schema, one step per version. To change it, append a step; never edit a released one.
//   layers.state: 'creating' (two-phase create in progress), 'ready', 'removing'.
//   layers.kind: 'ro' (image layer) or 'rw' (container layer).
//   layers.mount_count: mount references held (LayerStore), reconciled against mountinfo.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE layers (
  id          TEXT PRIMARY KEY NOT NULL,
  parent      TEXT NULL REFERENCES layers(id),
  kind        TEXT NOT NULL CHECK (kind IN ('ro', 'rw')),
  driver      TEXT NOT NULL,
  created     INTEGER NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'removing')),
  mount_count INTEGER NOT NULL DEFAULT 0 CHECK (mount_count >= 0),
  mount_path  TEXT NOT NULL DEFAULT '',
  diff_digest TEXT NULL,
  diff_size   INTEGER NULL
);
CREATE INDEX layers_parent ON layers(parent);
CREATE INDEX layers_state ON layers(state);
)sql"},
    {2, "CREATE TABLE thin_pools (name TEXT PRIMARY KEY NOT NULL, last_thin_id INTEGER NOT NULL DEFAULT 0); CREATE TABLE thin_devices (pool TEXT NOT NULL, thin_id INTEGER NOT NULL, size_sectors INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '', state TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')), PRIMARY KEY (pool, thin_id)); CREATE TABLE thin_journal (id INTEGER PRIMARY KEY AUTOINCREMENT, pool TEXT NOT NULL, kind TEXT NOT NULL, args TEXT NOT NULL DEFAULT '', thin_id INTEGER NULL, state TEXT NOT NULL CHECK (state IN ('intent', 'kernel-done', 'committed')), txid_before INTEGER NOT NULL, txid_after INTEGER NOT NULL); CREATE INDEX thin_journal_open ON thin_journal(pool, state);"},
    // The devicemapper driver: layer id -> thin device, and the lookup by thin device name.
    {3, "CREATE TABLE dm_layers (id TEXT PRIMARY KEY NOT NULL, pool TEXT NOT NULL, thin_id INTEGER NOT NULL, parent TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL CHECK (kind IN ('ro', 'rw'))); CREATE INDEX thin_devices_by_name ON thin_devices(pool, name);"},
    // Named volumes (volumes/catalog.h) and their attachments.
    {4, R"sql(
CREATE TABLE volumes (
  name          TEXT PRIMARY KEY NOT NULL,
  backend       TEXT NOT NULL CHECK (backend IN ('thin', 'loop', 'local')),
  fs            TEXT NOT NULL,
  size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
  pending_bytes INTEGER NOT NULL DEFAULT 0,
  mkfs_options  TEXT NOT NULL DEFAULT '[]',
  mount_options TEXT NOT NULL DEFAULT '[]',
  labels        TEXT NOT NULL DEFAULT '{}',
  path          TEXT NOT NULL DEFAULT '',
  ref           TEXT NOT NULL DEFAULT '',
  origin        TEXT NOT NULL DEFAULT '',
  snapshot      INTEGER NOT NULL DEFAULT 0,
  state         TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'resizing', 'removing')),
  created       INTEGER NOT NULL
);
CREATE INDEX volumes_state ON volumes(state);
CREATE TABLE volume_attachments (
  volume    TEXT NOT NULL REFERENCES volumes(name),
  target    TEXT NOT NULL UNIQUE,
  read_only INTEGER NOT NULL,
  created   INTEGER NOT NULL,
  PRIMARY KEY (volume, target)
);
)sql"},
    // Images (images/image_store.h): one row per image (id = config digest), its names, its
    // layers in order (layer = layers.id, the chain id's hex), and the layers image loads made
    // (removed once no image uses them). Layer blobs live in <root>/images/blobs/sha256/.
    {5, R"sql(
CREATE TABLE images (
  id                  TEXT PRIMARY KEY NOT NULL,
  manifest_digest     TEXT NOT NULL,
  manifest_media_type TEXT NOT NULL,
  manifest            TEXT NOT NULL,
  config              TEXT NOT NULL,
  source              TEXT NOT NULL,
  size_bytes          INTEGER NOT NULL CHECK (size_bytes >= 0),
  created             INTEGER NOT NULL
);
CREATE TABLE image_names (
  name    TEXT PRIMARY KEY NOT NULL,
  image   TEXT NOT NULL REFERENCES images(id),
  created INTEGER NOT NULL
);
CREATE INDEX image_names_image ON image_names(image);
CREATE TABLE image_layers (
  image       TEXT NOT NULL REFERENCES images(id),
  position    INTEGER NOT NULL CHECK (position >= 0),
  layer       TEXT NOT NULL,
  diff_id     TEXT NOT NULL,
  blob_digest TEXT NOT NULL,
  media_type  TEXT NOT NULL,
  blob_size   INTEGER NOT NULL CHECK (blob_size >= 0),
  diff_size   INTEGER NOT NULL CHECK (diff_size >= 0),
  PRIMARY KEY (image, position)
);
CREATE INDEX image_layers_layer ON image_layers(layer);
CREATE INDEX image_layers_blob ON image_layers(blob_digest);
CREATE TABLE image_owned_layers (
  layer     TEXT PRIMARY KEY NOT NULL,
  diff_size INTEGER NOT NULL DEFAULT 0
);
)sql"},
    // Containers (containers/container_store.h): one row per container made by `strata run`.
    // id = its read-write layer's id; pid/pid_start and monitor_pid/monitor_start identify the
    // processes without pid-reuse races; resources is JSON (volume attachments, cgroup dirs).
    {6, R"sql(
CREATE TABLE containers (
  id            TEXT PRIMARY KEY NOT NULL,
  name          TEXT UNIQUE,
  image         TEXT NOT NULL,
  image_ref     TEXT NOT NULL,
  command       TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('created', 'running', 'exited', 'removing')),
  detached      INTEGER NOT NULL DEFAULT 0,
  auto_remove   INTEGER NOT NULL DEFAULT 0,
  pid           INTEGER NOT NULL DEFAULT 0,
  pid_start     INTEGER NOT NULL DEFAULT 0,
  monitor_pid   INTEGER NOT NULL DEFAULT 0,
  monitor_start INTEGER NOT NULL DEFAULT 0,
  exit_code     INTEGER,
  resources     TEXT NOT NULL DEFAULT '{}',
  created       INTEGER NOT NULL,
  started       INTEGER NOT NULL DEFAULT 0,
  finished      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX containers_image ON containers(image);
)sql"},
};

// Maps an (extended) SQLite result code to the errno strata callers branch on.
int ErrnoFor(int rc, int system_errno) {
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return EEXIST;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return EBUSY;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return EINVAL;
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_READONLY:
      return EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return EACCES;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_CANTOPEN:
      return system_errno != 0 ? system_errno : ENOENT;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return EUCLEAN;
    default:
      return system_errno != 0 ? system_errno : EIO;
  }
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// Versions must be 1, 2, ... in order: a gap or a repeat is a programming error.
Status CheckMigrationTable(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Error(EINVAL, "schema migration table: step " + std::to_string(i) + " has version " +
                               std::to_string(migrations[i].version) + ", want " +
                               std::to_string(i + 1));
    }
  }
  return Ok();
}

}  // namespace

std::span<const Migration> StoreMigrations() { return kMigrations; }

// --- Statement --------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : store_(other.store_), stmt_(std::exchange(other.stmt_, nullptr)), cached_(other.cached_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Statement released(std::move(*this));  // hands ours back (or finalises it) at scope end
    store_ = other.store_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    cached_ = other.cached_;
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (cached_) {
    store_->ReturnToCache(stmt_);
  } else {
    (void)sqlite3_finalize(stmt_);  // errors were reported by Step
  }
}

Status Statement::BindResult(int rc, int idx) {
  if (rc == SQLITE_OK) return Ok();
  return store_->SqliteError(rc, "bind parameter " + std::to_string(idx));
}

Status Statement::Bind(int idx, int64_t value) {
  return BindResult(sqlite3_bind_int64(stmt_, idx, value), idx);
}

Status Statement::Bind(int idx, std::string_view value) {
  return BindResult(sqlite3_bind_text64(stmt_, idx, value.data(), value.size(),
                                        SQLITE_TRANSIENT, SQLITE_UTF8),
                    idx);
}

Status Statement::BindNull(int idx) { return BindResult(sqlite3_bind_null(stmt_, idx), idx); }

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = store_->SqliteError(rc, "");
  (void)sqlite3_reset(stmt_);  // the error is reported above; reset only readies a retry
  return error;
}

Status Statement::Run() {
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

void Statement::Reset() { (void)sqlite3_reset(stmt_); }  // errors were reported by Step

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return "";
  int size = sqlite3_column_bytes(stmt_, col);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// --- Store ------------------------------------------------------------------------------------

Store::Store(std::string path, sqlite3* db, std::chrono::milliseconds busy_timeout)
    : path_(std::move(path)), db_(db), busy_timeout_(busy_timeout) {}

Store::~Store() {
  for (auto& [sql, cached] : cache_) (void)sqlite3_finalize(cached.stmt);  // before db_ closes
}

void Store::ReturnToCache(sqlite3_stmt* stmt) {
  (void)sqlite3_reset(stmt);  // errors were reported by Step
  (void)sqlite3_clear_bindings(stmt);
  for (auto& [sql, cached] : cache_) {
    if (cached.stmt == stmt) cached.in_use = false;
  }
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& db_path, StoreOptions options) {
  std::span<const Migration> migrations =
      options.migrations.empty() ? StoreMigrations() : options.migrations;
  STRATA_TRY(CheckMigrationTable(migrations));
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(db_path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // The handle is ours even when open fails (it carries the error message).
  std::unique_ptr<Store> store(new Store(db_path, raw, options.busy_timeout));
  if (raw == nullptr) return Error(ENOMEM, "open metadata store " + db_path + ": out of memory");
  if (rc != SQLITE_OK) return store->SqliteError(rc, "open");
  sqlite3_extended_result_codes(raw, 1);
  STRATA_TRY(store->Configure());
  STRATA_TRY(store->Migrate(migrations));
  return store;
}

Status Store::Configure() {
  int rc = sqlite3_busy_timeout(db_.get(), static_cast<int>(busy_timeout_.count()));
  if (rc != SQLITE_OK) return SqliteError(rc, "set busy timeout");
  // journal_mode answers with the mode now in effect: a filesystem without shared memory
  // support may refuse WAL, and that must not pass silently.
  STRATA_ASSIGN_OR_RETURN(Statement mode, Prepare("PRAGMA journal_mode=WAL"));
  // Switching a new database to WAL needs its exclusive lock, and SQLite returns SQLITE_BUSY for
  // that at once, without the busy handler: several processes opening a fresh store together
  // (8 parallel `vol create`) retry here, within the same timeout.
  Result<bool> stepped = mode.Step();
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
  auto pause = std::chrono::milliseconds(5);
  while (!stepped.ok() && stepped.error().code() == EBUSY &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
    mode.Reset();
    stepped = mode.Step();
  }
  STRATA_ASSIGN_OR_RETURN(bool row, std::move(stepped));
  if (!row || mode.ColumnText(0) != "wal") {
    return Error(EOPNOTSUPP, "metadata store " + path_ + ": cannot enable WAL journal (got \"" +
                                 (row ? mode.ColumnText(0) : std::string()) + "\")");
  }
  return Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
}

Result<int> Store::SchemaVersion() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA user_version"));
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error(EIO, "metadata store " + path_ + ": no user_version");
  return static_cast<int>(stmt.ColumnInt(0));
}

Status Store::Migrate(std::span<const Migration> migrations) {
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  auto check = [&](int version) -> Status {
    if (version <= latest) return Ok();
    return Error(EPROTO, "metadata store " + path_ + " has schema version " +
                             std::to_string(version) + ", newer than this strata knows (" +
                             std::to_string(latest) + "); use a newer strata");
  };
  // Fast path without the write lock: an up-to-date store is only read.
  STRATA_ASSIGN_OR_RETURN(int version, SchemaVersion());
  STRATA_TRY(check(version));
  if (version == latest) return Ok();
  return Transaction([&]() -> Status {
    // Re-read under the lock: another process may have migrated meanwhile.
    STRATA_ASSIGN_OR_RETURN(int current, SchemaVersion());
    STRATA_TRY(check(current));
    for (const Migration& step : migrations) {
      if (step.version <= current) continue;
      STRATA_TRY_CTX(Exec(step.sql), "schema migration to version " + std::to_string(step.version));
    }
    if (current == latest) return Ok();
    return Exec("PRAGMA user_version = " + std::to_string(latest));
  });
}

std::string Store::Dir() const {
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

Result<Statement> Store::Prepare(std::string_view sql) {
  std::string key(sql);
  auto it = cache_.find(key);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, /*cached=*/true);
  }
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    (void)sqlite3_finalize(raw);  // null-safe
    return SqliteError(rc, "prepare \"" + std::string(sql.substr(0, 60)) + "\"");
  }
  if (raw == nullptr) return Error(EINVAL, "prepare: empty SQL");
  if (it != cache_.end()) return Statement(this, raw, /*cached=*/false);  // nested use
  cache_.emplace(std::move(key), CachedStatement{raw, true});
  return Statement(this, raw, /*cached=*/true);
}

Status Store::Exec(std::string_view sql) {
  std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, "");
  return Ok();
}

int64_t Store::ChangedRows() const { return sqlite3_changes64(db_.get()); }

Status Store::Transaction(const std::function<Status()>& body) {
  if (in_transaction_) return body();
  STRATA_TRY(Exec("BEGIN IMMEDIATE"));
  in_transaction_ = true;
  // Rolls back on an error result and also if `body` throws (third-party code).
  auto rollback = MakeGuard([this] {
    in_transaction_ = false;
    if (sqlite3_get_autocommit(db_.get()) == 0) {
      (void)Exec("ROLLBACK");  // best effort: closing the connection also rolls back
    }
  });
  Status status = body();
  if (!status.ok()) return status;
  STRATA_TRY(Exec("COMMIT"));
  rollback.Release();
  in_transaction_ = false;
  return Ok();
}

Error Store::SqliteError(int rc, std::string_view what) const {
  int code = ErrnoFor(rc, db_ ? sqlite3_system_errno(db_.get()) : 0);
  if (code == EBUSY) {
    return Error(EBUSY, "metadata store " + path_ +
                            " is locked by another strata process (waited " +
                            FormatDuration(busy_timeout_) + "); try again");
  }
  std::string message = "metadata store " + path_;
  if (!what.empty()) message += ": " + std::string(what);
  message += ": ";
  message += db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  return Error(code, std::move(message));
}

Status Store::NonDurable(const std::function<Status()>& body) {
  if (in_transaction_) return Error(EINVAL, "store: NonDurable inside a transaction");
  auto pragma = [this](std::string_view sql) -> Status {
    STRATA_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    return stmt.Run();
  };
  STRATA_TRY(pragma("PRAGMA synchronous=NORMAL"));
  Status result = body();
  Status restored = pragma("PRAGMA synchronous=FULL");
  if (!result.ok()) return result;
  return restored;
}

}  // namespace strata
