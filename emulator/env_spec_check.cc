#include "emulator/env_spec_check.h"

#include <set>
#include <string>

#include "emulator/queues/broker.h"

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
