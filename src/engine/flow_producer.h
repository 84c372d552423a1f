// Flows (engine-spec.md §4.10, T04): a tree of jobs, any depth, across queues of one D1
// database, written atomically in one batch. Inner nodes wait for their children
// (`waiting-children`, pending_deps = number of children); leaves are sent at once (children run
// first, as in BullMQ). Any id conflict aborts the whole tree (kAlreadyExists), except that an
// existing root id returns the existing tree without writing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/core/status.h"
#include "src/core/task.h"
#include "src/engine/engine_context.h"
#include "src/engine/job.h"

namespace cfemu::engine {

struct FlowJob {
  FlowJob() = default;
  FlowJob(std::string name, std::string queue, Json data = Json::object(),
          JobOptions options = JobOptions(), std::vector<FlowJob> children = {})
      : name(std::move(name)),
        queue(std::move(queue)),
        data(std::move(data)),
        options(std::move(options)),
        children(std::move(children)) {}
  std::string name;
  std::string queue;
  Json data = Json::object();
  JobOptions options;  // A child's failure policy is one of its options.
  std::vector<FlowJob> children;
};

struct JobNode {
  Job job;
  std::vector<JobNode> children;
};

// The JSON bytes of a tree (1.5 MB at most, FlowTooLarge beyond).
inline constexpr std::size_t kMaxFlowBytes = 1'500'000;

class FlowProducer {
 public:
  explicit FlowProducer(std::shared_ptr<EngineContext> context) : context_(std::move(context)) {}
  core::Task<core::Result<JobNode>> Add(FlowJob tree);
  core::Task<core::Result<std::vector<JobNode>>> AddBulk(std::vector<FlowJob> trees);

 private:
  std::shared_ptr<EngineContext> context_;
};

}  // namespace cfemu::engine
