#include "core/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include <chrono>
#include <filesystem>
#include <string>

namespace strata {
namespace {

using std::chrono::milliseconds;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/strata.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> MustOpen(StoreOptions options = {}) {
    auto store = Store::Open(db_path_, options);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Count of rows answered by `sql` (a SELECT count(*)).
  int64_t Count(Store& store, std::string_view sql) {
    auto stmt = store.Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.error().message();
    if (!stmt.ok()) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.ok() && *row);
    return stmt->ColumnInt(0);
  }

  std::string dir_;
  std::string db_path_;
};

TEST_F(StoreTest, OpenCreatesSchemaAndWal) {
  auto store = MustOpen();
  ASSERT_TRUE(store);
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, StoreMigrations().back().version);
  EXPECT_EQ(Count(*store, "SELECT count(*) FROM sqlite_master WHERE name = 'layers'"), 1);
  auto mode = store->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
  EXPECT_EQ(Count(*store, "PRAGMA foreign_keys"), 1);
  EXPECT_EQ(Count(*store, "PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(store->Dir(), dir_);
}

TEST_F(StoreTest, MissingDirectoryIsEnoent) {
  auto store = Store::Open(dir_ + "/no/such/strata.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ENOENT) << store.error().message();
}

// Step 2 is not idempotent (an INSERT): running it twice would show two rows.
constexpr Migration kTestMigrations[] = {
    {1, "CREATE TABLE t (x INTEGER PRIMARY KEY, note TEXT);"},
    {2, "INSERT INTO t (note) VALUES ('step2');"},
};

TEST_F(StoreTest, MigrationsApplyOnceAndReopenIsNoop) {
  StoreOptions options;
  options.migrations = kTestMigrations;
  {
    auto store = MustOpen(options);
    ASSERT_TRUE(store);
    EXPECT_EQ(*store->SchemaVersion(), 2);
    EXPECT_EQ(Count(*store, "SELECT count(*) FROM t"), 1);
  }
  auto store = MustOpen(options);
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->SchemaVersion(), 2);
  EXPECT_EQ(Count(*store, "SELECT count(*) FROM t"), 1);
}

TEST_F(StoreTest, MigrationsResumeFromRecordedVersion) {
  StoreOptions first;
  first.migrations = std::span<const Migration>(kTestMigrations, 1);
  ASSERT_TRUE(MustOpen(first));
  StoreOptions both;
  both.migrations = kTestMigrations;
  auto store = MustOpen(both);
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->SchemaVersion(), 2);
  EXPECT_EQ(Count(*store, "SELECT count(*) FROM t"), 1);
}

TEST_F(StoreTest, FailingMigrationLeavesVersionUnchanged) {
  constexpr Migration bad[] = {{1, "CREATE TABLE t (x INTEGER);"}, {2, "THIS IS NOT SQL;"}};
  StoreOptions options;
  options.migrations = bad;
  auto store = Store::Open(db_path_, options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("schema migration to version 2"), std::string::npos)
      << store.error().message();
  options.migrations = std::span<const Migration>(bad, 1);
  auto again = MustOpen(options);
  ASSERT_TRUE(again);
  // Step 1 ran in the same (rolled back) transaction as step 2, so it is re-applied cleanly.
  EXPECT_EQ(*again->SchemaVersion(), 1);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  {
    auto store = MustOpen();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Exec("PRAGMA user_version = 999").ok());
  }
  auto store = Store::Open(db_path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), EPROTO);
  EXPECT_NE(store.error().message().find("schema version 999, newer than this strata knows"),
            std::string::npos)
      << store.error().message();
}

TEST_F(StoreTest, TransactionCommitsAndRollsBack) {
  auto store = MustOpen();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)").ok());
  Status ok = store->Transaction([&] { return store->Exec("INSERT INTO kv VALUES ('a', 1)"); });
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  Status failed = store->Transaction([&]() -> Status {
    STRATA_TRY(store->Exec("INSERT INTO kv VALUES ('b', 2)"));
    EXPECT_TRUE(store->InTransaction());
    return Error(EIO, "driver step failed");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), EIO);
  EXPECT_FALSE(store->InTransaction());
  EXPECT_EQ(Count(*store, "SELECT count(*) FROM kv"), 1);
  // A constraint error inside the body rolls back the earlier statements too.
  Status dup = store->Transaction([&]() -> Status {
    STRATA_TRY(store->Exec("INSERT INTO kv VALUES ('c', 3)"));
    return store->Exec("INSERT INTO kv VALUES ('a', 4)");
  });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), EEXIST) << dup.error().message();
  EXPECT_EQ(Count(*store, "SELECT count(*) FROM kv"), 1);
}

