// The KV binding of one actor's Env (`env.KV` in a Worker): the checks workerd makes before a
// request leaves the Worker, the per-invocation operation budget, a seeded latency split
// around the service's work (half to get there, half to come back, so other actors run in
// between), and the conversion of what the service returns into the requested type. Every
// call enters through the actor's scope, so a killed invocation's calls end with kCancelled.
//
// A binding remembers the version of each key it last read (up to kMaxTrackedReads keys), so
// the service can recognize a read-modify-write that overwrote a write it never saw (K3).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "emulator/kv/kv_service.h"
#include "emulator/sim/actor_runtime.h"
#include "src/platform/kv.h"

namespace cfemu::emulator::kv {

class KvBinding final : public platform::KvNamespace {
 public:
  static constexpr std::size_t kMaxTrackedReads = 1024;

  // REQUIRES: `service` and `scope` outlive the binding.
  KvBinding(KvService& service, const ActorScope& scope, platform::LocationId location);

  core::Task<core::Result<std::optional<platform::KvValue>>> Get(
      std::string key, platform::KvGetOptions options) override;
  core::Task<core::Result<std::map<std::string, std::optional<platform::KvValue>>>> Get(
      std::vector<std::string> keys, platform::KvGetOptions options) override;
  core::Task<core::Result<platform::KvValueWithMetadata>> GetWithMetadata(
      std::string key, platform::KvGetOptions options) override;
  core::Task<core::Result<std::map<std::string, platform::KvValueWithMetadata>>> GetWithMetadata(
      std::vector<std::string> keys, platform::KvGetOptions options) override;
  core::Task<core::Status> Put(std::string key, platform::KvPutValue value,
                               platform::KvPutOptions options) override;
  core::Task<core::Status> Delete(std::string key) override;
  core::Task<core::Result<platform::KvListResult>> List(platform::KvListOptions options) override;

  const platform::LocationId& location() const { return location_; }
  std::int64_t operations() const { return operations_; }

 private:
  using Observations = std::map<std::string, KvObservation>;

  // One single-key read (get, getWithMetadata), after the binding's checks.
  core::Task<core::Result<KvObservation>> ReadOne(const char* site, std::string key,
                                                  platform::KvGetOptions options);
  // One bulk read: one operation, the service's checks, then every key as a single read would.
  core::Task<core::Result<Observations>> ReadBulk(const char* site, std::vector<std::string> keys,
                                                  platform::KvGetOptions options);
  // The service's side of a bulk read: its checks, then one read per distinct key.
  core::Result<Observations> ReadBulkNow(const std::vector<std::string>& keys,
                                         const platform::KvGetOptions& options);
  core::Task<core::Status> Write(const char* site, std::string method, std::string key,
                                 std::optional<platform::KvPutValue> value,
                                 platform::KvPutOptions options);
  // kResourceExhausted once an invocation's binding has used its operations.
  core::Status CountOperation();
  const platform::LocationId& ReaderLocation(const std::optional<platform::LocationId>& l) const {
    return l ? *l : location_;
  }
  void NoteRead(const std::string& key, std::uint64_t version);
  std::optional<std::uint64_t> ReadVersion(const std::string& key) const;

  KvService& service_;
  const ActorScope& scope_;
  platform::LocationId location_;
  std::int64_t operations_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> read_versions_;
};

// The value of a present record in the requested type (text decodes bytes as a TextDecoder
// does; json parses that text).
core::Result<platform::KvValue> ConvertValue(const std::string& bytes, platform::KvType type);

}  // namespace cfemu::emulator::kv
