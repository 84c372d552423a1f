#include "emulator/config/wrangler_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "emulator/config/jsonc.h"

namespace cfemu::emulator {

namespace {

using core::Result;
using core::Status;
using Json = nlohmann::json;

// Top-level fields of wrangler's schema that cfemu accepts without emulating them.
const std::set<std::string, std::less<>>& IgnoredTopLevel() {
  static const std::set<std::string, std::less<>> kFields = {"account_id",
                                                             "ai",
                                                             "alias",
                                                             "analytics_engine_datasets",
                                                             "assets",
                                                             "base_dir",
                                                             "browser",
                                                             "build",
                                                             "containers",
                                                             "data_blobs",
                                                             "define",
                                                             "dev",
                                                             "dispatch_namespaces",
                                                             "env",
                                                             "find_additional_modules",
                                                             "first_party_worker",
                                                             "hyperdrive",
                                                             "images",
                                                             "jsx_factory",
                                                             "jsx_fragment",
                                                             "keep_vars",
                                                             "legacy_env",
                                                             "limits",
                                                             "logfwdr",
                                                             "logpush",
                                                             "main",
                                                             "minify",
                                                             "mtls_certificates",
                                                             "no_bundle",
                                                             "node_compat",
                                                             "observability",
                                                             "pipelines",
                                                             "placement",
                                                             "preserve_file_names",
                                                             "preview_urls",
                                                             "python_modules",
                                                             "r2_buckets",
                                                             "route",
                                                             "routes",
                                                             "rules",
                                                             "secrets_store_secrets",
                                                             "send_email",
                                                             "send_metrics",
                                                             "services",
                                                             "site",
                                                             "tail_consumers",
                                                             "text_blobs",
                                                             "tsconfig",
                                                             "unsafe",
                                                             "upload_source_maps",
                                                             "usage_model",
                                                             "vars",
                                                             "vectorize",
                                                             "version_metadata",
                                                             "wasm_modules",
                                                             "workers_dev",
                                                             "workflows",
                                                             "zone_id",
                                                             "streaming_tail_consumers",
                                                             "unsafe_hello_world",
                                                             "cloudchamber",
                                                             "keep_names",
                                                             "upload_source_maps"};
  return kFields;
}

// Reads typed fields of the document and reports errors as "origin:line: path: message".
class Reader {
 public:
  Reader(const JsoncDocument& document, std::string_view origin)
      : document_(document), origin_(origin) {}

  Status Error(const std::string& path, const std::string& message) const {
    const int line = document_.LineOf(path);
    return Status::InvalidArgument(std::string(origin_) + ":" + std::to_string(line) + ": " +
                                   (path.empty() ? std::string("(document)") : path) + ": " +
                                   message);
  }

  // Every key of the object at `path` must be in `known`.
  Status OnlyKeys(const Json& object, const std::string& path,
                  const std::set<std::string, std::less<>>& known) const {
    for (const auto& [key, value] : object.items()) {
      if (known.count(key) == 0) {
        std::string expected;
        for (const auto& k : known) expected += (expected.empty() ? "" : ", ") + k;
        return Error(Child(path, key), "unknown field (expected one of: " + expected + ")");
      }
    }
    return Status::Ok();
  }

  Result<const Json*> Object(const Json& parent, const std::string& path,
                             const std::string& key) const {
    if (!parent.contains(key)) return static_cast<const Json*>(nullptr);
    const Json& value = parent.at(key);
    if (!value.is_object()) return Error(Child(path, key), "expected an object");
    return &value;
  }

  Result<const Json*> Array(const Json& parent, const std::string& path,
                            const std::string& key) const {
    if (!parent.contains(key)) return static_cast<const Json*>(nullptr);
    const Json& value = parent.at(key);
    if (!value.is_array()) return Error(Child(path, key), "expected an array");
    return &value;
  }

  Result<std::string> String(const Json& parent, const std::string& path, const std::string& key,
                             bool required) const {
    if (!parent.contains(key)) {
      if (required) return Error(path, "missing required field \"" + key + "\"");
      return std::string();
    }
    const Json& value = parent.at(key);
    if (!value.is_string() || (required && value.get<std::string>().empty())) {
      return Error(Child(path, key), "expected a non-empty string");
    }
    return value.get<std::string>();
  }

