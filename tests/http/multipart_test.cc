// multipart/form-data parsing, as KV value uploads use it.
#include "emulator/http/multipart.h"

#include <gtest/gtest.h>

namespace cfemu::emulator {
namespace {

TEST(HttpMultipart, ReadsNamedPartsWithBinaryContent) {
  // Appended piece by piece: GCC 12 at -O2 reports a false array-bounds error for a chain of
  // + on a std::string temporary.
  std::string body = "preamble\r\n--b\r\n";
  body += "Content-Disposition: form-data; name=\"value\"; filename=\"x\"\r\n\r\n";
  body += std::string("a\0\r\nb", 5);
  body += "\r\n--b\r\ncontent-disposition: form-data; name=metadata\r\n\r\n{}\r\n--b--";
  const auto parts = ParseMultipart("multipart/form-data; boundary=\"b\"", body);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "value");
  EXPECT_EQ((*parts)[0].filename, "x");
  EXPECT_EQ((*parts)[0].content, std::string("a\0\r\nb", 5));
  EXPECT_EQ((*parts)[1].name, "metadata");
  EXPECT_EQ((*parts)[1].content, "{}");
}

TEST(HttpMultipart, RefusesMalformedBodies) {
  EXPECT_FALSE(ParseMultipart("application/json", "--b--"));
  EXPECT_FALSE(ParseMultipart("multipart/form-data", "--b--"));  // No boundary.
  EXPECT_FALSE(ParseMultipart("multipart/form-data; boundary=b", "no delimiter"));
  EXPECT_FALSE(ParseMultipart("multipart/form-data; boundary=b", "--b\r\nno blank line"));
  EXPECT_FALSE(ParseMultipart("multipart/form-data; boundary=b", "--b\r\n\r\nunterminated"));
}

TEST(HttpMultipart, BoundsTheNumberOfParts) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += "--b\r\nContent-Disposition: form-data; name=p\r\n\r\nx\r\n";
  body += "--b--";
  EXPECT_FALSE(ParseMultipart("multipart/form-data; boundary=b", body));
  EXPECT_TRUE(ParseMultipart("multipart/form-data; boundary=b", body, 20));
}

}  // namespace
}  // namespace cfemu::emulator
