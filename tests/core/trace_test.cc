#include "src/core/trace.h"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cfemu::core {
namespace {

// FNV-1a-64, written out here so the test does not trust the code it checks.
std::uint64_t ReferenceHash(const std::vector<std::string>& lines) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const std::string& line : lines) {
    const std::string bytes = line + "\n";
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  }
  return h;
}

TEST(Trace, LineHasSortedKeysAndTheBuiltInFields) {
  ManualClock clock(Instant::FromUnixMs(1'767'225'600'123));
  TraceSink sink;
  sink.set_clock(&clock);
  sink.KeepLines(true);
  sink.Emit("consumer-1", TraceEvent("queue.sent")
                              .Str("queue", "jobs")
                              .Int("attempts", 2)
                              .Bool("delayed", false)
                              .Int("zz", -7)
                              .Str("msg", "abc"));
  ASSERT_EQ(sink.lines().size(), 1u);
  EXPECT_EQ(sink.lines()[0],
            R"({"actor":"consumer-1","attempts":2,"delayed":false,"ev":"queue.sent",)"
            R"("msg":"abc","queue":"jobs","t":1767225600123,"zz":-7})");
  EXPECT_EQ(sink.events(), 1);
}

TEST(Trace, TimestampFollowsTheClock) {
  ManualClock clock;
  TraceSink sink;
  sink.set_clock(&clock);
  sink.KeepLines(true);
  sink.Emit("a", TraceEvent("x.y"));
  clock.Advance(Milliseconds(1500));
  sink.Emit("a", TraceEvent("x.y"));
  ASSERT_EQ(sink.lines().size(), 2u);
  EXPECT_EQ(sink.lines()[0], R"({"actor":"a","ev":"x.y","t":1767225600000})");
  EXPECT_EQ(sink.lines()[1], R"({"actor":"a","ev":"x.y","t":1767225601500})");
}

TEST(Trace, StringsAreEscapedAndNonAsciiIsKept) {
  ManualClock clock(Instant::FromUnixMs(0));
  TraceSink sink;
  sink.set_clock(&clock);
  sink.KeepLines(true);
  std::string text = "q\"b\\n\nr\rt\tc";
  text.push_back('\x01');
  text.push_back('\x1f');
  text += "é€😀";
  sink.Emit("act\"or", TraceEvent("e").Str("text", text));
  ASSERT_EQ(sink.lines().size(), 1u);
  EXPECT_EQ(sink.lines()[0], R"({"actor":"act\"or","ev":"e","t":0,)"
                             R"("text":"q\"b\\n\nr\rt\tc\u0001\u001fé€😀"})");
}

TEST(Trace, AppendJsonStringQuotesAndEscapes) {
  std::string out = "x=";
  AppendJsonString(out, "a\"\\\b/ü");
  EXPECT_EQ(out, "x=\"a\\\"\\\\\\u0008/ü\"");
  std::string empty;
  AppendJsonString(empty, "");
  EXPECT_EQ(empty, "\"\"");
  // Escapes first, last, back to back, and between long plain runs.
  std::string edges;
  AppendJsonString(
      edges, "\"0190a1b2-7c3d-8e4f-a5b6-c7d8e9f0a1b2\\\n\t" + std::string(70, 'x') + "\x7f\x1f");
  EXPECT_EQ(edges, "\"\\\"0190a1b2-7c3d-8e4f-a5b6-c7d8e9f0a1b2\\\\\\n\\t" + std::string(70, 'x') +
                       "\x7f\\u001f\"");
}

TEST(Trace, HashIsFnv1a64OfTheLinesWithNewlines) {
  ManualClock clock;
  TraceSink sink;
  sink.set_clock(&clock);
  sink.KeepLines(true);
  EXPECT_EQ(sink.hash(), ReferenceHash({}));
  for (int i = 0; i < 5; ++i) {
    sink.Emit("broker", TraceEvent("queue.delivered").Int("attempts", i).Str("msg", "m"));
    clock.Advance(Milliseconds(3));
  }
  EXPECT_EQ(sink.events(), 5);
  EXPECT_EQ(sink.hash(), ReferenceHash(sink.lines()));
  EXPECT_EQ(sink.HashHex(), FormatHash(sink.hash()));
}

TEST(Trace, SameEventsGiveTheSameHashAndADifferentEventChangesIt) {
  auto run = [](std::int64_t last) {
    ManualClock clock;
    TraceSink sink;
    sink.set_clock(&clock);
    sink.Emit("a", TraceEvent("e").Int("n", 1));
    sink.Emit("a", TraceEvent("e").Int("n", last));
    return sink.hash();
  };
  EXPECT_EQ(run(2), run(2));
  EXPECT_NE(run(2), run(3));
}

