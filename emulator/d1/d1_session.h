// A D1 session (`db.withSession(...)`, checklist 37): its calls go through the binding and
// remember the greatest bookmark they saw, which GetBookmark() returns. The emulator has one
// primary and no replicas, so every session is trivially sequentially consistent; what it
// checks is the bookmark's form: "first-primary", "first-unconstrained" (also the empty
// constraint) or a bookmark of this database no newer than its latest commit, else
// D1_SESSION_ERROR.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/d1/d1_binding.h"
#include "src/platform/d1.h"

namespace cfemu::emulator {

// The D1Database a session's Prepare() and Batch() use.
class D1SessionDatabase final : public platform::D1Database {
 public:
  D1SessionDatabase(D1Binding& binding, std::shared_ptr<D1Binding::SessionState> state)
      : binding_(binding), state_(std::move(state)) {}

  core::Task<core::Result<std::vector<platform::D1Result>>> Batch(
      std::vector<platform::D1PreparedStatement> statements, std::string label) override;
  core::Task<core::Result<platform::D1ExecResult>> Exec(std::string sql) override {
    return binding_.Exec(std::move(sql));
  }
  core::Task<core::Result<core::Bytes>> Dump() override { return binding_.Dump(); }
  core::Result<std::unique_ptr<platform::D1DatabaseSession>> WithSession(
      std::string constraint) override {
    return binding_.WithSession(std::move(constraint));
  }
  core::Result<std::string> SnapshotForTest() override { return binding_.SnapshotForTest(); }
  core::Task<core::Result<platform::D1Result>> Execute(platform::D1PreparedStatement statement,
                                                       platform::D1Rows rows) override;

 private:
  D1Binding& binding_;
  std::shared_ptr<D1Binding::SessionState> state_;
};

class D1Session final : public platform::D1DatabaseSession {
 public:
  D1Session(D1Binding& binding, std::optional<std::string> bookmark);

  platform::D1Database& database() override { return database_; }
  std::optional<std::string> GetBookmark() const override { return state_->bookmark; }

 private:
  std::shared_ptr<D1Binding::SessionState> state_;
  D1SessionDatabase database_;
};

// Parses withSession()'s argument against `store`: the session's first bookmark (nullopt for
// the two constraints), or D1_SESSION_ERROR.
core::Result<std::optional<std::string>> ParseSessionConstraint(const std::string& constraint,
                                                                const D1Store& store);

}  // namespace cfemu::emulator
