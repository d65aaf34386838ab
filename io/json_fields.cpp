#include "io/json_fields.h"

namespace shapediff::io {
namespace {

const nlohmann::json& empty_object() {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return kEmpty;
}

}  // namespace

JsonFields::JsonFields(const nlohmann::json& object, std::string context, std::string path)
    : object_(object), context_(std::move(context)), path_(std::move(path)) {
  if (!object_.is_object()) {
    throw std::invalid_argument(context_ + ": " + (path_.empty() ? "the document" : path_) +
                                " must be a JSON object, got " + object_.dump());
  }
}

std::string JsonFields::field(const std::string& key) const {
  if (key.empty()) return path_;
  return path_.empty() ? key : path_ + "." + key;
}

void JsonFields::check(const std::string& key, bool ok, const std::string& rule) const {
  if (ok) return;
  const auto it = object_.find(key);
  fail(key, "must be " + rule + (it != object_.end() ? ", got " + it->dump() : ""));
}

void JsonFields::fail(const std::string& key, const std::string& message) const {
  throw std::invalid_argument(context_ + ": " + field(key) + " " + message);
}

void JsonFields::reject(const std::string& key, const std::string& reason) const {
  throw std::invalid_argument(context_ + ": " + field(key) + ": " + reason);
}

const nlohmann::json& JsonFields::value(const std::string& key) {
  const auto it = object_.find(key);
  if (it == object_.end()) fail(key, "is missing");
  seen_.insert(key);
  return *it;
}

JsonFields JsonFields::object(const std::string& key, bool optional) {
  if (optional && !has(key)) return JsonFields(empty_object(), context_, field(key));
  const auto& v = value(key);
  if (!v.is_object()) fail(key, "must be a JSON object, got " + v.dump());
  return JsonFields(v, context_, field(key));
}

void JsonFields::finish() const {
  for (const auto& item : object_.items()) {
    if (!seen_.count(item.key())) {
      throw std::invalid_argument(context_ + ": unknown key '" + field(item.key()) + "'");
    }
  }
}

template <>
nlohmann::json JsonFields::require<nlohmann::json>(const std::string& key) {
  return value(key);
}

template <>
bool JsonFields::require<bool>(const std::string& key) {
  const auto& v = value(key);
  if (!v.is_boolean()) fail(key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

template <>
int64_t JsonFields::require<int64_t>(const std::string& key) {
  const auto& v = value(key);
  if (!v.is_number_integer()) fail(key, "must be an integer, got " + v.dump());
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    fail(key, "is too large: " + v.dump());
  }
  return v.get<int64_t>();
}

template <>
uint64_t JsonFields::require<uint64_t>(const std::string& key) {
  const auto& v = value(key);
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    fail(key, "must be an integer >= 0, got " + v.dump());
  }
  return v.get<uint64_t>();
}

template <>
double JsonFields::require<double>(const std::string& key) {
  const auto& v = value(key);
  if (!v.is_number()) fail(key, "must be a number, got " + v.dump());
  return v.get<double>();
}

template <>
std::string JsonFields::require<std::string>(const std::string& key) {
  const auto& v = value(key);
  if (!v.is_string()) fail(key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

template <>
std::vector<double> JsonFields::require<std::vector<double>>(const std::string& key) {
  const auto& v = value(key);
  bool ok = v.is_array();
  for (const auto& e : v) ok = ok && e.is_number();
  if (!ok) fail(key, "must be an array of numbers, got " + v.dump());
  return v.get<std::vector<double>>();
}

template <>
std::vector<int64_t> JsonFields::require<std::vector<int64_t>>(const std::string& key) {
  const auto& v = value(key);
  bool ok = v.is_array();
  for (const auto& e : v) ok = ok && e.is_number_integer();
  if (!ok) fail(key, "must be an array of integers, got " + v.dump());
  return v.get<std::vector<int64_t>>();
}

template <>
std::vector<std::string> JsonFields::require<std::vector<std::string>>(const std::string& key) {
  const auto& v = value(key);
  bool ok = v.is_array();
  for (const auto& e : v) ok = ok && e.is_string();
  if (!ok) fail(key, "must be an array of strings, got " + v.dump());
  return v.get<std::vector<std::string>>();
}

}  // namespace shapediff::io
