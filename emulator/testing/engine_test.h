// EngineTest: a GoogleTest fixture for suites that test Workers built on the job engine.
//
//   class EmailTest : public cfemu::testing::EngineTest {
//    protected:
//     cfemu::testing::EngineTestOptions Options() const override {
//       auto options = EngineTest::Options();
//       options.wrangler_file = "wrangler.jsonc";
//       options.queue = "emails";
//       return options;
//     }
//   };
//   TEST_F(EmailTest, ASentEmailCompletes) {
//     Add("welcome", {{"to", "a@example.com"}});
//     RunUntilIdle();
//     EXPECT_EQ(Counts()["completed"], 1);
//   }
//
// SetUp builds an EngineWorld from Options() (override it to name a wrangler.jsonc, a seed, a
// fault profile or plan, the queue's config); each test drives it on virtual time; TearDown
// checks the engine's invariants (engine-spec.md §8), the quiescent ones too after
// ExpectQuiescentAtEnd(), and fails the test on any violation.
#pragma once

#include <utility>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "emulator/testing/engine_world.h"

namespace cfemu::testing {

class EngineTest : public ::testing::Test {
 protected:
  // The world each test gets; the default is the fixture wrangler.jsonc at seed 1, strict.
  virtual EngineTestOptions Options() const { return EngineTestOptions(); }

  void SetUp() override {
    world_ = std::make_unique<EngineWorld>(Options());
    ASSERT_TRUE(world_->ok()) << "the engine world could not be built";
  }

  void TearDown() override {
    if (world_ == nullptr) return;
    if (world_->ok() && !HasFatalFailure()) world_->ExpectInvariants(quiescent_at_end_);
    world_->SkipInvariantsAtExit();
    world_.reset();
  }

  // Also check the invariants that hold only when nothing is left to do (every job finished or
  // deliberately waiting, no lease held): call after RunUntilIdle().
  void ExpectQuiescentAtEnd() { quiescent_at_end_ = true; }

  EngineWorld& world() { return *world_; }
  engine::Queue& queue() { return world_->queue(); }
  engine::Engine& engine() { return world_->engine(); }
  void SetProcessor(EngineWorld::ProcessorFn fn) { world_->SetProcessor(std::move(fn)); }
  Job Add(std::string name, Json data = Json::object(), JobOptions options = JobOptions()) {
    return world_->Add(std::move(name), std::move(data), std::move(options));
  }
  JobState StateOf(const std::string& id) { return world_->StateOf(id); }
  std::map<std::string, std::int64_t> Counts() { return world_->Counts(); }
  void RunFor(Duration d) { world_->RunFor(d); }
  void RunUntilIdle(Duration max = core::Hours(24)) { world_->RunUntilIdle(max); }
  template <class T>
  T Run(Task<T> task) {
    return world_->Run(std::move(task));
  }

 private:
  std::unique_ptr<EngineWorld> world_;
  bool quiescent_at_end_ = false;
};

}  // namespace cfemu::testing
