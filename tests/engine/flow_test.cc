// Flows (engine-spec.md §4.10, T04, T20, T21): atomic trees, children first, exactly-once
// parent release, the four failure policies, and the dependency getters.
#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"

namespace cfemu::testing {
namespace {

using core::Seconds;
using engine::FlowJob;
using engine::JobNode;

FlowJob Leaf(std::string name, JobOptions options = JobOptions()) {
  return FlowJob(std::move(name), "jobs", Json{{"leaf", true}}, std::move(options));
}

JobNode AddFlow(EngineWorld& w, FlowJob tree) {
  auto producer = w.engine().GetFlowProducer();
  auto node = w.Run(producer.Add(std::move(tree)));
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? *node : JobNode();
}

// Completes "ok:<name>" unless the job's name starts with "fail".
EngineWorld::ProcessorFn FailByName() {
  return [](JobContext& ctx) -> Task<Result<Json>> {
    if (ctx.job().name.rfind("fail", 0) == 0) co_return Status::Unrecoverable("child failed");
    if (ctx.job().name == "parent") {
      auto values = co_await ctx.GetChildrenValues();
      if (!values.ok()) co_return values.status();
      co_return Json{{"children", values->size()}};
    }
    co_return Json("ok:" + ctx.job().name);
  };
}

TEST(EngineFlows, ChildrenRunFirstAndTheParentSeesTheirValues) {
  EngineWorld w;
  w.SetProcessor(FailByName());
  FlowJob tree("parent", "jobs", Json::object(), JobOptions(), {Leaf("a"), Leaf("b"), Leaf("c")});
  const JobNode root = AddFlow(w, tree);
  EXPECT_EQ(root.job.state, JobState::kWaitingChildren);
  ASSERT_EQ(root.children.size(), 3u);
  EXPECT_EQ(root.job.pending_deps, 3);
  EXPECT_EQ(w.Counts().at("waiting-children"), 1);
  w.RunUntilIdle();
  const auto parent = w.Get(root.job.id);
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->state, JobState::kCompleted);
  EXPECT_EQ(parent->returnvalue, (Json{{"children", 3}}));
  ASSERT_EQ(w.runs().size(), 4u);
  EXPECT_EQ(w.runs().back().id, root.job.id);  // INV-09: the parent after every child.
  auto values = w.Run(w.queue().GetChildrenValues(root.job.id));
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(values->at("jobs:" + root.children[0].job.id), Json("ok:a"));
}

TEST(EngineFlows, AMultiLevelTreeCompletesBottomUp) {
  EngineWorld w;
  FlowJob middle("middle", "jobs", Json::object(), JobOptions(), {Leaf("x"), Leaf("y")});
  FlowJob tree("top", "jobs", Json::object(), JobOptions(), {middle, Leaf("z")});
  const JobNode root = AddFlow(w, tree);
  ASSERT_EQ(root.children.size(), 2u);
  EXPECT_EQ(root.children[0].job.state, JobState::kWaitingChildren);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  EXPECT_EQ(w.Counts().at("completed"), 5);
  EXPECT_EQ(w.runs().back().id, root.job.id);
}

TEST(EngineFlows, FiftySiblingsFinishingTogetherReleaseTheParentOnce) {
  EngineTestOptions options;
  options.consumer.concurrency = 50;
  options.max_batch_size = 50;
  EngineWorld w(options);
  std::vector<FlowJob> children;
  for (int i = 0; i < 50; ++i) children.push_back(Leaf("s" + std::to_string(i)));
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), children));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  EXPECT_EQ(w.RunsOf(root.job.id), 1);
  const auto names = w.EventNames(root.job.id);
  EXPECT_EQ(std::count(names.begin(), names.end(), "waiting"), 1);  // Released once.
}

TEST(EngineFlows, FailParentOnFailureFailsTheParent) {
  EngineWorld w;
  w.SetProcessor(FailByName());
  JobOptions policy;
  policy.fail_parent_on_failure = true;
  const JobNode root = AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(),
                                          {Leaf("ok"), Leaf("fail", policy)}));
  w.RunUntilIdle();
  const auto parent = w.Get(root.job.id);
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->state, JobState::kFailed);
  EXPECT_NE(parent->failed_reason.find("child failed"), std::string::npos);
  EXPECT_EQ(w.RunsOf(root.job.id), 0);
}

