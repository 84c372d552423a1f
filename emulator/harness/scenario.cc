#include "emulator/harness/scenario.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace cfemu::emulator {

namespace {

using Json = nlohmann::json;
using core::Status;

// Parsing stops at the first problem: thrown inside this file, turned into a Status at its
// boundary (no exception leaves the module).
struct BadField {
  std::string path;
  std::string message;
};

[[noreturn]] void Fail(const std::string& path, const std::string& message) {
  throw BadField{path, message};
}

std::string Sub(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string Item(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// The fields of one JSON object, each read at most once; Done() rejects the rest.
class Fields {
 public:
  Fields(const Json& json, std::string path) : json_(json), path_(std::move(path)) {
    if (!json_.is_object()) Fail(path_.empty() ? "(top level)" : path_, "expected an object");
  }
  bool Has(const std::string& key) const { return json_.contains(key); }
  const Json* Get(const std::string& key) {
    seen_.insert(key);
    const auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }
  std::string Path(const std::string& key) const { return Sub(path_, key); }

  std::string String(const std::string& key, std::optional<std::string> fallback) {
    const Json* v = Get(key);
    if (v == nullptr) {
      if (!fallback) Fail(Path(key), "is required (a string)");
      return *fallback;
    }
    if (!v->is_string()) Fail(Path(key), "expected a string");
    return v->get<std::string>();
  }
  std::int64_t Int(const std::string& key, std::int64_t fallback, std::int64_t lo,
                   std::int64_t hi) {
    const Json* v = Get(key);
    if (v == nullptr) return fallback;
    return IntValue(*v, Path(key), lo, hi);
  }
  std::optional<std::int64_t> OptInt(const std::string& key, std::int64_t lo, std::int64_t hi) {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return IntValue(*v, Path(key), lo, hi);
  }
  // Seconds (integer or fraction) as whole milliseconds.
  std::int64_t SecondsMs(const std::string& key, std::optional<std::int64_t> fallback_ms,
                         double max_seconds) {
    const Json* v = Get(key);
    if (v == nullptr) {
      if (!fallback_ms) Fail(Path(key), "is required (seconds)");
      return *fallback_ms;
    }
    if (!v->is_number()) Fail(Path(key), "expected a number of seconds");
    const double seconds = v->get<double>();
    if (!(seconds >= 0) || seconds > max_seconds) {
      Fail(Path(key), "expected seconds from 0 to " + std::to_string(max_seconds));
    }
    return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
  }
  double Probability(const std::string& key) {
    const Json* v = Get(key);
    if (v == nullptr) return 0.0;
    if (!v->is_number() || v->get<double>() < 0 || v->get<double>() > 1) {
      Fail(Path(key), "expected a probability from 0 to 1");
    }
    return v->get<double>();
  }
  bool Bool(const std::string& key, bool fallback) {
    const Json* v = Get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) Fail(Path(key), "expected true or false");
    return v->get<bool>();
  }
  void Done() const {
    for (const auto& [key, value] : json_.items()) {
      if (!seen_.contains(key)) Fail(Path(key), "is not a known field here");
    }
  }

  static std::int64_t IntValue(const Json& v, const std::string& path, std::int64_t lo,
                               std::int64_t hi) {
    if (!v.is_number_integer()) Fail(path, "expected an integer");
    const std::int64_t n = v.get<std::int64_t>();
    if (n < lo || n > hi) {
      Fail(path, "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return n;
  }

 private:
  const Json& json_;
  std::string path_;
  std::set<std::string> seen_;
};

template <class T>
T Must(core::Result<T> result, const std::string& path) {
  if (!result.ok()) Fail(path, result.status().message());
  return std::move(*result);
}

engine::JobOptions Options(const Json* json, const std::string& path) {
  if (json == nullptr) return engine::JobOptions();
  return Must(engine::JobOptionsFromJson(*json), path);
}

AttemptRule ParseAttemptRule(const Json& json, const std::string& path) {
  Fields f(json, path);
  AttemptRule rule;
  rule.probability = f.Probability("probability");
  if (const Json* attempts = f.Get("attempts")) {
    if (!attempts->is_array()) Fail(f.Path("attempts"), "expected an array of attempt numbers");
    for (std::size_t i = 0; i < attempts->size(); ++i) {
      rule.attempts.push_back(
          static_cast<int>(Fields::IntValue((*attempts)[i], Item(f.Path("attempts"), i), 1, 1000)));
    }
  }
  f.Done();
  if (!rule.Set()) Fail(path, "needs a probability above 0 or a list of attempts");
  return rule;
}

ProcessorBehaviour ParseBehaviour(const Json& json, const std::string& path) {
  Fields f(json, path);
  ProcessorBehaviour b;
  if (const Json* d = f.Get("duration_ms")) {
    if (d->is_array()) {
      if (d->size() != 2) Fail(f.Path("duration_ms"), "expected [min, max] or one integer");
      b.min_ms = Fields::IntValue((*d)[0], Item(f.Path("duration_ms"), 0), 0, 86'400'000);
      b.max_ms = Fields::IntValue((*d)[1], Item(f.Path("duration_ms"), 1), b.min_ms, 86'400'000);
    } else {
      b.min_ms = b.max_ms = Fields::IntValue(*d, f.Path("duration_ms"), 0, 86'400'000);
    }
  }
  if (const Json* r = f.Get("fail")) b.fail = ParseAttemptRule(*r, f.Path("fail"));
  b.fail_message = f.String("fail_message", b.fail_message);
  if (const Json* r = f.Get("unrecoverable")) {
    b.unrecoverable = ParseAttemptRule(*r, f.Path("unrecoverable"));
  }
  if (const Json* r = f.Get("stall")) b.stall = ParseAttemptRule(*r, f.Path("stall"));
  b.hang_ms = f.Int("hang_ms", b.hang_ms, 1, 86'400'000);
  b.side_effect = f.Bool("side_effect", false);
  if (const Json* r = f.Get("crash_after_side_effect")) {
    b.crash_after_side_effect = ParseAttemptRule(*r, f.Path("crash_after_side_effect"));
    b.side_effect = true;
  }
  if (const Json* r = f.Get("result")) b.result = *r;
  b.sum_children = f.Bool("sum_children", false);
  f.Done();
  return b;
}

Processors ParseProcessorsField(const Json& json) {
  if (!json.is_object()) Fail("processors", "expected an object of job name -> behaviour");
  Processors out;
  for (const auto& [name, behaviour] : json.items()) {
    out[name] = ParseBehaviour(behaviour, Sub("processors", name));
  }
  return out;
}

engine::FlowJob ParseFlow(const Json& json, const std::string& path, int depth) {
  if (depth > 10) Fail(path, "flows nest at most 10 levels here");
  Fields f(json, path);
  engine::FlowJob job;
  job.name = f.String("name", std::nullopt);
  job.queue = f.String("queue", std::string("jobs"));
  if (const Json* d = f.Get("data")) job.data = *d;
  job.options = Options(f.Get("opts"), f.Path("opts"));
  if (const Json* children = f.Get("children")) {
    if (!children->is_array()) Fail(f.Path("children"), "expected an array of flow jobs");
    for (std::size_t i = 0; i < children->size(); ++i) {
      job.children.push_back(ParseFlow((*children)[i], Item(f.Path("children"), i), depth + 1));
    }
  }
  f.Done();
  return job;
}

engine::RepeatOptions ParseRepeat(const Json& json, const std::string& path) {
  Fields f(json, path);
  engine::RepeatOptions r;
  if (f.Has("pattern")) r.pattern = f.String("pattern", std::nullopt);
  r.every_ms = f.OptInt("every_ms", 1000, INT64_MAX / 4);
  if (r.pattern.has_value() == r.every_ms.has_value()) {
    Fail(path, "needs exactly one of pattern (cron) and every_ms");
  }
  r.dow_dialect = f.String("dow_dialect", r.dow_dialect);
  if (r.dow_dialect != "bullmq" && r.dow_dialect != "cloudflare") {
    Fail(f.Path("dow_dialect"), "expected \"bullmq\" or \"cloudflare\"");
  }
  r.offset_ms = f.Int("offset_ms", 0, 0, INT64_MAX / 4);
  r.limit = f.OptInt("limit", 1, INT64_MAX / 4);
  r.start_date = f.OptInt("start_date_ms", 0, INT64_MAX / 4);
  r.end_date = f.OptInt("end_date_ms", 0, INT64_MAX / 4);
  r.immediately = f.Bool("immediately", false);
  r.missed_policy = f.String("missed_policy", r.missed_policy);
  if (r.missed_policy != "skip" && r.missed_policy != "catchUp") {
    Fail(f.Path("missed_policy"), "expected \"skip\" or \"catchUp\"");
  }
  r.max_catch_up = f.Int("max_catch_up", r.max_catch_up, 1, 100'000);
  f.Done();
  return r;
}

engine::JobTemplate ParseTemplate(const Json& json, const std::string& path) {
  Fields f(json, path);
  engine::JobTemplate t;
  t.name = f.String("name", std::string());
  if (const Json* d = f.Get("data")) t.data = *d;
  t.options = Options(f.Get("opts"), f.Path("opts"));
  f.Done();
  return t;
}

ScenarioStep ParseStep(const Json& json, const std::string& path) {
  Fields f(json, path);
  ScenarioStep step;
  step.at_ms = f.SecondsMs("at_s", 0, 366.0 * 86'400);
  step.producer = f.String("producer", step.producer);
  if (step.producer.empty() || step.producer.size() > 64) {
    Fail(f.Path("producer"), "expected a Worker name of 1 to 64 characters");
  }
  const char* kinds[] = {"add",   "rate",          "flow",           "scheduler",
                         "pause", "resume",        "retry_failed",   "promote_delayed",
                         "send",  "purge_queue",   "pause_delivery", "resume_delivery"};
  std::string kind;
  for (const char* k : kinds) {
    if (!f.Has(k)) continue;
    if (!kind.empty()) Fail(path, "has both " + kind + " and " + k + "; one action per step");
    kind = k;
  }
  if (kind.empty()) {
    Fail(path,
         "needs one action: add, rate, flow, scheduler, pause, resume, retry_failed, "
         "promote_delayed, send, purge_queue, pause_delivery or resume_delivery");
  }
  const std::string p = f.Path(kind);
  const Json& body = *f.Get(kind);
  f.Done();
  if (kind == "purge_queue" || kind == "pause_delivery" || kind == "resume_delivery") {
    if (!body.is_string() || body.get<std::string>().empty()) {
      Fail(p, "expected the name of a Cloudflare queue of the environment");
    }
    step.physical_queue = body.get<std::string>();
    step.kind = kind == "purge_queue"      ? ScenarioStep::Kind::kPurgeQueue
                : kind == "pause_delivery" ? ScenarioStep::Kind::kPauseDelivery
                                           : ScenarioStep::Kind::kResumeDelivery;
    return step;
  }
  if (kind == "pause" || kind == "resume" || kind == "retry_failed" || kind == "promote_delayed") {
    if (!body.is_string()) Fail(p, "expected the logical queue's name");
    step.queue = body.get<std::string>();
    step.kind = kind == "pause"          ? ScenarioStep::Kind::kPause
                : kind == "resume"       ? ScenarioStep::Kind::kResume
                : kind == "retry_failed" ? ScenarioStep::Kind::kRetryFailed
                                         : ScenarioStep::Kind::kPromote;
    return step;
  }
  if (kind == "flow") {
    step.kind = ScenarioStep::Kind::kFlow;
    step.flow = ParseFlow(body, p, 0);
    step.queue = step.flow.queue;
    return step;
  }
  Fields b(body, p);
  if (kind == "send") {
    step.kind = ScenarioStep::Kind::kSend;
    step.binding = b.String("binding", std::string("JOBS"));
    step.count = static_cast<int>(b.Int("count", 1, 1, 100'000));
    const Json* json_body = b.Get("body");
    const Json* text = b.Get("text");
    if ((json_body == nullptr) == (text == nullptr)) {
      Fail(p, "needs exactly one of body (a JSON value) or text (a string)");
    }
    if (text != nullptr) {
      if (!text->is_string()) Fail(b.Path("text"), "expected a string");
      step.text = text->get<std::string>();
    } else {
      step.data = *json_body;
    }
    b.Done();
    return step;
  }
  step.queue = b.String("queue", std::string("jobs"));
  if (kind == "scheduler") {
    step.kind = ScenarioStep::Kind::kScheduler;
    step.scheduler_id = b.String("id", std::nullopt);
    const Json* repeat = b.Get("repeat");
    if (repeat == nullptr) Fail(b.Path("repeat"), "is required (pattern or every_ms, ...)");
    step.repeat = ParseRepeat(*repeat, b.Path("repeat"));
    if (const Json* t = b.Get("template")) {
      step.job_template = ParseTemplate(*t, b.Path("template"));
    }
    b.Done();
    return step;
  }
  step.name = b.String("name", std::nullopt);
  if (const Json* d = b.Get("data")) step.data = *d;
  step.options = Options(b.Get("opts"), b.Path("opts"));
  if (kind == "add") {
    step.kind = ScenarioStep::Kind::kAdd;
    step.count = static_cast<int>(b.Int("count", 1, 1, 1'000'000));
    step.every_ms = b.SecondsMs("every_s", 0, 86'400);
  } else {
    step.kind = ScenarioStep::Kind::kRate;
    const Json* per = b.Get("per_second");
    if (per == nullptr || !per->is_number() || per->get<double>() <= 0 ||
        per->get<double>() > 10'000) {
      Fail(b.Path("per_second"), "expected a rate above 0 and at most 10,000 jobs a second");
    }
    step.per_second = per->get<double>();
    step.for_ms = b.SecondsMs("for_s", std::nullopt, 366.0 * 86'400);
  }
  b.Done();
  return step;
}

void ParseRules(Fields& f, Profile profile, std::map<Fault, FaultRule>& rules,
                std::vector<Fault>& disabled) {
  if (const Json* r = f.Get("rules")) {
    if (!r->is_object()) Fail(f.Path("rules"), "expected an object of fault id -> rule");
    for (const auto& [id, json] : r->items()) {
      const std::string p = Sub(f.Path("rules"), id);
      const auto fault = FaultFromId(id);
      if (!fault) Fail(p, "is not a fault of the catalogue (Q1 ... T3)");
      Fields rf(json, p);
      FaultRule rule;
      rule.probability = rf.Probability("probability");
      if (const Json* windows = rf.Get("windows")) {
        if (!windows->is_array()) Fail(rf.Path("windows"), "expected [[from_s, until_s], ...]");
        for (std::size_t i = 0; i < windows->size(); ++i) {
          const Json& w = (*windows)[i];
          const std::string wp = Item(rf.Path("windows"), i);
          if (!w.is_array() || w.size() != 2 || !w[0].is_number() || !w[1].is_number() ||
              w[0].get<double>() < 0 || w[1].get<double>() <= w[0].get<double>()) {
            Fail(wp, "expected [from_s, until_s] with 0 <= from_s < until_s");
          }
          rule.windows.push_back(
              {core::kVirtualEpoch + core::Milliseconds(std::llround(w[0].get<double>() * 1000)),
               core::kVirtualEpoch + core::Milliseconds(std::llround(w[1].get<double>() * 1000))});
        }
      }
      rule.max_firings = rf.OptInt("max_firings", 0, INT64_MAX / 4);
      if (const Json* intensity = rf.Get("intensity")) {
        if (!intensity->is_number() || intensity->get<double>() <= 0 ||
            intensity->get<double>() > 100) {
          Fail(rf.Path("intensity"), "expected a number above 0 and at most 100");
        }
        rule.intensity = intensity->get<double>();
      }
      rf.Done();
      rules[*fault] = rule;
    }
  }
  if (const Json* d = f.Get("disable")) {
    if (!d->is_array()) Fail(f.Path("disable"), "expected an array of fault ids");
    for (std::size_t i = 0; i < d->size(); ++i) {
      const auto fault =
          (*d)[i].is_string() ? FaultFromId((*d)[i].get<std::string>()) : std::nullopt;
      if (!fault) Fail(Item(f.Path("disable"), i), "expected a fault id of the catalogue");
      disabled.push_back(*fault);
    }
  }
  (void)profile;
}

Profile ParseProfile(Fields& f, const std::string& key, Profile fallback) {
  const Json* v = f.Get(key);
  if (v == nullptr) return fallback;
  const auto profile = v->is_string() ? ProfileFromName(v->get<std::string>()) : std::nullopt;
  if (!profile) Fail(f.Path(key), "expected \"strict\", \"fidelity\" or \"robustness\"");
  return *profile;
}

ScenarioExpect ParseExpect(const Json& json, const std::string& path) {
  Fields f(json, path);
  ScenarioExpect e;
  if (const Json* counts = f.Get("counts")) {
    if (!counts->is_object()) Fail(f.Path("counts"), "expected an object of state -> count");
    static const std::set<std::string> kStates = {"waiting",          "delayed", "prioritized",
                                                  "waiting-children", "active",  "completed",
                                                  "failed",           "paused"};
    for (const auto& [state, v] : counts->items()) {
      const std::string p = Sub(f.Path("counts"), state);
      if (!kStates.contains(state)) Fail(p, "is not a job state");
      CountExpectation c;
      if (v.is_number_integer()) {
        c.min = c.max = Fields::IntValue(v, p, 0, INT64_MAX / 4);
      } else {
        Fields cf(v, p);
        c.min = cf.OptInt("min", 0, INT64_MAX / 4);
        c.max = cf.OptInt("max", 0, INT64_MAX / 4);
        cf.Done();
        if (!c.min && !c.max) Fail(p, "expected an integer or {min, max}");
      }
      e.counts[state] = c;
    }
  }
  if (const Json* s = f.Get("scheduler_iterations")) {
    if (!s->is_object()) Fail(f.Path("scheduler_iterations"), "expected an object of id -> n");
    for (const auto& [id, v] : s->items()) {
      e.scheduler_iterations[id] =
          Fields::IntValue(v, Sub(f.Path("scheduler_iterations"), id), 0, INT64_MAX / 4);
    }
  }
  if (const Json* fired = f.Get("faults_fired")) {
    if (!fired->is_object()) Fail(f.Path("faults_fired"), "expected an object of fault id -> n");
    for (const auto& [id, v] : fired->items()) {
      const std::string p = Sub(f.Path("faults_fired"), id);
      if (!FaultFromId(id)) Fail(p, "is not a fault of the catalogue (Q1 ... T3)");
      e.faults_fired[id] = Fields::IntValue(v, p, 1, INT64_MAX / 4);
    }
  }
  if (const Json* s = f.Get("scheduler_max_lateness_s")) {
    if (!s->is_object()) {
      Fail(f.Path("scheduler_max_lateness_s"), "expected an object of id -> seconds");
    }
    for (const auto& [id, v] : s->items()) {
      const std::string p = Sub(f.Path("scheduler_max_lateness_s"), id);
      if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1e9) {
        Fail(p, "expected a number of seconds, 0 or more");
      }
      e.scheduler_max_lateness_ms[id] = std::llround(v.get<double>() * 1000);
    }
  }
  if (const Json* inv = f.Get("invariants")) {
    if (!inv->is_array()) Fail(f.Path("invariants"), "expected an array of ids (\"INV-01\")");
    for (std::size_t i = 0; i < inv->size(); ++i) {
      const Json& id = (*inv)[i];
      if (!id.is_string() || id.get<std::string>().rfind("INV-", 0) != 0) {
        Fail(Item(f.Path("invariants"), i), "expected an invariant id such as \"INV-01\"");
      }
      e.invariants.push_back(id.get<std::string>());
    }
  }
  e.all_finished = f.Bool("all_finished", true);
  e.effects = f.String("effects", e.effects);
  if (e.effects != "once" && e.effects != "at-least-once") {
    Fail(f.Path("effects"), "expected \"once\" or \"at-least-once\"");
  }
  f.Done();
  return e;
}

Scenario Parse(const Json& json, const std::filesystem::path& origin) {
  Fields f(json, "");
  Scenario s;
  s.origin = origin;
  s.name = f.String("name", std::nullopt);
  s.purpose = f.String("purpose", std::nullopt);
  s.profile = ParseProfile(f, "profile", Profile::kFidelity);
  s.duration_ms = f.SecondsMs("duration_s", std::nullopt, 366.0 * 86'400);
  if (s.duration_ms <= 0) Fail("duration_s", "expected a duration above 0");
  s.liveness_ms = f.SecondsMs("liveness_s", s.liveness_ms, 30.0 * 86'400);
  if (const Json* env = f.Get("environment")) {
    Fields e(*env, "environment");
    if (e.Has("wrangler")) s.wrangler = e.String("wrangler", std::nullopt);
    if (const Json* c = e.Get("consumer")) {
      Fields cf(*c, e.Path("consumer"));
      ScenarioConsumer& con = s.consumer;
      con.max_batch_size = static_cast<int>(cf.Int("max_batch_size", con.max_batch_size, 1, 100));
      con.max_batch_timeout_ms = cf.SecondsMs("max_batch_timeout_s", con.max_batch_timeout_ms, 60);
      con.max_retries = static_cast<int>(cf.Int("max_retries", con.max_retries, 0, 100));
      if (const auto mc = cf.OptInt("max_concurrency", 1, 250)) {
        con.max_concurrency = static_cast<int>(*mc);
      }
      con.concurrency = static_cast<int>(cf.Int("concurrency", con.concurrency, 1, 1000));
      if (const auto pf = cf.OptInt("prefetch", 1, 1000)) con.prefetch = static_cast<int>(*pf);
      cf.Done();
    }
    if (const Json* en = e.Get("engine")) {
      Fields ef(*en, e.Path("engine"));
      s.engine.kv_binding = ef.String("kv_binding", std::string());
      s.engine.kv_pause_hint = ef.Bool("kv_pause_hint", false);
      s.engine.kv_throttle_cache = ef.Bool("kv_throttle_cache", false);
      if ((s.engine.kv_pause_hint || s.engine.kv_throttle_cache) && s.engine.kv_binding.empty()) {
        Fail(ef.Path("kv_binding"), "is required by kv_pause_hint and kv_throttle_cache");
      }
      ef.Done();
    }
    if (const Json* q = e.Get("queues")) {
      if (!q->is_object()) Fail(e.Path("queues"), "expected an object of queue name -> config");
      for (const auto& [name, config] : q->items()) {
        const std::string p = Sub(e.Path("queues"), name);
        if (const Status valid = engine::ValidateQueueName(name); !valid.ok()) {
          Fail(p, valid.message());
        }
        s.queues[name] = Must(engine::QueueConfigFromJson(config), p);
      }
    }
    e.Done();
  }
  if (!s.queues.contains("jobs")) s.queues["jobs"] = engine::QueueConfig();
  if (const Json* procs = f.Get("processors")) s.processors = ParseProcessorsField(*procs);
  if (const Json* workload = f.Get("workload")) {
    if (!workload->is_array()) Fail("workload", "expected an array of steps");
    for (std::size_t i = 0; i < workload->size(); ++i) {
      ScenarioStep step = ParseStep((*workload)[i], Item("workload", i));
      if (step.at_ms > s.duration_ms) {
        Fail(Item("workload", i) + ".at_s", "is after duration_s");
      }
      if (!s.queues.contains(step.queue)) {
        Fail(Item("workload", i),
             "uses queue '" + step.queue + "', which environment.queues does not declare");
      }
      s.workload.push_back(std::move(step));
    }
  }
  if (const Json* faults = f.Get("faults")) {
    Fields ff(*faults, "faults");
    s.swarm = ff.Bool("swarm", false);
    ParseRules(ff, s.profile, s.fault_rules, s.disabled_faults);
    ff.Done();
  }
  if (const Json* expect = f.Get("expect")) s.expect = ParseExpect(*expect, "expect");
  f.Done();
  return s;
}

}  // namespace

bool AttemptRule::Applies(int attempt, double draw) const {
  for (int a : attempts) {
    if (a == attempt) return true;
  }
  return draw < probability;
}

const ProcessorBehaviour& BehaviourFor(const Processors& processors, const std::string& job_name) {
  static const ProcessorBehaviour kDefault;
  if (const auto it = processors.find(job_name); it != processors.end()) return it->second;
  if (const auto it = processors.find("*"); it != processors.end()) return it->second;
  return kDefault;
}

const ProcessorBehaviour& Scenario::BehaviourFor(const std::string& job_name) const {
  return emulator::BehaviourFor(processors, job_name);
}

core::Result<SchedulerSpec> ParseSchedulerSpec(const Json& json, const std::string& origin) {
  try {
    Fields f(json, "");
    SchedulerSpec spec;
    const Json* repeat = f.Get("repeat");
    if (repeat == nullptr) Fail("repeat", "is required (pattern or every_ms, ...)");
    spec.repeat = ParseRepeat(*repeat, "repeat");
    if (const Json* t = f.Get("template")) spec.job_template = ParseTemplate(*t, "template");
    f.Done();
    return spec;
  } catch (const BadField& bad) {
    return Status::InvalidArgument(origin + ": " + bad.path + ": " + bad.message);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(origin + ": " + e.what());
  }
}

core::Result<Processors> ParseProcessors(const Json& json, const std::string& origin) {
  try {
    return ParseProcessorsField(json);
  } catch (const BadField& bad) {
    return Status::InvalidArgument(origin + ": " + bad.path + ": " + bad.message);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(origin + ": " + e.what());
  }
}

core::Result<Scenario> ParseScenario(const Json& json, const std::filesystem::path& origin) {
  try {
    return Parse(json, origin);
  } catch (const BadField& bad) {
    return Status::InvalidArgument(origin.string() + ": " + bad.path + ": " + bad.message);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(origin.string() + ": " + e.what());
  }
}

core::Result<Scenario> LoadScenario(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read the scenario file '" + path.string() + "'");
  std::stringstream text;
  text << in.rdbuf();
  const Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status::InvalidArgument(path.string() + ": not valid JSON");
  }
  return ParseScenario(json, path);
}

core::Result<FaultPlan> ParseFaultPlanFile(const Json& json, const std::string& origin) {
  try {
    Fields f(json, "");
    FaultPlan plan(ParseProfile(f, "profile", Profile::kFidelity));
    std::map<Fault, FaultRule> rules;
    std::vector<Fault> disabled;
    ParseRules(f, plan.profile(), rules, disabled);
    for (const auto& [fault, rule] : rules) plan.Set(fault, rule);
    for (Fault fault : disabled) plan.Disable(fault);
    if (const Json* forced = f.Get("forced")) {
      if (!forced->is_array()) Fail("forced", "expected an array of {fault, site, n}");
      for (std::size_t i = 0; i < forced->size(); ++i) {
        Fields d((*forced)[i], Item("forced", i));
        const std::string id = d.String("fault", std::nullopt);
        const auto fault = FaultFromId(id);
        if (!fault) Fail(d.Path("fault"), "is not a fault of the catalogue");
        ForcedDecision decision{*fault, d.String("site", std::nullopt),
                                d.Int("n", 1, 1, INT64_MAX / 4)};
        d.Done();
        plan.Force(std::move(decision));
      }
    }
    plan.set_forced_only(f.Bool("forced_only", false));
    f.Done();
    return plan;
  } catch (const BadField& bad) {
    return Status::InvalidArgument(origin + ": " + bad.path + ": " + bad.message);
  }
}

core::Result<FaultPlan> LoadFaultPlanFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!in || json.is_discarded()) {
    return Status::InvalidArgument("cannot read the fault plan '" + path.string() +
                                   "' (JSON expected)");
  }
  return ParseFaultPlanFile(json, path.string());
}

}  // namespace cfemu::emulator
