// Server-Sent Events framing (the HTML standard's text/event-stream).
//
// An event is rendered once, whatever the number of connections it goes to:
// RenderEventBody() gives the shared `event:`/`data:` lines; each connection
// prefixes its own `id:` line (its cursor). A payload with line breaks (LF, CR
// or CRLF: the parser splits on all three) becomes several `data:` lines, so
// nothing in a payload can end an event early or forge a field.
//
//   std::string body = RenderEventBody("order.created", R"({"id":7})");
//   std::string frame = IdLine(cursor) + body;   // "id: ...\nevent: ...\ndata: ...\n\n"
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace herald::edge {

// "event: <type>\n" (omitted for "message", EventSource's default, so that
// onmessage fires) then one "data: <line>\n" per line of `data`, then "\n".
std::string RenderEventBody(absl::string_view type, absl::string_view data);

// "id: <id>\n". `id` must hold no CR, LF or NUL (cursors never do).
std::string IdLine(absl::string_view id);

// An id-only block: sets the browser's last event id without an event.
std::string IdOnlyBlock(absl::string_view id);

// "retry: <ms>\n\n".
std::string RetryBlock(int64_t milliseconds);

// ": <text>\n\n" (a comment; EventSource ignores it). Line breaks in `text`
// are replaced by spaces.
std::string CommentBlock(absl::string_view text);

}  // namespace herald::edge