TEST(EngineFlows, ContinueParentOnFailureReleasesTheParentAtOnce) {
  EngineWorld w;
  w.SetProcessor(FailByName());
  JobOptions policy;
  policy.continue_parent_on_failure = true;
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("fail", policy)}));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
  auto failed = w.Run(w.queue().GetFailedChildrenValues(root.job.id));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->size(), 1u);
}

TEST(EngineFlows, IgnoreAndRemoveDependencyLetTheParentRun) {
  for (const bool ignore : {true, false}) {
    EngineWorld w;
    w.SetProcessor(FailByName());
    JobOptions policy;
    (ignore ? policy.ignore_dependency_on_failure : policy.remove_dependency_on_failure) = true;
    const JobNode root = AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(),
                                            {Leaf("ok"), Leaf("fail", policy)}));
    w.RunUntilIdle();
    EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted) << ignore;
    auto deps = w.Run(w.queue().GetDependencies(root.job.id));
    ASSERT_TRUE(deps.ok());
    EXPECT_EQ(deps->processed.size(), 1u);
    EXPECT_EQ(deps->ignored.size(), ignore ? 1u : 0u);
  }
}

TEST(EngineFlows, WithoutAPolicyAFailedChildKeepsTheParentWaitingUntilRetried) {
  EngineWorld w;
  bool fail = true;
  w.SetProcessor([&fail](JobContext& ctx) -> Task<Result<Json>> {
    if (ctx.job().name == "child" && fail) co_return Status::Unrecoverable("no");
    co_return Json{{"ok", true}};
  });
  const JobNode root =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("child")}));
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kWaitingChildren);
  auto deps = w.Run(w.queue().GetDependencies(root.job.id));
  ASSERT_TRUE(deps.ok());
  EXPECT_EQ(deps->failed.size(), 1u);
  fail = false;
  ASSERT_TRUE(w.Run(w.queue().RetryJob(root.children[0].job.id)).ok());
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
}

TEST(EngineFlows, AnIdConflictAbortsTheWholeTree) {
  EngineWorld w;
  JobOptions taken;
  taken.job_id = "taken";
  w.Add("x", Json::object(), taken);
  auto producer = w.engine().GetFlowProducer();
  auto node = w.Run(producer.Add(
      FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("a"), Leaf("b", taken)})));
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.code(), core::Code::kAlreadyExists);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs"), 1);  // Nothing of the tree.
}

TEST(EngineFlows, AnExistingRootIdReturnsTheExistingTree) {
  EngineWorld w;
  JobOptions root_id;
  root_id.job_id = "root";
  const JobNode first =
      AddFlow(w, FlowJob("parent", "jobs", Json::object(), root_id, {Leaf("a"), Leaf("b")}));
  const JobNode again = AddFlow(w, FlowJob("parent", "jobs", Json::object(), root_id, {Leaf("c")}));
  EXPECT_EQ(again.job.id, "root");
  EXPECT_EQ(again.children.size(), 2u);
  EXPECT_EQ(w.QueryInt("SELECT count(*) FROM cfq_jobs"), 3);
  (void)first;
}

TEST(EngineFlows, RemovingAPendingChildDetachesItAndMayReleaseTheParent) {
  EngineWorld w;
  JobOptions later;
  later.delay_ms = 60'000;
  const JobNode root = AddFlow(
      w, FlowJob("parent", "jobs", Json::object(), JobOptions(), {Leaf("a"), Leaf("b", later)}));
  w.RunFor(Seconds(10));  // "a" completes; "b" is still delayed.
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kWaitingChildren);
  auto removed = w.Run(w.queue().Remove(root.children[1].job.id));
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  w.RunUntilIdle();
  EXPECT_EQ(w.StateOf(root.job.id), JobState::kCompleted);
}

}  // namespace
}  // namespace cfemu::testing
