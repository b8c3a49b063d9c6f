// Store: strata's crash-safe metadata store, one SQLite database file (<root>/strata.db).
//
// - Durability: WAL journal, synchronous=FULL, foreign keys enforced. A committed Transaction
//   survives power loss; an interrupted one leaves no trace.
// - Schema: versioned by `PRAGMA user_version`. Migrations are a constexpr table of
//   (version, SQL) steps (core/store.cc: kMigrations); Open applies the missing ones in order
//   inside one transaction. Adding a table later is one new line in that table. A database whose
//   version is newer than this binary knows is refused (EPROTO), never touched.
// - Locking between processes: SQLite's own file locks. Write transactions start with
//   BEGIN IMMEDIATE, so two strata processes never interleave writes; the second waits up to
//   StoreOptions::busy_timeout and then fails with EBUSY:
//     metadata store /var/lib/strata/strata.db is locked by another strata process (waited 30s);
//     try again
//   Keep transactions short: never hold one across a long driver operation.
//
// Thread-safety: a Store (and its Statements) is used by one thread at a time. Do not use a Store
// across fork(): the child opens its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

struct sqlite3;
struct sqlite3_stmt;
extern "C" int sqlite3_finalize(sqlite3_stmt*);
extern "C" int sqlite3_close_v2(sqlite3*);

namespace strata {

// One schema step: run `sql` (may hold several statements) to go from version - 1 to `version`.
struct Migration {
  int version;
  std::string_view sql;
};

// The built-in schema steps, in order (versions 1, 2, ...).
std::span<const Migration> StoreMigrations();

struct StoreOptions {
  // How long to wait for another process's write transaction before failing with EBUSY.
  // Generous: SQLite's busy handler retries with back-off and has no queue, so with many
  // processes at once (8 parallel `vol create` in a slow VM) one can lose several rounds in a
  // row while each transaction itself stays short.
  std::chrono::milliseconds busy_timeout{30000};
  // Schema steps to apply; empty means StoreMigrations(). Tests pass their own table.
  std::span<const Migration> migrations;
};

class Store;

// A prepared statement. Parameter indexes are 1-based (SQLite's), column indexes 0-based.
// Move-only. Borrowed from its Store, which must outlive it: statements come from the Store's
// cache (compiled once per SQL text) and go back to it, reset and unbound, on destruction.
class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  Status Bind(int idx, int64_t value);
  Status Bind(int idx, std::string_view value);  // copied (SQLITE_TRANSIENT)
  Status BindNull(int idx);

  // Runs one step: true when a row is available (read it with the column getters), false when
  // the statement is done. SQLITE_BUSY becomes EBUSY with the "locked by another strata
  // process" message; constraint violations EEXIST (unique/primary key) or EINVAL (others).
  Result<bool> Step();
  // Steps until done, ignoring rows: for INSERT/UPDATE/DELETE.
  Status Run();
  // Back to before the first Step; bindings are kept.
  void Reset();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;  // "" for NULL
  bool ColumnIsNull(int col) const;

 private:
  friend class Store;
  Statement(Store* store, sqlite3_stmt* stmt, bool cached)
      : store_(store), stmt_(stmt), cached_(cached) {}
  Status BindResult(int rc, int idx);

  Store* store_;
  sqlite3_stmt* stmt_;  // finalised, or handed back to store_'s cache when cached_
  bool cached_;
};

class Store {
 public:
  // Opens (creating if missing) the database at `db_path` and brings its schema up to date.
  // The directory must exist: the caller creates the strata root (ENOENT otherwise).
  // Errors: EPROTO when the file's schema is newer than this binary's; EBUSY when another process
  // holds the write lock longer than options.busy_timeout; EIO/ENOSPC/EACCES from SQLite.
  static Result<std::unique_ptr<Store>> Open(const std::string& db_path, StoreOptions options = {});

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  const std::string& path() const { return path_; }
  // The directory holding the database file: the strata root.
  std::string Dir() const;
  std::chrono::milliseconds busy_timeout() const { return busy_timeout_; }
  // The schema version recorded in the file (PRAGMA user_version).
  Result<int> SchemaVersion();

  // Compiles one SQL statement.
  Result<Statement> Prepare(std::string_view sql);
  // Runs SQL text (one or more statements, no parameters, rows ignored).
  Status Exec(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t ChangedRows() const;

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when `body` (or COMMIT) fails and
  // returns that error. A Transaction inside a Transaction joins the outer one (its error still
  // rolls back the whole outer transaction once it propagates there).
  Status Transaction(const std::function<Status()>& body);
  bool InTransaction() const { return in_transaction_; }

  // Runs `body` with synchronous=NORMAL instead of FULL: its commits survive a crash of the
  // process but may be lost with the machine (WAL: no fsync per commit). Only for state that
  // does not outlive a reboot anyway, such as mount reference counts (mounts are gone after a
  // reboot and reconciliation resets the counts). Must not be called inside a Transaction.
  Status NonDurable(const std::function<Status()>& body);

  // An Error for SQLite result code `rc` on this connection, wrapped in `what`. Public for
  // Statement; callers normally never need it.
  Error SqliteError(int rc, std::string_view what) const;

 private:
  Store(std::string path, sqlite3* db, std::chrono::milliseconds busy_timeout);
  Status Configure();
  Status Migrate(std::span<const Migration> migrations);

  friend class Statement;
  // Called by ~Statement for a cached statement: marks it free for the next Prepare.
  void ReturnToCache(sqlite3_stmt* stmt);

  std::string path_;
  CPtr<sqlite3, sqlite3_close_v2> db_;
  // SQL text -> compiled statement and whether a Statement holds it now. A second Prepare of a
  // held text (nested use) gets an uncached statement. Finalised before db_ closes.
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  std::unordered_map<std::string, CachedStatement> cache_;
  std::chrono::milliseconds busy_timeout_;
  bool in_transaction_ = false;
};

}  // namespace strata
