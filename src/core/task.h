// Task<T>: what a Promise is in Workers. Every platform call that returns a Promise there is a
// C++20 coroutine here (cpp-contract.md). Boost 1.74 has neither awaitable operators nor
// channels, so this header adds WhenAll over a vector of tasks and an awaitable Event.
//
// Two GCC 12 coroutine bugs shape the code around co_await (both checked on this toolchain):
// - an aggregate-initialized temporary or a lambda closure temporary inside a co_await
//   expression is destroyed twice, so structs passed by value to coroutines have constructors
//   (see platform/queue.h) and lambdas are stored in a local before the co_await;
// - a coroutine lambda's captures are unreliable: write a plain coroutine function with
//   by-value parameters and a non-coroutine lambda that calls it;
// - a braced nlohmann::json temporary inside a co_await expression fails to compile ("array
//   used as initializer"), so such values are built into a local first.
#pragma once

#include <utility>  // Before any Asio coroutine header (Boost 1.74 + GCC 12).

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/core/unique_function.h"

namespace cfemu::core {

template <class T>
using Task = boost::asio::awaitable<T>;

// A one-shot-or-resettable signal. Waiters resume (posted, in FIFO order) when Set() is called;
// Wait() on a set event completes at once. Single-threaded, like everything on one loop.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const { return set_; }
  void Reset() { set_ = false; }
  void Set() {
    set_ = true;
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& wake : waiters) wake();
  }
  std::size_t waiters() const { return waiters_.size(); }

  // REQUIRES: the Event outlives the wait.
  Task<void> Wait() {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this](auto handler) {
          auto wake = [h = std::move(handler)]() mutable {
            auto executor = boost::asio::get_associated_executor(h);
            boost::asio::post(executor, std::move(h));
          };
          if (set_) {
            wake();
          } else {
            waiters_.emplace_back(std::move(wake));
          }
        },
        boost::asio::use_awaitable);
  }

 private:
  bool set_ = false;
  std::vector<UniqueFunction<void()>> waiters_;
};

// Runs every task concurrently on the caller's executor and returns their results in order.
// An exception escaping a task is rethrown after all tasks have finished.
template <class T>
Task<std::vector<T>> WhenAll(std::vector<Task<T>> tasks) {
  struct State {
    std::vector<std::optional<T>> results;
    std::size_t remaining = 0;
    std::exception_ptr error;
    Event done;
  };
  if (tasks.empty()) co_return std::vector<T>{};
  auto executor = co_await boost::asio::this_coro::executor;
  auto state = std::make_shared<State>();
  state->results.resize(tasks.size());
  state->remaining = tasks.size();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    boost::asio::co_spawn(executor, std::move(tasks[i]),
                          [state, i](std::exception_ptr error, T value) {
                            if (error) {
                              if (!state->error) state->error = error;
                            } else {
                              state->results[i] = std::move(value);
                            }
                            if (--state->remaining == 0) state->done.Set();
                          });
  }
  co_await state->done.Wait();
  if (state->error) std::rethrow_exception(state->error);
  std::vector<T> out;
  out.reserve(state->results.size());
  for (auto& result : state->results) out.push_back(std::move(*result));
  co_return out;
}

inline Task<void> WhenAll(std::vector<Task<void>> tasks) {
  struct State {
    std::size_t remaining = 0;
    std::exception_ptr error;
    Event done;
  };
  if (tasks.empty()) co_return;
  auto executor = co_await boost::asio::this_coro::executor;
  auto state = std::make_shared<State>();
  state->remaining = tasks.size();
  for (auto& task : tasks) {
    boost::asio::co_spawn(executor, std::move(task), [state](std::exception_ptr error) {
      if (error && !state->error) state->error = error;
      if (--state->remaining == 0) state->done.Set();
    });
  }
  co_await state->done.Wait();
  if (state->error) std::rethrow_exception(state->error);
}

}  // namespace cfemu::core
