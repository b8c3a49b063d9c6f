// The pure overlay mount planner and layout helpers: no syscalls, no privileges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "drivers/overlay/layout.h"
#include "drivers/overlay/mount_plan.h"

namespace strata::drivers::overlay {
namespace {

using ::testing::HasSubstr;
using Method = OverlayMountPlan::Method;
using Kind = sys::FsParam::Kind;

const std::string kHome = "/var/lib/strata/overlay";

OverlayFeatures NewApi() {
  OverlayFeatures f;
  f.new_mount_api = true;
  f.index_off = f.redirect_dir_off = f.metacopy_off = true;
  return f;
}

OverlayFeatures Classic() {
  OverlayFeatures f = NewApi();
  f.new_mount_api = false;
  return f;
}

std::vector<std::string> Links(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string id = "L" + std::to_string(i);
    id.resize(kLinkIdLength, 'A');
    out.push_back(id);
  }
  return out;
}

std::vector<std::string> ParamValues(const OverlayMountPlan& plan, const std::string& key) {
  std::vector<std::string> out;
  for (const sys::FsParam& p : plan.params) {
    if (p.key == key) out.push_back(p.value);
  }
  return out;
}

TEST(OverlayMountPlan, BaseLayerIsNotMounted) {
  auto plan = PlanOverlayMount({kHome, "base", {}}, MountAccess::kReadOnly, NewApi());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->method, Method::kNone);
  EXPECT_EQ(plan->root_path, kHome + "/base/diff");
  EXPECT_TRUE(plan->target.empty());
}

TEST(OverlayMountPlan, NewApiReadWriteOneLowerPerCallNearestFirst) {
  auto plan = PlanOverlayMount({kHome, "top", {"AAA", "BBB"}}, MountAccess::kReadWrite, NewApi());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->method, Method::kNewApi);
  EXPECT_EQ(plan->target, kHome + "/top/merged");
  EXPECT_EQ(plan->root_path, plan->target);
  EXPECT_EQ(plan->lower_count, 2u);
  ASSERT_EQ(plan->params.size(), 8u);
  EXPECT_EQ(plan->params[0].key, "source");
  EXPECT_EQ(plan->params[1].key + "=" + plan->params[1].value, "index=off");
  EXPECT_EQ(plan->params[2].key + "=" + plan->params[2].value, "redirect_dir=off");
  EXPECT_EQ(plan->params[3].key + "=" + plan->params[3].value, "metacopy=off");
  EXPECT_THAT(ParamValues(*plan, "lowerdir+"),
              ::testing::ElementsAre(kHome + "/l/AAA", kHome + "/l/BBB"));
  EXPECT_THAT(ParamValues(*plan, "upperdir"), ::testing::ElementsAre(kHome + "/top/diff"));
  EXPECT_THAT(ParamValues(*plan, "workdir"), ::testing::ElementsAre(kHome + "/top/work"));
}

TEST(OverlayMountPlan, CommittedLayerIsReadOnlyWithOwnDiffFirstAndNoUpper) {
  auto plan = PlanOverlayMount({kHome, "mid", {"AAA"}}, MountAccess::kReadOnly, NewApi());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->access, MountAccess::kReadOnly);
  EXPECT_EQ(plan->lower_count, 2u);
  EXPECT_THAT(ParamValues(*plan, "lowerdir+"),
              ::testing::ElementsAre(kHome + "/mid/diff", kHome + "/l/AAA"));
  EXPECT_TRUE(ParamValues(*plan, "upperdir").empty());
  EXPECT_TRUE(ParamValues(*plan, "workdir").empty());
}

TEST(OverlayMountPlan, OptionsFollowFeaturesAndExtrasComeLast) {
  OverlayFeatures f = NewApi();
  f.index_off = false;
  f.metacopy_off = false;
  f.extra_options = {"volatile", "xino=off"};
  auto plan = PlanOverlayMount({kHome, "top", {"AAA"}}, MountAccess::kReadWrite, f);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(ParamValues(*plan, "index").empty());
  EXPECT_TRUE(ParamValues(*plan, "metacopy").empty());
  ASSERT_GE(plan->params.size(), 4u);
  EXPECT_EQ(plan->params[2].key, "volatile");
  EXPECT_EQ(plan->params[2].kind, Kind::kFlag);
  EXPECT_EQ(plan->params[3].key, "xino");
  EXPECT_EQ(plan->params[3].value, "off");

  f.new_mount_api = false;
  plan = PlanOverlayMount({kHome, "top", {"AAA"}}, MountAccess::kReadWrite, f);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->data, "redirect_dir=off,volatile,xino=off,lowerdir=" + kHome +
                            "/l/AAA,upperdir=" + kHome + "/top/diff,workdir=" + kHome +
                            "/top/work");
}

