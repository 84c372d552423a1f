#include "emulator/kv/kv_binding.h"

#include <utility>

#include "emulator/kv/kv_validation.h"
#include "src/core/cover.h"

namespace cfemu::emulator::kv {

using core::Duration;
using core::Result;
using core::Status;
using core::Task;
using platform::KvGetOptions;
using platform::KvListOptions;
using platform::KvListResult;
using platform::KvPutOptions;
using platform::KvPutValue;
using platform::KvType;
using platform::KvValue;
using platform::KvValueWithMetadata;

namespace {

// A request's latency, split around the service's work: half to get there, half to come back.
struct Trip {
  Duration there;
  Duration back;
};

Trip DrawTrip(Host& host, LatencyModel::Site site) {
  const Duration latency = host.latency().Draw(site);
  Trip trip;
  trip.there = latency / 2;
  trip.back = latency - trip.there;
  return trip;
}

Status BulkError(core::Code code, int http_status, std::string text) {
  return ServiceError(code, "GET_BULK", http_status, text);
}

std::string MegabytesText(std::int64_t bytes) {
  constexpr std::int64_t kMiB = 1024 * 1024;
  return bytes % kMiB == 0 ? std::to_string(bytes / kMiB) + "MB" : std::to_string(bytes) + " bytes";
}

}  // namespace

Result<KvValue> ConvertValue(const std::string& bytes, KvType type) {
  switch (type) {
    case KvType::kText:
      return KvValue(std::in_place_index<0>, DecodeUtf8Lossy(bytes));
    case KvType::kJson: {
      auto parsed = ParseJsonValue(bytes);
      if (!parsed.ok()) return parsed.status();
      return KvValue(std::in_place_index<1>, std::move(*parsed));
    }
    case KvType::kArrayBuffer:
    case KvType::kStream:
      return KvValue(std::in_place_index<2>, core::Bytes(bytes.begin(), bytes.end()));
  }
  return Status::InvalidArgument(
      "Unknown response type. Possible types are \"text\", \"arrayBuffer\", \"json\", and "
      "\"stream\".");
}

KvBinding::KvBinding(KvService& service, const ActorScope& scope, platform::LocationId location)
    : service_(service), scope_(scope), location_(std::move(location)) {}

// ---- Reads ------------------------------------------------------------------------------

Task<Result<std::optional<KvValue>>> KvBinding::Get(std::string key, KvGetOptions options) {
  const KvType type = options.type;
  Result<KvObservation> seen = co_await ReadOne("kv.get", std::move(key), std::move(options));
  if (!seen.ok()) co_return seen.status();
  if (!seen->present) co_return std::optional<KvValue>();
  Result<KvValue> value = ConvertValue(*seen->record.value, type);
  if (!value.ok()) co_return value.status();
  co_return std::optional<KvValue>(std::move(*value));
}

Task<Result<KvValueWithMetadata>> KvBinding::GetWithMetadata(std::string key,
                                                             KvGetOptions options) {
  const KvType type = options.type;
  Result<KvObservation> seen =
      co_await ReadOne("kv.get_with_metadata", std::move(key), std::move(options));
  if (!seen.ok()) co_return seen.status();
  KvValueWithMetadata out;
  out.cache_status = seen->cache_status;
  if (seen->present) {
    Result<KvValue> value = ConvertValue(*seen->record.value, type);
    if (!value.ok()) co_return value.status();
    out.value = std::move(*value);
    if (seen->record.metadata) out.metadata = *seen->record.metadata;
  }
  co_return out;
}

Task<Result<std::map<std::string, std::optional<KvValue>>>> KvBinding::Get(
    std::vector<std::string> keys, KvGetOptions options) {
  const KvType type = options.type;
  Result<Observations> seen = co_await ReadBulk("kv.get", std::move(keys), std::move(options));
  if (!seen.ok()) co_return seen.status();
  std::map<std::string, std::optional<KvValue>> out;
  for (auto& item : *seen) {
    if (!item.second.present) {
      out.emplace(item.first, std::nullopt);
      continue;
    }
    Result<KvValue> value = ConvertValue(*item.second.record.value, type);
    if (!value.ok()) {
      co_return BulkError(core::Code::kInvalidArgument, 400,
                          "At least one of the requested keys corresponds to a non-" +
                              std::string(TypeName(type)) + " value");
    }
    out.emplace(item.first, std::move(*value));
  }
  co_return out;
}

Task<Result<std::map<std::string, KvValueWithMetadata>>> KvBinding::GetWithMetadata(
    std::vector<std::string> keys, KvGetOptions options) {
  const KvType type = options.type;
  Result<Observations> seen =
      co_await ReadBulk("kv.get_with_metadata", std::move(keys), std::move(options));
  if (!seen.ok()) co_return seen.status();
  std::map<std::string, KvValueWithMetadata> out;
  for (auto& item : *seen) {
    KvValueWithMetadata entry;
    if (item.second.present) {
      Result<KvValue> value = ConvertValue(*item.second.record.value, type);
      if (!value.ok()) {
        co_return BulkError(core::Code::kInvalidArgument, 400,
                            "At least one of the requested keys corresponds to a non-" +
                                std::string(TypeName(type)) + " value");
      }
      entry.value = std::move(*value);
      if (item.second.record.metadata) entry.metadata = *item.second.record.metadata;
    }
    out.emplace(item.first, std::move(entry));
  }
  co_return out;
}

Task<Result<KvObservation>> KvBinding::ReadOne(const char* site, std::string key,
                                               KvGetOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter(site));
  CFEMU_CO_RETURN_IF_ERROR(CheckKeyName("GET", key, service_.limits()));
  CFEMU_CO_RETURN_IF_ERROR(CountOperation());
  const Trip trip = DrawTrip(scope_.host(), service_.read_site());
  if (trip.there > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.there));
  Result<Duration> ttl = ResolveCacheTtl("GET", options.cache_ttl, service_.limits());
  Result<KvObservation> seen;
  if (ttl.ok()) {
    seen = service_.Read(ReaderLocation(options.location), key, *ttl, scope_.actor());
    NoteRead(key, seen->record.version);
  } else {
    seen = ttl.status();
  }
  if (trip.back > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.back));
  co_return seen;
}

