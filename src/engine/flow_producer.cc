#include "src/engine/flow_producer.h"

#include <algorithm>
#include <map>

#include "src/engine/job_insert.h"
#include "src/engine/job_row.h"
#include "src/engine/sql.h"

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

namespace {

struct Flat {
  const FlowJob* node = nullptr;
  std::optional<std::size_t> parent;  // Index in the flat list.
  NewRow row;
  QueueConfig config;
};

Status Validate(const FlowJob& node, std::size_t& bytes, int depth) {
  if (depth > 64) return Status::InvalidArgument("a flow is at most 64 levels deep");
  CFEMU_RETURN_IF_ERROR(ValidateQueueName(node.queue));
  if (node.options.deduplication) {
    return Status::InvalidArgument("flow jobs take no deduplication option");
  }
  if (node.options.parent) {
    return Status::InvalidArgument("a flow sets its jobs' parents itself (no 'parent' option)");
  }
  bytes += sql::Dump(node.data).size() + node.name.size();
  for (const auto& child : node.children) CFEMU_RETURN_IF_ERROR(Validate(child, bytes, depth + 1));
  return Status::Ok();
}

// Depth first, parents before their children.
Task<Status> Flatten(EngineContext& context, const FlowJob& node, std::optional<std::size_t> parent,
                     std::int64_t now, std::vector<Flat>& out) {
  auto config = co_await QueueConfigFor(context, node.queue);
  if (!config.ok()) co_return config.status();
  JobOptions options = node.options;
  if (parent) options.parent = ParentRef{out[*parent].node->queue, out[*parent].row.id};
  auto row = PrepareRow(context, node.queue, *config, node.name, node.data, options, now, false);
  if (!row.ok()) co_return row.status();
  if (!node.children.empty()) {  // T04: waits for its children; nothing to send yet.
    row->waiting_children = true;
    row->pending_deps = static_cast<std::int32_t>(node.children.size());
    row->placement.dispatch_at.reset();
    row->placement.dispatch_deadline.reset();
    row->placement.needs_dispatcher = false;
  }
  out.push_back({&node, parent, std::move(*row), *config});
  const std::size_t self = out.size() - 1;
  for (const auto& child : node.children) {
    CFEMU_CO_RETURN_IF_ERROR(co_await Flatten(context, child, self, now, out));
  }
  co_return Status::Ok();
}

Task<Result<JobNode>> ExistingTree(EngineContext& context, Job root, int depth) {
  JobNode node;
  node.job = std::move(root);
  if (depth > 64) co_return node;
  auto deps = co_await context.db
                  ->Prepare("SELECT " + QualifiedJobColumns() +
                            " FROM cfq_deps d JOIN cfq_jobs c ON c.queue = d.child_queue AND c.id "
                            "= d.child_id WHERE d.parent_queue = ? AND d.parent_id = ? ORDER BY "
                            "c.seq")
                  .Bind(node.job.queue_name, node.job.id)
                  .All();
  if (!deps.ok()) co_return deps.status();
  for (const auto& row : deps->results) {
    auto child = co_await ExistingTree(context, JobFromRow(row), depth + 1);
    if (!child.ok()) co_return child.status();
    node.children.push_back(std::move(*child));
  }
  co_return node;
}

JobNode BuildTree(const std::vector<Flat>& flat, const std::vector<Job>& jobs, std::size_t i) {
  JobNode node;
  node.job = jobs[i];
  for (std::size_t j = i + 1; j < flat.size(); ++j) {
    if (flat[j].parent == i) node.children.push_back(BuildTree(flat, jobs, j));
  }
  return node;
}

Task<Result<JobNode>> AddTree(std::shared_ptr<EngineContext> context, FlowJob tree) {
  std::size_t bytes = 0;
  CFEMU_CO_RETURN_IF_ERROR(Validate(tree, bytes, 0));
  if (bytes > kMaxFlowBytes) {
    co_return Status::TooLarge("FlowTooLarge: the flow is " + std::to_string(bytes) +
                               " bytes of JSON, over 1,500,000");
  }
  if (tree.options.job_id) {  // An existing root returns the existing tree, writing nothing.
    auto root = co_await context->db
                    ->Prepare("SELECT " + std::string(kJobColumns) +
                              " FROM cfq_jobs WHERE queue = ? AND id = ?")
                    .Bind(tree.queue, *tree.options.job_id)
                    .First();
    if (!root.ok()) co_return SchemaMissingOr(root.status());
    if (*root) co_return co_await ExistingTree(*context, JobFromRow(**root), 0);
  }
  const std::int64_t now = context->NowMs();
  std::vector<Flat> flat;
  CFEMU_CO_RETURN_IF_ERROR(co_await Flatten(*context, tree, std::nullopt, now, flat));
  const std::string token = context->random.Hex(8);
  sql::Batch batch(*context->db);
  std::map<std::string, std::vector<const NewRow*>> by_queue;
  Json edges = Json::array();
  for (const Flat& f : flat) {
    by_queue[f.node->queue].push_back(&f.row);
    if (!f.parent) continue;
    const Flat& p = flat[*f.parent];
    const ParentPolicy policy = f.row.options.parent_policy();
    edges.push_back(
        Json::array({p.node->queue, p.row.id, f.node->queue, f.row.id,
                     policy == ParentPolicy::kNone ? Json(nullptr)
                                                   : Json(std::string(ParentPolicyName(policy)))}));
  }
  for (const auto& [queue, rows] : by_queue) {
    AppendInsertRows(batch, queue, rows, token, nullptr, /*fail_on_conflict=*/true);
  }
  if (!edges.empty()) {
    batch.Add(
        "INSERT INTO cfq_deps (parent_queue, parent_id, child_queue, child_id, status, policy, "
        "updated_at) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'pending', "
        "value ->> 4, ? FROM json_each(?)",
        now, sql::Dump(edges));
  }
  std::map<std::string, std::size_t> selects;
  for (const auto& [queue, rows] : by_queue) {
    std::vector<std::string> ids;
    for (const NewRow* row : rows) ids.push_back(row->id);
    selects[queue] = AppendSelectRows(batch, queue, ids);
  }
  auto results = co_await batch.Run("flow");
  if (!results.ok()) {
    if (results.status().message().find("UNIQUE constraint failed") != std::string::npos) {
      co_return Status::AlreadyExists("DuplicateJobId: a job id of the flow exists already (" +
                                      results.status().message() + ")");
    }
    co_return SchemaMissingOr(results.status());
  }
  std::vector<Job> jobs(flat.size());
  std::map<std::string, std::size_t> next;  // Position in each queue's select.
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const std::string& queue = flat[i].node->queue;
    const auto& row = results->at(selects[queue]).results.at(next[queue]++);
    jobs[i] = JobFromNewRow(queue, flat[i].row, sql::Int(row.values.at(0)));
  }
  for (const auto& [queue, rows] : by_queue) {
    std::vector<Job> queue_jobs;
    std::vector<Placement> placements;
    for (std::size_t i = 0; i < flat.size(); ++i) {
      if (flat[i].node->queue != queue) continue;
      queue_jobs.push_back(jobs[i]);
      placements.push_back(flat[i].row.placement);
    }
    const auto config = std::find_if(flat.begin(), flat.end(),
                                     [&](const Flat& f) { return f.node->queue == queue; });
    co_await DispatchNewRows(*context, config->config, queue_jobs, placements, now);
  }
  co_return BuildTree(flat, jobs, 0);
}

Task<Result<std::vector<JobNode>>> AddTrees(std::shared_ptr<EngineContext> context,
                                            std::vector<FlowJob> trees) {
  std::vector<JobNode> out;
  for (auto& tree : trees) {
    auto node = co_await AddTree(context, std::move(tree));
    if (!node.ok()) co_return node.status();
    out.push_back(std::move(*node));
  }
  co_return out;
}

}  // namespace

Task<Result<JobNode>> FlowProducer::Add(FlowJob tree) { return AddTree(context_, std::move(tree)); }

Task<Result<std::vector<JobNode>>> FlowProducer::AddBulk(std::vector<FlowJob> trees) {
  return AddTrees(context_, std::move(trees));
}

}  // namespace cfemu::engine