TEST(OverlayMountPlan, ClassicAbsoluteDataString) {
  auto plan = PlanOverlayMount({kHome, "top", {"AAA", "BBB"}}, MountAccess::kReadOnly, Classic());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->method, Method::kClassicAbsolute);
  EXPECT_EQ(plan->data, "index=off,redirect_dir=off,metacopy=off,lowerdir=" + kHome +
                            "/top/diff:" + kHome + "/l/AAA:" + kHome + "/l/BBB");
  EXPECT_TRUE(plan->chdir_to.empty());
}

// Pads the data with an extra option so the absolute (or relative) data is exactly `size` bytes.
OverlayFeatures PaddedTo(size_t size, bool relative, const std::vector<std::string>& links) {
  OverlayFeatures f = Classic();
  f.page_size_bytes = 1 << 20;  // measure without limits first
  auto probe = PlanOverlayMount({kHome, "top", links}, MountAccess::kReadWrite, f);
  EXPECT_TRUE(probe.ok());
  size_t base = probe->data.size();
  if (relative) {
    f.page_size_bytes = base;  // absolute no longer fits: the plan is relative
    probe = PlanOverlayMount({kHome, "top", links}, MountAccess::kReadWrite, f);
    EXPECT_TRUE(probe.ok());
    EXPECT_EQ(probe->method, Method::kClassicRelative);
    base = probe->data.size();
  }
  f.page_size_bytes = 4096;
  f.extra_options = {"p=" + std::string(size - base - 3, 'x')};  // "p=" + pad + ","
  return f;
}

TEST(OverlayMountPlan, AbsoluteUpTo4095BytesThenRelativeAt4096) {
  auto fits = PlanOverlayMount({kHome, "top", Links(2)}, MountAccess::kReadWrite,
                               PaddedTo(4095, false, Links(2)));
  ASSERT_TRUE(fits.ok()) << fits.error().message();
  EXPECT_EQ(fits->data.size(), 4095u);
  EXPECT_EQ(fits->method, Method::kClassicAbsolute);

  auto over = PlanOverlayMount({kHome, "top", Links(2)}, MountAccess::kReadWrite,
                               PaddedTo(4096, false, Links(2)));
  ASSERT_TRUE(over.ok()) << over.error().message();
  EXPECT_EQ(over->method, Method::kClassicRelative);
  EXPECT_EQ(over->chdir_to, kHome);
  EXPECT_THAT(over->data, HasSubstr("lowerdir=l/" + Links(2)[0] + ":l/" + Links(2)[1] +
                                    ",upperdir=top/diff,workdir=top/work"));
  EXPECT_LT(over->data.size(), 4096u);
}

TEST(OverlayMountPlan, RelativeUpTo4095BytesThenErrorNamingTheLimit) {
  const auto links = Links(100);
  auto fits =
      PlanOverlayMount({kHome, "top", links}, MountAccess::kReadWrite, PaddedTo(4095, true, links));
  ASSERT_TRUE(fits.ok()) << fits.error().message();
  EXPECT_EQ(fits->method, Method::kClassicRelative);
  EXPECT_EQ(fits->data.size(), 4095u);

  auto over =
      PlanOverlayMount({kHome, "top", links}, MountAccess::kReadWrite, PaddedTo(4096, true, links));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), E2BIG);
  EXPECT_THAT(over.error().message(), HasSubstr("4096 bytes"));
  EXPECT_THAT(over.error().message(), HasSubstr("at most 4095"));
}

TEST(OverlayMountPlan, NewApiHasNoPageLimit) {
  auto plan = PlanOverlayMount({kHome, "top", Links(400)}, MountAccess::kReadWrite, NewApi());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->method, Method::kNewApi);
  EXPECT_EQ(ParamValues(*plan, "lowerdir+").size(), 400u);
}

