#include "src/engine/job.h"

#include <cmath>
#include <string>

namespace cfemu::engine {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kWaiting:
      return "waiting";
    case JobState::kPrioritized:
      return "prioritized";
    case JobState::kDelayed:
      return "delayed";
    case JobState::kWaitingChildren:
      return "waiting-children";
    case JobState::kActive:
      return "active";
    case JobState::kCompleted:
      return "completed";
    case JobState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  if (name == "wait") return JobState::kWaiting;
  for (JobState state : kAllJobStates) {
    if (JobStateName(state) == name) return state;
  }
  return std::nullopt;
}

bool IsDispatchable(JobState state) {
  return state == JobState::kWaiting || state == JobState::kDelayed ||
         state == JobState::kPrioritized;
}

bool IsFinished(JobState state) {
  return state == JobState::kCompleted || state == JobState::kFailed;
}

std::string_view ParentPolicyName(ParentPolicy policy) {
  switch (policy) {
    case ParentPolicy::kNone:
      return "";
    case ParentPolicy::kFail:
      return "fail";
    case ParentPolicy::kIgnore:
      return "ignore";
    case ParentPolicy::kRemove:
      return "remove";
    case ParentPolicy::kContinue:
      return "continue";
  }
  return "";
}

ParentPolicy JobOptions::parent_policy() const {
  if (fail_parent_on_failure) return ParentPolicy::kFail;
  if (ignore_dependency_on_failure) return ParentPolicy::kIgnore;
  if (remove_dependency_on_failure) return ParentPolicy::kRemove;
  if (continue_parent_on_failure) return ParentPolicy::kContinue;
  return ParentPolicy::kNone;
}

namespace {

Json RetentionToJson(const Retention& retention) {
  if (const auto* flag = std::get_if<bool>(&retention)) return *flag;
  if (const auto* count = std::get_if<std::int64_t>(&retention)) return *count;
  const auto& keep = std::get<KeepJobs>(retention);
  Json out = Json::object();
  if (keep.age_sec) out["age"] = *keep.age_sec;
  if (keep.count) out["count"] = *keep.count;
  if (keep.limit) out["limit"] = *keep.limit;
  return out;
}

bool IsDefault(const Retention& retention) {
  const auto* flag = std::get_if<bool>(&retention);
  return flag != nullptr && !*flag;
}

Status Bad(std::string_view key, std::string_view expected) {
  return Status::InvalidArgument("job option '" + std::string(key) + "' must be " +
                                 std::string(expected));
}

bool IsInteger(const Json& value) {
  return value.is_number_integer() || value.is_number_unsigned() ||
         (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>() &&
          std::fabs(value.get<double>()) < 9.0e15);
}

Result<std::int64_t> IntegerOf(const Json& value, std::string_view key) {
  if (!IsInteger(value)) return Bad(key, "an integer");
  if (value.is_number_float()) return static_cast<std::int64_t>(value.get<double>());
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX) {
    return Bad(key, "an integer");
  }
  return value.get<std::int64_t>();
}

Result<bool> BoolOf(const Json& value, std::string_view key) {
  if (!value.is_boolean()) return Bad(key, "true or false");
  return value.get<bool>();
}

Result<std::string> StringOf(const Json& value, std::string_view key) {
  if (!value.is_string()) return Bad(key, "a string");
  return value.get<std::string>();
}

Result<Retention> RetentionFromJson(const Json& value, std::string_view key) {
  if (value.is_boolean()) return Retention(value.get<bool>());
  if (IsInteger(value)) return Retention(value.get<std::int64_t>());
  if (!value.is_object()) return Bad(key, "true, false, a count or {age, count, limit}");
  KeepJobs keep;
  for (const auto& [field, element] : value.items()) {
    auto n = IntegerOf(element, std::string(key) + "." + field);
    if (!n.ok()) return n.status();
    if (field == "age") {
      keep.age_sec = *n;
    } else if (field == "count") {
      keep.count = *n;
    } else if (field == "limit") {
      keep.limit = *n;
    } else {
      return Status::InvalidArgument("unknown job option '" + std::string(key) + "." + field + "'");
    }
  }
  return Retention(keep);
}

