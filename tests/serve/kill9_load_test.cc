// `cfemu serve --persist DIR` killed with SIGKILL under load. Several keep-alive clients push
// messages (single and batch) to a queue and insert unique rows into a D1 database, both
// created over REST; the server is killed while requests are in flight and restarted on DIR.
// Then every message whose push answered 200 is pulled (at least once: duplicates and messages
// of unanswered pushes are allowed), every insert that answered 200 is in the table, and every
// *.sqlite file of DIR passes PRAGMA integrity_check, both as the kill left them (on a copy)
// and after a graceful stop. Real processes, sockets and time; every wait is bounded.
//
// Usage: cfemu_serve_kill9_load_test <path to cfemu> [gtest flags]
#include <fcntl.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "src/core/ids.h"
#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string g_cfemu;  // argv[1].

constexpr seconds kStartTimeout(10);
constexpr seconds kStopTimeout(10);
constexpr milliseconds kRequestTimeout(5000);
// The kill comes after kAnsweredBeforeKill answers, or after kLoadTime on a slow machine, which
// must still have answered kMinAnswered writes for the test to mean something.
constexpr seconds kLoadTime(6);
constexpr int kClients = 4;
constexpr std::int64_t kAnsweredBeforeKill = 6000;
constexpr std::int64_t kMinAnswered = 300;
constexpr int kBatchSize = 10;
const std::string kApi = "/client/v4/accounts/load";

// One `cfemu serve --port 0 --persist DIR` child process. Killed when the object goes, and when
// this process dies (PR_SET_PDEATHSIG), so no server outlives the test.
class ServeProcess {
 public:
  ServeProcess(const fs::path& dir, const fs::path& log) {
    int out[2];
    if (::pipe(out) != 0) return;
    const std::string persist = dir.string();
    const std::string log_file = log.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      const int err = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) ::dup2(err, STDERR_FILENO);
      ::close(out[0]);
      ::execl(g_cfemu.c_str(), "cfemu", "serve", "--port", "0", "--persist", persist.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = out[0];
    if (pid_ > 0) port_ = ReadPort();
  }
  ~ServeProcess() {
    if (pid_ > 0) Kill();
    if (stdout_ >= 0) ::close(stdout_);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // 0 when it did not print its address in time.
  std::uint16_t port() const { return port_; }

  void Kill() {
    if (pid_ <= 0) return;  // Never kill(-1, ...): that signals every process we may signal.
    ::kill(pid_, SIGKILL);
    (void)Reap(kStopTimeout);
    pid_ = -1;
  }

  // SIGTERM; true when it exits with status 0 in time (else it is killed).
  bool Stop() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGTERM);
    const int status = Reap(kStopTimeout);
    if (status < 0) Kill();
    pid_ = -1;
    return status == 0;
  }

 private:
  // The port of "cfemu serve: listening on http://127.0.0.1:<port>".
  std::uint16_t ReadPort() {
    const std::string marker = "listening on http://";
    std::string text;
    const auto deadline = Clock::now() + kStartTimeout;
    while (Clock::now() < deadline) {
      pollfd fd{stdout_, POLLIN, 0};
      if (::poll(&fd, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t n = ::read(stdout_, buffer, sizeof buffer);
      if (n <= 0) return 0;  // It exited.
      text.append(buffer, static_cast<std::size_t>(n));
      const auto at = text.find(marker);
      const auto end = at == std::string::npos ? at : text.find('\n', at);
      if (end == std::string::npos) continue;
      const std::string address = text.substr(at + marker.size(), end - at - marker.size());
      return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    }
    return 0;
  }

  // The exit status, or -1 when the process has not ended within `timeout`. Waits on a pidfd,
  // which becomes readable when the process ends: no polling loop.
  int Reap(std::chrono::milliseconds timeout) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) {
      pollfd ended{pidfd, POLLIN, 0};
      ::poll(&ended, 1, static_cast<int>(timeout.count()));
      ::close(pidfd);
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
};

// What one client saw answered 200, and what failed while the server was still alive.
struct Tally {
  std::vector<std::string> pushed;    // Message bodies.
  std::vector<std::string> inserted;  // D1 values.
  std::vector<std::string> errors;
};

// Shared by the clients and the thread that decides when to kill.
struct Load {
  std::uint16_t port = 0;
  std::string queue_path;
  std::string query_path;
  std::atomic<bool> killing{false};
  std::atomic<int> in_flight{0};  // Raised under mutex, so a waiter cannot miss it.
  std::mutex mutex;
  std::condition_variable changed;
  std::int64_t answered = 0;  // Guarded by mutex.

  void Sending() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++in_flight;
    }
    changed.notify_all();
  }

  void Answered(std::int64_t n) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      answered += n;
    }
    changed.notify_all();
  }
};

