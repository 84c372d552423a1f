#include "src/engine/schema.h"

#include <string>
#include <string_view>
#include <utility>

namespace cfemu::engine {

using core::Result;
using core::Status;
using core::Task;

namespace {

// Indexes and triggers that V1 creates and V2 creates again on the tables it rebuilds.
const char* const kJobsIndexes[] = {
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_state
  ON cfq_jobs (queue, state, finished_at, seq))",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_dispatch
  ON cfq_jobs (queue, priority, order_key, seq)
  WHERE dispatch_at IS NULL AND state IN ('waiting','prioritized'))",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_delayed
  ON cfq_jobs (queue, available_at) WHERE state = 'delayed')",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_deadline
  ON cfq_jobs (dispatch_deadline) WHERE dispatch_deadline IS NOT NULL)",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_active
  ON cfq_jobs (lease_until) WHERE state = 'active')",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_sched
  ON cfq_jobs (queue, scheduler_id, available_at) WHERE scheduler_id IS NOT NULL)",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_retain
  ON cfq_jobs (queue, state, finished_at)
  WHERE keep_age_s IS NOT NULL OR keep_count IS NOT NULL)",
    R"(CREATE INDEX IF NOT EXISTS ix_jobs_parents
  ON cfq_jobs (pending_deps) WHERE state = 'waiting-children')",
};
const char* const kDepsIndexes[] = {
    R"(CREATE UNIQUE INDEX IF NOT EXISTS ux_deps_child
  ON cfq_deps (child_queue, child_id))",
    R"(CREATE INDEX IF NOT EXISTS ix_deps_pending
  ON cfq_deps (child_queue, child_id) WHERE status = 'pending')",
    R"(CREATE INDEX IF NOT EXISTS ix_deps_failed
  ON cfq_deps (child_queue, child_id) WHERE status = 'failed')",
};
const char* const kDedupeIndexes[] = {
    R"(CREATE INDEX IF NOT EXISTS ix_dedupe_job ON cfq_dedupe (queue, job_id))",
    R"(CREATE INDEX IF NOT EXISTS ix_dedupe_exp
  ON cfq_dedupe (expires_at) WHERE expires_at IS NOT NULL)",
};
// The counts of cfq_counts (plain UPDATE only).
const char* const kJobsCountTriggers[] = {
    R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_counted AFTER INSERT ON cfq_jobs
BEGIN
  UPDATE cfq_counts SET n = n + 1 WHERE queue = NEW.queue AND state = NEW.state;
END)",
    R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_recounted
AFTER UPDATE OF state ON cfq_jobs WHEN OLD.state <> NEW.state
BEGIN
  UPDATE cfq_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
  UPDATE cfq_counts SET n = n + 1 WHERE queue = NEW.queue AND state = NEW.state;
END)",
};

// The CHECKs of cfq_jobs that test a column against a list of values, spelled as V1 wrote them
// (IN lists) or as V2 does (OR chains, see MigrationV2).
struct JobsValueChecks {
  const char* state;
  const char* parent_policy;
  const char* finished;  // Terminal states and only they have finished_at.
};

constexpr JobsValueChecks kInLists{
    "state IN ('waiting','delayed','prioritized','waiting-children','active','completed',"
    "'failed')",
    "parent_policy IN ('fail','ignore','remove','continue')",
    "(state IN ('completed','failed')) = (finished_at IS NOT NULL)"};

constexpr JobsValueChecks kOrChains{
    "state = 'waiting' OR state = 'delayed' OR state = 'prioritized' OR state = "
    "'waiting-children' OR state = 'active' OR state = 'completed' OR state = 'failed'",
    "parent_policy = 'fail' OR parent_policy = 'ignore' OR parent_policy = 'remove' OR "
    "parent_policy = 'continue'",
    "(state = 'completed' OR state = 'failed') = (finished_at IS NOT NULL)"};