Task<Result<KvBinding::Observations>> KvBinding::ReadBulk(const char* site,
                                                          std::vector<std::string> keys,
                                                          KvGetOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter(site));
  CFEMU_CO_RETURN_IF_ERROR(CountOperation());  // A bulk read is one operation.
  const Trip trip = DrawTrip(scope_.host(), service_.read_site());
  if (trip.there > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.there));
  Result<Observations> seen = ReadBulkNow(keys, options);
  if (trip.back > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.back));
  co_return seen;
}

Result<KvBinding::Observations> KvBinding::ReadBulkNow(const std::vector<std::string>& keys,
                                                       const KvGetOptions& options) {
  const KvLimits& limits = service_.limits();
  if (options.type != KvType::kText && options.type != KvType::kJson) {
    return BulkError(core::Code::kInvalidArgument, 400,
                     "\"" + std::string(TypeName(options.type)) +
                         "\" is not a valid type. Use \"json\" or \"text\"");
  }
  if (static_cast<std::int64_t>(keys.size()) > limits.max_bulk_get_keys) {
    return BulkError(
        core::Code::kInvalidArgument, 400,
        "You can request a maximum of " + std::to_string(limits.max_bulk_get_keys) + " keys");
  }
  if (keys.empty()) {
    return BulkError(core::Code::kInvalidArgument, 400, "You must request a minimum of 1 key");
  }
  for (const auto& key : keys) CFEMU_RETURN_IF_ERROR(CheckServiceKey("GET_BULK", key, limits));
  Result<Duration> ttl = ResolveCacheTtl("GET_BULK", options.cache_ttl, limits);
  if (!ttl.ok()) return ttl.status();
  Observations out;
  std::int64_t total_bytes = 0;
  for (const auto& key : keys) {
    if (out.count(key) > 0) continue;
    KvObservation seen = service_.Read(ReaderLocation(options.location), key, *ttl, scope_.actor());
    NoteRead(key, seen.record.version);
    if (seen.present) total_bytes += static_cast<std::int64_t>(seen.record.value->size());
    out.emplace(key, std::move(seen));
  }
  if (total_bytes > limits.max_bulk_get_bytes) {
    return BulkError(
        core::Code::kTooLarge, 413,
        "Total size of request exceeds the limit of " + MegabytesText(limits.max_bulk_get_bytes));
  }
  return out;
}