  // An integer within [lo, hi], or nullopt when absent (or null).
  Result<std::optional<std::int64_t>> Integer(const Json& parent, const std::string& path,
                                              const std::string& key, std::int64_t lo,
                                              std::int64_t hi) const {
    if (!parent.contains(key) || parent.at(key).is_null()) {
      return std::optional<std::int64_t>();
    }
    const Json& value = parent.at(key);
    if (!value.is_number_integer() && !value.is_number_unsigned()) {
      return Error(Child(path, key),
                   "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    const std::int64_t n = value.get<std::int64_t>();
    if (n < lo || n > hi) {
      return Error(Child(path, key), std::to_string(n) + " is out of range (" + std::to_string(lo) +
                                         " to " + std::to_string(hi) + ")");
    }
    return std::optional<std::int64_t>(n);
  }

  Result<std::vector<std::string>> Strings(const Json& parent, const std::string& path,
                                           const std::string& key) const {
    std::vector<std::string> out;
    auto array = Array(parent, path, key);
    if (!array.ok()) return array.status();
    if (*array == nullptr) return out;
    for (std::size_t i = 0; i < (*array)->size(); ++i) {
      const Json& item = (**array)[i];
      if (!item.is_string()) {
        return Error(Child(path, key) + "[" + std::to_string(i) + "]", "expected a string");
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  static std::string Child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Item(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  const JsoncDocument& document_;
  std::string_view origin_;
};

Status ReadConsumer(const Reader& r, const Json& item, const std::string& path,
                    platform::ConsumerSpec& consumer) {
  CFEMU_RETURN_IF_ERROR(r.OnlyKeys(
      item, path,
      {"queue", "max_batch_size", "max_batch_timeout", "max_retries", "dead_letter_queue",
       "max_concurrency", "retry_delay", "type", "visibility_timeout_ms"}));
  auto queue = r.String(item, path, "queue", true);
  if (!queue.ok()) return queue.status();
  consumer.queue = *queue;
  auto type = r.String(item, path, "type", false);
  if (!type.ok()) return type.status();
  if (*type == "http_pull") {
    consumer.type = platform::ConsumerType::kHttpPull;
  } else if (!type->empty() && *type != "worker") {
    return r.Error(Reader::Child(path, "type"), "expected \"worker\" or \"http_pull\"");
  }
  auto batch = r.Integer(item, path, "max_batch_size", 1, 100);
  auto timeout = r.Integer(item, path, "max_batch_timeout", 0, 60);
  auto retries = r.Integer(item, path, "max_retries", 0, 100);
  auto concurrency = r.Integer(item, path, "max_concurrency", 1, 250);
  auto retry_delay = r.Integer(item, path, "retry_delay", 0, 86'400);
  auto visibility = r.Integer(item, path, "visibility_timeout_ms", 1, 43'200'000);
  auto dlq = r.String(item, path, "dead_letter_queue", false);
  for (const Status* s :
       {&batch.status(), &timeout.status(), &retries.status(), &concurrency.status(),
        &retry_delay.status(), &visibility.status(), &dlq.status()}) {
    if (!s->ok()) return *s;
  }
  if (*batch) consumer.max_batch_size = static_cast<int>(**batch);
  if (*timeout) consumer.max_batch_timeout = core::Seconds(**timeout);
  if (*retries) consumer.max_retries = static_cast<int>(**retries);
  if (*concurrency) consumer.max_concurrency = static_cast<int>(**concurrency);
  if (*retry_delay) consumer.retry_delay = core::Seconds(**retry_delay);
  if (*visibility) consumer.visibility_timeout = core::Milliseconds(**visibility);
  consumer.dead_letter_queue = *dlq;
  return Status::Ok();
}

Status ReadQueues(const Reader& r, const Json& root, platform::EnvSpec& spec) {
  auto queues = r.Object(root, "", "queues");
  if (!queues.ok()) return queues.status();
  if (*queues == nullptr) return Status::Ok();
  CFEMU_RETURN_IF_ERROR(r.OnlyKeys(**queues, "queues", {"producers", "consumers"}));
  auto producers = r.Array(**queues, "queues", "producers");
  if (!producers.ok()) return producers.status();
  for (std::size_t i = 0; *producers != nullptr && i < (*producers)->size(); ++i) {
    const std::string path = Reader::Item("queues.producers", i);
    const Json& item = (**producers)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    CFEMU_RETURN_IF_ERROR(r.OnlyKeys(item, path, {"queue", "binding", "delivery_delay"}));
    auto queue = r.String(item, path, "queue", true);
    auto binding = r.String(item, path, "binding", true);
    auto delay = r.Integer(item, path, "delivery_delay", 0, 43'200);
    if (!queue.ok()) return queue.status();
    if (!binding.ok()) return binding.status();
    if (!delay.ok()) return delay.status();
    platform::ProducerBindingSpec producer{*binding, *queue, std::nullopt};
    if (*delay) producer.delivery_delay = core::Seconds(**delay);
    spec.producers.push_back(std::move(producer));
  }
  auto consumers = r.Array(**queues, "queues", "consumers");
  if (!consumers.ok()) return consumers.status();
  for (std::size_t i = 0; *consumers != nullptr && i < (*consumers)->size(); ++i) {
    const std::string path = Reader::Item("queues.consumers", i);
    const Json& item = (**consumers)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    platform::ConsumerSpec consumer;
    consumer.script_name = spec.script_name;
    CFEMU_RETURN_IF_ERROR(ReadConsumer(r, item, path, consumer));
    spec.consumers.push_back(std::move(consumer));
  }
  return Status::Ok();
}

Status ReadD1AndKv(const Reader& r, const Json& root, platform::EnvSpec& spec) {
  auto d1 = r.Array(root, "", "d1_databases");
  if (!d1.ok()) return d1.status();
  for (std::size_t i = 0; *d1 != nullptr && i < (*d1)->size(); ++i) {
    const std::string path = Reader::Item("d1_databases", i);
    const Json& item = (**d1)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    CFEMU_RETURN_IF_ERROR(
        r.OnlyKeys(item, path,
                   {"binding", "database_name", "database_id", "preview_database_id",
                    "migrations_dir", "migrations_table", "database_internal_env", "remote"}));
    auto binding = r.String(item, path, "binding", true);
    auto name = r.String(item, path, "database_name", true);
    auto id = r.String(item, path, "database_id", false);
    for (const Status* s : {&binding.status(), &name.status(), &id.status()}) {
      if (!s->ok()) return *s;
    }
    spec.d1_databases.push_back({*binding, *name, *id});
  }
  auto kv = r.Array(root, "", "kv_namespaces");
  if (!kv.ok()) return kv.status();
  for (std::size_t i = 0; *kv != nullptr && i < (*kv)->size(); ++i) {
    const std::string path = Reader::Item("kv_namespaces", i);
    const Json& item = (**kv)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    CFEMU_RETURN_IF_ERROR(r.OnlyKeys(item, path, {"binding", "id", "preview_id", "remote"}));
    auto binding = r.String(item, path, "binding", true);
    auto id = r.String(item, path, "id", false);
    if (!binding.ok()) return binding.status();
    if (!id.ok()) return id.status();
    spec.kv_namespaces.push_back({*binding, *id});
  }
  return Status::Ok();
}

// Classes declared by the migrations, in order: new, renamed and deleted classes.
Status ReadMigrations(const Reader& r, const Json& root, platform::EnvSpec& spec) {
  auto migrations = r.Array(root, "", "migrations");
  if (!migrations.ok()) return migrations.status();
  std::map<std::string, bool> classes;  // Class -> SQLite-backed.
  for (std::size_t i = 0; *migrations != nullptr && i < (*migrations)->size(); ++i) {
    const std::string path = Reader::Item("migrations", i);
    const Json& item = (**migrations)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    CFEMU_RETURN_IF_ERROR(r.OnlyKeys(item, path,
                                     {"tag", "new_classes", "new_sqlite_classes", "renamed_classes",
                                      "deleted_classes", "transferred_classes"}));
    auto sqlite = r.Strings(item, path, "new_sqlite_classes");
    auto legacy = r.Strings(item, path, "new_classes");
    auto deleted = r.Strings(item, path, "deleted_classes");
    for (const Status* s : {&sqlite.status(), &legacy.status(), &deleted.status()}) {
      if (!s->ok()) return *s;
    }
    for (const auto& name : *sqlite) classes[name] = true;
    for (const auto& name : *legacy) classes[name] = false;
    auto renamed = r.Array(item, path, "renamed_classes");
    if (!renamed.ok()) return renamed.status();
    for (std::size_t j = 0; *renamed != nullptr && j < (*renamed)->size(); ++j) {
      const Json& rename = (**renamed)[j];
      const std::string rpath = Reader::Item(Reader::Child(path, "renamed_classes"), j);
      if (!rename.is_object() || !rename.contains("from") || !rename.contains("to") ||
          !rename["from"].is_string() || !rename["to"].is_string()) {
        return r.Error(rpath, "expected {\"from\": \"...\", \"to\": \"...\"}");
      }
      const auto from = classes.find(rename["from"].get<std::string>());
      if (from == classes.end()) return r.Error(rpath, "renames a class no migration created");
      classes[rename["to"].get<std::string>()] = from->second;
      classes.erase(from);
    }
    for (const auto& name : *deleted) classes.erase(name);
  }
  for (const auto& [name, is_sqlite] : classes) {
    spec.durable_object_classes.push_back({name, is_sqlite});
  }
  return Status::Ok();
}

Status ReadDurableObjects(const Reader& r, const Json& root, platform::EnvSpec& spec,
                          const platform::DurableObjectRegistry* registry) {
  auto section = r.Object(root, "", "durable_objects");
  if (!section.ok()) return section.status();
  if (*section == nullptr) return Status::Ok();
  CFEMU_RETURN_IF_ERROR(r.OnlyKeys(**section, "durable_objects", {"bindings"}));
  auto bindings = r.Array(**section, "durable_objects", "bindings");
  if (!bindings.ok()) return bindings.status();
  for (std::size_t i = 0; *bindings != nullptr && i < (*bindings)->size(); ++i) {
    const std::string path = Reader::Item("durable_objects.bindings", i);
    const Json& item = (**bindings)[i];
    if (!item.is_object()) return r.Error(path, "expected an object");
    CFEMU_RETURN_IF_ERROR(
        r.OnlyKeys(item, path, {"name", "class_name", "script_name", "environment"}));
    auto name = r.String(item, path, "name", true);
    auto class_name = r.String(item, path, "class_name", true);
    auto script = r.String(item, path, "script_name", false);
    for (const Status* s : {&name.status(), &class_name.status(), &script.status()}) {
      if (!s->ok()) return *s;
    }
    if (script->empty()) {
      bool declared = false;
      for (const auto& c : spec.durable_object_classes) declared |= c.class_name == *class_name;
      if (!declared) {
        return r.Error(Reader::Child(path, "class_name"),
                       "class '" + *class_name +
                           "' is not created by any migration (add it to new_sqlite_classes)");
      }
      if (registry != nullptr && registry->Find(*class_name) == nullptr) {
        std::string known;
        for (const auto& n : registry->names()) known += (known.empty() ? "" : ", ") + n;
        return r.Error(Reader::Child(path, "class_name"),
                       "unknown Durable Object class '" + *class_name +
                           "' (registered: " + (known.empty() ? std::string("none") : known) + ")");
      }
    }
    spec.durable_objects.push_back({*name, *class_name, *script});
  }
  return Status::Ok();
}

Status ReadTopLevel(const Reader& r, const Json& root, WranglerConfig& config) {
  platform::EnvSpec& spec = config.spec;
  auto name = r.String(root, "", "name", false);
  if (!name.ok()) return name.status();
  if (!name->empty()) spec.script_name = *name;
  auto date = r.String(root, "", "compatibility_date", false);
  if (!date.ok()) return date.status();
  if (!date->empty()) spec.compatibility_date = *date;
  auto flags = r.Strings(root, "", "compatibility_flags");
  if (!flags.ok()) return flags.status();
  spec.compatibility_flags = *flags;
  auto triggers = r.Object(root, "", "triggers");
  if (!triggers.ok()) return triggers.status();
  if (*triggers != nullptr) {
    CFEMU_RETURN_IF_ERROR(r.OnlyKeys(**triggers, "triggers", {"crons"}));
    auto crons = r.Strings(**triggers, "triggers", "crons");
    if (!crons.ok()) return crons.status();
    spec.crons = *crons;
  }
  return Status::Ok();
}

}  // namespace

Result<WranglerConfig> LoadWranglerConfig(std::string_view text, std::string_view origin,
                                          const platform::DurableObjectRegistry* registry) {
  auto document = ParseJsonc(text, origin);
  if (!document.ok()) return document.status();
  const Json& root = document->value;
  const Reader r(*document, origin);
  if (!root.is_object()) return r.Error("", "expected a JSON object at the top level");
  static const std::set<std::string, std::less<>> kModeled = {
      "$schema",      "name",          "compatibility_date", "compatibility_flags", "queues",
      "d1_databases", "kv_namespaces", "durable_objects",    "migrations",          "triggers"};
  WranglerConfig config;
  for (const auto& [key, value] : root.items()) {
    if (kModeled.count(key) > 0) continue;
    if (IgnoredTopLevel().count(key) > 0) {
      config.ignored.push_back(key);
      continue;
    }
    return r.Error(key, "not a wrangler configuration field");
  }
  CFEMU_RETURN_IF_ERROR(ReadTopLevel(r, root, config));
  CFEMU_RETURN_IF_ERROR(ReadQueues(r, root, config.spec));
  CFEMU_RETURN_IF_ERROR(ReadD1AndKv(r, root, config.spec));
  CFEMU_RETURN_IF_ERROR(ReadMigrations(r, root, config.spec));
  CFEMU_RETURN_IF_ERROR(ReadDurableObjects(r, root, config.spec, registry));
  return config;
}

Result<WranglerConfig> LoadWranglerConfigFile(const std::filesystem::path& path,
                                              const platform::DurableObjectRegistry* registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return LoadWranglerConfig(text.str(), path.string(), registry);
}

}  // namespace cfemu::emulator