// CREATE TABLE `head` with cfq_jobs' columns and rules.
std::string JobsTable(std::string_view head, const JobsValueChecks& checks) {
  return std::string(head) + R"( (
  seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
  data TEXT NOT NULL, opts TEXT NOT NULL,
  state TEXT NOT NULL CHECK ()" +
         checks.state + R"(),
  priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 2097151),
  lifo INTEGER NOT NULL DEFAULT 0, order_key INTEGER NOT NULL, group_key TEXT,
  gen INTEGER NOT NULL DEFAULT 1 CHECK (gen >= 1), available_at INTEGER NOT NULL,
  dispatch_at INTEGER, dispatch_deadline INTEGER, lost_count INTEGER NOT NULL DEFAULT 0,
  attempts_max INTEGER NOT NULL DEFAULT 1 CHECK (attempts_max >= 1),
  attempts_started INTEGER NOT NULL DEFAULT 0, attempts_made INTEGER NOT NULL DEFAULT 0,
  stalled_count INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,
  discarded INTEGER NOT NULL DEFAULT 0, dead_lettered INTEGER NOT NULL DEFAULT 0,
  progress TEXT, result TEXT, failed_reason TEXT, stacktrace TEXT,
  lease_owner TEXT, lease_until INTEGER,
  parent_queue TEXT, parent_id TEXT,
  parent_policy TEXT CHECK ()" +
         checks.parent_policy + R"(),
  pending_deps INTEGER NOT NULL DEFAULT 0, dedup_id TEXT, scheduler_id TEXT,
  keep_age_s INTEGER, keep_count INTEGER, add_token TEXT NOT NULL,
  created_at INTEGER NOT NULL, processed_at INTEGER, finished_at INTEGER,
  UNIQUE (queue, id),
  CHECK ()" +
         checks.finished +
         R"(),
  CHECK (state <> 'active' OR dispatch_at IS NULL),
  CHECK (attempts_made <= attempts_started)))";
}

// The delete cascade of cfq_jobs: counts, logs, the job's non-terminal events (those whose
// `event` satisfies `not_terminal`, as V1 or V2 spells it) and the dependencies it owns.
std::string JobsDeletedTrigger(std::string_view not_terminal) {
  return R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_deleted AFTER DELETE ON cfq_jobs
BEGIN
  UPDATE cfq_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
  DELETE FROM cfq_logs WHERE queue = OLD.queue AND job_id = OLD.id;
  DELETE FROM cfq_events WHERE queue = OLD.queue AND job_id = OLD.id
    AND )" +
         std::string(not_terminal) +
         R"(;
  DELETE FROM cfq_deps WHERE parent_queue = OLD.queue AND parent_id = OLD.id;
END)";
}

void Append(std::vector<std::string>& statements, const auto& more) {
  for (const char* statement : more) statements.emplace_back(statement);
}

Migration MigrationV1() {
  Migration m;
  m.version = 1;
  m.description = "jobs, events, logs, flows, deduplication, schedulers, metrics, counts, DLQ";
  auto& s = m.statements;
  // ---- Tables.
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL))");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_queues (queue TEXT PRIMARY KEY,
  config TEXT NOT NULL DEFAULT '{}',
  paused_mirror INTEGER NOT NULL DEFAULT 0 CHECK (paused_mirror IN (0,1)),
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL))");
  s.push_back(JobsTable("CREATE TABLE IF NOT EXISTS cfq_jobs", kInLists));
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_events (
  eid INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, job_id TEXT,
  event TEXT NOT NULL, at INTEGER NOT NULL, data TEXT))");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_logs (lid INTEGER PRIMARY KEY,
  queue TEXT NOT NULL, job_id TEXT NOT NULL, at INTEGER NOT NULL, message TEXT NOT NULL))");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_deps (
  parent_queue TEXT NOT NULL, parent_id TEXT NOT NULL,
  child_queue TEXT NOT NULL, child_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','processed','failed','ignored')),
  policy TEXT CHECK (policy IN ('fail','ignore','remove','continue')),
  result TEXT, failed_reason TEXT, updated_at INTEGER NOT NULL,
  PRIMARY KEY (parent_queue, parent_id, child_queue, child_id)) WITHOUT ROWID)");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_dedupe (
  queue TEXT NOT NULL, dedup_id TEXT NOT NULL, job_id TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('simple','throttle','debounce')), expires_at INTEGER,
  created_at INTEGER NOT NULL, PRIMARY KEY (queue, dedup_id)) WITHOUT ROWID)");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_schedulers (
  queue TEXT NOT NULL, id TEXT NOT NULL, job_name TEXT NOT NULL,
  job_data TEXT NOT NULL, job_opts TEXT NOT NULL, pattern TEXT,
  dow_dialect TEXT NOT NULL DEFAULT 'bullmq',
  every_ms INTEGER CHECK (every_ms IS NULL OR every_ms >= 1000),
  offset_ms INTEGER NOT NULL DEFAULT 0,
  start_at INTEGER, end_at INTEGER, limit_count INTEGER,
  iteration_count INTEGER NOT NULL DEFAULT 0,
  missed_policy TEXT NOT NULL DEFAULT 'skip' CHECK (missed_policy IN ('skip','catchUp')),
  max_catch_up INTEGER NOT NULL DEFAULT 100, next_run_at INTEGER, last_run_at INTEGER,
  missed_count INTEGER NOT NULL DEFAULT 0, claim_token TEXT,
  version INTEGER NOT NULL DEFAULT 1, immediately INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  CHECK ((pattern IS NULL) <> (every_ms IS NULL)), PRIMARY KEY (queue, id)) WITHOUT ROWID)");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_metrics (
  queue TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('completed','failed')),
  minute INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (queue, kind, minute)) WITHOUT ROWID)");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_counts (
  queue TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (queue, state)) WITHOUT ROWID)");
  s.push_back(R"(CREATE TABLE IF NOT EXISTS cfq_dead_letters (
  dl_id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT, job_id TEXT,
  source TEXT NOT NULL CHECK (source IN ('dlq','quarantine')), cf_message_id TEXT NOT NULL,
  cf_attempts INTEGER, body TEXT NOT NULL, reason TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('dead-lettered','stale-ignored','quarantined',
                                           'redriven')),
  at INTEGER NOT NULL, UNIQUE (source, cf_message_id)))");
  // ---- Indexes (§6.1). UNIQUE (queue, id) is ux_jobs_qid.
  Append(s, kJobsIndexes);
  s.push_back(R"(CREATE INDEX IF NOT EXISTS ix_events_q ON cfq_events (queue, eid))");
  s.push_back(R"(CREATE INDEX IF NOT EXISTS ix_events_job
  ON cfq_events (queue, job_id, eid) WHERE job_id IS NOT NULL)");
  s.push_back(R"(CREATE INDEX IF NOT EXISTS ix_logs_job ON cfq_logs (queue, job_id, lid))");
  Append(s, kDepsIndexes);
  Append(s, kDedupeIndexes);
  s.push_back(R"(CREATE INDEX IF NOT EXISTS ix_sched_due
  ON cfq_schedulers (next_run_at) WHERE next_run_at IS NOT NULL)");
  s.push_back(R"(CREATE INDEX IF NOT EXISTS ix_dl_queue ON cfq_dead_letters (queue, dl_id))");
  // ---- Triggers: counts and cascades (plain UPDATE/DELETE only).
  Append(s, kJobsCountTriggers);
  s.push_back(JobsDeletedTrigger("event NOT IN ('completed', 'failed', 'removed')"));
  return m;
}

