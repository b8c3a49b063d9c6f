// AttachLoop policy and LoopAttachment ownership, against FakeLoop.
#include "core/loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/fakes/fake_loop.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

sys::LoopConfig Direct() {
  sys::LoopConfig c;
  c.io = sys::LoopIo::kDirect;
  return c;
}

TEST(AttachLoopTest, AttachesAndDetachesOnDestruction) {
  FakeLoop loop;
  {
    auto a = AttachLoop(loop, "/img", {});
    ASSERT_TRUE(a.ok()) << a.error().message();
    EXPECT_EQ(a->device().index, 0);
    EXPECT_EQ(a->device().path, "/dev/loop0");
    EXPECT_GE(a->fd(), 0);
    EXPECT_EQ(loop.bound().count(0), 1u);
  }
  EXPECT_TRUE(loop.bound().empty());
  EXPECT_THAT(loop.calls(),
              ElementsAre("get_free", "configure 0 /img autoclear", "detach /dev/loop0"));
}

TEST(AttachLoopTest, RetriesWhenFreeIndexIsRaced) {
  FakeLoop loop;
  loop.FailNext("configure", EBUSY);
  loop.FailNext("configure", EBUSY);
  auto a = AttachLoop(loop, "/img", {});
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(loop.calls().size(), 6u);  // three get_free + configure rounds
  a->Release();
}

TEST(AttachLoopTest, GivesUpAfterBoundedAttempts) {
  FakeLoop loop;
  for (int i = 0; i < kLoopAttachAttempts; ++i) loop.FailNext("configure", EBUSY);
  auto a = AttachLoop(loop, "/img", {});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), EBUSY);
  EXPECT_THAT(a.error().message(), HasSubstr("attach loop /img: LOOP_CONFIGURE"));
  EXPECT_EQ(loop.calls().size(), 2u * kLoopAttachAttempts);
}

TEST(AttachLoopTest, OtherErrorsAreNotRetried) {
  FakeLoop loop;
  loop.FailNext("configure", EACCES);
  auto a = AttachLoop(loop, "/img", {});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), EACCES);
  EXPECT_EQ(loop.calls().size(), 2u);
  loop.FailNext("get_free", ENOENT);
  EXPECT_EQ(AttachLoop(loop, "/img", {}).error().code(), ENOENT);
}

TEST(AttachLoopTest, FallsBackToBufferedWhenDirectIoRefused) {
  FakeLoop loop;
  loop.FailNext("configure", EINVAL);
  auto a = AttachLoop(loop, "/img", Direct());
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->io(), sys::LoopIo::kBuffered);
  EXPECT_THAT(loop.calls(), ElementsAre("get_free", "configure 0 /img dio autoclear", "get_free",
                                        "configure 0 /img autoclear"));
}

TEST(AttachLoopTest, DirectIoKeptWhenAccepted) {
  FakeLoop loop;
  auto a = AttachLoop(loop, "/img", Direct());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->io(), sys::LoopIo::kDirect);
}

TEST(AttachLoopTest, EinvalWithoutDirectIoIsAnError) {
  FakeLoop loop;
  loop.FailNext("configure", EINVAL);
  EXPECT_EQ(AttachLoop(loop, "/img", {}).error().code(), EINVAL);
  EXPECT_EQ(loop.calls().size(), 2u);
}

TEST(LoopAttachmentTest, ReleaseKeepsDeviceAttached) {
  FakeLoop loop;
  sys::LoopDevice dev;
  {
    auto a = AttachLoop(loop, "/img", {});
    ASSERT_TRUE(a.ok());
    dev = a->Release();
  }
  EXPECT_EQ(dev.path, "/dev/loop0");
  EXPECT_EQ(loop.bound().count(0), 1u);
  EXPECT_THAT(loop.calls(), ::testing::Not(::testing::Contains("detach /dev/loop0")));
}

TEST(LoopAttachmentTest, ExplicitDetachIsIdempotentAndReportsErrors) {
  FakeLoop loop;
  auto a = AttachLoop(loop, "/img", {});
  ASSERT_TRUE(a.ok());
  loop.FailNext("detach", EBUSY);
  EXPECT_EQ(a->Detach().error().code(), EBUSY);
  EXPECT_TRUE(a->Detach().ok());  // no longer owned: nothing to do
}

TEST(LoopAttachmentTest, MoveTransfersOwnership) {
  FakeLoop loop;
  auto a = AttachLoop(loop, "/a", {});
  auto b = AttachLoop(loop, "/b", {});
  ASSERT_TRUE(a.ok() && b.ok());
  LoopAttachment moved = std::move(*a);
  EXPECT_EQ(loop.bound().size(), 2u);
  moved = std::move(*b);  // detaches /dev/loop0, now owns /dev/loop1
  EXPECT_EQ(loop.bound().count(0), 0u);
  EXPECT_EQ(moved.device().index, 1);
  EXPECT_TRUE(moved.Detach().ok());
  EXPECT_TRUE(loop.bound().empty());
}

TEST(FakeLoopTest, CapacityAndFind) {
  FakeLoop loop;
  loop.SetFileSize("/img", 64 << 20);
  auto a = AttachLoop(loop, "/img", {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*loop.SizeBytes(a->device()), uint64_t{64} << 20);
  loop.SetFileSize("/img", 128 << 20);
  EXPECT_EQ(*loop.SizeBytes(a->device()), uint64_t{64} << 20);
  ASSERT_TRUE(loop.SetCapacity(a->device()).ok());
  EXPECT_EQ(*loop.SizeBytes(a->device()), uint64_t{128} << 20);
  EXPECT_EQ(loop.FindByBackingFile("/img")->index, 0);
  EXPECT_EQ(loop.FindByBackingFile("/other").error().code(), ENOENT);
}

}  // namespace
}  // namespace strata
