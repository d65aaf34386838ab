#include "io/module_archive.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/atomic_file.h"

namespace shapediff::io {
namespace {

struct Entry {
  std::string name;
  std::string kind;  // "parameter" or "buffer"
  torch::Tensor tensor;
};

std::vector<Entry> module_entries(const torch::nn::Module& module) {
  std::vector<Entry> entries;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    entries.push_back({item.key(), "parameter", item.value()});
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    entries.push_back({item.key(), "buffer", item.value()});
  }
  return entries;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// FNV-1a, 64 bit, over names, shapes and bytes: cheap next to reading the file, and any flipped
// byte in the tensor data changes it.
class Checksum {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash_ ^= p[i];
      hash_ *= 1099511628211ULL;
    }
  }
  void add(const std::string& name, const torch::Tensor& cpu_contiguous) {
    add(name.data(), name.size());
    for (int64_t d : cpu_contiguous.sizes()) add(&d, sizeof(d));
    add(cpu_contiguous.data_ptr(), cpu_contiguous.nbytes());
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash_));
    return buf;
  }

 private:
  uint64_t hash_ = 14695981039346656037ULL;
};

std::string tensor_key(size_t i) { return "t" + std::to_string(i); }

// The first line of an exception's message, without LibTorch's backtrace.
std::string first_line(const std::exception& e) {
  std::string msg;
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10e->what_without_backtrace();
  } else {
    msg = e.what();
  }
  const auto start = msg.find_first_not_of(" \n");
  if (start == std::string::npos) return "unknown error";
  msg = msg.substr(start);
  return msg.substr(0, msg.find('\n'));
}

}  // namespace

void write_module_state(torch::serialize::OutputArchive& archive, const std::string& key,
                        const torch::nn::Module& module) {
  torch::serialize::OutputArchive nested;
  nlohmann::json manifest = nlohmann::json::array();
  Checksum checksum;
  const auto entries = module_entries(module);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const auto stored = e.tensor.detach().to(torch::kCPU).contiguous();
    manifest.push_back({{"name", e.name},
                        {"kind", e.kind},
                        {"shape", stored.sizes().vec()},
                        {"dtype", std::string(c10::toString(stored.scalar_type()))}});
    checksum.add(e.name, stored);
    nested.write(tensor_key(i), stored);
  }
  write_archive_string(nested, "manifest", manifest.dump());
  write_archive_string(nested, "checksum", checksum.hex());
  archive.write(key, nested);
}

void read_module_state(torch::serialize::InputArchive& archive, const std::string& key,
                       torch::nn::Module& module, const std::string& context) {
  auto nested = read_archive_nested(archive, key, context);
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_archive_string(nested, "manifest", context));
    if (!manifest.is_array()) throw std::invalid_argument("not an array");
  } catch (const std::exception& e) {
    throw std::invalid_argument(context + ": damaged '" + key + "' manifest (" + first_line(e) + ")");
  }
  struct Stored {
    size_t index;
    std::vector<int64_t> shape;
  };
  std::map<std::string, Stored> stored;
  std::vector<std::string> stored_order;
  try {
    for (size_t i = 0; i < manifest.size(); ++i) {
      const auto name = manifest[i].at("name").get<std::string>();
      stored[name] = {i, manifest[i].at("shape").get<std::vector<int64_t>>()};
      stored_order.push_back(name);
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(context + ": damaged '" + key + "' manifest (" + first_line(e) + ")");
  }

  const auto entries = module_entries(module);
  std::map<std::string, bool> expected;
  for (const auto& e : entries) {
    expected[e.name] = true;
    auto it = stored.find(e.name);
    if (it == stored.end()) throw std::invalid_argument(context + ": " + e.kind + " " + e.name + " is missing");
    const auto want = e.tensor.sizes().vec();
    if (it->second.shape != want) {
      throw std::invalid_argument(context + ": " + e.kind + " " + e.name + " has shape " +
                                  shape_string(it->second.shape) + ", config expects " +
                                  shape_string(want));
    }
  }
  for (const auto& name : stored_order) {
    if (!expected.count(name)) throw std::invalid_argument(context + ": unexpected parameter " + name);
  }

  Checksum checksum;
  std::vector<torch::Tensor> values(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& s = stored.at(entries[i].name);
    auto t = read_archive_tensor(nested, tensor_key(s.index), context);
    if (t.sizes().vec() != s.shape) {
      throw std::invalid_argument(context + ": damaged file (tensor of " + entries[i].name +
                                  " disagrees with the manifest)");
    }
    values[i] = t.contiguous();
  }
  // The checksum runs in stored order, as it was written.
  for (const auto& name : stored_order) {
    size_t i = 0;
    while (entries[i].name != name) ++i;
    checksum.add(name, values[i]);
  }
  if (checksum.hex() != read_archive_string(nested, "checksum", context)) {
    throw std::invalid_argument(context + ": weights checksum mismatch (damaged file)");
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto target = entries[i].tensor;
    target.copy_(values[i]);
  }
}

void write_archive_string(torch::serialize::OutputArchive& archive, const std::string& key,
                          const std::string& value) {
  archive.write(key, c10::IValue(value));
}

std::string read_archive_string(torch::serialize::InputArchive& archive, const std::string& key,
                                const std::string& context) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) {
    throw std::invalid_argument(context + ": missing '" + key + "'");
  }
  return value.toStringRef();
}

torch::Tensor read_archive_tensor(torch::serialize::InputArchive& archive, const std::string& key,
                                  const std::string& context) {
  torch::Tensor t;
  if (!archive.try_read(key, t)) throw std::invalid_argument(context + ": missing '" + key + "'");
  return t;
}

torch::serialize::InputArchive read_archive_nested(torch::serialize::InputArchive& archive,
                                                   const std::string& key,
                                                   const std::string& context) {
  torch::serialize::InputArchive nested;
  if (!archive.try_read(key, nested)) throw std::invalid_argument(context + ": missing '" + key + "'");
  return nested;
}

void write_archive_file(const std::string& path, torch::serialize::OutputArchive& archive) {
  std::ostringstream out;
  archive.save_to(out);
  write_file_atomically(path, out.str());
}

torch::serialize::InputArchive read_archive_file(const std::string& path, torch::Device device) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::invalid_argument(path + ": cannot open");
  std::istringstream bytes(std::string(std::istreambuf_iterator<char>(file), {}));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes, device);
  } catch (const std::exception& e) {
    throw std::invalid_argument(path + ": not a readable model archive (" + first_line(e) + ")");
  }
  return archive;
}

}  // namespace shapediff::io
