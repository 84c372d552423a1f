// The HTTP server itself: envelope errors for what matches no route, keep-alive, pipelining,
// body and header limits, timeouts, authentication and graceful stop. Real loopback sockets;
// every read is bounded, nothing sleeps.
#include <string>

#include <gtest/gtest.h>

#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

std::string RawGet(const std::string& target, bool close = false) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + (close ? "Connection: close\r\n" : "") +
         "\r\n";
}

void ExpectEnvelopeError(const ClientResponse& r, int status, int code) {
  EXPECT_EQ(r.status, status) << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json["success"], false);
  EXPECT_TRUE(r.json["result"].is_null());
  EXPECT_TRUE(r.json["messages"].is_array());
  EXPECT_EQ(r.error_code(), code) << r.body;
  EXPECT_TRUE(r.json["errors"][0]["message"].is_string());
}

TEST(HttpServer, UnknownRouteIs404WithCode7000) {
  TestServer server;
  Client client(server.port());
  ExpectEnvelopeError(client.Get("/client/v4/nothing/here"), 404, 7000);
  ExpectEnvelopeError(client.Get("/"), 404, 7000);
}

TEST(HttpServer, WrongMethodIs405WithCode7001AndAnAllowHeader) {
  TestServer server;
  Client client(server.port());
  const ClientResponse r = client.Request("DELETE", QueuesPath());
  ExpectEnvelopeError(r, 405, 7001);
  EXPECT_EQ(r.headers.at("allow"), "GET, POST");
}

TEST(HttpServer, SuccessResponsesCarryTheFullEnvelope) {
  TestServer server;
  Client client(server.port());
  const ClientResponse r = client.Get(QueuesPath());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.json["success"], true);
  EXPECT_EQ(r.json["errors"], Json::array());
  EXPECT_EQ(r.json["messages"], Json::array());
  EXPECT_TRUE(r.json["result"].is_array());
  EXPECT_TRUE(r.json["result_info"].is_object());
}

TEST(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  TestServer server;
  Client client(server.port());
  for (int i = 0; i < 20; ++i) {
    const ClientResponse r = client.Get(QueuesPath());
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  TestServer server;
  Client client(server.port());
  client.WriteRaw(RawGet(QueuesPath()) + RawGet("/nope") + RawGet(QueuesPath(), true));
  EXPECT_EQ(client.ReadResponse().status, 200);
  EXPECT_EQ(client.ReadResponse().status, 404);
  const ClientResponse last = client.ReadResponse();
  EXPECT_EQ(last.status, 200);
  EXPECT_FALSE(last.keep_alive);
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServer, DeclaredOversizeBodyIs413BeforeTheBodyIsSent) {
  TestServer server;
  Client client(server.port());
  client.WriteRaw("POST " + QueuesPath() +
                  " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 5000000\r\n\r\n");
  const ClientResponse r = client.ReadResponse();
  ExpectEnvelopeError(r, 413, 6008);
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServer, OversizeBodySentAnywayStillGetsIts413) {
  TestServer server;
  Client client(server.port());
  // 4 MB to a 64 KB route: the server answers after the head and discards the rest, so the
  // client's write completes and the answer is not lost to a reset.
  const ClientResponse r = client.Request("POST", QueuesPath(), std::string(4 << 20, 'x'));
  ExpectEnvelopeError(r, 413, 6008);
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpServer, ChunkedBodyOverTheRouteLimitIs413) {
  TestServer server;
  Client client(server.port());
  const std::string chunk(60 * 1024, 'a');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  std::string request =
      "POST " + QueuesPath() + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 2; ++i) request += std::string(size) + "\r\n" + chunk + "\r\n";
  request += "0\r\n\r\n";
  client.WriteRaw(request);
  ExpectEnvelopeError(client.ReadResponse(), 413, 6008);
}

