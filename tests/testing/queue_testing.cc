#include "tests/testing/queue_testing.h"

namespace cfemu::testing {

void Recorder::Record(const platform::MessageBatch& batch, Instant now) {
  std::vector<std::string> ids;
  for (const auto& message : batch.messages()) {
    seen.push_back({batch.queue(), message.id(), message.attempts(), message.body(), now,
                    message.timestamp(), static_cast<int>(batches.size())});
    ids.push_back(message.id());
  }
  batches.push_back(std::move(ids));
  batch_times.push_back(now);
}

int Recorder::Deliveries(const std::string& id) const {
  int n = 0;
  for (const auto& s : seen) n += s.id == id ? 1 : 0;
  return n;
}

std::vector<int> Recorder::AttemptsOf(const std::string& id) const {
  std::vector<int> out;
  for (const auto& s : seen) {
    if (s.id == id) out.push_back(s.attempts);
  }
  return out;
}

std::vector<Instant> Recorder::TimesOf(const std::string& id) const {
  std::vector<Instant> out;
  for (const auto& s : seen) {
    if (s.id == id) out.push_back(s.at);
  }
  return out;
}

platform::QueueHandler RecordingHandler(Recorder& recorder, BatchScript script) {
  return [&recorder, script](platform::MessageBatch& batch, platform::Env& env,
                             platform::ExecutionContext&) -> Task<Status> {
    recorder.Record(batch, env.clock().Now());
    if (script) co_return script(batch);
    co_return Status::Ok();
  };
}

platform::QueueHandler AsyncRecordingHandler(Recorder& recorder, AsyncBatchScript script) {
  return [&recorder, script](platform::MessageBatch& batch, platform::Env& env,
                             platform::ExecutionContext& ctx) -> Task<Status> {
    recorder.Record(batch, env.clock().Now());
    ++recorder.running;
    recorder.max_running = std::max(recorder.max_running, recorder.running);
    const Status status = co_await script(batch, env, ctx);
    --recorder.running;
    co_return status;
  };
}

platform::ConsumerSpec PushConsumer(std::string queue, platform::QueueHandler handler,
                                    std::string script_name) {
  platform::ConsumerSpec spec;
  spec.queue = std::move(queue);
  spec.script_name = std::move(script_name);
  spec.handler = std::move(handler);
  return spec;
}

platform::ConsumerSpec PullConsumer(std::string queue) {
  platform::ConsumerSpec spec;
  spec.queue = std::move(queue);
  spec.type = platform::ConsumerType::kHttpPull;
  return spec;
}

platform::EnvSpec OneQueue(std::string queue, std::vector<platform::ConsumerSpec> consumers) {
  platform::EnvSpec spec;
  spec.queues.push_back({queue});
  spec.producers.push_back({"Q", queue, std::nullopt});
  spec.consumers = std::move(consumers);
  return spec;
}

namespace {

Task<Result<platform::SendResult>> DoSend(platform::Env& env, std::string binding, Body body,
                                          platform::SendOptions options) {
  auto producer = env.Queue(binding);
  if (!producer.ok()) co_return producer.status();
  co_return co_await (*producer)->Send(std::move(body), std::move(options));
}

Task<Result<platform::SendResult>> DoSendBatch(platform::Env& env, std::string binding,
                                               std::vector<platform::MessageSendRequest> messages,
                                               std::optional<int> delay_seconds) {
  auto producer = env.Queue(binding);
  if (!producer.ok()) co_return producer.status();
  co_return co_await (*producer)->SendBatch(std::move(messages), delay_seconds);
}

}  // namespace

Result<platform::SendResult> Send(emulator::Simulator& sim, platform::Env& env, Body body,
                                  platform::SendOptions options, std::string_view binding) {
  return sim.Run(DoSend(env, std::string(binding), std::move(body), std::move(options)));
}

Result<platform::SendResult> SendBatch(emulator::Simulator& sim, platform::Env& env,
                                       std::vector<platform::MessageSendRequest> messages,
                                       std::optional<int> delay_seconds, std::string_view binding) {
  return sim.Run(DoSendBatch(env, std::string(binding), std::move(messages), delay_seconds));
}

void SendNumbers(emulator::Simulator& sim, platform::Env& env, int count,
                 std::string_view binding) {
  for (int i = 0; i < count; ++i) {
    Json body = {{"n", i}};
    auto sent = Send(sim, env, std::move(body), platform::SendOptions(), binding);
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
}

int NumberOf(const Body& body) { return std::get<Json>(body).at("n").get<int>(); }

std::string TextOf(const Body& body) {
  if (const auto* text = std::get_if<platform::Text>(&body)) return text->value;
  if (const auto* json = std::get_if<Json>(&body)) return json->dump();
  return "<binary>";
}

std::vector<std::string> TraceLines(emulator::Simulator& sim, std::string_view event) {
  std::vector<std::string> out;
  const std::string needle = "\"ev\":\"" + std::string(event) + "\"";
  for (const auto& line : sim.trace().lines()) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

}  // namespace cfemu::testing
