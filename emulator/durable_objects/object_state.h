// `ctx` of a Durable Object incarnation: its id, its storage (async KV API, sync KV API, SQL,
// transactions, alarms), blockConcurrencyWhile, waitUntil and abort. Storage operations of a
// retired incarnation fail at once; async ones close the input gate while in flight and commit
// the coalesced synchronous writes first.
#pragma once

#include <memory>
#include <string>

#include "emulator/durable_objects/object_instance.h"
#include "emulator/sim/latency.h"

namespace cfemu::emulator {

class StorageApi;

class ObjectState final : public platform::DurableObjectState {
 public:
  ObjectState(ObjectInstance& instance, std::weak_ptr<LiveObject> live);
  ~ObjectState() override;

  const platform::DurableObjectId& id() const override { return instance_.id(); }
  platform::DurableObjectStorage& storage() override;
  core::Task<core::Status> BlockConcurrencyWhile(
      std::function<core::Task<core::Status>()> fn) override;
  void WaitUntil(core::Task<core::Status> task) override;
  void Abort(std::string reason) override;

 private:
  // The event is owned by RunBlocked's frame only, never by the frame that waits on it (which
  // the event's waiter list owns): no ownership cycle when a simulator is torn down midway.
  struct Outcome {
    bool finished = false;
    core::Status status;
  };
  struct Blocked {
    core::Event done;
    std::shared_ptr<Outcome> outcome = std::make_shared<Outcome>();
    bool timed_out = false;
  };
  static core::Task<void> RunBlocked(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                                     std::function<core::Task<core::Status>()> fn,
                                     std::shared_ptr<Blocked> blocked);
  static core::Task<void> BlockWatchdog(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                                        core::Instant deadline, core::CancelToken cancel,
                                        std::shared_ptr<Blocked> blocked);
  // REQUIRES: `done` is alive while outcome->finished is false.
  static core::Task<core::Status> AwaitBlocked(core::Event* done, std::shared_ptr<Outcome> outcome);
  static core::Task<void> Track(ObjectInstance& instance, std::shared_ptr<LiveObject> live,
                                core::Task<core::Status> task);

  ObjectInstance& instance_;
  std::weak_ptr<LiveObject> live_;
  std::unique_ptr<StorageApi> storage_;
};

}  // namespace cfemu::emulator
