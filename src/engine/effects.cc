#include "src/engine/effects.h"

#include <algorithm>

#include "src/engine/job_row.h"
#include "src/engine/sql.h"
#include "src/engine/transitions.h"

namespace cfemu::engine {

using core::Status;
using core::Task;

void PostCommit::Kick(const std::string& queue, std::int64_t at) {
  auto [it, inserted] = kicks.emplace(queue, at);
  if (!inserted) it->second = std::min(it->second, at);
}

void CollectReleased(const std::vector<platform::D1Value>& v, PostCommit& out) {
  if (v.size() < store::kReleasedColumns) return;
  Envelope envelope{sql::Str(v[0]), sql::Str(v[1]), sql::Int(v[2], 1), sql::Int(v[3]),
                    sql::OptStr(v[5])};
  if (sql::IsNull(v[4])) {
    out.Kick(envelope.queue, envelope.at);
  } else {
    out.Send(std::move(envelope));
  }
}

void CollectFlowEffects(const std::vector<platform::D1Result>& results,
                        const store::FlowEffects& effects, PostCommit& out) {
  if (effects.release) {
    for (const auto& row : results.at(*effects.release).results) CollectReleased(row.values, out);
  }
  if (effects.failed_parent) {
    for (const auto& row : results.at(*effects.failed_parent).results) {
      out.failed_parents.push_back({sql::Str(row.values.at(0)), sql::Str(row.values.at(1))});
    }
  }
}

namespace {

// The post part of the failure template for parents failed by T21 in an earlier batch.
Task<Status> FailParentsPost(EngineContext& context, std::vector<RowKey> parents,
                             PostCommit& next) {
  Json keys = Json::array();
  for (const auto& key : parents) keys.push_back(Json::array({key.queue, key.id}));
  auto rows = co_await context.db
                  ->Prepare("SELECT " + std::string(kJobColumns) +
                            " FROM cfq_jobs WHERE (queue, id) IN (SELECT value ->> 0, "
                            "value ->> 1 FROM json_each(?)) AND state = 'failed'")
                  .Bind(sql::Dump(keys))
                  .All();
  if (!rows.ok()) co_return rows.status();
  sql::Batch batch(*context.db);
  std::vector<store::FlowEffects> effects;
  const std::int64_t now = context.NowMs();
  for (const auto& row : rows->results) {
    const Job parent = JobFromRow(row);
    store::Failure failure;
    failure.reason = parent.failed_reason;
    auto options = JobOptionsFromJson(parent.opts);
    if (options.ok()) failure.keep = KeepPolicyOf(options->remove_on_fail);
    effects.push_back(
        store::AppendFailurePost(batch, parent, store::GuardOf(parent), failure, now));
  }
  if (batch.empty()) co_return Status::Ok();
  auto results = co_await batch.Run("flow-fail-parent");
  if (!results.ok()) co_return results.status();
  for (const auto& e : effects) CollectFlowEffects(*results, e, next);
  co_return Status::Ok();
}

}  // namespace

Task<void> ApplyPostCommit(EngineContext& context, PostCommit post) {
  // Flow trees are bounded by D1's batch limits; 64 levels is far beyond any real tree.
  for (int depth = 0; depth < 64 && !post.empty(); ++depth) {
    std::vector<OutgoingEnvelope> envelopes;
    const std::int64_t now = context.NowMs();
    for (auto& dispatch : post.dispatches) {
      auto config = co_await QueueConfigFor(context, dispatch.envelope.queue);
      const QueueConfig fallback;
      const int delay =
          EnvelopeDelaySeconds(dispatch.envelope.at, now, config.ok() ? *config : fallback);
      envelopes.emplace_back(std::move(dispatch.envelope), delay);
    }
    if (!envelopes.empty()) {
      const Status sent = co_await SendEnvelopes(context, std::move(envelopes));
      if (sent.code() == core::Code::kCancelled) co_return;
    }
    for (const auto& [queue, at] : post.kicks) {
      const Status kicked = co_await KickCoordinator(context, queue, at);
      if (kicked.code() == core::Code::kCancelled) co_return;
    }
    PostCommit next;
    if (!post.failed_parents.empty()) {
      const Status followed =
          co_await FailParentsPost(context, std::move(post.failed_parents), next);
      if (!followed.ok() && context.tracing()) {
        context.Trace(core::TraceEvent("engine.followup_failed").Str("error", followed.ToString()));
      }
    }
    post = std::move(next);
  }
}

}  // namespace cfemu::engine
