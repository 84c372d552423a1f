#include "emulator/harness/engine_worker.h"

#include <set>

namespace cfemu::emulator {

namespace {

bool Hit(const AttemptRule& rule, int attempt, core::Random& random) {
  if (!rule.Set()) return false;
  for (int a : rule.attempts) {
    if (a == attempt) return true;
  }
  return rule.probability > 0 && random.Chance(rule.probability);
}

}  // namespace

core::Task<core::Result<nlohmann::json>> RunBehaviour(const ProcessorBehaviour& b,
                                                      engine::JobContext& ctx, Ledger* ledger,
                                                      FaultInjector& faults) {
  using core::Status;
  const int attempt = ctx.attempt();
  core::Random random = ctx.random().Fork(ctx.job().id + "#" + std::to_string(attempt));
  if (Hit(b.stall, attempt, random)) {  // The worker hangs: killed at the invocation's limit.
    CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(b.hang_ms)));
    co_return Status::Unknown("the processor hung for " + std::to_string(b.hang_ms) + " ms");
  }
  const std::int64_t run_ms = b.max_ms > b.min_ms ? random.Range(b.min_ms, b.max_ms) : b.min_ms;
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(run_ms)));
  if (Hit(b.unrecoverable, attempt, random)) co_return Status::Unrecoverable(b.fail_message);
  if (Hit(b.fail, attempt, random)) co_return Status::Unknown(b.fail_message);
  if (b.side_effect) {
    // N4: the processor's outbound call (its side effect) fails; the attempt fails with it.
    if (faults.Enabled(Fault::kN4SideEffectFailure) &&
        faults.Fire(Fault::kN4SideEffectFailure, "processor.fetch", "processor")) {
      co_return Status::Unavailable("fetch failed: the side effect's request timed out");
    }
    if (ledger != nullptr) ++(*ledger)[ctx.job().queue_name + "/" + ctx.job().id];
    if (Hit(b.crash_after_side_effect, attempt, random)) {  // Crash after the effect.
      CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(core::Milliseconds(b.hang_ms)));
      co_return Status::Unknown("the worker crashed after its side effect");
    }
  }
  if (b.sum_children) {
    auto children = co_await ctx.GetChildrenValues();
    if (!children.ok()) co_return children.status();
    std::int64_t total = 0;
    for (const auto& [key, value] : *children) {
      if (value.is_number_integer()) total += value.get<std::int64_t>();
    }
    co_return nlohmann::json{{"total", total}};
  }
  co_return b.result;
}

std::vector<WiredConsumer> WireEngineHandlers(
    platform::EnvSpec& spec, const EngineHandlers& handlers,
    const std::function<void(platform::ConsumerSpec&)>& adjust) {
  std::set<std::string, std::less<>> dead_letter_queues;
  for (const auto& c : spec.consumers) {
    if (!c.dead_letter_queue.empty()) dead_letter_queues.insert(c.dead_letter_queue);
  }
  std::vector<WiredConsumer> wired;
  for (auto& c : spec.consumers) {
    if (c.type != platform::ConsumerType::kWorker) continue;
    wired.push_back({c.queue, dead_letter_queues.contains(c.queue)});
    if (wired.back().dead_letters) {
      c.handler = handlers.dead_letters;
      continue;
    }
    c.handler = handlers.consumer;
    if (adjust) adjust(c);
  }
  spec.scheduled = handlers.tick;
  return wired;
}

}  // namespace cfemu::emulator
