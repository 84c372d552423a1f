// The pure helpers behind the binding: UTF-8 decoding, cursors, JSON errors.
#include <gtest/gtest.h>

#include "emulator/kv/kv_validation.h"

namespace cfemu::emulator::kv {
namespace {

TEST(KvValidation, DecodesInvalidUtf8AsATextDecoderDoes) {
  EXPECT_EQ(DecodeUtf8Lossy("plain é"), "plain é");
  // A truncated 3-byte sequence is one maximal subpart: one U+FFFD.
  EXPECT_EQ(DecodeUtf8Lossy("\xe2\x82"
                            "a"),
            "\xef\xbf\xbd"
            "a");
  // Surrogates encoded in UTF-8 are invalid byte by byte after the lead.
  EXPECT_EQ(DecodeUtf8Lossy("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(DecodeUtf8Lossy("\xff"), "\xef\xbf\xbd");
  EXPECT_EQ(DecodeUtf8Lossy("\xf0\x9f\x98"), "\xef\xbf\xbd");
}

TEST(KvValidation, CursorsRoundTripAnyBytesAndRejectGarbage) {
  for (std::string key : {std::string("a"), std::string("job:123"), std::string("\0\xff", 2),
                          std::string(512, 'z'), std::string("é😀")}) {
    const std::string cursor = EncodeCursor(key);
    EXPECT_EQ(DecodeCursor(cursor), key);
    EXPECT_EQ(cursor.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
  }
  EXPECT_FALSE(DecodeCursor("a").has_value());
  EXPECT_FALSE(DecodeCursor("ab!c").has_value());
  EXPECT_FALSE(DecodeCursor("YR").has_value());  // Non-zero padding bits.
}

TEST(KvValidation, JsonErrorsNameTheTokenOrTheEndOfInput) {
  EXPECT_EQ(ParseJsonValue("").status().message(), "SyntaxError: Unexpected end of JSON input");
  EXPECT_EQ(ParseJsonValue("{\"a\":").status().message(),
            "SyntaxError: Unexpected end of JSON input");
  EXPECT_EQ(ParseJsonValue("{\"a\":x}").status().message(),
            "SyntaxError: Unexpected token 'x', \"{\"a\":x}\" is not valid JSON");
  EXPECT_EQ(*ParseJsonValue(" [1, 2] "), nlohmann::json::array({1, 2}));
}

TEST(KvValidation, ListLimitBelowOneMeansTheMaximum) {
  const KvLimits limits;
  EXPECT_EQ(*ResolveListLimit("GET", 0, limits), 1000);
  EXPECT_EQ(*ResolveListLimit("GET", -5, limits), 1000);
  EXPECT_EQ(*ResolveListLimit("GET", 10, limits), 10);
}

}  // namespace
}  // namespace cfemu::emulator::kv
