#include "io/pc15k.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "io/npy.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using shapes::Normalization;
using shapes::NormalizationKind;

constexpr const char* kSplits[] = {"train", "val", "test"};

uint64_t splitmix_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The sorted .npy files of ROOT/<synset>/<split>, with the folder checks of the header.
std::vector<fs::path> list_split(const std::string& root, const std::string& synset,
                                 const std::string& split) {
  if (!is_dir(root)) throw std::runtime_error(root + ": PC15k root folder is missing");
  const fs::path synset_dir = fs::path(root) / synset;
  if (!is_dir(synset_dir)) {
    throw std::runtime_error(synset_dir.string() + ": synset folder of category '" +
                             shapenet_synset_name(synset) + "' is missing");
  }
  const fs::path split_dir = synset_dir / split;
  if (!is_dir(split_dir))
    throw std::runtime_error(split_dir.string() + ": split folder is missing");
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(split_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".npy" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) throw std::runtime_error(split_dir.string() + ": cannot list: " + ec.message());
  if (files.empty()) throw std::runtime_error(split_dir.string() + ": holds no .npy files");
  std::sort(files.begin(), files.end());
  return files;
}

// A PC15k cloud: float32 [P,3], P >= min_points, finite.
torch::Tensor read_cloud(const std::string& path, int64_t min_points) {
  torch::Tensor points = read_npy(path);
  if (points.scalar_type() != torch::kFloat32 || points.dim() != 2 || points.size(1) != 3) {
    throw std::runtime_error(path + ": expected float32 [P,3] points, got " +
                             std::string(c10::toString(points.scalar_type())) + " " +
                             c10::str(points.sizes()));
  }
  if (points.size(0) < min_points) {
    throw std::runtime_error(path + ": holds " + std::to_string(points.size(0)) +
                             " points, fewer than the " + std::to_string(min_points) +
                             " requested");
  }
  const auto bad = torch::isfinite(points).all(1).logical_not();
  if (bad.any().item<bool>()) {
    throw std::runtime_error(path + ": point " +
                             std::to_string(bad.nonzero()[0][0].item<int64_t>()) +
                             " is not finite (NaN or Inf)");
  }
  return points;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& shapenet_synsets() {
  static const std::vector<std::pair<std::string, std::string>> kSynsets = {
      {"02691156", "airplane"},   {"02747177", "can"},
      {"02773838", "bag"},        {"02801938", "basket"},
      {"02808440", "bathtub"},    {"02818832", "bed"},
      {"02828884", "bench"},      {"02843684", "birdhouse"},
      {"02871439", "bookshelf"},  {"02876657", "bottle"},
      {"02880940", "bowl"},       {"02924116", "bus"},
      {"02933112", "cabinet"},    {"02942699", "camera"},
      {"02946921", "tin_can"},    {"02954340", "cap"},
      {"02958343", "car"},        {"02992529", "cellphone"},
      {"03001627", "chair"},      {"03046257", "clock"},
      {"03085013", "keyboard"},   {"03207941", "dishwasher"},
      {"03211117", "monitor"},    {"03261776", "earphone"},
      {"03325088", "faucet"},     {"03337140", "file"},
      {"03467517", "guitar"},     {"03513137", "helmet"},
      {"03593526", "jar"},        {"03624134", "knife"},
      {"03636649", "lamp"},       {"03642806", "laptop"},
      {"03691459", "speaker"},    {"03710193", "mailbox"},
      {"03759954", "microphone"}, {"03761084", "microwave"},
      {"03790512", "motorcycle"}, {"03797390", "mug"},
      {"03928116", "piano"},      {"03938244", "pillow"},
      {"03948459", "pistol"},     {"03991062", "pot"},
      {"04004475", "printer"},    {"04074963", "remote_control"},
      {"04090263", "rifle"},      {"04099429", "rocket"},
      {"04225987", "skateboard"}, {"04256520", "sofa"},
      {"04330267", "stove"},      {"04379243", "table"},
      {"04401088", "telephone"},  {"04460130", "tower"},
      {"04468005", "train"},      {"04530566", "vessel"},
      {"04554684", "washer"}};
  return kSynsets;
}

std::string shapenet_synset_id(const std::string& name_or_id) {
  for (const auto& [id, name] : shapenet_synsets()) {
    if (name_or_id == id || name_or_id == name) return id;
  }
  std::string names;
  for (const auto& entry : shapenet_synsets()) names += (names.empty() ? "" : ", ") + entry.second;
  throw std::invalid_argument("PC15k category '" + name_or_id +
                              "' is not a ShapeNet synset id or one of " + names);
}

std::string shapenet_synset_name(const std::string& synset_id) {
  for (const auto& [id, name] : shapenet_synsets()) {
    if (id == synset_id) return name;
  }
  return synset_id;
}

std::vector<Normalization> pc15k_statistics(const std::string& root,
                                            const std::vector<std::string>& synset_ids,
                                            bool per_category) {
  std::vector<Normalization> out;
  shapes::DatasetStatistics pooled;
  for (const auto& synset : synset_ids) {
    shapes::DatasetStatistics stats;
    for (const auto& file : list_split(root, synset, "train")) {
      const auto points = read_cloud(file.string(), 1);
      (per_category ? stats : pooled).add(points);
    }
    if (!per_category) continue;
    try {
      out.push_back(stats.normalization());
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error((fs::path(root) / synset / "train").string() + ": " + e.what());
    }
  }
  if (!per_category) {
    try {
      out.push_back(pooled.normalization());
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(root + ": train split: " + e.what());
    }
  }
  return out;
}

Pc15kSource::Pc15kSource(std::string root, std::string split,
                         const std::vector<std::string>& categories, Pc15kOptions options)
    : root_(std::move(root)), split_(std::move(split)), options_(std::move(options)) {
  const std::string context = "Pc15kSource(" + root_ + ")";
  if (std::find(std::begin(kSplits), std::end(kSplits), split_) == std::end(kSplits)) {
    throw std::invalid_argument(context + ": split '" + split_ +
                                "' is not one of train, val, test");
  }
  if (options_.points < 1) {
    throw std::invalid_argument(context + ": points must be >= 1, got " +
                                std::to_string(options_.points));
  }
  if (options_.chunk_size < 1) {
    throw std::invalid_argument(context + ": chunk_size must be >= 1, got " +
                                std::to_string(options_.chunk_size));
  }
  if (categories.empty()) throw std::invalid_argument(context + ": categories is empty");
  for (const auto& category : categories) {
    const std::string id = shapenet_synset_id(category);
    if (std::find(synsets_.begin(), synsets_.end(), id) != synsets_.end()) {
      throw std::invalid_argument(context + ": category '" + category + "' is listed twice");
    }
    synsets_.push_back(id);
    names_.push_back(shapenet_synset_name(id));
  }
  for (size_t label = 0; label < synsets_.size(); ++label) {
    for (const auto& file : list_split(root_, synsets_[label], split_)) {
      files_.push_back({file.string(), synsets_[label] + "/" + file.stem().string(),
                        static_cast<int64_t>(label)});
    }
  }
  if (options_.normalization != NormalizationKind::DatasetGlobal) {
    if (!options_.statistics.empty()) {
      throw std::invalid_argument(context + ": statistics given, but normalization is " +
                                  shapes::to_string(options_.normalization));
    }
    return;
  }
  const size_t expected = options_.per_category_statistics ? synsets_.size() : 1;
  if (options_.statistics.empty()) {
    options_.statistics = pc15k_statistics(root_, synsets_, options_.per_category_statistics);
  } else if (options_.statistics.size() != expected) {
    throw std::invalid_argument(context + ": statistics holds " +
                                std::to_string(options_.statistics.size()) +
                                " normalizations, expected " + std::to_string(expected));
  }
  for (size_t i = 0; i < options_.statistics.size(); ++i) {
    auto& s = options_.statistics[i];
    s.validate(context + ": statistics[" + std::to_string(i) + "]");
    s.kind = NormalizationKind::DatasetGlobal;
  }
}

int64_t Pc15kSource::size() const {
  return (count() + options_.chunk_size - 1) / options_.chunk_size;
}

ShapeRecord Pc15kSource::load(size_t shape, uint64_t seed) const {
  const File& file = files_[shape];
  const int64_t n = options_.points;
  const torch::Tensor cloud = read_cloud(file.path, n);
  const int64_t p = cloud.size(0);

  // Partial Fisher-Yates: the first n entries become a uniform subset in random order.
  uint64_t state = seed ^ (0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(shape) + 1));
  std::vector<int64_t> index(static_cast<size_t>(p));
  std::iota(index.begin(), index.end(), int64_t{0});
  for (int64_t i = 0; i < n; ++i) {
    const auto j = i + static_cast<int64_t>(splitmix_next(state) % static_cast<uint64_t>(p - i));
    std::swap(index[static_cast<size_t>(i)], index[static_cast<size_t>(j)]);
  }
  index.resize(static_cast<size_t>(n));

  ShapeRecord r;
  r.id = file.id;
  r.label = file.label;
  try {
    switch (options_.normalization) {
      case NormalizationKind::DatasetGlobal:
        r.normalization = options_.statistics[options_.per_category_statistics ? file.label : 0];
        break;
      case NormalizationKind::UnitSphere:
        r.normalization = Normalization::unit_sphere(cloud);
        break;
      case NormalizationKind::UnitBox:
        r.normalization = Normalization::unit_box(cloud);
        break;
      case NormalizationKind::Identity:
        break;
    }
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(file.path + ": " + e.what());
  }
  const auto subset = cloud.index_select(0, torch::tensor(index, torch::kInt64));
  r.points = r.normalization.apply(subset.to(torch::kFloat64)).to(torch::kFloat32).contiguous();
  return r;
}

std::vector<ShapeRecord> Pc15kSource::chunk(int64_t index, uint64_t seed) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range("Pc15kSource(" + root_ + "): chunk " + std::to_string(index) +
                            " outside [0, " + std::to_string(size()) + ")");
  }
  const auto begin = static_cast<size_t>(index * options_.chunk_size);
  const auto end = std::min(files_.size(), begin + static_cast<size_t>(options_.chunk_size));
  std::vector<ShapeRecord> records;
  records.reserve(end - begin);
  for (size_t shape = begin; shape < end; ++shape) records.push_back(load(shape, seed));
  return records;
}

}  // namespace shapediff::io
