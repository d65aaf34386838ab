#include "io/json_file.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.h"

namespace shapediff::io {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                             e.what());
  }
}

void write_json(const std::string& path, const nlohmann::json& doc, int indent) {
  write_file_atomically(path, doc.dump(indent) + "\n");
}

const nlohmann::json& require_field(const nlohmann::json& object, const std::string& field,
                                    const std::string& context) {
  if (!object.is_object()) throw std::runtime_error(context + ": expected a JSON object");
  auto it = object.find(field);
  if (it == object.end()) throw std::runtime_error(context + ": missing field '" + field + "'");
  return *it;
}

}  // namespace shapediff::io
