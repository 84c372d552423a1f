// Cooperative cancellation (Boost 1.74's Asio has no cancellation slots). Every invocation and
// every processor carries a CancelToken. Cancelling it runs the registered callbacks once, in
// registration order: the runtime registers one per pending sleep of that invocation, so each
// pending emulated await completes with kCancelled at once, and bindings check cancelled()
// before each platform call. A suspended frame is never destroyed from outside.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/core/unique_function.h"

namespace cfemu::core {

class CancelState {
 public:
  using CallbackId = std::uint64_t;

  bool cancelled() const { return cancelled_; }
  const std::string& reason() const { return reason_; }

  // Idempotent: the first call records `reason` and runs the callbacks.
  void Cancel(std::string reason);

  // Registers `callback` to run on Cancel(). If already cancelled, it is not registered and 0 is
  // returned (the caller must act on cancelled() itself).
  CallbackId OnCancel(UniqueFunction<void()> callback);
  // Unregisters; a no-op for 0 or an id that already ran.
  void Remove(CallbackId id);

 private:
  bool cancelled_ = false;
  std::string reason_;
  CallbackId next_id_ = 1;
  std::vector<std::pair<CallbackId, UniqueFunction<void()>>> callbacks_;
};

using CancelToken = std::shared_ptr<CancelState>;

inline CancelToken MakeCancelToken() { return std::make_shared<CancelState>(); }

}  // namespace cfemu::core
