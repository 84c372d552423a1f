// wrangler.jsonc -> EnvSpec, JSON with comments, and errors that name file, line and field.
#include <gtest/gtest.h>

#include "emulator/config/jsonc.h"
#include "emulator/config/wrangler_config.h"

namespace cfemu::emulator {
namespace {

using core::Code;
using core::Seconds;

TEST(Jsonc, AcceptsCommentsTrailingCommasAndAByteOrderMark) {
  auto document = ParseJsonc(
      "\xEF\xBB\xBF{ // a comment\n \"a\": [1, 2, /* two */ ],\n"
      " \"b\": {\"c\": true,},\n}",
      "x.jsonc");
  ASSERT_TRUE(document.ok()) << document.status().ToString();
  EXPECT_EQ(document->value["a"].size(), 2u);
  EXPECT_TRUE(document->value["b"]["c"].get<bool>());
  EXPECT_EQ(document->LineOf("a"), 2);
  EXPECT_EQ(document->LineOf("b.c"), 3);
}

TEST(Jsonc, ErrorsNameTheLineAndColumn) {
  auto bad = ParseJsonc("{\n  \"a\": 1\n  \"b\": 2\n}", "f.jsonc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "f.jsonc:3:3: expected ',' or '}'");
  EXPECT_FALSE(ParseJsonc("{\"a\": /* never closed", "f").ok());
  EXPECT_FALSE(ParseJsonc("{\"a\": 1, \"a\": 2}", "f").ok());  // Duplicate key.
  EXPECT_FALSE(ParseJsonc("[1, 2", "f").ok());
  EXPECT_FALSE(ParseJsonc("{\"a\": \"\xff\"}", "f").ok());    // Invalid UTF-8.
  EXPECT_FALSE(ParseJsonc(std::string(200, '['), "f").ok());  // Too deep, not a crash.
  EXPECT_FALSE(ParseJsonc("", "f").ok());
}

TEST(WranglerConfig, TheFixtureBuildsTheJobQueueWiring) {
  auto config = LoadWranglerConfig(DefaultWranglerConfig(), "wrangler.jsonc");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const platform::EnvSpec& spec = config->spec;
  EXPECT_EQ(spec.script_name, "jobs-worker");
  EXPECT_EQ(spec.compatibility_date, "2026-01-01");
  EXPECT_EQ(spec.compatibility_flags, std::vector<std::string>{"nodejs_compat"});
  ASSERT_EQ(spec.producers.size(), 1u);
  EXPECT_EQ(spec.producers[0].binding, "JOBS");
  ASSERT_EQ(spec.consumers.size(), 2u);
  EXPECT_EQ(spec.consumers[0].dead_letter_queue, "jobs-dlq");
  EXPECT_EQ(spec.consumers[0].max_batch_timeout, Seconds(5));
  EXPECT_EQ(spec.consumers[0].script_name, "jobs-worker");
  ASSERT_EQ(spec.d1_databases.size(), 1u);
  EXPECT_EQ(spec.d1_databases[0].database_name, "jobs");
  ASSERT_EQ(spec.kv_namespaces.size(), 1u);
  ASSERT_EQ(spec.durable_objects.size(), 1u);
  EXPECT_EQ(spec.durable_objects[0].class_name, "Coordinator");
  ASSERT_EQ(spec.durable_object_classes.size(), 1u);
  EXPECT_TRUE(spec.durable_object_classes[0].sqlite);
  EXPECT_EQ(spec.crons, std::vector<std::string>{"* * * * *"});
  EXPECT_EQ(config->ignored, (std::vector<std::string>{"main", "observability"}));
}

TEST(WranglerConfig, AbsentConsumerSettingsTakeProductionDefaults) {
  auto config = LoadWranglerConfig(R"({"queues": {"consumers": [{"queue": "q"}]}})", "w");
  ASSERT_TRUE(config.ok());
  const auto& consumer = config->spec.consumers[0];
  EXPECT_EQ(consumer.max_batch_size, 10);
  EXPECT_EQ(consumer.max_batch_timeout, Seconds(5));
  EXPECT_EQ(consumer.max_retries, 3);
  EXPECT_EQ(consumer.type, platform::ConsumerType::kWorker);
  EXPECT_FALSE(consumer.max_concurrency.has_value());
}

TEST(WranglerConfig, EveryConsumerSettingIsRead) {
  auto config = LoadWranglerConfig(R"({"queues": {"consumers": [
      {"queue": "q", "max_batch_size": 50, "max_batch_timeout": 30, "max_retries": 7,
       "dead_letter_queue": "dead", "max_concurrency": 4, "retry_delay": 120},
      {"queue": "p", "type": "http_pull", "visibility_timeout_ms": 60000}]},
      "producers": []})",
                                   "w");
  // "producers" sits outside "queues" here: not a wrangler field.
  ASSERT_FALSE(config.ok());
  config = LoadWranglerConfig(R"({"queues": {"consumers": [
      {"queue": "q", "max_batch_size": 50, "max_batch_timeout": 30, "max_retries": 7,
       "dead_letter_queue": "dead", "max_concurrency": 4, "retry_delay": 120},
      {"queue": "p", "type": "http_pull", "visibility_timeout_ms": 60000}]}})",
                              "w");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const auto& q = config->spec.consumers[0];
  EXPECT_EQ(q.max_batch_size, 50);
  EXPECT_EQ(q.max_batch_timeout, Seconds(30));
  EXPECT_EQ(q.max_retries, 7);
  EXPECT_EQ(q.dead_letter_queue, "dead");
  EXPECT_EQ(q.max_concurrency, 4);
  EXPECT_EQ(q.retry_delay, Seconds(120));
  const auto& p = config->spec.consumers[1];
  EXPECT_EQ(p.type, platform::ConsumerType::kHttpPull);
  EXPECT_EQ(p.visibility_timeout, Seconds(60));
}

