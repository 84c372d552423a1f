// The trace: every transition, delivery and fault of a run as one canonical JSONL line, and a
// running FNV-1a-64 hash of those lines (cpp-contract.md, Observation). A line is a JSON object
// with its keys sorted, integers only (no floats), and the virtual time `t` in milliseconds;
// `trace_hash` = FNV-1a-64 over the bytes of every line including its newline. Same scenario,
// seed and build -> byte-identical trace -> same hash: determinism is checked with it.
//
// Emitting costs time on hot paths, so callers test enabled() before building an event.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/core/time.h"

namespace cfemu::core {

using TraceValue = std::variant<std::int64_t, std::string, bool>;

// A field key must be a string with static storage (a literal): events are built on hot paths.
struct TraceField {
  std::string_view key;
  TraceValue value;
};

// Builder for one event. REQUIRES: `name` and every key are string literals.
class TraceEvent {
 public:
  explicit TraceEvent(std::string_view name) : name_(name) {}
  TraceEvent& Int(std::string_view key, std::int64_t value) {
    fields_.push_back({key, value});
    return *this;
  }
  TraceEvent& Str(std::string_view key, std::string value) {
    fields_.push_back({key, std::move(value)});
    return *this;
  }
  TraceEvent& Bool(std::string_view key, bool value) {
    fields_.push_back({key, value});
    return *this;
  }
  std::string_view name() const { return name_; }
  const std::vector<TraceField>& fields() const { return fields_; }

 private:
  std::string_view name_;
  std::vector<TraceField> fields_;
};

// What observers (the harness's online checkers) receive for every event.
struct TraceRecord {
  Instant t;
  std::string_view ev;
  std::string_view actor;
  const std::vector<TraceField>& fields;
  const std::string& line;  // Canonical, without the newline.

  // The field's value, or nullptr.
  const TraceValue* Find(std::string_view key) const;
};

class TraceSink {
 public:
  // Bump when the line format changes; reports carry it as `trace_format`.
  static constexpr int kFormat = 1;

  explicit TraceSink(bool enabled = true) : enabled_(enabled) {}
  TraceSink(const TraceSink&) = delete;
  TraceSink& operator=(const TraceSink&) = delete;

  bool enabled() const { return enabled_; }
  void set_enabled(bool enabled) { enabled_ = enabled; }
  // The clock that stamps `t` (the simulator's true virtual time). REQUIRES: set before Emit.
  void set_clock(const Clock* clock) { clock_ = clock; }

  // Adds `t`, `ev` and `actor`, canonicalises, hashes, keeps/streams, notifies observers.
  // No-op when disabled. REQUIRES: no field named t, ev or actor; keys unique.
  void Emit(std::string_view actor, const TraceEvent& event);

  std::uint64_t hash() const { return hash_; }
  std::string HashHex() const;
  std::int64_t events() const { return events_; }

  // Keep every line in memory (tests, `--trace FILE`). Off by default.
  void KeepLines(bool keep) { keep_lines_ = keep; }
  const std::vector<std::string>& lines() const { return lines_; }
  // Stream every line (with its newline) to `out`, or stop streaming with nullptr.
  void StreamTo(std::ostream* out) { stream_ = out; }

  using Observer = std::function<void(const TraceRecord&)>;
  void AddObserver(Observer observer) { observers_.push_back(std::move(observer)); }

 private:
  bool enabled_;
  const Clock* clock_ = nullptr;
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;  // FNV-1a-64 offset basis: the empty trace.
  std::int64_t events_ = 0;
  bool keep_lines_ = false;
  std::vector<std::string> lines_;
  std::ostream* stream_ = nullptr;
  std::vector<Observer> observers_;
  std::string scratch_;
};

// 16 lowercase hex digits, as reports print `trace_hash`.
std::string FormatHash(std::uint64_t hash);

// Appends `text` to `out` as a JSON string literal (quotes included); non-ASCII UTF-8 is kept.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace cfemu::core
