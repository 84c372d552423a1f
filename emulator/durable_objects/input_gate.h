// A Durable Object's input gate: while it is closed (a storage operation in flight,
// blockConcurrencyWhile running, an explicit transaction open) no new event — call or alarm —
// starts on the object. Events already running continue; they interleave only at their own
// awaits. Closing nests.
#pragma once

#include "src/core/task.h"

namespace cfemu::emulator {

class InputGate {
 public:
  bool open() const { return closed_ == 0; }
  void Close() {
    if (closed_++ == 0) opened_.Reset();
  }
  void Open() {
    if (--closed_ == 0) opened_.Set();
  }
  // Completes once the gate is open (at once if it is). REQUIRES: the gate outlives the wait.
  core::Task<void> WaitOpen() {
    while (!open()) co_await opened_.Wait();
  }

 private:
  int closed_ = 0;
  core::Event opened_;
};

}  // namespace cfemu::emulator