TEST(OverlayMountPlan, FiveHundredLowersIsTheKernelLimit) {
  auto rw = PlanOverlayMount({kHome, "top", Links(500)}, MountAccess::kReadWrite, NewApi());
  ASSERT_TRUE(rw.ok()) << rw.error().message();
  EXPECT_EQ(rw->lower_count, 500u);

  auto too_deep = PlanOverlayMount({kHome, "top", Links(501)}, MountAccess::kReadWrite, NewApi());
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.error().code(), E2BIG);
  EXPECT_THAT(too_deep.error().message(), HasSubstr("needs 501 lower layers"));
  EXPECT_THAT(too_deep.error().message(), HasSubstr("at most 500 (OVL_MAX_STACK)"));

  // Read-only mounts count the layer's own diff as a lower.
  EXPECT_TRUE(PlanOverlayMount({kHome, "p", Links(499)}, MountAccess::kReadOnly, NewApi()).ok());
  auto ro = PlanOverlayMount({kHome, "p", Links(500)}, MountAccess::kReadOnly, NewApi());
  ASSERT_FALSE(ro.ok());
  EXPECT_THAT(ro.error().message(), HasSubstr("needs 501 lower layers"));
}

TEST(OverlayMountPlan, ClassicRefusesPathsWithSeparators) {
  auto plan = PlanOverlayMount({"/srv/a,b", "top", {"AAA"}}, MountAccess::kReadWrite, Classic());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), EINVAL);
  // The new API passes each path alone: no separators to worry about.
  EXPECT_TRUE(
      PlanOverlayMount({"/srv/a,b", "top", {"AAA"}}, MountAccess::kReadWrite, NewApi()).ok());
}

TEST(OverlayLinkId, Base32OfSixteenBytes) {
  std::array<uint8_t, 16> bytes{};
  for (uint8_t i = 0; i < 16; ++i) bytes[i] = i;
  EXPECT_EQ(LinkIdFromBytes(bytes), "AAAQEAYEAUDAOCAJBIFQYDIOB4");
  bytes.fill(0xff);
  EXPECT_EQ(LinkIdFromBytes(bytes), "77777777777777777777777774");
  bytes.fill(0);
  EXPECT_EQ(LinkIdFromBytes(bytes), std::string(26, 'A'));
}

TEST(OverlayLinkId, RandomIdsAreWellFormedAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewLinkId();
    EXPECT_TRUE(IsLinkId(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(IsLinkId("AAAA"));
  EXPECT_FALSE(IsLinkId(std::string(25, 'A') + "1"));  // '1' is not base32
  EXPECT_FALSE(IsLinkId(std::string(25, 'A') + "a"));
}

TEST(OverlayLowerFile, RoundTripAndRejectsJunk) {
  const std::vector<std::string> links = {std::string(26, 'A'), std::string(26, 'B')};
  const std::string text = FormatLowerFile(links);
  EXPECT_EQ(text, "l/" + links[0] + ":l/" + links[1]);
  auto parsed = ParseLowerFile(text + "\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, links);
  EXPECT_TRUE(ParseLowerFile("")->empty());
  EXPECT_EQ(ParseLowerFile("l/" + links[0] + ":/etc").error().code(), EINVAL);
  EXPECT_EQ(ParseLowerFile("l/" + links[0] + ",upperdir=/x").error().code(), EINVAL);
  EXPECT_EQ(ParseLowerFile("l/" + links[0] + "::l/" + links[1]).error().code(), EINVAL);
}

TEST(OverlayKernel, ParsesReleaseStrings) {
  auto v = ParseKernelRelease("6.18.44-fc-v769");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 6);
  EXPECT_EQ(v->minor, 18);
  EXPECT_TRUE(v->AtLeast(6, 8));
  EXPECT_FALSE(v->AtLeast(6, 19));
  EXPECT_FALSE(ParseKernelRelease("5.4")->AtLeast(6, 8));
  EXPECT_TRUE(ParseKernelRelease("10.0")->AtLeast(6, 8));
  EXPECT_FALSE(ParseKernelRelease("linux").ok());
  EXPECT_FALSE(ParseKernelRelease("6").ok());
}

TEST(OverlayKernel, FindsOverlayInProcFilesystems) {
  EXPECT_TRUE(ListsOverlay("nodev\tsysfs\n\text4\nnodev\toverlay\n"));
  EXPECT_FALSE(ListsOverlay("nodev\tsysfs\n\text4\nnodev\toverlayfs2\n"));
  EXPECT_FALSE(ListsOverlay(""));
  EXPECT_EQ(FsName(0xEF53), "extfs");
  EXPECT_EQ(FsName(0x58465342), "xfs");
  EXPECT_EQ(FsName(0x1234), "0x1234");
}

}  // namespace
}  // namespace strata::drivers::overlay
