#include "src/core/cancel.h"

namespace cfemu::core {

void CancelState::Cancel(std::string reason) {
  if (cancelled_) return;
  cancelled_ = true;
  reason_ = std::move(reason);
  // A callback may register or remove others; run a snapshot.
  auto callbacks = std::move(callbacks_);
  callbacks_.clear();
  for (auto& [id, callback] : callbacks) callback();
}

CancelState::CallbackId CancelState::OnCancel(UniqueFunction<void()> callback) {
  if (cancelled_) return 0;
  const CallbackId id = next_id_++;
  callbacks_.emplace_back(id, std::move(callback));
  return id;
}

void CancelState::Remove(CallbackId id) {
  if (id == 0) return;
  for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
    if (it->first == id) {
      callbacks_.erase(it);
      return;
    }
  }
}

}  // namespace cfemu::core
