// Content types, the compatibility-date default and the size measure (checklist 1-3).
#include "emulator/queues/message_codec.h"

#include <gtest/gtest.h>

namespace cfemu::emulator {
namespace {

using platform::Body;
using platform::Json;
using platform::Text;
using platform::V8Blob;

TEST(MessageCodec, SendMatchesContentTypesCaseInsensitively) {
  EXPECT_EQ(*ParseContentType("TEXT", true), ContentType::kText);
  EXPECT_EQ(*ParseContentType("Json", true), ContentType::kJson);
  EXPECT_EQ(*ParseContentType("V8", true), ContentType::kV8);
  EXPECT_EQ(*ParseContentType("bytes", true), ContentType::kBytes);
}

TEST(MessageCodec, SendBatchMatchesContentTypesOnlyInLowercase) {
  auto upper = ParseContentType("TEXT", false);
  ASSERT_FALSE(upper.ok());
  EXPECT_EQ(upper.code(), core::Code::kInvalidArgument);
  EXPECT_EQ(upper.status().message(), "Unsupported queue message content type: TEXT (10203)");
  EXPECT_EQ(upper.status().cf_code(), 10203);
}

TEST(MessageCodec, UnknownContentTypeIsRejected) {
  EXPECT_FALSE(ParseContentType("xml", true).ok());
  EXPECT_FALSE(ParseContentType("", true).ok());
}

TEST(MessageCodec, DefaultContentTypeIsJsonFrom2024_03_18AndV8Before) {
  EXPECT_EQ(DefaultContentType("2024-03-18", {}), ContentType::kJson);
  EXPECT_EQ(DefaultContentType("2026-01-01", {}), ContentType::kJson);
  EXPECT_EQ(DefaultContentType("2024-03-17", {}), ContentType::kV8);
  EXPECT_EQ(DefaultContentType("2023-01-01", {"queues_json_messages"}), ContentType::kJson);
  EXPECT_EQ(DefaultContentType("2025-01-01", {"no_queues_json_messages"}), ContentType::kV8);
}

TEST(MessageCodec, UndefinedBodyIsRejected) {
  auto encoded = EncodeBody(Json(Json::value_t::discarded), ContentType::kJson);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().message(), "Message body cannot be undefined (10203)");
}

TEST(MessageCodec, TextContentTypeRequiresAString) {
  auto bad = EncodeBody(core::BytesOf("abc"), ContentType::kText);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "Content Type \"text\" requires a value of type string, but received: object (10203)");
  auto number = EncodeBody(Json(5), ContentType::kText);
  ASSERT_FALSE(number.ok());
  EXPECT_NE(number.status().message().find("received: number"), std::string::npos);
  auto ok = EncodeBody(Text{"hello"}, ContentType::kText);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(std::get<Text>(ok->body).value, "hello");
  // A JSON string is a JS string: accepted as text.
  auto json_string = EncodeBody(Json("hi"), ContentType::kText);
  ASSERT_TRUE(json_string.ok());
  EXPECT_EQ(std::get<Text>(json_string->body).value, "hi");
}

TEST(MessageCodec, BytesContentTypeRequiresBinary) {
  auto bad = EncodeBody(Text{"abc"}, ContentType::kBytes);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ArrayBufferView"), std::string::npos);
  EXPECT_TRUE(EncodeBody(core::BytesOf("abc"), ContentType::kBytes).ok());
}

TEST(MessageCodec, JsonContentTypeRefusesBinaryInsteadOfLosingIt) {
  auto bad = EncodeBody(core::BytesOf("abc"), ContentType::kJson);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("use content type \"bytes\""), std::string::npos);
  // Text under json travels as a JSON string.
  auto text = EncodeBody(Text{"hi"}, ContentType::kJson);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::get<Json>(text->body), Json("hi"));
}

TEST(MessageCodec, V8CarriesAnyBody) {
  EXPECT_TRUE(EncodeBody(Text{"a"}, ContentType::kV8).ok());
  EXPECT_TRUE(EncodeBody(core::BytesOf("a"), ContentType::kV8).ok());
  EXPECT_TRUE(EncodeBody(Json{{"a", 1}}, ContentType::kV8).ok());
  EXPECT_TRUE(EncodeBody(V8Blob{core::BytesOf("a")}, ContentType::kV8).ok());
}

TEST(MessageCodec, InvalidUtf8TextIsRejected) {
  auto bad = EncodeBody(Text{std::string("\xff\xfe", 2)}, ContentType::kText);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), core::Code::kInvalidArgument);
  auto json = EncodeBody(Json(std::string("\xc3\x28", 2)), ContentType::kJson);
  ASSERT_FALSE(json.ok());
}

TEST(MessageCodec, SizeIsTheSerializedBodyPlusExactly100Bytes) {
  EXPECT_EQ(EncodeBody(Text{"hello"}, ContentType::kText)->size_bytes, 105);
  EXPECT_EQ(EncodeBody(core::Bytes(1000, 7), ContentType::kBytes)->size_bytes, 1100);
  Json body = {{"a", 1}};  // {"a":1}
  EXPECT_EQ(EncodeBody(body, ContentType::kJson)->size_bytes, 107);
  // Non-ASCII is measured unescaped, as UTF-8: "é" is 2 bytes plus 2 quotes.
  EXPECT_EQ(EncodeBody(Json("\xc3\xa9"), ContentType::kJson)->size_bytes, 104);
}

// The size is measured without building the text; it must still be the text's length.
TEST(MessageCodec, JsonSizeIsTheLengthOfTheCompactTextForEveryKindOfValue) {
  const Json values[] = {
      nullptr,
      true,
      -42,
      std::uint64_t{18'446'744'073'709'551'615u},
      0.1,
      1e300,
      -2.5e-7,
      "quote \" backslash \\ tab \t newline \n bell \x07 del \x7f",
      "\xe2\x82\xac \xf0\x9f\x98\x80",
      Json::array({1, "two", Json::object(), Json::array()}),
      {{"p", "cfq/1"}, {"q", "emails"}, {"id", "0190-ab"}, {"gen", 3}, {"nested", {{"x", 1.5}}}},
  };
  for (const Json& value : values) {
    SCOPED_TRACE(value.dump());
    auto encoded = EncodeBody(value, ContentType::kJson);
    ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
    EXPECT_EQ(encoded->size_bytes, static_cast<std::int64_t>(value.dump().size()) + 100);
  }
}

TEST(MessageCodec, AJsonStringThatIsNotUtf8IsRejected) {
  auto encoded = EncodeBody(Json{{"name", "\xff\xfe"}}, ContentType::kJson);
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), core::Code::kInvalidArgument);
  EXPECT_NE(encoded.status().message().find("cannot be serialized as JSON"), std::string::npos);
}

}  // namespace
}  // namespace cfemu::emulator