Result<Backoff> BackoffFromJson(const Json& value) {
  if (IsInteger(value)) return Backoff("fixed", value.get<std::int64_t>());
  if (!value.is_object()) return Bad("backoff", "a number or {type, delay, jitter}");
  Backoff backoff;
  backoff.type.clear();
  for (const auto& [field, element] : value.items()) {
    if (field == "type") {
      auto type = StringOf(element, "backoff.type");
      if (!type.ok()) return type.status();
      backoff.type = *type;
    } else if (field == "delay") {
      auto delay = IntegerOf(element, "backoff.delay");
      if (!delay.ok()) return delay.status();
      backoff.delay_ms = *delay;
    } else if (field == "jitter") {
      if (!element.is_number()) return Bad("backoff.jitter", "a number in [0, 1]");
      backoff.jitter = element.get<double>();
    } else {
      return Status::InvalidArgument("unknown job option 'backoff." + field + "'");
    }
  }
  if (backoff.type.empty()) return Bad("backoff.type", "a strategy name");
  return backoff;
}

Result<Dedup> DedupFromJson(const Json& value) {
  if (!value.is_object()) return Bad("deduplication", "{id, ttl, extend, replace}");
  Dedup dedup;
  for (const auto& [field, element] : value.items()) {
    if (field == "id") {
      auto id = StringOf(element, "deduplication.id");
      if (!id.ok()) return id.status();
      dedup.id = *id;
    } else if (field == "ttl") {
      auto ttl = IntegerOf(element, "deduplication.ttl");
      if (!ttl.ok()) return ttl.status();
      dedup.ttl_ms = *ttl;
    } else if (field == "extend" || field == "replace") {
      auto flag = BoolOf(element, "deduplication." + field);
      if (!flag.ok()) return flag.status();
      (field == "extend" ? dedup.extend : dedup.replace) = *flag;
    } else {
      return Status::InvalidArgument("unknown job option 'deduplication." + field + "'");
    }
  }
  return dedup;
}

Result<ParentRef> ParentFromJson(const Json& value) {
  if (!value.is_object()) return Bad("parent", "{id, queue}");
  ParentRef parent;
  for (const auto& [field, element] : value.items()) {
    auto text = StringOf(element, "parent." + field);
    if (!text.ok()) return text.status();
    if (field == "id") {
      parent.id = *text;
    } else if (field == "queue") {
      parent.queue = *text;
    } else {
      return Status::InvalidArgument("unknown job option 'parent." + field + "'");
    }
  }
  return parent;
}

// One key of the options object; `handled` is false for unknown keys.
Status ApplyScalarOption(JobOptions& options, const std::string& key, const Json& value,
                         bool& handled) {
  handled = true;
  auto int_into = [&](auto& field) -> Status {
    auto n = IntegerOf(value, key);
    if (!n.ok()) return n.status();
    field = static_cast<std::remove_reference_t<decltype(field)>>(*n);
    return Status::Ok();
  };
  auto bool_into = [&](bool& field) -> Status {
    auto flag = BoolOf(value, key);
    if (!flag.ok()) return flag.status();
    field = *flag;
    return Status::Ok();
  };
  if (key == "delay") return int_into(options.delay_ms);
  if (key == "priority") return int_into(options.priority);
  if (key == "attempts") return int_into(options.attempts);
  if (key == "lifo") return bool_into(options.lifo);
  if (key == "failParentOnFailure") return bool_into(options.fail_parent_on_failure);
  if (key == "ignoreDependencyOnFailure") return bool_into(options.ignore_dependency_on_failure);
  if (key == "removeDependencyOnFailure") return bool_into(options.remove_dependency_on_failure);
  if (key == "continueParentOnFailure") return bool_into(options.continue_parent_on_failure);
  if (key == "keepLogs") return int_into(options.keep_logs.emplace());
  if (key == "stackTraceLimit") return int_into(options.stack_trace_limit.emplace());
  if (key == "sizeLimit") return int_into(options.size_limit.emplace());
  handled = false;
  return Status::Ok();
}

}  // namespace