TEST(Trace, StreamToWritesEveryLineWithItsNewline) {
  ManualClock clock(Instant::FromUnixMs(5));
  TraceSink sink;
  sink.set_clock(&clock);
  std::ostringstream out;
  sink.StreamTo(&out);
  sink.Emit("a", TraceEvent("e1"));
  sink.Emit("b", TraceEvent("e2").Bool("ok", true));
  sink.StreamTo(nullptr);
  sink.Emit("c", TraceEvent("e3"));
  EXPECT_EQ(out.str(),
            "{\"actor\":\"a\",\"ev\":\"e1\",\"t\":5}\n"
            "{\"actor\":\"b\",\"ev\":\"e2\",\"ok\":true,\"t\":5}\n");
  EXPECT_EQ(sink.events(), 3);
}

TEST(Trace, LinesAreNotKeptByDefault) {
  ManualClock clock;
  TraceSink sink;
  sink.set_clock(&clock);
  sink.Emit("a", TraceEvent("e"));
  EXPECT_TRUE(sink.lines().empty());
  EXPECT_EQ(sink.events(), 1);
  sink.KeepLines(true);
  sink.Emit("a", TraceEvent("e"));
  EXPECT_EQ(sink.lines().size(), 1u);
}

TEST(Trace, DisabledSinkRecordsNothing) {
  ManualClock clock;
  TraceSink sink(/*enabled=*/false);
  sink.set_clock(&clock);
  sink.KeepLines(true);
  std::ostringstream out;
  sink.StreamTo(&out);
  int observed = 0;
  sink.AddObserver([&](const TraceRecord&) { ++observed; });
  EXPECT_FALSE(sink.enabled());
  sink.Emit("a", TraceEvent("e").Int("n", 1));
  EXPECT_EQ(sink.events(), 0);
  EXPECT_TRUE(sink.lines().empty());
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(observed, 0);
  EXPECT_EQ(sink.hash(), ReferenceHash({}));

  sink.set_enabled(true);
  sink.Emit("a", TraceEvent("e").Int("n", 1));
  EXPECT_EQ(sink.events(), 1);
  EXPECT_EQ(observed, 1);
}

TEST(Trace, ObserversReceiveEveryRecord) {
  ManualClock clock;
  TraceSink sink;
  sink.set_clock(&clock);
  struct Seen {
    Instant t;
    std::string ev;
    std::string actor;
    std::string line;
    std::int64_t attempts = -1;
    bool has_missing = true;
  };
  std::vector<Seen> first;
  int second = 0;
  sink.AddObserver([&](const TraceRecord& record) {
    Seen seen;
    seen.t = record.t;
    seen.ev = std::string(record.ev);
    seen.actor = std::string(record.actor);
    seen.line = record.line;
    if (const TraceValue* v = record.Find("attempts")) seen.attempts = std::get<std::int64_t>(*v);
    seen.has_missing = record.Find("missing") != nullptr;
    first.push_back(seen);
  });
  sink.AddObserver([&](const TraceRecord&) { ++second; });
  clock.Advance(Seconds(2));
  sink.Emit("broker", TraceEvent("queue.retried").Int("attempts", 3).Str("msg", "m1"));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].t, kVirtualEpoch + Seconds(2));
  EXPECT_EQ(first[0].ev, "queue.retried");
  EXPECT_EQ(first[0].actor, "broker");
  EXPECT_EQ(first[0].attempts, 3);
  EXPECT_FALSE(first[0].has_missing);
  EXPECT_EQ(first[0].line,
            R"({"actor":"broker","attempts":3,"ev":"queue.retried","msg":"m1","t":1767225602000})");
  EXPECT_EQ(second, 1);
}

TEST(Trace, FormatHashIsSixteenLowercaseHexDigits) {
  EXPECT_EQ(FormatHash(0), "0000000000000000");
  EXPECT_EQ(FormatHash(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(FormatHash(~std::uint64_t{0}), "ffffffffffffffff");
  EXPECT_EQ(FormatHash(0xABCULL), "0000000000000abc");
}

TEST(TraceDeathTest, DuplicateKeysAreACheckFailure) {
  ManualClock clock;
  TraceSink sink;
  sink.set_clock(&clock);
  EXPECT_DEATH(sink.Emit("a", TraceEvent("e").Int("n", 1).Int("n", 2)), "CHECK failed");
  EXPECT_DEATH(sink.Emit("a", TraceEvent("e").Int("t", 1)), "CHECK failed");
}

}  // namespace
}  // namespace cfemu::core