bool Succeeded(const ClientResponse& r) {
  return r.status == 200 && r.json.is_object() && r.json.value("success", false);
}

// One request of a round, and what its 200 proves was written.
struct Call {
  std::string path;
  Json body;
  std::vector<std::string> pushed;  // Message bodies.
  std::string inserted;             // A D1 value.
};

// One round of a client: a single push, a batch push and an insert, all with unique values.
std::vector<Call> Round(const Load& load, const std::string& id) {
  Call single{load.queue_path + "/messages",
              {{"body", id + "-single"}, {"content_type", "text"}},
              {id + "-single"},
              ""};
  Call batch{load.queue_path + "/messages/batch", {{"messages", Json::array()}}, {}, ""};
  for (int i = 0; i < kBatchSize; ++i) {
    const std::string body = id + "-batch-" + std::to_string(i);
    batch.body["messages"].push_back({{"body", body}, {"content_type", "text"}});
    batch.pushed.push_back(body);
  }
  Call insert{load.query_path,
              {{"sql", "INSERT INTO t(v) VALUES (?)"}, {"params", Json::array({id})}},
              {},
              id};
  return {std::move(single), std::move(batch), std::move(insert)};
}

// One keep-alive client: rounds, until a request gets no answer (the kill) or fails.
void RunClient(int client_index, Load& load, Tally& tally) {
  std::unique_ptr<Client> client;
  try {
    client = std::make_unique<Client>(load.port, kRequestTimeout);
  } catch (const std::exception& e) {
    tally.errors.push_back(std::string("connect: ") + e.what());
    return;
  }
  for (int round = 0; !load.killing; ++round) {
    const std::string id = "c" + std::to_string(client_index) + "-" + std::to_string(round);
    for (const Call& call : Round(load, id)) {
      load.Sending();
      const ClientResponse r = client->Post(call.path, call.body);
      --load.in_flight;
      if (!Succeeded(r)) {
        if (!load.killing) tally.errors.push_back(call.path + ": " + r.body);
        return;
      }
      tally.pushed.insert(tally.pushed.end(), call.pushed.begin(), call.pushed.end());
      if (!call.inserted.empty()) tally.inserted.push_back(call.inserted);
      load.Answered(1);
    }
  }
}

// PRAGMA integrity_check of every *.sqlite file under `dir`, by path: "ok" when intact.
std::map<std::string, std::string> IntegrityOfEveryDatabase(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".sqlite") continue;
    sqlite3* db = nullptr;
    std::string result;
    if (sqlite3_open_v2(entry.path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      char* error = nullptr;
      sqlite3_exec(
          db, "PRAGMA integrity_check",
          [](void* text, int, char** values, char**) {
            auto& s = *static_cast<std::string*>(text);
            s += (s.empty() ? "" : "; ") + std::string(values[0] ? values[0] : "null");
            return 0;
          },
          &result, &error);
      if (error != nullptr) result = std::string("error: ") + error;
      sqlite3_free(error);
    } else {
      result = std::string("cannot open: ") + sqlite3_errmsg(db);
    }
    sqlite3_close(db);
    out[fs::relative(entry.path(), dir).string()] = result;
  }
  return out;
}

void ExpectEveryDatabaseIntact(const fs::path& dir, const std::string& when) {
  const auto results = IntegrityOfEveryDatabase(dir);
  EXPECT_GE(results.size(), 3u) << when << ": the catalog, the queue and the D1 database";
  for (const auto& [file, result] : results) EXPECT_EQ(result, "ok") << when << ": " << file;
}

