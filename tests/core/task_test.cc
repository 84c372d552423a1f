#include <utility>  // Before any Asio header (Boost 1.74 + GCC 12).

#include "src/core/task.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/sim/simulator.h"
#include "src/core/status.h"

namespace cfemu::core {
namespace {

using emulator::Simulator;

Task<void> WaitAndMark(Event& event, bool* woke) {
  co_await event.Wait();
  *woke = true;
}

Task<int> SleepThenReturn(Simulator& sim, Duration d, int value) {
  const Status slept = co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  if (!slept.ok()) co_return -1;
  co_return value;
}

Task<void> SleepThenCount(Simulator& sim, Duration d, int* count) {
  const Status slept = co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  if (slept.ok()) ++*count;
}

Task<int> SleepThenThrow(Simulator& sim, Duration d) {
  (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  throw std::runtime_error("task failed");
}

Task<void> SleepThenThrowVoid(Simulator& sim, Duration d) {
  (void)co_await sim.SleepUntil(sim.now() + d, TimerKind::kForeground, nullptr);
  throw std::runtime_error("void task failed");
}

Task<std::vector<int>> AllOf(std::vector<Task<int>> tasks) {
  co_return co_await WhenAll(std::move(tasks));
}

TEST(Event, WaitBeforeSetResumesOnSet) {
  Simulator sim(1);
  Event event;
  bool woke = false;
  sim.Spawn(WaitAndMark(event, &woke));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_FALSE(woke);
  EXPECT_FALSE(event.is_set());
  EXPECT_EQ(event.waiters(), 1u);
  event.Set();
  EXPECT_TRUE(event.is_set());
  EXPECT_EQ(event.waiters(), 0u);
  EXPECT_FALSE(woke);  // Resumption is posted, not run inline.
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_TRUE(woke);
}

TEST(Event, SetWakesEveryWaiter) {
  Simulator sim(1);
  Event event;
  bool woke[3] = {};
  for (bool& w : woke) sim.Spawn(WaitAndMark(event, &w));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_EQ(event.waiters(), 3u);
  event.Set();
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  for (bool w : woke) EXPECT_TRUE(w);
}

TEST(Event, WaitAfterSetCompletesAtOnce) {
  Simulator sim(1);
  Event event;
  event.Set();
  const Instant start = sim.now();
  sim.Run(event.Wait());
  EXPECT_EQ(sim.now(), start);
  EXPECT_EQ(event.waiters(), 0u);
}

TEST(Event, ResetMakesLaterWaitsBlockAgain) {
  Simulator sim(1);
  Event event;
  event.Set();
  event.Reset();
  EXPECT_FALSE(event.is_set());
  bool woke = false;
  sim.Spawn(WaitAndMark(event, &woke));
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_FALSE(woke);
  event.Set();
  ASSERT_TRUE(sim.RunUntilIdle().ok());
  EXPECT_TRUE(woke);
}

TEST(WhenAll, KeepsTheOrderOfTheTasksAndRunsThemConcurrently) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Task<int>> tasks;
  tasks.push_back(SleepThenReturn(sim, Seconds(3), 30));
  tasks.push_back(SleepThenReturn(sim, Seconds(1), 10));
  tasks.push_back(SleepThenReturn(sim, Seconds(2), 20));
  const std::vector<int> results = sim.Run(AllOf(std::move(tasks)));
  EXPECT_EQ(results, (std::vector<int>{30, 10, 20}));
  EXPECT_EQ(sim.now() - start, Seconds(3));  // Not 6 s: they overlapped.
}

TEST(WhenAll, OfNoTasksIsEmpty) {
  Simulator sim(1);
  EXPECT_TRUE(sim.Run(AllOf({})).empty());
  sim.Run(WhenAll(std::vector<Task<void>>{}));
  EXPECT_EQ(sim.now(), kVirtualEpoch);
}

TEST(WhenAll, OfVoidTasksWaitsForAllConcurrently) {
  Simulator sim(1);
  const Instant start = sim.now();
  int count = 0;
  std::vector<Task<void>> tasks;
  for (int s : {2, 1, 3, 1}) tasks.push_back(SleepThenCount(sim, Seconds(s), &count));
  sim.Run(WhenAll(std::move(tasks)));
  EXPECT_EQ(count, 4);
  EXPECT_EQ(sim.now() - start, Seconds(3));
}

TEST(WhenAll, RethrowsAnExceptionAfterAllTasksFinish) {
  Simulator sim(1);
  const Instant start = sim.now();
  std::vector<Task<int>> tasks;
  tasks.push_back(SleepThenThrow(sim, Seconds(1)));
  tasks.push_back(SleepThenReturn(sim, Seconds(5), 5));
  EXPECT_THROW(sim.Run(AllOf(std::move(tasks))), std::runtime_error);
  // The exception surfaced only once the 5 s task was done too.
  EXPECT_EQ(sim.now() - start, Seconds(5));
  EXPECT_EQ(sim.pending_timers(), 0u);
}

TEST(WhenAll, OfVoidRethrowsAfterAllTasksFinish) {
  Simulator sim(1);
  const Instant start = sim.now();
  int count = 0;
  std::vector<Task<void>> tasks;
  tasks.push_back(SleepThenCount(sim, Seconds(4), &count));
  tasks.push_back(SleepThenThrowVoid(sim, Seconds(1)));
  tasks.push_back(SleepThenCount(sim, Seconds(2), &count));
  try {
    sim.Run(WhenAll(std::move(tasks)));
    ADD_FAILURE() << "WhenAll did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "void task failed");
  }
  EXPECT_EQ(count, 2);
  EXPECT_EQ(sim.now() - start, Seconds(4));
}

Task<Status> CoReturnIfError(Status first, int* reached) {
  CFEMU_CO_RETURN_IF_ERROR(first);
  ++*reached;
  co_return Status::Ok();
}

TEST(Task, CoReturnIfErrorReturnsEarlyOnlyOnError) {
  Simulator sim(1);
  int reached = 0;
  EXPECT_TRUE(sim.Run(CoReturnIfError(Status::Ok(), &reached)).ok());
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(sim.Run(CoReturnIfError(Status::Delayed("later"), &reached)).code(), Code::kDelayed);
  EXPECT_EQ(reached, 1);
}

}  // namespace
}  // namespace cfemu::core