// A table rebuilt (SQLite cannot change a CHECK in place): the new table under a temporary
// name, the rows copied as they are, the old table dropped with its indexes and triggers, the
// new one renamed. The caller creates the indexes and triggers again.
void Rebuild(std::vector<std::string>& s, const std::string& table, const std::string& create) {
  s.push_back(create);
  s.push_back("INSERT INTO " + table + "_v2 SELECT * FROM " + table);
  s.push_back("DROP TABLE " + table);
  s.push_back("ALTER TABLE " + table + "_v2 RENAME TO " + table);
}

// Version 2 is about speed; the rows and what the engine reads are unchanged.
// - The CHECKs of cfq_jobs, cfq_deps and cfq_dedupe spell their value lists as OR chains:
//   SQLite builds, fills and clears a temporary b-tree for an `IN (...)` list of more than two
//   values each time it checks a row, a quarter of the cost of inserting a job. The tables
//   are rebuilt with the same columns and the same rules.
// - The events of the plain lifecycle come from triggers, written by the statement that makes
//   the transition: `added` and the initial state's event on insert, `active` on a claim,
//   `completed` on a completion. The rows and their data are those the engine's own statements
//   wrote before (engine-spec.md §7.1 A7, K2, F2), but a trigger cannot disagree with the
//   transition and needs no second probe of (queue, id) per job.
// - A job's events are indexed by its id alone: ids are long and nearly unique, so the queue
//   in front only lengthened every key and comparison. Lookups still filter by queue.
Migration MigrationV2() {
  Migration m;
  m.version = 2;
  m.description =
      "CHECK value lists as OR chains; the plain lifecycle's events by trigger; events by job id";
  auto& s = m.statements;
  // Every table first, then indexes and triggers: a rename re-reads the triggers, which name
  // the other tables.
  Rebuild(s, "cfq_jobs", JobsTable("CREATE TABLE cfq_jobs_v2", kOrChains));
  Rebuild(s, "cfq_deps", R"(CREATE TABLE cfq_deps_v2 (
  parent_queue TEXT NOT NULL, parent_id TEXT NOT NULL,
  child_queue TEXT NOT NULL, child_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status = 'pending' OR status = 'processed' OR status = 'failed'
                              OR status = 'ignored'),
  policy TEXT CHECK (policy = 'fail' OR policy = 'ignore' OR policy = 'remove'
                     OR policy = 'continue'),
  result TEXT, failed_reason TEXT, updated_at INTEGER NOT NULL,
  PRIMARY KEY (parent_queue, parent_id, child_queue, child_id)) WITHOUT ROWID)");
  Rebuild(s, "cfq_dedupe", R"(CREATE TABLE cfq_dedupe_v2 (
  queue TEXT NOT NULL, dedup_id TEXT NOT NULL, job_id TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode = 'simple' OR mode = 'throttle' OR mode = 'debounce'),
  expires_at INTEGER, created_at INTEGER NOT NULL,
  PRIMARY KEY (queue, dedup_id)) WITHOUT ROWID)");
  Append(s, kJobsIndexes);
  Append(s, kDepsIndexes);
  Append(s, kDedupeIndexes);
  Append(s, kJobsCountTriggers);
  s.push_back(
      JobsDeletedTrigger("event <> 'completed' AND event <> 'failed' AND event <> 'removed'"));
  s.push_back(R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_added AFTER INSERT ON cfq_jobs
BEGIN
  INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (NEW.queue, NEW.id, 'added',
    NEW.created_at, json_object('name', NEW.name, 'epoch', NEW.epoch, 'gen', NEW.gen));
  INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (NEW.queue, NEW.id,
    CASE NEW.state WHEN 'delayed' THEN 'delayed' WHEN 'waiting-children' THEN 'waiting-children'
    ELSE 'waiting' END, NEW.created_at, CASE WHEN NEW.state = 'delayed' THEN json_object('delay',
    NEW.available_at - NEW.created_at, 'epoch', NEW.epoch, 'gen', NEW.gen) ELSE
    json_object('epoch', NEW.epoch, 'gen', NEW.gen) END);
END)");
  s.push_back(R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_activated
AFTER UPDATE OF state ON cfq_jobs WHEN NEW.state = 'active' AND OLD.state <> 'active'
BEGIN
  INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (NEW.queue, NEW.id, 'active',
    NEW.processed_at, json_object('prev', OLD.state, 'epoch', NEW.epoch, 'gen', NEW.gen,
    'attempt', NEW.attempts_started));
END)");
  s.push_back(R"(CREATE TRIGGER IF NOT EXISTS cfq_jobs_completed
AFTER UPDATE OF state ON cfq_jobs WHEN NEW.state = 'completed' AND OLD.state <> 'completed'
BEGIN
  INSERT INTO cfq_events (queue, job_id, event, at, data) VALUES (NEW.queue, NEW.id,
    'completed', NEW.finished_at, json_object('returnvalue', json(NEW.result), 'prev', OLD.state,
    'epoch', NEW.epoch, 'gen', NEW.gen));
END)");
  s.push_back("DROP INDEX IF EXISTS ix_events_job");
  s.push_back(R"(CREATE INDEX ix_events_job ON cfq_events (job_id, eid) WHERE job_id IS NOT NULL)");
  return m;
}