// ---- Writes and lists -------------------------------------------------------------------

Task<Status> KvBinding::Put(std::string key, KvPutValue value, KvPutOptions options) {
  return Write("kv.put", "PUT", std::move(key), std::optional<KvPutValue>(std::move(value)),
               std::move(options));
}

Task<Status> KvBinding::Delete(std::string key) {
  return Write("kv.delete", "DELETE", std::move(key), std::nullopt, KvPutOptions());
}

Task<Status> KvBinding::Write(const char* site, std::string method, std::string key,
                              std::optional<KvPutValue> value, KvPutOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter(site));
  CFEMU_CO_RETURN_IF_ERROR(CheckKeyName(method, key, service_.limits()));
  if (value) CFEMU_CO_RETURN_IF_ERROR(CheckPutValue(*value));
  CFEMU_CO_RETURN_IF_ERROR(CountOperation());
  const Trip trip = DrawTrip(scope_.host(), value ? service_.write_site() : service_.delete_site());
  if (trip.there > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.there));
  const std::optional<std::uint64_t> read_version = ReadVersion(key);
  Result<KvRecord> stored =
      value ? service_.Put(&location_, method, key, std::move(*value), options, read_version,
                           scope_.actor())
            : service_.Delete(&location_, method, key, read_version, scope_.actor());
  if (stored.ok()) {
    scope_.NoteMutation();
    // The writer knows what it wrote: its next write of the key loses nothing of its own.
    if (const auto it = read_versions_.find(key); it != read_versions_.end()) {
      it->second = stored->version;
    }
  }
  if (trip.back > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.back));
  co_return stored.ok() ? Status::Ok() : stored.status();
}

Task<Result<KvListResult>> KvBinding::List(KvListOptions options) {
  CFEMU_CO_RETURN_IF_ERROR(scope_.Enter("kv.list"));
  CFEMU_CO_RETURN_IF_ERROR(CountOperation());
  const Trip trip = DrawTrip(scope_.host(), service_.list_site());
  if (trip.there > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.there));
  // workerd reports a list's errors as the failure of a GET.
  Result<KvListResult> listed =
      service_.List(&ReaderLocation(options.location), "GET", options, scope_.actor());
  if (trip.back > Duration::Zero()) CFEMU_CO_RETURN_IF_ERROR(co_await scope_.Sleep(trip.back));
  co_return listed;
}

// ---- Bookkeeping ------------------------------------------------------------------------

Status KvBinding::CountOperation() {
  ++operations_;
  if (service_.caps_operations() && scope_.invocation() != nullptr &&
      operations_ > service_.limits().operations_per_invocation) {
    COVER("kv.operations_per_invocation");
    return Status::ResourceExhausted(std::string(kTooManyOperations));
  }
  return Status::Ok();
}

void KvBinding::NoteRead(const std::string& key, std::uint64_t version) {
  if (read_versions_.size() >= kMaxTrackedReads && read_versions_.count(key) == 0) {
    read_versions_.clear();  // Forget old reads rather than grow without bound.
  }
  read_versions_[key] = version;
}

std::optional<std::uint64_t> KvBinding::ReadVersion(const std::string& key) const {
  const auto it = read_versions_.find(key);
  return it == read_versions_.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
}

}  // namespace cfemu::emulator::kv
