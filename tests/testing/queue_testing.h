// Helpers for tests that drive a World on the simulator: handlers that record every batch they
// receive, spec builders with production defaults, and synchronous wrappers around sends.
#pragma once

#include <utility>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/queues/broker.h"
#include "emulator/sim/simulator.h"
#include "emulator/world.h"
#include "src/core/ids.h"
#include "src/platform/env.h"

namespace cfemu::testing {

using core::Duration;
using core::Instant;
using core::Result;
using core::Status;
using core::Task;
using platform::Body;
using platform::Json;

// One message as a handler saw it.
struct Seen {
  std::string queue;
  std::string id;
  int attempts = 0;
  Body body;
  Instant at;         // Virtual time of the delivery.
  Instant timestamp;  // Message::timestamp(): when it was sent.
  int batch = 0;      // Index into Recorder::batches.
};

class Recorder {
 public:
  std::vector<Seen> seen;
  std::vector<std::vector<std::string>> batches;  // Message ids per delivered batch.
  std::vector<Instant> batch_times;
  int running = 0;      // Handlers running right now.
  int max_running = 0;  // The most that ever ran at once.

  void Record(const platform::MessageBatch& batch, Instant now);
  // How many times the message with this id was delivered.
  int Deliveries(const std::string& id) const;
  // Attempts of every delivery of `id`, in order.
  std::vector<int> AttemptsOf(const std::string& id) const;
  std::vector<Instant> TimesOf(const std::string& id) const;
};

// What a scripted handler does with a batch once it is recorded: synchronous acks/retries and
// the Status to return.
using BatchScript = std::function<Status(platform::MessageBatch&)>;
using AsyncBatchScript = std::function<Task<Status>(platform::MessageBatch&, platform::Env&,
                                                    platform::ExecutionContext&)>;

// Records each batch (and the number of handlers running), then runs `script` (default: return
// OK, which acks everything).
platform::QueueHandler RecordingHandler(Recorder& recorder, BatchScript script = {});
// Records each batch, then awaits `script` (for handlers that sleep, send or use WaitUntil).
platform::QueueHandler AsyncRecordingHandler(Recorder& recorder, AsyncBatchScript script);

// A worker consumer with production defaults.
platform::ConsumerSpec PushConsumer(std::string queue, platform::QueueHandler handler,
                                    std::string script_name = "worker");
platform::ConsumerSpec PullConsumer(std::string queue);

// A spec with one queue, producer binding "Q" for it, and the given consumers.
platform::EnvSpec OneQueue(std::string queue, std::vector<platform::ConsumerSpec> consumers = {});

// Runs a send to completion on the simulator.
Result<platform::SendResult> Send(emulator::Simulator& sim, platform::Env& env, Body body,
                                  platform::SendOptions options = platform::SendOptions(),
                                  std::string_view binding = "Q");
Result<platform::SendResult> SendBatch(emulator::Simulator& sim, platform::Env& env,
                                       std::vector<platform::MessageSendRequest> messages,
                                       std::optional<int> delay_seconds = std::nullopt,
                                       std::string_view binding = "Q");
// Sends `count` Json bodies {"n": i} one by one and returns their message ids in order (ids
// come from the recorder, so call this before the consumer runs or use the returned order).
void SendNumbers(emulator::Simulator& sim, platform::Env& env, int count,
                 std::string_view binding = "Q");

// The "n" field of a {"n": i} body.
int NumberOf(const Body& body);
std::string TextOf(const Body& body);

// Trace lines whose "ev" is `event` (the sink must keep lines).
std::vector<std::string> TraceLines(emulator::Simulator& sim, std::string_view event);

}  // namespace cfemu::testing
