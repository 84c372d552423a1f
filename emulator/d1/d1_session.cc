#include "emulator/d1/d1_session.h"

#include <utility>

#include "emulator/d1/d1_bookmark.h"
#include "emulator/d1/d1_errors.h"

namespace cfemu::emulator {

using core::Result;
using core::Status;

namespace {

std::string Trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return std::string();
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

Result<std::optional<std::string>> ParseSessionConstraint(const std::string& constraint,
                                                          const D1Store& store) {
  const std::string trimmed = Trim(constraint);
  if (trimmed.empty() || trimmed == "first-unconstrained" || trimmed == "first-primary") {
    return std::optional<std::string>();
  }
  const auto commit = ParseBookmark(trimmed, store.database_hex());
  // A bookmark newer than the latest commit comes from no replica of this database.
  if (!commit || *commit > store.commits()) {
    return Status::InvalidArgument(std::string(d1_errors::kSessionError));
  }
  return std::optional<std::string>(trimmed);
}

core::Task<Result<std::vector<platform::D1Result>>> D1SessionDatabase::Batch(
    std::vector<platform::D1PreparedStatement> statements, std::string label) {
  return binding_.Call(/*batch=*/true, std::move(statements), platform::D1Rows::kObjects,
                       std::move(label), state_);
}

core::Task<Result<platform::D1Result>> D1SessionDatabase::Execute(
    platform::D1PreparedStatement statement, platform::D1Rows rows) {
  return binding_.ExecuteIn(std::move(statement), rows, state_);
}

D1Session::D1Session(D1Binding& binding, std::optional<std::string> bookmark)
    : state_(std::make_shared<D1Binding::SessionState>()), database_(binding, state_) {
  state_->bookmark = std::move(bookmark);
}

}  // namespace cfemu::emulator