TEST_F(StoreTest, StatementBindAndColumns) {
  auto store = MustOpen();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER, n TEXT)").ok());
  auto insert = store->Prepare("INSERT INTO kv (k, v, n) VALUES (?1, ?2, ?3)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->Bind(1, std::string("key")).ok());
  ASSERT_TRUE(insert->Bind(2, int64_t{1} << 40).ok());
  ASSERT_TRUE(insert->BindNull(3).ok());
  ASSERT_TRUE(insert->Run().ok());
  EXPECT_EQ(store->ChangedRows(), 1);
  EXPECT_FALSE(insert->Bind(9, int64_t{1}).ok());  // out of range
  auto select = store->Prepare("SELECT k, v, n FROM kv");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*select->Step());
  EXPECT_EQ(select->ColumnText(0), "key");
  EXPECT_EQ(select->ColumnInt(1), int64_t{1} << 40);
  EXPECT_TRUE(select->ColumnIsNull(2));
  EXPECT_FALSE(*select->Step());
  EXPECT_FALSE(store->Prepare("SELEKT 1").ok());
}

TEST_F(StoreTest, ForeignKeysAreEnforced) {
  auto store = MustOpen();
  ASSERT_TRUE(store);
  Status st = store->Exec(
      "INSERT INTO layers (id, parent, kind, driver, created, state) "
      "VALUES ('a', 'missing', 'ro', 'vfs', 0, 'ready')");
  EXPECT_FALSE(st.ok());
}

TEST_F(StoreTest, SecondWriterFailsWithEbusyAfterTimeout) {
  StoreOptions options;
  options.busy_timeout = milliseconds(200);
  auto first = MustOpen(options);
  auto second = MustOpen(options);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Exec("BEGIN IMMEDIATE").ok());
  auto start = std::chrono::steady_clock::now();
  bool ran = false;
  Status st = second->Transaction([&] {
    ran = true;
    return Ok();
  });
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(ran);
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_EQ(st.error().message(), "metadata store " + db_path_ +
                                      " is locked by another strata process (waited 200ms); "
                                      "try again");
  EXPECT_GE(waited, milliseconds(190));
  EXPECT_LT(waited, milliseconds(3000));
  // Readers are not blocked by the writer (WAL).
  EXPECT_EQ(Count(*second, "SELECT count(*) FROM layers"), 0);
  ASSERT_TRUE(first->Exec("COMMIT").ok());
  EXPECT_TRUE(second->Transaction([] { return Ok(); }).ok());
}

TEST_F(StoreTest, BusyMessageUsesSecondsForWholeSeconds) {
  StoreOptions options;
  options.busy_timeout = milliseconds(1000);
  auto first = MustOpen(options);
  auto second = MustOpen(options);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Exec("BEGIN IMMEDIATE").ok());
  Status st = second->Exec("BEGIN IMMEDIATE");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("(waited 1s)"), std::string::npos) << st.error().message();
  ASSERT_TRUE(first->Exec("ROLLBACK").ok());
}

TEST_F(StoreTest, CachedStatementsComeBackResetAndNestedUseGetsItsOwn) {
  auto store = MustOpen();
  ASSERT_TRUE(store->Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2);").ok());
  constexpr std::string_view kSql = "SELECT v FROM t WHERE v >= ?1 ORDER BY v";
  {
    auto first = store->Prepare(kSql);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(first->Bind(1, int64_t{2}).ok());
    ASSERT_TRUE(*first->Step());
    EXPECT_EQ(first->ColumnInt(0), 2);
    // The same text while `first` is mid-iteration: an independent statement.
    auto nested = store->Prepare(kSql);
    ASSERT_TRUE(nested.ok());
    ASSERT_TRUE(nested->Bind(1, int64_t{1}).ok());
    ASSERT_TRUE(*nested->Step());
    EXPECT_EQ(nested->ColumnInt(0), 1);
    ASSERT_TRUE(*nested->Step());
    EXPECT_EQ(nested->ColumnInt(0), 2);
    EXPECT_FALSE(*first->Step());
  }
  // Back from the cache: reset and unbound (NULL matches nothing), not left mid-row.
  auto again = store->Prepare(kSql);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again->Step());
  Statement moved = std::move(again).value();
  moved.Reset();
  ASSERT_TRUE(moved.Bind(1, int64_t{1}).ok());
  EXPECT_TRUE(*moved.Step());
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Many processes opening one fresh store at once: the switch to WAL returns SQLITE_BUSY without
// the busy handler, so Open must retry it (8 parallel `vol create` on a new root failed so). The
// race needs slow processes: it shows under TCG (the vm tier runs this test too), rarely here.
TEST(StoreConcurrentOpenTest, ProcessesOpeningAFreshStoreTogetherAllSucceed) {
  constexpr int kRounds = 40;
  constexpr int kProcesses = 24;
  char tmpl[] = "/tmp/strata-store-open-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = dir + "/r" + std::to_string(round) + ".db";
    std::vector<pid_t> children;
    for (int i = 0; i < kProcesses; ++i) {
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        auto store = Store::Open(path);
        if (!store.ok()) {
          std::fprintf(stderr, "child %d: %s\n", i, store.error().message().c_str());
          ::_exit(1);
        }
        ::_exit(0);
      }
      children.push_back(pid);
    }
    int failures = 0;
    for (pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
    }
    EXPECT_EQ(failures, 0) << "round " << round;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata
