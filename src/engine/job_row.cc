#include "src/engine/job_row.h"

#include "src/core/status.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

ParentPolicy ParentPolicyFromName(std::string_view name) {
  if (name == "fail") return ParentPolicy::kFail;
  if (name == "ignore") return ParentPolicy::kIgnore;
  if (name == "remove") return ParentPolicy::kRemove;
  if (name == "continue") return ParentPolicy::kContinue;
  return ParentPolicy::kNone;
}

const std::string& QualifiedJobColumns() {
  static const std::string columns = [] {  // Thread-safe initialization, computed once.
    std::string out;
    std::string_view rest = kJobColumns;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(", ");
      if (!out.empty()) out += ", ";
      out.append("c.").append(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    return out;
  }();
  return columns;
}

namespace {

std::vector<std::string> StacktraceOf(const platform::D1Value& value) {
  std::vector<std::string> out;
  const Json json = sql::JsonOf(value);
  if (!json.is_array()) return out;
  for (const auto& line : json) {
    if (line.is_string()) out.push_back(line.get<std::string>());
  }
  return out;
}

// Most jobs are added with default options, stored as "{}": no parser for that.
Json OptsOf(const platform::D1Value& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (text != nullptr && *text == "{}") return Json::object();
  return sql::JsonOf(value);
}

}  // namespace

Job JobFromValues(const std::vector<platform::D1Value>& v, std::size_t f) {
  CHECK(v.size() >= f + kJobColumnCount);
  using sql::Int;
  using sql::OptInt;
  using sql::OptStr;
  using sql::Str;
  Job job;
  job.seq = Int(v[f + 0]);
  job.queue_name = Str(v[f + 1]);
  job.id = Str(v[f + 2]);
  job.name = Str(v[f + 3]);
  job.data = sql::JsonOf(v[f + 4]);
  job.opts = OptsOf(v[f + 5]);
  job.state = ParseJobState(Str(v[f + 6])).value_or(JobState::kWaiting);
  job.priority = static_cast<std::int32_t>(Int(v[f + 7]));
  job.lifo = Int(v[f + 8]) != 0;
  job.group_key = OptStr(v[f + 9]);
  job.gen = Int(v[f + 10], 1);
  job.available_at = Int(v[f + 11]);
  job.dispatch_at = OptInt(v[f + 12]);
  job.lost_count = static_cast<std::int32_t>(Int(v[f + 13]));
  job.attempts_max = static_cast<std::int32_t>(Int(v[f + 14], 1));
  job.attempts_started = static_cast<std::int32_t>(Int(v[f + 15]));
  job.attempts_made = static_cast<std::int32_t>(Int(v[f + 16]));
  job.stalled_counter = static_cast<std::int32_t>(Int(v[f + 17]));
  job.epoch = Int(v[f + 18]);
  job.discarded = Int(v[f + 19]) != 0;
  job.dead_lettered = Int(v[f + 20]) != 0;
  job.progress = sql::JsonOf(v[f + 21]);
  job.returnvalue = sql::JsonOf(v[f + 22]);
  job.failed_reason = Str(v[f + 23]);
  job.stacktrace = StacktraceOf(v[f + 24]);
  job.lease_until = OptInt(v[f + 25]);
  if (auto parent_queue = OptStr(v[f + 26])) {
    job.parent = ParentRef{*parent_queue, Str(v[f + 27])};
  }
  job.parent_policy = ParentPolicyFromName(Str(v[f + 28]));
  job.pending_deps = static_cast<std::int32_t>(Int(v[f + 29]));
  job.dedup_id = OptStr(v[f + 30]);
  job.scheduler_id = OptStr(v[f + 31]);
  job.timestamp = Int(v[f + 32]);
  job.processed_on = OptInt(v[f + 33]);
  job.finished_on = OptInt(v[f + 34]);
  if (job.opts.is_object()) {
    const auto delay = job.opts.find("delay");
    if (delay != job.opts.end() && delay->is_number_integer())
      job.delay = delay->get<std::int64_t>();
  }
  return job;
}

}  // namespace cfemu::engine
