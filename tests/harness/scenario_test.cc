// The scenario format (scenarios/README.md) and its runner: errors name the field and what was
// expected; a run applies the workload, the processor behaviours, the fault plan and the
// expectations; the same seed replays to the same trace hash.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "emulator/harness/runner.h"
#include "emulator/harness/scenario.h"

namespace cfemu::emulator {
namespace {

using Json = nlohmann::json;

Json Minimal() {
  return Json::parse(R"({
    "name": "t", "purpose": "a test", "profile": "strict", "duration_s": 60, "liveness_s": 60,
    "workload": [ { "at_s": 0, "add": { "name": "a", "count": 3 } } ]
  })");
}

std::string ErrorOf(const Json& json) {
  auto parsed = ParseScenario(json, "s.json");
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? std::string() : parsed.status().message();
}

TEST(ScenarioFormat, AMinimalScenarioParsesWithTheDocumentedDefaults) {
  auto s = ParseScenario(Minimal(), "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->profile, Profile::kStrict);
  EXPECT_EQ(s->duration_ms, 60'000);
  EXPECT_EQ(s->consumer.max_retries, 10);
  EXPECT_EQ(s->consumer.max_batch_size, 10);
  ASSERT_TRUE(s->queues.contains("jobs"));
  ASSERT_EQ(s->workload.size(), 1U);
  EXPECT_EQ(s->workload[0].count, 3);
  EXPECT_TRUE(s->expect.all_finished);
  EXPECT_EQ(s->BehaviourFor("a").min_ms, 1'000);
}

TEST(ScenarioFormat, ASendStepNeedsABodyOrATextAndDefaultsToTheJobsBinding) {
  Json j = Minimal();
  j["workload"].push_back(Json::parse(R"({"at_s": 1, "send": {"count": 2}})"));
  EXPECT_EQ(ErrorOf(j),
            "s.json: workload[1].send: needs exactly one of body (a JSON value) or text (a "
            "string)");
  j["workload"][1]["send"]["text"] = "not an envelope";
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const ScenarioStep& send = s->workload[1];
  EXPECT_EQ(send.kind, ScenarioStep::Kind::kSend);
  EXPECT_EQ(send.binding, "JOBS");
  EXPECT_EQ(send.count, 2);
  EXPECT_EQ(send.text, "not an envelope");
}

TEST(ScenarioFormat, ErrorsNameTheFieldAndWhatWasExpected) {
  Json j = Minimal();
  j["workload"][0]["add"]["count"] = 0;
  EXPECT_EQ(ErrorOf(j), "s.json: workload[0].add.count: expected an integer from 1 to 1000000");
  j = Minimal();
  j["workload"][0]["add"]["cuont"] = 2;
  EXPECT_EQ(ErrorOf(j), "s.json: workload[0].add.cuont: is not a known field here");
  j = Minimal();
  j.erase("purpose");
  EXPECT_EQ(ErrorOf(j), "s.json: purpose: is required (a string)");
  j = Minimal();
  j["profile"] = "gentle";
  EXPECT_EQ(ErrorOf(j), "s.json: profile: expected \"strict\", \"fidelity\" or \"robustness\"");
  j = Minimal();
  j["faults"] = Json{{"rules", {{"Z9", {{"probability", 0.5}}}}}};
  EXPECT_EQ(ErrorOf(j), "s.json: faults.rules.Z9: is not a fault of the catalogue (Q1 ... T3)");
  j = Minimal();
  j["faults"] = Json{{"rules", {{"Q3", {{"probability", 1.5}}}}}};
  EXPECT_EQ(ErrorOf(j), "s.json: faults.rules.Q3.probability: expected a probability from 0 to 1");
  j = Minimal();
  j["processors"] = Json{{"a", {{"fail", Json::object()}}}};
  EXPECT_EQ(ErrorOf(j),
            "s.json: processors.a.fail: needs a probability above 0 or a list of attempts");
  j = Minimal();
  j["workload"][0] = Json{{"at_s", 90}, {"pause", "jobs"}};
  EXPECT_EQ(ErrorOf(j), "s.json: workload[0].at_s: is after duration_s");
  j = Minimal();
  j["workload"][0] = Json{{"at_s", 1}, {"pause", "other"}};
  EXPECT_EQ(ErrorOf(j),
            "s.json: workload[0]: uses queue 'other', which environment.queues "
            "does not declare");
  j = Minimal();
  j["workload"][0] = Json{{"at_s", 1}, {"pause", "jobs"}, {"resume", "jobs"}};
  EXPECT_EQ(ErrorOf(j), "s.json: workload[0]: has both pause and resume; one action per step");
  j = Minimal();
  j["workload"][0]["add"]["opts"] = Json{{"attempts", "three"}};
  EXPECT_NE(ErrorOf(j).find("s.json: workload[0].add.opts: "), std::string::npos);
  j = Minimal();
  j["environment"] = Json{{"queues", {{"jobs", {{"lockDurationMs", "long"}}}}}};
  EXPECT_NE(ErrorOf(j).find("s.json: environment.queues.jobs: "), std::string::npos);
  j = Minimal();
  j["expect"] = Json{{"counts", {{"done", 3}}}};
  EXPECT_EQ(ErrorOf(j), "s.json: expect.counts.done: is not a job state");
  EXPECT_EQ(ErrorOf(Json::array()), "s.json: (top level): expected an object");
}

TEST(ScenarioFormat, NewFieldsNameTheirErrors) {
  Json j = Minimal();
  j["environment"] = Json{{"engine", {{"kv_pause_hint", true}}}};
  EXPECT_EQ(ErrorOf(j),
            "s.json: environment.engine.kv_binding: is required by kv_pause_hint and "
            "kv_throttle_cache");
  j = Minimal();
  j["workload"][0] = Json{{"at_s", 1}, {"purge_queue", 7}};
  EXPECT_EQ(ErrorOf(j),
            "s.json: workload[0].purge_queue: expected the name of a Cloudflare queue of the "
            "environment");
  j = Minimal();
  j["workload"][0]["producer"] = "";
  EXPECT_EQ(ErrorOf(j),
            "s.json: workload[0].producer: expected a Worker name of 1 to 64 characters");
  j = Minimal();
  j["expect"] = Json{{"faults_fired", {{"K9", 1}}}};
  EXPECT_EQ(ErrorOf(j), "s.json: expect.faults_fired.K9: is not a fault of the catalogue (Q1 ... T3)");
  j = Minimal();
  j["expect"] = Json{{"scheduler_max_lateness_s", {{"s", "soon"}}}};
  EXPECT_EQ(ErrorOf(j),
            "s.json: expect.scheduler_max_lateness_s.s: expected a number of seconds, 0 or more");
}

TEST(ScenarioFormat, ProcessorsParseAloneWithTheirErrorsNamed) {
  auto ok = ParseProcessors(
      Json::parse(R"({"flaky": {"duration_ms": [10, 20], "fail": {"attempts": [1]}}})"), "p.json");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(BehaviourFor(*ok, "flaky").max_ms, 20);
  EXPECT_EQ(BehaviourFor(*ok, "other").min_ms, 1'000);  // No "*": the default behaviour.
  auto bad = ParseProcessors(Json::parse(R"({"x": {"duration_ms": -1}})"), "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("p.json: processors.x.duration_ms"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(ParseProcessors(Json::array(), "p.json").ok());
}

TEST(ScenarioFormat, ASchedulerSpecCarriesItsWindowAndTemplate) {
  auto spec = ParseSchedulerSpec(Json::parse(R"({
    "repeat": {"every_ms": 60000, "limit": 3, "start_date_ms": 1000, "end_date_ms": 9000},
    "template": {"name": "report", "data": {"k": 1}, "opts": {"attempts": 2}}})"),
                                 "body");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->repeat.every_ms, 60'000);
  EXPECT_EQ(spec->repeat.start_date, 1'000);
  EXPECT_EQ(spec->repeat.end_date, 9'000);
  EXPECT_EQ(spec->job_template.name, "report");
  EXPECT_EQ(spec->job_template.options.attempts, 2);
  for (const char* bad : {R"({"template": {}})", R"({"repeat": {"pattern": "* * * * *",
                          "every_ms": 1000}})", R"({"repeat": {"every_ms": 1000}, "x": 1})"}) {
    EXPECT_FALSE(ParseSchedulerSpec(Json::parse(bad), "body").ok()) << bad;
  }
}

TEST(ScenarioFormat, AFaultPlanFileCarriesRulesForcedDecisionsAndForcedOnly) {
  const Json plan = Json::parse(R"({"profile": "robustness", "rules": {"Q3": {"probability": 0.25,
    "windows": [[0, 30]], "max_firings": 2}}, "disable": ["O1"],
    "forced": [{"fault": "D2", "site": "d1.batch.commit", "n": 3}], "forced_only": true})");
  auto parsed = ParseFaultPlanFile(plan, "p.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->profile(), Profile::kRobustness);
  ASSERT_TRUE(parsed->rule(*FaultFromId("Q3")));
  EXPECT_EQ(parsed->rule(*FaultFromId("Q3"))->probability, 0.25);
  EXPECT_EQ(parsed->rule(*FaultFromId("Q3"))->max_firings, 2);
  EXPECT_FALSE(parsed->rule(*FaultFromId("O1")));
  EXPECT_TRUE(parsed->forced_only());
  ASSERT_EQ(parsed->forced().size(), 1U);
  EXPECT_EQ(parsed->forced().begin()->n, 3);
  auto bad = ParseFaultPlanFile(Json{{"forced", {{{"fault", "Q3"}}}}}, "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "p.json: forced[0].site: is required (a string)");
}

TEST(ScenarioFormat, FaultsAreActiveOnlyDuringTheDurationUnlessARuleNamesItsWindows) {
  Json j = Minimal();
  j["profile"] = "fidelity";
  j["faults"] = Json{{"rules", {{"Q3", {{"probability", 0.5}, {"windows", {{10, 20}}}}}}},
                     {"disable", {"D1"}}};
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const FaultPlan plan = ScenarioFaultPlan(*s, 1);
  ASSERT_TRUE(plan.rule(*FaultFromId("Q3")));
  ASSERT_EQ(plan.rule(*FaultFromId("Q3"))->windows.size(), 1U);
  EXPECT_EQ(plan.rule(*FaultFromId("Q3"))->windows[0].until - core::kVirtualEpoch,
            core::Seconds(20));
  EXPECT_FALSE(plan.rule(*FaultFromId("D1")));
  ASSERT_TRUE(plan.rule(*FaultFromId("Q1")));  // A profile fault: healed at duration_s.
  ASSERT_EQ(plan.rule(*FaultFromId("Q1"))->windows.size(), 1U);
  EXPECT_EQ(plan.rule(*FaultFromId("Q1"))->windows[0].until - core::kVirtualEpoch,
            core::Seconds(60));
}

Json Bool(const Json& report, const std::string& group, const std::string& name) {
  for (const auto& c : report[group]) {
    if (c["name"] == name || c.value("id", "") == name) return c;
  }
  return Json();
}

TEST(ScenarioRun, BehavioursDecideEachAttemptAndTheReportCountsTheOutcome) {
  Json j = Minimal();
  j["workload"] = Json::parse(R"([
    {"at_s": 0, "add": {"name": "ok", "count": 4}},
    {"at_s": 0, "add": {"name": "flaky", "count": 2, "opts": {"attempts": 3}}},
    {"at_s": 1, "add": {"name": "doomed", "opts": {"attempts": 5}}},
    {"at_s": 2, "add": {"name": "effect", "count": 3, "every_s": 1}}])");
  j["processors"] = Json::parse(R"({
    "flaky": {"duration_ms": 10, "fail": {"attempts": [1, 2]}},
    "doomed": {"unrecoverable": {"attempts": [1]}, "fail_message": "bad input"},
    "effect": {"side_effect": true}})");
  j["expect"] = Json::parse(R"({"counts": {"completed": 9, "failed": 1}, "effects": "once"})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump(2);
  EXPECT_EQ(report["by_name"]["flaky"]["completed"]["attempts"], 6);
  EXPECT_EQ(report["by_name"]["doomed"]["failed"]["jobs"], 1);
  EXPECT_EQ(report["effects"]["effects"], 3);
  EXPECT_TRUE(Bool(report, "checks", "completed jobs")["ok"].get<bool>());
  EXPECT_EQ(report["replay"], "cfemu run s.json --seed 1");
}

TEST(ScenarioRun, APurgedQueueLosesNoJobAndThePurgeIsReported) {
  Json j = Minimal();
  j["duration_s"] = 600;
  j["workload"] = Json::parse(R"([
    {"at_s": 0, "pause_delivery": "jobs"},
    {"at_s": 1, "add": {"name": "a", "count": 5}},
    {"at_s": 10, "purge_queue": "jobs"},
    {"at_s": 11, "resume_delivery": "jobs"}])");
  j["liveness_s"] = 3600;
  j["processors"] = Json::parse(R"({"a": {"side_effect": true}})");
  j["expect"] = Json::parse(R"({"counts": {"completed": 5}, "effects": "once"})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump(2);
  EXPECT_EQ(report["messages"]["purged"], 5);
  EXPECT_GT(report["messages"]["sent"].get<int>(), 5);  // The lost envelopes were sent again.
}

TEST(ScenarioRun, AnUnknownCloudflareQueueFailsTheProducersCheck) {
  Json j = Minimal();
  j["workload"].push_back(Json::parse(R"({"at_s": 1, "purge_queue": "nope"})"));
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok());
  const Json report = RunScenario(*s, ScenarioRunOptions());
  const Json check = Bool(report, "checks", "the producer's calls went through");
  EXPECT_FALSE(check["ok"].get<bool>());
  EXPECT_NE(check["detail"].get<std::string>().find("workload[1]"), std::string::npos);
}

TEST(ScenarioRun, ProducersInOtherLocationsAndFaultsFiredAreChecked) {
  Json j = Minimal();
  j["profile"] = "fidelity";
  j["environment"] = Json::parse(
      R"({"engine": {"kv_binding": "CACHE", "kv_pause_hint": true, "kv_throttle_cache": true}})");
  j["faults"] = Json::parse(R"({"rules": {"K1": {"probability": 1}}, "disable": ["W1", "W2",
      "Q1", "Q2", "Q6", "N1", "N2", "N3"]})");
  j["workload"] = Json::parse(R"([
    {"at_s": 0, "producer": "api-eu", "add": {"name": "a", "count": 20, "every_s": 1,
      "opts": {"deduplication": {"id": "k", "ttl": 10000}}}},
    {"at_s": 0.5, "producer": "api-us", "add": {"name": "a", "count": 20, "every_s": 1,
      "opts": {"deduplication": {"id": "k", "ttl": 10000}}}}])");
  j["expect"] = Json::parse(R"({"counts": {"completed": 2}, "faults_fired": {"K1": 1, "T3": 1}})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_TRUE(Bool(report, "checks", "completed jobs")["ok"].get<bool>()) << report.dump(2);
  EXPECT_TRUE(Bool(report, "checks", "fault K1 fired at least 1 times")["ok"].get<bool>());
  const Json t3 = Bool(report, "checks", "fault T3 fired at least 1 times");
  EXPECT_FALSE(t3["ok"].get<bool>());
  EXPECT_EQ(t3["detail"], "0 firings");
}

