#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/fakes/fake_device_mapper.h"
#include "thinpool/journal.h"
#include "thinpool/tables.h"

namespace strata::thinpool {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

JournalRecord Rec(JournalKind kind, JournalState state, uint64_t before, uint32_t id = 7) {
  return {1, "p", kind, "", id, state, before, KindMovesTransactionId(kind) ? before + 1 : before};
}

// --- ReconcileDecision (pure) ------------------------------------------------------------------

TEST(ReconcileDecisionTest, PoolAtAfterRollsForwardWithoutMessages) {
  for (JournalKind kind :
       {JournalKind::kCreateThin, JournalKind::kCreateSnap, JournalKind::kDelete}) {
    for (JournalState state : {JournalState::kIntent, JournalState::kKernelDone}) {
      ReconcilePlan plan = ReconcileDecision(Rec(kind, state, 4), 5);
      EXPECT_EQ(plan.action, ReconcileAction::kRollForward) << JournalKindName(kind);
      EXPECT_THAT(plan.messages, IsEmpty());
    }
  }
}

TEST(ReconcileDecisionTest, IntentCreateAtBeforeRollsBackWithDelete) {
  for (JournalKind kind : {JournalKind::kCreateThin, JournalKind::kCreateSnap}) {
    ReconcilePlan plan = ReconcileDecision(Rec(kind, JournalState::kIntent, 4, 9), 4);
    EXPECT_EQ(plan.action, ReconcileAction::kRollBack);
    EXPECT_THAT(plan.messages, ElementsAre("delete 9"));
  }
}

TEST(ReconcileDecisionTest, KernelDoneAtBeforeReplaysOnlySetTransactionId) {
  ReconcilePlan plan =
      ReconcileDecision(Rec(JournalKind::kCreateSnap, JournalState::kKernelDone, 4), 4);
  EXPECT_EQ(plan.action, ReconcileAction::kRollForward);
  EXPECT_THAT(plan.messages, ElementsAre("set_transaction_id 4 5"));
}

TEST(ReconcileDecisionTest, IntentDeleteAtBeforeReplaysDeleteThenTransactionId) {
  ReconcilePlan plan = ReconcileDecision(Rec(JournalKind::kDelete, JournalState::kIntent, 0, 3), 0);
  EXPECT_EQ(plan.action, ReconcileAction::kRollForward);
  EXPECT_THAT(plan.messages, ElementsAre("delete 3", "set_transaction_id 0 1"));
}

TEST(ReconcileDecisionTest, ForeignTransactionIdIsRefused) {
  for (uint64_t txid : {uint64_t{0}, uint64_t{3}, uint64_t{6}, uint64_t{100}}) {
    ReconcilePlan plan =
        ReconcileDecision(Rec(JournalKind::kCreateThin, JournalState::kIntent, 4), txid);
    EXPECT_EQ(plan.action, ReconcileAction::kRefuse) << txid;
    EXPECT_THAT(plan.messages, IsEmpty());
    EXPECT_THAT(plan.reason, HasSubstr("expected 4 or 5"));
  }
}

TEST(ReconcileDecisionTest, MessageKindWithoutThinIdIsRefused) {
  JournalRecord r = Rec(JournalKind::kCreateThin, JournalState::kIntent, 4);
  r.thin_id.reset();
  EXPECT_EQ(ReconcileDecision(r, 4).action, ReconcileAction::kRefuse);
}

TEST(ReconcileDecisionTest, NonMessageKindsAreDroppedWhateverTheTransactionId) {
  for (JournalKind kind : {JournalKind::kPoolCreate, JournalKind::kGrow, JournalKind::kExtend}) {
    ReconcilePlan plan = ReconcileDecision(Rec(kind, JournalState::kIntent, 4), 17);
    EXPECT_EQ(plan.action, ReconcileAction::kRollBack) << JournalKindName(kind);
    EXPECT_THAT(plan.messages, IsEmpty());
  }
}

TEST(ReconcileDecisionTest, CommittedNeedsNothing) {
  ReconcilePlan plan = ReconcileDecision(Rec(JournalKind::kDelete, JournalState::kCommitted, 4), 9);
  EXPECT_EQ(plan.action, ReconcileAction::kRollForward);
  EXPECT_THAT(plan.messages, IsEmpty());
}

TEST(JournalNamesTest, RoundTrip) {
  for (JournalKind kind :
       {JournalKind::kPoolCreate, JournalKind::kCreateThin, JournalKind::kCreateSnap,
        JournalKind::kDelete, JournalKind::kGrow, JournalKind::kExtend}) {
    auto parsed = ParseJournalKind(JournalKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ParseJournalKind("create").error().code(), EINVAL);
  EXPECT_EQ(*ParseJournalState("kernel-done"), JournalState::kKernelDone);
  EXPECT_EQ(ParseJournalState("done").error().code(), EINVAL);
}

// --- Journal over a real Store, Reconcile over the fake kernel -------------------------------

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-journal-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = Store::Open(dir_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    journal_ = std::make_unique<Journal>(*store_, "pool");
    // A pool device in the fake kernel: thin-pool table over two fake device numbers.
    ThinPoolParams params;
    params.metadata = {7, 1};
    params.data = {7, 2};
    params.data_length_sectors = 128 * 1024;
    auto table = ThinPoolTable(params);
    ASSERT_TRUE(table.ok()) << table.error().message();
    ASSERT_TRUE(dm_.Create("pool", "STRATA-pool-pool").ok());
    ASSERT_TRUE(dm_.Load("pool", *table).ok());
    ASSERT_TRUE(dm_.Resume("pool").ok());
    dm_.ClearCalls();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  uint64_t PoolTxid() { return dm_.PoolOf("pool")->transaction_id; }
  bool PoolHas(uint32_t id) { return dm_.PoolOf("pool")->thins.count(id) != 0; }
  void Send(const std::string& message) { ASSERT_TRUE(dm_.Message("pool", 0, message).ok()); }

  Result<std::vector<ReconcileOutcome>> RunReconcile() {
    ReconcileHooks hooks{[this](const JournalRecord&) {
                           ++forward_;
                           return Ok();
                         },
                         [this](const JournalRecord&) {
                           ++back_;
                           return Ok();
                         }};
    return Reconcile(*journal_, dm_, "pool", PoolTxid(), hooks);
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Journal> journal_;
  FakeDeviceMapper dm_;
  int forward_ = 0;
  int back_ = 0;
};

TEST_F(JournalTest, BeginStoresIntentWithNextTransactionId) {
  auto r = journal_->Begin(JournalKind::kCreateThin, 5, "size=1G", 3);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->txid_before, 3u);
  EXPECT_EQ(r->txid_after, 4u);
  auto open = journal_->OpenRecords();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ(open->front(), *r);
}

TEST_F(JournalTest, SecondOpenOperationIsRefusedUntilCommitted) {
  auto r = journal_->Begin(JournalKind::kCreateThin, 5, "", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(journal_->Begin(JournalKind::kDelete, 5, "", 1).error().code(), EBUSY);
  ASSERT_TRUE(journal_->MarkKernelDone(r->id).ok());
  ASSERT_TRUE(journal_->Commit(r->id).ok());
  EXPECT_TRUE(journal_->Begin(JournalKind::kDelete, 5, "", 1).ok());
  Journal other(*store_, "other-pool");  // per pool
  EXPECT_TRUE(other.Begin(JournalKind::kCreateThin, 1, "", 0).ok());
}

TEST_F(JournalTest, CommitOfMissingRecordIsEnoent) {
  EXPECT_EQ(journal_->Commit(42).error().code(), ENOENT);
  EXPECT_TRUE(journal_->Drop(42).ok());  // idempotent
}

TEST_F(JournalTest, PruneKeepsOpenRecords) {
  auto a = journal_->Begin(JournalKind::kCreateThin, 1, "", 0);
  ASSERT_TRUE(a.ok() && journal_->Commit(a->id).ok());
  auto b = journal_->Begin(JournalKind::kCreateThin, 2, "", 1);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(journal_->PruneCommitted().ok());
  EXPECT_EQ(journal_->OpenRecords()->size(), 1u);
}

// A crash after each protocol step of a create_thin, then recovery.
TEST_F(JournalTest, CrashAfterIntentRollsBack) {
  ASSERT_TRUE(journal_->Begin(JournalKind::kCreateThin, 5, "", PoolTxid()).ok());
  auto outcomes = RunReconcile();
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().message();
  EXPECT_THAT(dm_.calls(), ElementsAre("message pool delete 5"));  // ENODATA: never happened
  EXPECT_EQ(back_, 1);
  EXPECT_FALSE(PoolHas(5));
  EXPECT_THAT(*journal_->OpenRecords(), IsEmpty());
}

TEST_F(JournalTest, CrashAfterMessageBeforeKernelDoneRollsBackAndDeletes) {
  ASSERT_TRUE(journal_->Begin(JournalKind::kCreateThin, 5, "", PoolTxid()).ok());
  Send("create_thin 5");
  ASSERT_TRUE(RunReconcile().ok());
  EXPECT_FALSE(PoolHas(5));  // no leaked id
  EXPECT_EQ(PoolTxid(), 0u);
  EXPECT_EQ(back_, 1);
  EXPECT_THAT(*journal_->OpenRecords(), IsEmpty());
}

TEST_F(JournalTest, CrashAfterKernelDoneRollsForward) {
  auto r = journal_->Begin(JournalKind::kCreateThin, 5, "", PoolTxid());
  Send("create_thin 5");
  ASSERT_TRUE(journal_->MarkKernelDone(r->id).ok());
  dm_.ClearCalls();
  ASSERT_TRUE(RunReconcile().ok());
  EXPECT_THAT(dm_.calls(), ElementsAre("message pool set_transaction_id 0 1"));
  EXPECT_TRUE(PoolHas(5));
  EXPECT_EQ(PoolTxid(), 1u);
  EXPECT_EQ(forward_, 1);
  EXPECT_THAT(*journal_->OpenRecords(), IsEmpty());
}

TEST_F(JournalTest, CrashAfterSetTransactionIdRollsForwardWithoutMessages) {
  auto r = journal_->Begin(JournalKind::kCreateThin, 5, "", PoolTxid());
  Send("create_thin 5");
  ASSERT_TRUE(journal_->MarkKernelDone(r->id).ok());
  Send("set_transaction_id 0 1");
  dm_.ClearCalls();
  ASSERT_TRUE(RunReconcile().ok());
  EXPECT_THAT(dm_.calls(), IsEmpty());
  EXPECT_TRUE(PoolHas(5));
  EXPECT_EQ(forward_, 1);
}

TEST_F(JournalTest, InterruptedDeleteIsReplayed) {
  Send("create_thin 3");
  Send("set_transaction_id 0 1");
  ASSERT_TRUE(journal_->Begin(JournalKind::kDelete, 3, "", 1).ok());
  Send("delete 3");  // crash after the message
  dm_.ClearCalls();
  ASSERT_TRUE(RunReconcile().ok());
  EXPECT_THAT(dm_.calls(), ElementsAre("message pool delete 3",  // ENODATA: done already
                                       "message pool set_transaction_id 1 2"));
  EXPECT_EQ(PoolTxid(), 2u);
  EXPECT_EQ(forward_, 1);
}

TEST_F(JournalTest, ForeignTransactionIdRefusesAndKeepsTheRecord) {
  ASSERT_TRUE(journal_->Begin(JournalKind::kCreateThin, 5, "", 7).ok());
  auto outcomes = RunReconcile();
  ASSERT_FALSE(outcomes.ok());
  EXPECT_EQ(outcomes.error().code(), EUCLEAN);
  EXPECT_THAT(outcomes.error().message(), HasSubstr("expected 7 or 8"));
  EXPECT_THAT(dm_.calls(), IsEmpty());
  EXPECT_EQ(journal_->OpenRecords()->size(), 1u);
}

TEST_F(JournalTest, FailedMessageKeepsTheRecordForTheNextAttempt) {
  ASSERT_TRUE(journal_->Begin(JournalKind::kCreateThin, 5, "", 0).ok());
  dm_.FailNext("message", EIO);
  EXPECT_EQ(RunReconcile().error().code(), EIO);
  EXPECT_EQ(journal_->OpenRecords()->size(), 1u);
  EXPECT_EQ(back_, 0);
  ASSERT_TRUE(RunReconcile().ok());
  EXPECT_THAT(*journal_->OpenRecords(), IsEmpty());
}

TEST_F(JournalTest, FailingHookLeavesTheRecordOpen) {
  ASSERT_TRUE(journal_->Begin(JournalKind::kCreateThin, 5, "", 0).ok());
  ReconcileHooks hooks{nullptr, [](const JournalRecord&) { return Status(Error(EIO, "hook")); }};
  EXPECT_EQ(Reconcile(*journal_, dm_, "pool", 0, hooks).error().code(), EIO);
  EXPECT_EQ(journal_->OpenRecords()->size(), 1u);
}

TEST(SendPoolMessageTest, EnodataOnlyForgivenForDelete) {
  FakeDeviceMapper dm;
  dm.FailNext("message", ENODATA);
  EXPECT_TRUE(SendPoolMessage(dm, "pool", "delete 3").ok());
  dm.FailNext("message", ENODATA);
  EXPECT_EQ(SendPoolMessage(dm, "pool", "create_snap 4 3").error().code(), ENODATA);
}

}  // namespace
}  // namespace strata::thinpool