std::vector<Migration> BuildMigrations() {
  std::vector<Migration> all;
  all.push_back(MigrationV1());
  all.push_back(MigrationV2());
  return all;
}

bool IsVersionConflict(const Status& status) {
  return status.message().find("UNIQUE constraint failed: cfq_schema.version") != std::string::npos;
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> migrations = BuildMigrations();
  return migrations;
}

int LatestSchemaVersion() { return Migrations().back().version; }

Task<Result<int>> SchemaVersion(platform::D1Database& db) {
  auto table = co_await db
                   .Prepare(
                       "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND "
                       "name = 'cfq_schema'")
                   .First(std::string("n"));
  if (!table.ok()) co_return table.status();
  if (std::get<std::int64_t>(*table) == 0) co_return 0;
  auto version = co_await db.Prepare("SELECT coalesce(max(version), 0) AS v FROM cfq_schema")
                     .First(std::string("v"));
  if (!version.ok()) co_return version.status();
  co_return static_cast<int>(std::get<std::int64_t>(*version));
}

Task<Result<MigrationReport>> Migrate(platform::D1Database& db, core::Instant now) {
  MigrationReport report;
  auto current = co_await SchemaVersion(db);
  if (!current.ok()) co_return current.status();
  report.version = *current;
  if (*current > LatestSchemaVersion()) {
    co_return Status::FailedPrecondition("the database has engine schema version " +
                                         std::to_string(*current) + ", newer than this build's " +
                                         std::to_string(LatestSchemaVersion()));
  }
  for (const Migration& migration : Migrations()) {
    if (migration.version <= report.version) continue;
    std::vector<platform::D1PreparedStatement> batch;
    batch.push_back(
        db.Prepare("CREATE TABLE IF NOT EXISTS cfq_schema (version INTEGER PRIMARY KEY, "
                   "applied_at INTEGER NOT NULL)"));
    batch.push_back(db.Prepare("INSERT INTO cfq_schema (version, applied_at) VALUES (?, ?)")
                        .Bind(migration.version, now.unix_ms()));
    for (const std::string& sql : migration.statements) batch.push_back(db.Prepare(sql));
    auto applied = co_await db.Batch(std::move(batch), "migrate");
    if (!applied.ok()) {
      if (!IsVersionConflict(applied.status())) co_return applied.status();
    } else {
      report.applied.push_back(migration.version);
    }
    report.version = migration.version;
  }
  co_return report;
}

}  // namespace cfemu::engine
