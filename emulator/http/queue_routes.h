// The Queues REST API under /client/v4/accounts/{account_id}/queues (cloudflare-platform.md
// §1.6-1.8, checklist 19-24): queues (list, create, get, update, delete, metrics, purge),
// consumers (list, create, get, update, delete), messages (push, batch push, pull, ack, and the
// newer peek and purge by ref). Paths
// address queues by their 32-hex id; field names are production's. Sends go through the same
// producer binding Workers use, so validation, limits and error codes are the binding's.
//
// Consumers created here must be http_pull: `serve` runs no Worker scripts, so a worker
// consumer would have no handler to call.
#pragma once

#include <map>
#include <string>

#include "emulator/http/router.h"
#include "emulator/sim/actor_runtime.h"
#include "emulator/world.h"

namespace cfemu::emulator {

class QueueRoutes {
 public:
  // `world` must outlive the routes and the router they are added to.
  explicit QueueRoutes(World& world);
  void AddTo(Router& router);

 private:
  HttpResponse List(const HttpRequest& request);
  HttpResponse Create(const HttpRequest& request);
  HttpResponse Get(const RouteParams& params);
  HttpResponse Update(const HttpRequest& request, const RouteParams& params);
  HttpResponse Delete(const RouteParams& params);
  HttpResponse Metrics(const RouteParams& params);
  HttpResponse Purge(const HttpRequest& request, const RouteParams& params);
  HttpResponse PurgeStatus(const RouteParams& params);
  HttpResponse ListConsumers(const RouteParams& params);
  HttpResponse GetConsumer(const RouteParams& params);
  HttpResponse CreateConsumer(const HttpRequest& request, const RouteParams& params);
  HttpResponse UpdateConsumer(const HttpRequest& request, const RouteParams& params);
  HttpResponse DeleteConsumer(const RouteParams& params);
  core::Task<HttpResponse> Push(const HttpRequest& request, const RouteParams& params);
  core::Task<HttpResponse> PushBatch(const HttpRequest& request, const RouteParams& params);
  core::Task<HttpResponse> Pull(const HttpRequest& request, const RouteParams& params);
  core::Task<HttpResponse> Ack(const HttpRequest& request, const RouteParams& params);
  HttpResponse Peek(const HttpRequest& request, const RouteParams& params);
  HttpResponse PurgeMessages(const HttpRequest& request, const RouteParams& params);

  // The queue a path names: 400 (7003) for a malformed id, 404 (10104) for an unknown one.
  core::Result<QueueBroker*> QueueOf(const RouteParams& params);
  core::Result<int> ConsumerOf(const QueueBroker& queue, const RouteParams& params);
  Json QueueJson(const QueueBroker& queue) const;

  World& world_;
  ActorScope scope_;  // The actor REST sends and pulls run as.
  std::map<std::string, core::Instant, std::less<>> purged_at_;  // By queue id.
};

// The consumer id REST uses: 32 hex derived from the queue name and the consumer's index.
std::string ConsumerId(const QueueBroker& queue, int index);

}  // namespace cfemu::emulator
