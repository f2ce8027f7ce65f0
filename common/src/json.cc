#include "herald/common/json.h"

#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "herald/common/utf8.h"

namespace herald::common {

std::string JsonQuote(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // Copy one whole UTF-8 sequence, or U+FFFD for a broken one.
      size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      if (i + length <= text.size() && IsValidUtf8(text.substr(i, length))) {
        out.append(text.data() + i, length);
        i += length;
      } else {
        out += "\xef\xbf\xbd";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

namespace {

// A recursive-descent validator over `text`, remembering where it is.
class Scanner {
 public:
  Scanner(absl::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at byte ", pos_, ": ", what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  size_t pos() const { return pos_; }
  absl::string_view Slice(size_t from) const { return text_.substr(from, pos_ - from); }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  absl::Status String() {
    if (!Consume('"')) return Error("expected a string");
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("control character in a string");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Error("unterminated escape");
        const char e = text_[pos_++];
        if (e == 'u') {
          for (int i = 0; i < 4; ++i, ++pos_) {
            if (AtEnd() || !absl::ascii_isxdigit(static_cast<unsigned char>(text_[pos_]))) {
              return Error("\\u needs four hex digits");
            }
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return Error("unknown escape");
        }
        continue;
      }
      if (c >= 0x80) {
        const size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (pos_ + length > text_.size() || !IsValidUtf8(text_.substr(pos_, length))) {
          return Error("a string is not valid UTF-8");
        }
        pos_ += length;
        continue;
      }
      ++pos_;
    }
  }

  absl::Status Number() {
    Consume('-');
    if (Consume('0')) {
      // no leading zeros
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) {
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    } else {
      return Error("expected a value");
    }
    if (Consume('.')) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) return Error("bad number");
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) return Error("bad number");
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    }
    return absl::OkStatus();
  }

  absl::Status Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Error("expected a value");
    pos_ += word.size();
    return absl::OkStatus();
  }

  absl::Status Value(int depth) {
    SkipSpace();
    switch (Peek()) {
      case '"':
        return String();
      case '{':
        return Object(depth + 1, nullptr);
      case '[':
        return Array(depth + 1);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  absl::Status Array(int depth) {
    if (depth > max_depth_) return Error("nested too deeply");
    Consume('[');
    SkipSpace();
    if (Consume(']')) return absl::OkStatus();
    while (true) {
      if (absl::Status s = Value(depth); !s.ok()) return s;
      SkipSpace();
      if (Consume(']')) return absl::OkStatus();
      if (!Consume(',')) return Error("expected ',' or ']'");
    }
  }

  // With `members`, records the top-level members' raw values.
  absl::Status Object(int depth, JsonMembers* members) {
    if (depth > max_depth_) return Error("nested too deeply");
    if (!Consume('{')) return Error("expected an object");
    SkipSpace();
    if (Consume('}')) return absl::OkStatus();
    while (true) {
      SkipSpace();
      const size_t key_from = pos_;
      if (absl::Status s = String(); !s.ok()) return s;
      const absl::string_view key = Slice(key_from);
      SkipSpace();
      if (!Consume(':')) return Error("expected ':'");
      SkipSpace();
      const size_t value_from = pos_;
      if (absl::Status s = Value(depth); !s.ok()) return s;
      if (members != nullptr) {
        absl::StatusOr<std::string> name = JsonUnquote(key);
        if (!name.ok()) return name.status();
        if (!members->emplace(*name, Slice(value_from)).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("invalid JSON: member ", JsonQuote(*name), " appears twice"));
        }
      }
      SkipSpace();
      if (Consume('}')) return absl::OkStatus();
      if (!Consume(',')) return Error("expected ',' or '}'");
    }
  }

 private:
  const absl::string_view text_;
  const int max_depth_;
  size_t pos_ = 0;
};

void AppendUtf8(uint32_t code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (code >> 6)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else if (code < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (code >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (code >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }
}

}  // namespace

absl::StatusOr<JsonMembers> ParseJsonObject(absl::string_view text, int max_depth) {
  Scanner scanner(text, max_depth);
  JsonMembers members;
  scanner.SkipSpace();
  if (absl::Status s = scanner.Object(1, &members); !s.ok()) return s;
  scanner.SkipSpace();
  if (!scanner.AtEnd()) return scanner.Error("text after the object");
  return members;
}

absl::StatusOr<std::string> JsonUnquote(absl::string_view literal) {
  Scanner scanner(literal, 1);
  if (absl::Status s = scanner.String(); !s.ok() || !scanner.AtEnd()) {
    return absl::InvalidArgumentError("not a JSON string");
  }
  std::string out;
  for (size_t i = 1; i + 1 < literal.size(); ++i) {
    if (literal[i] != '\\') {
      out.push_back(literal[i]);
      continue;
    }
    const char e = literal[++i];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        uint32_t code = 0;
        (void)absl::SimpleHexAtoi(literal.substr(i + 1, 4), &code);
        i += 4;
        // A surrogate pair makes one code point; a lone surrogate is U+FFFD.
        if (code >= 0xd800 && code < 0xdc00 && i + 6 < literal.size() && literal[i + 1] == '\\' &&
            literal[i + 2] == 'u') {
          uint32_t low = 0;
          if (absl::SimpleHexAtoi(literal.substr(i + 3, 4), &low) && low >= 0xdc00 &&
              low < 0xe000) {
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        if (code >= 0xd800 && code < 0xe000) code = 0xfffd;
        AppendUtf8(code, &out);
        break;
      }
      default:
        out.push_back(e);  // " \ /
    }
  }
  return out;
}

}  // namespace herald::common
