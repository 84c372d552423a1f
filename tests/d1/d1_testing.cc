#include "tests/d1/d1_testing.h"

namespace cfemu::testing {

using emulator::FaultPlan;
using emulator::FaultRule;

D1Config NamedConfig(std::string name) {
  D1Config config;
  config.name = std::move(name);
  return config;
}

D1Config FileConfig(std::filesystem::path file) {
  D1Config config;
  config.file = std::move(file);
  return config;
}

FaultPlan OnlyFault(emulator::Fault fault, double probability,
                    std::optional<std::int64_t> max_firings) {
  FaultPlan plan(emulator::Profile::kStrict);
  FaultRule rule;
  rule.probability = probability;
  rule.max_firings = max_firings;
  plan.Set(fault, rule);
  return plan;
}

D1Harness::D1Harness(D1Config config) {
  emulator::SimulatorOptions options;
  options.profile = config.profile;
  options.faults = config.faults;
  sim_ = std::make_unique<emulator::Simulator>(config.seed, options);
  sim_->trace().KeepLines(true);
  if (config.in_invocation) {
    invocation_ = emulator::Invocation::Start(*sim_, "invocation", sim_->now() + core::Minutes(15));
  }
  const std::string actor = config.in_invocation ? "invocation" : "test";
  scope_ = std::make_unique<emulator::ActorScope>(*sim_, actor, sim_->ClockFor(actor), invocation_);
  emulator::D1Options d1;
  d1.name = config.name;
  d1.file = config.file;
  d1.limits = config.limits;
  d1.cap_queries_per_invocation = config.cap_queries;
  auto service = emulator::D1Service::Open(*sim_, d1);
  CHECK_MSG(service.ok(), service.status().ToString());
  service_ = std::move(*service);
  db_ = service_->Bind(*scope_);
}

D1Harness::~D1Harness() {
  db_.reset();
  service_.reset();
  if (invocation_) invocation_->Finish();
  scope_.reset();
}

Result<D1Result> D1Harness::All(const std::string& sql, std::vector<D1Param> params) {
  return Run(db_->Prepare(sql).Bind(std::move(params)).All());
}

Result<std::optional<D1Row>> D1Harness::First(const std::string& sql, std::vector<D1Param> params) {
  return Run(db_->Prepare(sql).Bind(std::move(params)).First());
}

Result<D1Value> D1Harness::FirstValue(const std::string& sql, const std::string& column,
                                      std::vector<D1Param> params) {
  return Run(db_->Prepare(sql).Bind(std::move(params)).First(column));
}

Result<std::vector<std::vector<D1Value>>> D1Harness::Raw(const std::string& sql,
                                                         bool column_names) {
  return Run(db_->Prepare(sql).Raw(column_names));
}

Result<std::vector<D1Result>> D1Harness::Batch(std::vector<D1PreparedStatement> statements,
                                               std::string label) {
  return Run(db_->Batch(std::move(statements), std::move(label)));
}

Result<platform::D1ExecResult> D1Harness::Exec(const std::string& sql) {
  return Run(db_->Exec(sql));
}

void D1Harness::MustExec(const std::string& sql) {
  auto result = Exec(sql);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
}

std::int64_t D1Harness::Count(const std::string& table) {
  auto value = FirstValue("SELECT count(*) AS n FROM " + table, "n");
  CHECK_MSG(value.ok(), value.status().ToString());
  return IntOf(*value);
}

std::vector<std::string> D1Harness::TraceLines(std::string_view ev) {
  std::vector<std::string> out;
  const std::string needle = "\"ev\":\"" + std::string(ev) + "\"";
  for (const auto& line : sim_->trace().lines()) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

std::int64_t IntOf(const D1Value& value) {
  const auto* n = std::get_if<std::int64_t>(&value);
  CHECK_MSG(n != nullptr, "not an integer");
  return *n;
}

std::string TextOf(const D1Value& value) {
  const auto* s = std::get_if<std::string>(&value);
  CHECK_MSG(s != nullptr, "not text");
  return *s;
}

TestDirectory::TestDirectory() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path build = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  path_ = build / "d1_test_data" / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TestDirectory::~TestDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  std::filesystem::remove(path_.parent_path(), ignored);  // Only when it is empty.
}

}  // namespace cfemu::testing
