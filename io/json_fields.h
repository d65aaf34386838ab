// Strict reading of one JSON object of a config file: typed fields whose errors name the file
// and the full field path, and an error for any key that was never read, so that a misspelt
// option is reported instead of silently ignored. Every error is std::invalid_argument:
//   "points-tiny.json: training.lr must be a number, got \"fast\""
//   "points-tiny.json: unknown key 'training.lr_sched'"
//
//   io::JsonFields root(doc, "points-tiny.json");
//   auto training = root.object("training");              // JsonFields for "training"
//   double lr = training.get<double>("lr", 2e-4);          // optional, with a default
//   int64_t steps = training.require<int64_t>("steps");
//   training.check("lr", lr > 0, "> 0");                    // "...: training.lr must be > 0, got -1"
//   training.finish();  root.finish();                     // unknown keys
#pragma once

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shapediff::io {

class JsonFields {
 public:
  // `context` names the document (a file name); `path` is the object's dotted path ("" = root).
  // Throws when `object` is not a JSON object.
  JsonFields(const nlohmann::json& object, std::string context, std::string path = "");

  bool has(const std::string& key) const { return object_.contains(key); }
  // "training.lr" for key "lr" of the "training" object ("training" for key "").
  std::string field(const std::string& key) const;

  // Supported T: bool, int64_t, uint64_t, double, std::string, std::vector<double>,
  // std::vector<int64_t>, std::vector<std::string>, nlohmann::json (any value).
  template <typename T>
  T require(const std::string& key);
  template <typename T>
  T get(const std::string& key, T fallback) {
    return has(key) ? require<T>(key) : fallback;
  }
  // A nested object (required, or an empty one when absent and `optional`).
  JsonFields object(const std::string& key, bool optional = false);

  // Throws "<context>: <field> must be <rule>, got <value>" when !ok.
  void check(const std::string& key, bool ok, const std::string& rule) const;
  // "<context>: <field> <message>".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  // "<context>: <field>: <reason>", for errors of a parser that already names the value.
  [[noreturn]] void reject(const std::string& key, const std::string& reason) const;

  // Throws for the first key that no require/get/object call asked for.
  void finish() const;

 private:
  const nlohmann::json& value(const std::string& key);

  const nlohmann::json& object_;
  std::string context_, path_;
  std::set<std::string> seen_;
};

// The supported field types (defined in json_fields.cpp).
template <> bool JsonFields::require<bool>(const std::string& key);
template <> int64_t JsonFields::require<int64_t>(const std::string& key);
template <> uint64_t JsonFields::require<uint64_t>(const std::string& key);
template <> double JsonFields::require<double>(const std::string& key);
template <> std::string JsonFields::require<std::string>(const std::string& key);
template <> std::vector<double> JsonFields::require<std::vector<double>>(const std::string& key);
template <> std::vector<int64_t> JsonFields::require<std::vector<int64_t>>(const std::string& key);
template <>
std::vector<std::string> JsonFields::require<std::vector<std::string>>(const std::string& key);
template <> nlohmann::json JsonFields::require<nlohmann::json>(const std::string& key);

}  // namespace shapediff::io