Json JobOptionsToJson(const JobOptions& options) {
  Json out = Json::object();
  if (options.job_id) out["jobId"] = *options.job_id;
  if (options.delay_ms != 0) out["delay"] = options.delay_ms;
  if (options.priority != 0) out["priority"] = options.priority;
  if (options.lifo) out["lifo"] = true;
  if (options.attempts != 1) out["attempts"] = options.attempts;
  if (options.backoff) {
    Json backoff = {{"type", options.backoff->type}, {"delay", options.backoff->delay_ms}};
    if (options.backoff->jitter != 0) backoff["jitter"] = options.backoff->jitter;
    out["backoff"] = std::move(backoff);
  }
  if (!IsDefault(options.remove_on_complete)) {
    out["removeOnComplete"] = RetentionToJson(options.remove_on_complete);
  }
  if (!IsDefault(options.remove_on_fail)) {
    out["removeOnFail"] = RetentionToJson(options.remove_on_fail);
  }
  if (options.deduplication) {
    Json dedup = {{"id", options.deduplication->id}};
    if (options.deduplication->ttl_ms) dedup["ttl"] = *options.deduplication->ttl_ms;
    if (options.deduplication->extend) dedup["extend"] = true;
    if (options.deduplication->replace) dedup["replace"] = true;
    out["deduplication"] = std::move(dedup);
  }
  if (options.group_key) out["groupKey"] = *options.group_key;
  if (options.parent) {
    out["parent"] = {{"id", options.parent->id}, {"queue", options.parent->queue}};
  }
  if (options.fail_parent_on_failure) out["failParentOnFailure"] = true;
  if (options.ignore_dependency_on_failure) out["ignoreDependencyOnFailure"] = true;
  if (options.remove_dependency_on_failure) out["removeDependencyOnFailure"] = true;
  if (options.continue_parent_on_failure) out["continueParentOnFailure"] = true;
  if (options.keep_logs) out["keepLogs"] = *options.keep_logs;
  if (options.stack_trace_limit) out["stackTraceLimit"] = *options.stack_trace_limit;
  if (options.size_limit) out["sizeLimit"] = *options.size_limit;
  return out;
}

Result<JobOptions> JobOptionsFromJson(const Json& json) {
  JobOptions options;
  if (json.is_null()) return options;
  if (!json.is_object()) return Status::InvalidArgument("job options must be an object");
  for (const auto& [key, value] : json.items()) {
    bool handled = false;
    CFEMU_RETURN_IF_ERROR(ApplyScalarOption(options, key, value, handled));
    if (handled) continue;
    if (key == "jobId") {
      auto id = StringOf(value, key);
      if (!id.ok()) return id.status();
      options.job_id = *id;
    } else if (key == "groupKey") {
      auto group = StringOf(value, key);
      if (!group.ok()) return group.status();
      options.group_key = *group;
    } else if (key == "backoff") {
      auto backoff = BackoffFromJson(value);
      if (!backoff.ok()) return backoff.status();
      options.backoff = *backoff;
    } else if (key == "removeOnComplete" || key == "removeOnFail") {
      auto retention = RetentionFromJson(value, key);
      if (!retention.ok()) return retention.status();
      (key == "removeOnComplete" ? options.remove_on_complete : options.remove_on_fail) =
          *retention;
    } else if (key == "deduplication") {
      auto dedup = DedupFromJson(value);
      if (!dedup.ok()) return dedup.status();
      options.deduplication = *dedup;
    } else if (key == "parent") {
      auto parent = ParentFromJson(value);
      if (!parent.ok()) return parent.status();
      options.parent = *parent;
    } else if (key == "repeat") {
      options.has_repeat = true;
    } else {
      return Status::InvalidArgument("unknown job option '" + key + "'");
    }
  }
  return options;
}

JobOptions MergeJobOptions(const JobOptions& defaults, const JobOptions& options) {
  const JobOptions plain;
  JobOptions out = defaults;
  if (options.job_id) out.job_id = options.job_id;
  if (options.delay_ms != plain.delay_ms) out.delay_ms = options.delay_ms;
  if (options.priority != plain.priority) out.priority = options.priority;
  if (options.lifo) out.lifo = true;
  if (options.attempts != plain.attempts) out.attempts = options.attempts;
  if (options.backoff) out.backoff = options.backoff;
  if (!IsDefault(options.remove_on_complete)) out.remove_on_complete = options.remove_on_complete;
  if (!IsDefault(options.remove_on_fail)) out.remove_on_fail = options.remove_on_fail;
  if (options.deduplication) out.deduplication = options.deduplication;
  if (options.group_key) out.group_key = options.group_key;
  if (options.parent) out.parent = options.parent;
  if (options.parent_policy() != ParentPolicy::kNone) {
    out.fail_parent_on_failure = options.fail_parent_on_failure;
    out.ignore_dependency_on_failure = options.ignore_dependency_on_failure;
    out.remove_dependency_on_failure = options.remove_dependency_on_failure;
    out.continue_parent_on_failure = options.continue_parent_on_failure;
  }
  if (options.keep_logs) out.keep_logs = options.keep_logs;
  if (options.stack_trace_limit) out.stack_trace_limit = options.stack_trace_limit;
  if (options.size_limit) out.size_limit = options.size_limit;
  out.has_repeat = defaults.has_repeat || options.has_repeat;
  return out;
}

