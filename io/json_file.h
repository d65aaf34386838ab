// Reading and writing JSON documents with errors that name the file and the position.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace shapediff::io {

// Parses `path`. Throws std::runtime_error "<path>: cannot open" or
// "<path>: invalid JSON at byte N: ..." — never returns an empty document for a bad read.
nlohmann::json read_json(const std::string& path);

// Writes `doc` atomically: to a temporary file beside `path`, then renamed over it, so a
// failed or interrupted write leaves no partial file. Throws std::runtime_error on failure.
void write_json(const std::string& path, const nlohmann::json& doc, int indent = 2);

// A required field of an object, with an error naming the file/context and the field.
const nlohmann::json& require_field(const nlohmann::json& object, const std::string& field,
                                    const std::string& context);

}  // namespace shapediff::io