TEST(HttpServer, GarbageRequestLineIs400WithEnvelopeThenClose) {
  TestServer server;
  Client client(server.port());
  client.WriteRaw("NOT AN HTTP REQUEST\r\n\r\n");
  ExpectEnvelopeError(client.ReadResponse(), 400, 6003);
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServer, OversizeHeaderIs431) {
  TestServer server;
  Client client(server.port());
  client.WriteRaw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'b') +
                  "\r\n\r\n");
  ExpectEnvelopeError(client.ReadResponse(), 431, 6003);
}

TEST(HttpServer, IdleConnectionIsClosedByTheIdleTimeout) {
  emulator::HttpServerOptions options;
  options.idle_timeout = core::Milliseconds(50);
  TestServer server(PullQueueSpec(), {}, options);
  Client client(server.port());
  ASSERT_EQ(client.Get(QueuesPath()).status, 200);
  EXPECT_TRUE(client.ServerClosed());  // Bounded by the client's 10 s read timeout.
}

TEST(HttpServer, UnfinishedHeaderIsClosedByTheHeaderTimeout) {
  emulator::HttpServerOptions options;
  options.header_timeout = core::Milliseconds(50);
  TestServer server(PullQueueSpec(), {}, options);
  Client client(server.port());
  client.WriteRaw("GET / HTTP/1.1\r\nHost: x\r\n");
  EXPECT_TRUE(client.ServerClosed());
}

TEST(HttpServer, ExpectContinueGets100BeforeTheBody) {
  TestServer server;
  Client client(server.port());
  const std::string body = R"({"queue_name":"from-curl"})";
  client.WriteRaw("POST " + QueuesPath() + " HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" +
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(client.ReadResponse().status, 100);
  client.WriteRaw(body);
  EXPECT_EQ(client.ReadResponse().status, 200);
}

TEST(HttpServer, TokenIsRequiredWhenConfigured) {
  emulator::RestOptions rest;
  rest.token = "s3cret";
  TestServer server(PullQueueSpec(), rest);
  Client client(server.port());
  ExpectEnvelopeError(client.Get(QueuesPath()), 403, 10000);
  ExpectEnvelopeError(client.Get(QueuesPath(), {{"Authorization", "Bearer wrong"}}), 403, 10000);
  ExpectEnvelopeError(client.Get(QueuesPath(), {{"Authorization", "s3cret"}}), 403, 10000);
  ExpectEnvelopeError(client.Post(QueuesPath(), {{"queue_name", "x"}}), 403, 10000);
  EXPECT_EQ(client.Get(QueuesPath(), {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(client.Get(QueuesPath(), {{"Authorization", "bearer s3cret"}}).status, 200);
}

TEST(HttpServer, TheTimeApiExistsOnlyOnVirtualTime) {
  TestServer server;
  Client client(server.port());
  ExpectEnvelopeError(client.Get("/admin/v1/time"), 404, 7000);
}

TEST(HttpServer, TheAdminApiNeedsTheTokenToo) {
  emulator::RestOptions rest;
  rest.token = "s3cret";
  TestServer server(PullQueueSpec(), rest, {}, /*manual_time=*/true);
  Client client(server.port());
  ExpectEnvelopeError(client.Post("/admin/v1/time/advance", {{"ms", 1}}), 403, 10000);
  EXPECT_EQ(client.Get("/admin/v1/time", {{"Authorization", "Bearer s3cret"}}).status, 200);
}

TEST(HttpServer, WithoutATokenAnyOrNoBearerIsAccepted) {
  TestServer server;
  Client client(server.port());
  EXPECT_EQ(client.Get(QueuesPath()).status, 200);
  EXPECT_EQ(client.Get(QueuesPath(), {{"Authorization", "Bearer anything"}}).status, 200);
}

TEST(HttpServer, StopClosesIdleConnectionsAndRefusesNewOnes) {
  TestServer server;
  Client client(server.port());
  ASSERT_EQ(client.Get(QueuesPath()).status, 200);
  server.StopServer();
  EXPECT_TRUE(client.ServerClosed());
  EXPECT_EQ(server.connections(), 0);
  EXPECT_ANY_THROW(Client late(server.port()));
}

}  // namespace
}  // namespace cfemu::testing