class ServeKill9Load : public ::testing::Test {
 protected:
  ServeKill9Load()
      : root_(fs::temp_directory_path() / ("cfemu-kill9-load-" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~ServeKill9Load() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  fs::path state() const { return root_ / "state"; }
  fs::path log() const { return root_ / "serve.log"; }

  fs::path root_;
};

// Everything the load needs, created over REST (so the catalog is under test too).
void CreateQueueAndDatabase(Client& client, Load& load) {
  OkResult(client.Post(kApi + "/queues", {{"queue_name", "load"}}));
  load.queue_path = kApi + "/queues/" + core::DeriveHexId("queue", "load");
  OkResult(client.Post(load.queue_path + "/consumers", {{"type", "http_pull"}}));
  const Json db = OkResult(client.Post(kApi + "/d1/database", {{"name", "load"}}));
  load.query_path = kApi + "/d1/database/" + db.value("uuid", "") + "/query";
  OkResult(client.Post(load.query_path, {{"sql", "CREATE TABLE t(v TEXT PRIMARY KEY)"}}));
}

// Pulls and acks until the queue is empty; every body pulled, duplicates included.
std::multiset<std::string> Drain(Client& client, const std::string& queue_path,
                                 std::size_t expected) {
  std::multiset<std::string> bodies;
  const std::size_t max_pulls = expected / 100 + 100;
  for (std::size_t i = 0; i < max_pulls; ++i) {
    const Json pulled = OkResult(client.Post(
        queue_path + "/messages/pull", {{"batch_size", 100}, {"visibility_timeout_ms", 600000}}));
    if (!pulled.is_object() || pulled["messages"].empty()) break;
    Json acks = Json::array();
    for (const Json& m : pulled["messages"]) {
      bodies.insert(m["body"].get<std::string>());
      acks.push_back({{"lease_id", m["lease_id"]}});
    }
    OkResult(client.Post(queue_path + "/messages/ack", {{"acks", acks}}));
  }
  return bodies;
}

// Starts the clients, lets them write (see kLoadTime), and kills the server while at
// least one request is in flight (clients send again within microseconds of an answer; the
// wait is bounded). Returns how many requests were in flight at the kill.
int LoadAndKill(ServeProcess& server, Load& load, std::vector<Tally>& tallies) {
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(RunClient, i, std::ref(load), std::ref(tallies[i]));
  }
  {
    std::unique_lock<std::mutex> lock(load.mutex);
    load.changed.wait_for(lock, kLoadTime, [&] { return load.answered >= kAnsweredBeforeKill; });
    EXPECT_GE(load.answered, kMinAnswered) << "too few writes answered before the kill";
    load.changed.wait_for(lock, seconds(1), [&] { return load.in_flight.load() > 0; });
  }
  load.killing = true;
  const int in_flight = load.in_flight.load();
  server.Kill();
  for (auto& client : clients) client.join();
  return in_flight;
}

// After the restart: every answered message is pulled, every answered insert is in the table.
void ExpectEveryAnsweredWrite(Client& client, const Load& load, const std::set<std::string>& pushed,
                              const std::set<std::string>& inserted) {
  const std::multiset<std::string> pulled = Drain(client, load.queue_path, pushed.size());
  std::size_t lost = 0;
  for (const auto& body : pushed) lost += pulled.count(body) == 0 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "of " << pushed.size() << " answered messages (" << pulled.size()
                      << " pulled)";
  const Json rows = OkResult(client.Post(load.query_path, {{"sql", "SELECT v FROM t"}}));
  std::set<std::string> stored;
  if (rows.is_array() && !rows.empty()) {
    for (const Json& row : rows[0]["results"]) stored.insert(row.value("v", ""));
  }
  std::size_t missing = 0;
  for (const auto& value : inserted) missing += stored.count(value) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << inserted.size() << " answered inserts";
}

TEST_F(ServeKill9Load, EveryAnsweredWriteSurvivesASigkillUnderLoad) {
  Load load;
  std::vector<Tally> tallies(kClients);
  int in_flight_at_kill = 0;
  {
    ServeProcess server(state(), log());
    ASSERT_NE(server.port(), 0) << "serve did not start; see " << log();
    load.port = server.port();
    Client setup(load.port, kRequestTimeout);
    CreateQueueAndDatabase(setup, load);
    ASSERT_FALSE(HasFailure());
    in_flight_at_kill = LoadAndKill(server, load, tallies);
  }
  EXPECT_GT(in_flight_at_kill, 0);
  std::set<std::string> pushed;
  std::set<std::string> inserted;
  for (const Tally& tally : tallies) {
    for (const auto& error : tally.errors) ADD_FAILURE() << "before the kill: " << error;
    pushed.insert(tally.pushed.begin(), tally.pushed.end());
    inserted.insert(tally.inserted.begin(), tally.inserted.end());
  }
  // The files as the kill left them, checked on a copy so the restart finds them untouched.
  fs::copy(state(), root_ / "crashed", fs::copy_options::recursive);
  ExpectEveryDatabaseIntact(root_ / "crashed", "as the kill left them");

  ServeProcess server(state(), log());
  ASSERT_NE(server.port(), 0) << "serve did not restart; see " << log();
  {
    Client client(server.port(), kRequestTimeout);
    ExpectEveryAnsweredWrite(client, load, pushed, inserted);
  }
  EXPECT_TRUE(server.Stop()) << "serve did not stop cleanly on SIGTERM; see " << log();
  ExpectEveryDatabaseIntact(state(), "after the restart");
  std::printf("answered before the kill: %zu messages, %zu inserts; in flight at the kill: %d\n",
              pushed.size(), inserted.size(), in_flight_at_kill);
}

}  // namespace
}  // namespace cfemu::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <path to cfemu> [gtest flags]\n", argv[0]);
    return 2;
  }
  cfemu::testing::g_cfemu = argv[1];
  std::signal(SIGPIPE, SIG_IGN);  // A write to a killed server is an error, not our death.
  return RUN_ALL_TESTS();
}
