#include "io/npz.h"

#include <torch/torch.h>

#include <stdexcept>

#include "io/atomic_file.h"
#include "io/file_bytes.h"
#include "io/formats/parse_util.h"
#include "io/formats/zip_archive.h"
#include "io/npy.h"

namespace shapediff::io {

std::map<std::string, torch::Tensor> read_npz(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  std::vector<formats::ZipEntry> entries = formats::read_zip(bytes, path);
  std::map<std::string, torch::Tensor> arrays;
  const std::string suffix = ".npy";
  for (auto& entry : entries) {
    if (entry.name.size() <= suffix.size() ||
        entry.name.compare(entry.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      throw std::runtime_error(path + ": member " + formats::detail::quote_token(entry.name) +
                               " is not a .npy array");
    }
    const std::string key = entry.name.substr(0, entry.name.size() - suffix.size());
    arrays[key] = parse_npy_bytes(entry.data, path + "[" + entry.name + "]");
    std::string().swap(entry.data);  // release each member once it is a tensor
  }
  return arrays;
}

void write_npz(const std::string& path, const std::map<std::string, torch::Tensor>& arrays,
               bool compress) {
  std::vector<formats::ZipEntry> entries;
  entries.reserve(arrays.size());
  for (const auto& [key, tensor] : arrays) {
    if (key.empty()) throw std::invalid_argument(path + ": array names must not be empty");
    entries.push_back({key + ".npy", npy_bytes(tensor, path + "[" + key + "]")});
  }
  std::string archive;
  try {
    archive = formats::write_zip(entries, compress);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
  write_file_atomically(path, archive);
}

}  // namespace shapediff::io