TEST(WranglerConfig, ErrorsNameTheFileLineAndField) {
  const std::string text =
      "{\n"
      "  \"queues\": {\n"
      "    \"consumers\": [\n"
      "      { \"queue\": \"jobs\",\n"
      "        \"max_batch_size\": 101 }\n"
      "    ]\n"
      "  }\n"
      "}\n";
  auto config = LoadWranglerConfig(text, "wrangler.jsonc");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "wrangler.jsonc:5: queues.consumers[0].max_batch_size: 101 is out of range (1 to "
            "100)");
}

TEST(WranglerConfig, UnknownKeysAreErrorsInModeledSectionsAndOutsideTheSchema) {
  auto typo =
      LoadWranglerConfig(R"({"queues": {"consumers": [{"queue": "q", "max_batch": 5}]}})", "w");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("queues.consumers[0].max_batch: unknown field"),
            std::string::npos);
  auto outside = LoadWranglerConfig(R"({"nonsense": 1})", "w");
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("nonsense: not a wrangler configuration field"),
            std::string::npos);
  auto wrong_type = LoadWranglerConfig(R"({"d1_databases": {"binding": "DB"}})", "w");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("expected an array"), std::string::npos);
  auto missing = LoadWranglerConfig(R"({"d1_databases": [{"binding": "DB"}]})", "w");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("database_name"), std::string::npos);
}

TEST(WranglerConfig, AnUnknownKeyIsReportedAtItsLine) {
  // The typo is on line 10, below a line comment and a block comment over two lines.
  const std::string text =
      "// The job queue.\n"
      "{\n"
      "  \"name\": \"jobs\", /* a block comment\n"
      "     over two lines */\n"
      "  \"queues\": {\n"
      "    \"consumers\": [\n"
      "      { \"queue\": \"jobs\" },\n"
      "      {\n"
      "        \"queue\": \"other\",\n"
      "        \"max_batch\": 5\n"
      "      }\n"
      "    ]\n"
      "  }\n"
      "}\n";
  auto typo = LoadWranglerConfig(text, "wrangler.jsonc");
  ASSERT_FALSE(typo.ok());
  EXPECT_TRUE(typo.status().message().starts_with(
      "wrangler.jsonc:10: queues.consumers[1].max_batch: unknown field"))
      << typo.status().message();
  const std::string outside =
      "{\n"
      "  \"name\": \"jobs\",\n"
      "  // Not a wrangler field:\n"
      "  \"nonsense\": 1\n"
      "}\n";
  auto unknown = LoadWranglerConfig(outside, "wrangler.jsonc");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "wrangler.jsonc:4: nonsense: not a wrangler configuration field");
}

TEST(WranglerConfig, FieldsCfemuDoesNotEmulateAreListedOnce) {
  auto config = LoadWranglerConfig(R"({"vars": {"A": "1"}, "routes": [], "r2_buckets": []})", "w");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->ignored, (std::vector<std::string>{"r2_buckets", "routes", "vars"}));
}

TEST(WranglerConfig, DurableObjectClassesComeFromMigrations) {
  auto config = LoadWranglerConfig(R"({
    "durable_objects": {"bindings": [{"name": "A", "class_name": "New"},
                                      {"name": "B", "class_name": "Legacy"}]},
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Old"], "new_classes": ["Legacy"]},
                   {"tag": "v2", "renamed_classes": [{"from": "Old", "to": "New"}]}]})",
                                   "w");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->spec.durable_object_classes.size(), 2u);
  EXPECT_EQ(config->spec.durable_object_classes[0].class_name, "Legacy");
  EXPECT_FALSE(config->spec.durable_object_classes[0].sqlite);
  EXPECT_EQ(config->spec.durable_object_classes[1].class_name, "New");
  EXPECT_TRUE(config->spec.durable_object_classes[1].sqlite);
}

TEST(WranglerConfig, AnUnknownClassIsReportedWithFileAndLine) {
  const std::string text =
      "{\n"
      "  \"durable_objects\": {\"bindings\": [\n"
      "    {\"name\": \"C\",\n"
      "     \"class_name\": \"Coordinator\"}]},\n"
      "  \"migrations\": [{\"tag\": \"v1\", \"new_sqlite_classes\": [\"Coordinator\"]}]\n"
      "}\n";
  platform::DurableObjectRegistry registry;
  auto unknown = LoadWranglerConfig(text, "w.jsonc", &registry);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "w.jsonc:4: durable_objects.bindings[0].class_name: unknown Durable Object class "
            "'Coordinator' (registered: none)");
  auto undeclared = LoadWranglerConfig(
      R"({"durable_objects": {"bindings": [{"name": "C", "class_name": "X"}]}})", "w");
  ASSERT_FALSE(undeclared.ok());
  EXPECT_NE(undeclared.status().message().find("not created by any migration"), std::string::npos);
}

TEST(WranglerConfig, AMissingFileIsNotFound) {
  EXPECT_EQ(LoadWranglerConfigFile("/nonexistent/wrangler.jsonc").code(), Code::kNotFound);
}

}  // namespace
}  // namespace cfemu::emulator
