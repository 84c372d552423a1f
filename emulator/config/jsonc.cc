#include "emulator/config/jsonc.h"

#include <cctype>
#include <cstdlib>

#include "src/core/utf8.h"

namespace cfemu::emulator {

namespace {

using Json = nlohmann::json;

// A recursive-descent parser that keeps the line of every value.
class Parser {
 public:
  Parser(std::string_view text, std::string_view origin) : text_(text), origin_(origin) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }

  core::Result<JsoncDocument> Run() {
    JsoncDocument document;
    lines_ = &document.lines;
    auto value = Value("", 0);
    if (!value.ok()) return value.status();
    SkipSpace();
    if (!error_.empty()) return Fail(error_);
    if (pos_ != text_.size()) return Fail("unexpected text after the end of the document");
    document.value = std::move(*value);
    return document;
  }

 private:
  static constexpr int kMaxDepth = 64;

  core::Status Fail(const std::string& what) const {
    int line = 1;
    int column = 1;
    for (std::size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return core::Status::InvalidArgument(std::string(origin_) + ":" + std::to_string(line) + ":" +
                                         std::to_string(column) + ": " + what);
  }

  int Line() const {
    int line = 1;
    for (std::size_t i = 0; i < pos_; ++i) line += text_[i] == '\n' ? 1 : 0;
    return line;
  }

  // Skips white space and comments; records an unterminated comment as an error.
  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        const std::size_t end = text_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) {
          error_ = "unterminated /* comment";
          pos_ = text_.size();
          return;
        }
        pos_ = end + 2;
      } else {
        return;
      }
    }
  }

  core::Result<Json> Value(const std::string& path, int depth) {
    SkipSpace();
    if (!error_.empty()) return Fail(error_);
    if (depth > kMaxDepth) return Fail("nesting deeper than 64 levels");
    if (pos_ >= text_.size()) return Fail("unexpected end of the document, expected a value");
    if (lines_->count(path) == 0) (*lines_)[path] = Line();
    const char c = text_[pos_];
    if (c == '{') return Object(path, depth);
    if (c == '[') return Array(path, depth);
    if (c == '"') {
      auto text = String();
      if (!text.ok()) return text.status();
      return Json(std::move(*text));
    }
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return Number();
    for (const auto& [word, value] :
         {std::pair<std::string_view, Json>{"true", true}, {"false", false}, {"null", nullptr}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Fail(std::string("unexpected character '") + c + "', expected a value");
  }

  core::Result<Json> Object(const std::string& path, int depth) {
    ++pos_;  // '{'
    Json object = Json::object();
    while (true) {
      SkipSpace();
      if (!error_.empty()) return Fail(error_);
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return object;
      }
      if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a \"key\" or '}'");
      const int key_line = Line();
      auto key = String();
      if (!key.ok()) return key.status();
      if (object.contains(*key)) return Fail("duplicate key \"" + *key + "\"");
      const std::string child = path.empty() ? *key : path + "." + *key;
      (*lines_)[child] = key_line;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':' after a key");
      ++pos_;
      auto value = Value(child, depth + 1);
      if (!value.ok()) return value.status();
      object[*key] = std::move(*value);
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;  // A trailing comma before '}' is fine.
      } else if (pos_ >= text_.size() || text_[pos_] != '}') {
        return Fail("expected ',' or '}'");
      }
    }
  }

  core::Result<Json> Array(const std::string& path, int depth) {
    ++pos_;  // '['
    Json array = Json::array();
    while (true) {
      SkipSpace();
      if (!error_.empty()) return Fail(error_);
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return array;
      }
      auto value = Value(path + "[" + std::to_string(array.size()) + "]", depth + 1);
      if (!value.ok()) return value.status();
      array.push_back(std::move(*value));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
      } else if (pos_ >= text_.size() || text_[pos_] != ']') {
        return Fail("expected ',' or ']'");
      }
    }
  }

  core::Result<Json> Number() {
    const std::size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    const std::string literal(text_.substr(start, pos_ - start));
    Json parsed = Json::parse(literal, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_number()) {
      pos_ = start;
      return Fail("malformed number '" + literal + "'");
    }
    return parsed;
  }

  core::Result<std::string> String() {
    const std::size_t start = pos_;
    ++pos_;  // '"'
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\') ++pos_;
      if (pos_ < text_.size() && static_cast<unsigned char>(text_[pos_]) < 0x20) {
        return Fail("control character inside a string");
      }
      ++pos_;
    }
    if (pos_ >= text_.size()) {
      pos_ = start;
      return Fail("unterminated string");
    }
    ++pos_;
    Json parsed = Json::parse(text_.substr(start, pos_ - start), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_string()) {
      pos_ = start;
      return Fail("malformed string (bad escape or invalid UTF-8)");
    }
    return parsed.get<std::string>();
  }

  std::string_view text_;
  std::string_view origin_;
  std::size_t pos_ = 0;
  std::map<std::string, int>* lines_ = nullptr;
  std::string error_;
};

}  // namespace

core::Result<JsoncDocument> ParseJsonc(std::string_view text, std::string_view origin) {
  return Parser(text, origin).Run();
}

}  // namespace cfemu::emulator