namespace {

Status ValidateRetention(const Retention& retention, std::string_view key) {
  if (const auto* count = std::get_if<std::int64_t>(&retention)) {
    if (*count < 0) return Bad(key, "a count >= 0");
  }
  if (const auto* keep = std::get_if<KeepJobs>(&retention)) {
    if (keep->age_sec && *keep->age_sec < 0) return Bad(std::string(key) + ".age", ">= 0");
    if (keep->count && *keep->count < 0) return Bad(std::string(key) + ".count", ">= 0");
    if (keep->limit && *keep->limit < 1) return Bad(std::string(key) + ".limit", ">= 1");
    if (!keep->age_sec && !keep->count) return Bad(key, "{age} or {count} (or both)");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateJobOptions(const JobOptions& options) {
  if (options.has_repeat) {
    return Status::InvalidArgument(
        "job option 'repeat' is not supported by add(): use upsertJobScheduler");
  }
  if (options.job_id) {
    if (options.job_id->empty() || options.job_id->size() > 255) {
      return Bad("jobId", "1 to 255 bytes");
    }
    if (options.job_id->rfind("repeat:", 0) == 0) {
      return Status::InvalidArgument("job ids starting 'repeat:' are reserved for job schedulers");
    }
  }
  if (options.delay_ms < 0) return Bad("delay", "a number of milliseconds >= 0");
  if (options.priority < 0 || options.priority > kMaxPriority) {
    return Bad("priority", "an integer from 0 to 2097151");
  }
  if (options.attempts < 1) return Bad("attempts", "an integer >= 1");
  if (options.backoff) {
    if (options.backoff->delay_ms < 0) return Bad("backoff.delay", ">= 0");
    if (!(options.backoff->jitter >= 0 && options.backoff->jitter <= 1)) {
      return Bad("backoff.jitter", "a number in [0, 1]");
    }
  }
  CFEMU_RETURN_IF_ERROR(ValidateRetention(options.remove_on_complete, "removeOnComplete"));
  CFEMU_RETURN_IF_ERROR(ValidateRetention(options.remove_on_fail, "removeOnFail"));
  if (options.deduplication) {
    if (options.deduplication->id.empty()) return Bad("deduplication.id", "a non-empty string");
    if (options.deduplication->ttl_ms && *options.deduplication->ttl_ms < 1) {
      return Bad("deduplication.ttl", "a number of milliseconds >= 1");
    }
    if ((options.deduplication->extend || options.deduplication->replace) &&
        !options.deduplication->ttl_ms) {
      return Status::InvalidArgument(
          "job option 'deduplication': extend and replace (debounce mode) need a ttl");
    }
  }
  if (options.group_key && (options.group_key->empty() || options.group_key->size() > 255)) {
    return Bad("groupKey", "1 to 255 bytes");
  }
  const int policies = options.fail_parent_on_failure + options.ignore_dependency_on_failure +
                       options.remove_dependency_on_failure + options.continue_parent_on_failure;
  if (policies > 1) {
    return Status::InvalidArgument(
        "a job takes at most one of failParentOnFailure, ignoreDependencyOnFailure, "
        "removeDependencyOnFailure and continueParentOnFailure");
  }
  if (options.keep_logs && *options.keep_logs < 0) return Bad("keepLogs", ">= 0");
  if (options.stack_trace_limit && *options.stack_trace_limit < 0) {
    return Bad("stackTraceLimit", ">= 0");
  }
  if (options.size_limit && *options.size_limit < 1) return Bad("sizeLimit", ">= 1");
  return Status::Ok();
}

}  // namespace cfemu::engine
