#include "emulator/env_spec_check.h"

#include <set>
#include <string>

#include "emulator/queues/broker.h"
#include "src/core/ids.h"

namespace cfemu::emulator {

using core::Status;

namespace {

bool IsIsoDate(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  for (std::size_t i = 0; i < date.size(); ++i) {
    if (i == 4 || i == 7) continue;
    if (date[i] < '0' || date[i] > '9') return false;
  }
  return true;
}

Status UniqueBinding(std::set<std::string>& seen, const std::string& binding,
                     const std::string& field) {
  if (binding.empty()) return Status::InvalidArgument(field + ": must not be empty");
  if (!seen.insert(binding).second) {
    return Status::InvalidArgument(field + ": binding '" + binding + "' is declared twice");
  }
  return Status::Ok();
}

Status ValidateStorageBindings(const platform::EnvSpec& spec) {
  std::set<std::string> bindings;
  for (std::size_t i = 0; i < spec.d1_databases.size(); ++i) {
    const auto& d1 = spec.d1_databases[i];
    const std::string field = "d1_databases[" + std::to_string(i) + "]";
    CFEMU_RETURN_IF_ERROR(UniqueBinding(bindings, d1.binding, field + ".binding"));
    if (d1.database_name.empty()) {
      return Status::InvalidArgument(field + ".database_name: must not be empty");
    }
  }
  for (std::size_t i = 0; i < spec.kv_namespaces.size(); ++i) {
    const auto& kv = spec.kv_namespaces[i];
    const std::string field = "kv_namespaces[" + std::to_string(i) + "]";
    CFEMU_RETURN_IF_ERROR(UniqueBinding(bindings, kv.binding, field + ".binding"));
    if (!kv.id.empty() && !core::IsLowerHex(kv.id, 32)) {
      return Status::InvalidArgument(field + ".id: '" + kv.id +
                                     "' is not a namespace id (32 lowercase hex digits)");
    }
  }
  for (std::size_t i = 0; i < spec.durable_objects.size(); ++i) {
    const auto& binding = spec.durable_objects[i];
    const std::string field = "durable_objects[" + std::to_string(i) + "]";
    CFEMU_RETURN_IF_ERROR(UniqueBinding(bindings, binding.name, field + ".name"));
    if (binding.class_name.empty()) {
      return Status::InvalidArgument(field + ".class_name: must not be empty");
    }
    if (!binding.script_name.empty()) {
      return Status::InvalidArgument(field +
                                     ".script_name: bindings to another Worker's class "
                                     "are not emulated; declare the class in this Worker");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateEnvSpec(const platform::EnvSpec& spec) {
  if (!IsIsoDate(spec.compatibility_date)) {
    return Status::InvalidArgument("compatibility_date: '" + spec.compatibility_date +
                                   "' is not a date of the form YYYY-MM-DD");
  }
  std::set<std::string> queue_names;
  for (std::size_t i = 0; i < spec.queues.size(); ++i) {
    const std::string field = "queues[" + std::to_string(i) + "]";
    CFEMU_RETURN_IF_ERROR(ValidateQueueSpec(spec.queues[i], field));
    if (!queue_names.insert(spec.queues[i].name).second) {
      return Status::InvalidArgument(field + ".name: queue '" + spec.queues[i].name +
                                     "' is declared twice");
    }
  }
  std::set<std::string> bindings;
  for (std::size_t i = 0; i < spec.producers.size(); ++i) {
    const auto& producer = spec.producers[i];
    const std::string field = "producers[" + std::to_string(i) + "]";
    if (producer.binding.empty()) {
      return Status::InvalidArgument(field + ".binding: must not be empty");
    }
    if (!bindings.insert(producer.binding).second) {
      return Status::InvalidArgument(field + ".binding: '" + producer.binding + "' is bound twice");
    }
    CFEMU_RETURN_IF_ERROR(ValidateQueueName(producer.queue, field + ".queue"));
    if (producer.delivery_delay &&
        (*producer.delivery_delay < core::Duration::Zero() ||
         *producer.delivery_delay > core::Seconds(core::limits::kQueueMaxDeliveryDelaySeconds))) {
      return Status::InvalidArgument(field +
                                     ".delivery_delay: " + producer.delivery_delay->ToString() +
                                     " is out of range (0 to 43200 s)");
    }
  }
  CFEMU_RETURN_IF_ERROR(ValidateStorageBindings(spec));
  std::set<std::pair<std::string, std::string>> workers;
  for (std::size_t i = 0; i < spec.consumers.size(); ++i) {
    const auto& consumer = spec.consumers[i];
    const std::string field = "consumers[" + std::to_string(i) + "]";
    CFEMU_RETURN_IF_ERROR(ValidateConsumerSpec(consumer, field));
    if (consumer.type == platform::ConsumerType::kWorker &&
        !workers.insert({consumer.queue, consumer.script_name}).second) {
      return Status::InvalidArgument(field + ": queue '" + consumer.queue +
                                     "' already has a consumer from Worker '" +
                                     consumer.script_name + "'");
    }
  }
  return Status::Ok();
}

}  // namespace cfemu::emulator