TEST(ScenarioRun, AnUnmetExpectationFailsTheRunWithItsDetail) {
  Json j = Minimal();
  j["expect"] = Json::parse(R"({"counts": {"completed": {"min": 5}}})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok());
  const Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_FALSE(report["ok"].get<bool>());
  const Json check = Bool(report, "checks", "completed jobs");
  EXPECT_FALSE(check["ok"].get<bool>());
  EXPECT_EQ(check["detail"], "3 (expected >= 5)");
}

TEST(ScenarioRun, ACrashAfterASideEffectRepeatsTheEffectAndAtLeastOnceAcceptsIt) {
  Json j = Minimal();
  j["duration_s"] = 3600;
  j["processors"] =
      Json::parse(R"({"a": {"crash_after_side_effect": {"attempts": [1]}, "hang_ms": 1000000}})");
  j["environment"] = Json::parse(R"({"queues": {"jobs": {"maxStalledCount": 2}}})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump(2);
  EXPECT_EQ(report["effects"]["effects"], 6);  // Each of the 3 jobs: the crash, then the retry.
  EXPECT_EQ(report["effects"]["jobs_with_repeated_effects"], 3);
  s->expect.effects = "once";
  report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_FALSE(report["ok"].get<bool>());
}

TEST(ScenarioRun, N4AFailedOutboundCallFailsTheAttemptBeforeItsSideEffect) {
  Json j = Minimal();
  j["processors"] = Json::parse(R"({"a": {"side_effect": true}})");
  j["workload"][0]["add"]["opts"] = Json::parse(R"({"attempts": 2})");
  j["faults"] = Json::parse(R"({"rules": {"N4": {"probability": 1, "max_firings": 2}}})");
  j["expect"] = Json::parse(R"({"counts": {"completed": 3}, "effects": "once"})");
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json report = RunScenario(*s, ScenarioRunOptions());
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump(2);
  EXPECT_EQ(report["fault_sites"]["N4@processor.fetch"], 2);
  EXPECT_EQ(report["by_name"]["a"]["completed"]["attempts"], 5);  // Two jobs needed a retry.
  EXPECT_EQ(report["effects"]["effects"], 3);  // A failed call recorded no effect.
}

TEST(ScenarioRun, TheSameSeedReplaysToTheSameTraceHashAndAnotherSeedDoesNot) {
  Json j = Minimal();
  j["profile"] = "fidelity";
  j["workload"][0]["add"]["count"] = 30;
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok());
  ScenarioRunOptions seven;
  seven.seed = 7;
  ScenarioRunOptions eight;
  eight.seed = 8;
  const std::string first = RunScenario(*s, seven)["trace_hash"];
  EXPECT_EQ(RunScenario(*s, seven)["trace_hash"], first);
  EXPECT_NE(RunScenario(*s, eight)["trace_hash"], first);
}

TEST(ScenarioRun, AForcedOnlyPlanFiresExactlyTheForcedDecision) {
  Json j = Minimal();
  j["profile"] = "fidelity";
  auto s = ParseScenario(j, "s.json");
  ASSERT_TRUE(s.ok());
  ScenarioRunOptions options;
  auto plan = ParseFaultPlanFile(
      Json::parse(R"({"profile": "fidelity", "rules": {"Q3": {"probability": 0.0001}},
                     "forced": [{"fault": "Q3", "site": "queue.ack", "n": 1}],
                     "forced_only": true})"),
      "p.json");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  options.faults = *plan;
  options.faults_file = "p.json";
  const Json report = RunScenario(*s, options);
  EXPECT_EQ(report["faults_fired"], (Json{{"Q3", 1}})) << report["faults_fired"].dump();
  EXPECT_EQ(report["replay"], "cfemu run s.json --seed 1 --faults p.json");
  EXPECT_TRUE(report["ok"].get<bool>()) << report.dump(2);
}

}  // namespace
}  // namespace cfemu::emulator
