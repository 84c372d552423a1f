#include "emulator/d1/d1_service.h"

#include <utility>

#include "emulator/d1/d1_binding.h"
#include "emulator/d1/d1_bookmark.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;
using platform::D1Result;

D1Service::D1Service(Host& host, D1Options options, std::unique_ptr<D1Store> store)
    : host_(host),
      options_(std::move(options)),
      store_(std::move(store)),
      caps_queries_(
          options_.cap_queries_per_invocation.value_or(host.profile() != Profile::kStrict)) {}

D1Service::~D1Service() = default;

Result<std::unique_ptr<D1Service>> D1Service::Open(Host& host, D1Options options) {
  if (options.name.empty()) return Status::InvalidArgument("a D1 database needs a name");
  if (options.id.empty()) options.id = core::DeriveUuid("d1", options.name);
  const auto hex = DatabaseHex(options.id);
  if (!hex) {
    return Status::InvalidArgument("D1 database '" + options.name + "': database_id '" +
                                   options.id + "' is not a UUID");
  }
  D1StoreOptions store_options;
  store_options.database_hex = *hex;
  store_options.file = options.file;
  store_options.limits = options.limits;
  // The database's own clock view: clock faults may skew it like any actor's (T2).
  const core::Clock& clock = host.ClockFor("d1/" + options.name);
  auto store = D1Store::Open(clock, host.random().Fork("d1/" + *hex), std::move(store_options));
  if (!store.ok()) return store.status();
  return std::unique_ptr<D1Service>(new D1Service(host, std::move(options), std::move(*store)));
}

std::unique_ptr<platform::D1Database> D1Service::Bind(const ActorScope& scope) {
  return std::make_unique<D1Binding>(*this, scope);
}

Result<std::vector<D1Result>> D1Service::RunRest(
    std::vector<platform::D1PreparedStatement> statements, platform::D1Rows rows,
    bool per_statement) {
  D1RunOptions options;
  options.per_statement_results = per_statement;
  auto results = store_->Run(statements, rows, options);
  ++stats_.calls;
  stats_.statements += static_cast<std::int64_t>(statements.size());
  if (!results.ok()) {
    ++stats_.failed;
    return results;
  }
  std::int64_t changes = 0;
  for (const auto& result : *results) changes += result.meta.changes;
  const bool changed = !results->empty() && results->front().meta.changed_db;
  if (changed) ++stats_.committed;
  core::TraceSink& trace = host_.trace();
  if (trace.enabled()) {
    trace.Emit("rest", core::TraceEvent("d1.batch")
                           .Str("db", options_.name)
                           .Str("label", "rest")
                           .Int("changes", changes)
                           .Int("statements", static_cast<std::int64_t>(results->size())));
  }
  return results;
}

core::Task<Result<std::vector<D1Result>>> D1Service::Query(std::string sql,
                                                           std::vector<platform::D1Param> params,
                                                           platform::D1Rows rows) {
  std::vector<platform::D1PreparedStatement> statements;
  statements.push_back(
      platform::D1PreparedStatement(nullptr, std::move(sql)).Bind(std::move(params)));
  co_return RunRest(std::move(statements), rows, /*per_statement=*/true);
}

core::Task<Result<std::vector<D1Result>>> D1Service::QueryBatch(
    std::vector<platform::D1PreparedStatement> statements, platform::D1Rows rows) {
  co_return RunRest(std::move(statements), rows, /*per_statement=*/true);
}

}  // namespace cfemu::emulator
