#include "io/shape_dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "io/json_file.h"
#include "io/npz.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using shapes::Normalization;
using shapes::NormalizationKind;

constexpr const char* kFormat = "shapediff-dataset";
constexpr int64_t kVersion = 1;
constexpr const char* kStandardSplits[] = {"train", "val", "test"};

std::string sizes_string(const std::vector<int64_t>& sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) s += ",";
    s += sizes[i] < 0 ? "S" : std::to_string(sizes[i]);
  }
  return s + "]";
}

bool valid_split_name(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool valid_shard_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

std::string shard_name(const std::string& split, size_t index) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%05zu", index);
  return split + "-" + digits + ".npz";
}

bool same_normalization(const Normalization& a, const Normalization& b) {
  return a.kind == b.kind && a.center == b.center && a.scale == b.scale;
}

bool all_finite(const torch::Tensor& t) {
  return t.numel() == 0 || torch::isfinite(t).all().item<bool>();
}

// ---- dataset.json fields --------------------------------------------------------------------

int64_t json_int(const nlohmann::json& object, const std::string& field,
                 const std::string& context) {
  const auto& value = require_field(object, field, context);
  if (!value.is_number_integer()) {
    throw std::runtime_error(context + ": field '" + field + "' must be an integer, got " +
                             value.dump());
  }
  return value.get<int64_t>();
}

std::string json_string(const nlohmann::json& value, const std::string& field,
                        const std::string& context) {
  if (!value.is_string()) {
    throw std::runtime_error(context + ": field '" + field + "' must be a string, got " +
                             value.dump());
  }
  return value.get<std::string>();
}

const nlohmann::json& json_array(const nlohmann::json& object, const std::string& field,
                                 const std::string& context) {
  const auto& value = require_field(object, field, context);
  if (!value.is_array()) {
    throw std::runtime_error(context + ": field '" + field + "' must be an array, got " +
                             value.dump());
  }
  return value;
}

// ---- writer checks --------------------------------------------------------------------------

// A floating tensor of exactly `sizes`, finite after conversion to `dtype`; returns a CPU copy
// in `dtype` that the caller cannot change afterwards.
torch::Tensor checked_copy(const torch::Tensor& t, const std::vector<int64_t>& sizes,
                           torch::ScalarType dtype, const std::string& context,
                           const std::string& field) {
  if (!t.defined()) throw std::invalid_argument(context + ": " + field + " is missing");
  if (t.sizes().vec() != sizes) {
    throw std::invalid_argument(context + ": " + field + " must be " + sizes_string(sizes) +
                                ", got " + sizes_string(t.sizes().vec()));
  }
  if (!at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(context + ": " + field + " must be floating-point, got " +
                                std::string(c10::toString(t.scalar_type())));
  }
  auto copy = t.to(torch::kCPU, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
  if (!all_finite(copy)) {
    throw std::invalid_argument(context + ": " + field + " is not finite (NaN or Inf)");
  }
  return copy;
}

void check_absent(const torch::Tensor& t, const std::string& context, const std::string& field,
                  const std::string& why) {
  if (t.defined()) throw std::invalid_argument(context + ": " + field + " given but " + why);
}

// ---- shard checks ---------------------------------------------------------------------------

const char* dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    case torch::kInt64:
      return "int64";
    case torch::kInt32:
      return "int32";
    case torch::kUInt8:
      return "uint8";
    case torch::kBool:
      return "bool";
    default:
      return "other";
  }
}

// Array `name` of dtype `dtype` and shape `sizes` (-1: the shard's shape count S, or any
// positive length for the id width).
const torch::Tensor& shard_array(const std::map<std::string, torch::Tensor>& arrays,
                                 const std::string& name, torch::ScalarType dtype,
                                 const std::vector<int64_t>& sizes, const std::string& path) {
  auto it = arrays.find(name);
  if (it == arrays.end()) throw std::runtime_error(path + ": array '" + name + "' is missing");
  const auto& t = it->second;
  bool ok = t.scalar_type() == dtype && t.dim() == static_cast<int64_t>(sizes.size());
  for (size_t d = 0; ok && d < sizes.size(); ++d) ok = sizes[d] < 0 || t.size(d) == sizes[d];
  if (!ok) {
    throw std::runtime_error(path + ": array '" + name + "' must be " + dtype_name(dtype) + " " +
                             sizes_string(sizes) + ", got " + dtype_name(t.scalar_type()) + " " +
                             sizes_string(t.sizes().vec()));
  }
  if (at::isFloatingType(dtype) && !all_finite(t)) {
    const auto bad = torch::isfinite(t).logical_not().reshape({t.size(0), -1}).any(1);
    const auto shape = bad.nonzero()[0][0].item<int64_t>();
    throw std::runtime_error(path + ": array '" + name + "' shape " + std::to_string(shape) +
                             " is not finite (NaN or Inf)");
  }
  return t;
}

std::vector<std::string> decode_ids(const torch::Tensor& ids, const std::string& path) {
  const auto bytes = ids.contiguous();
  const int64_t count = bytes.size(0), width = bytes.size(1);
  const auto* data = bytes.data_ptr<uint8_t>();
  std::vector<std::string> out;
  out.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const auto* row = reinterpret_cast<const char*>(data + i * width);
    const size_t length = strnlen(row, static_cast<size_t>(width));
    for (size_t k = length; k < static_cast<size_t>(width); ++k) {
      if (row[k] != '\0') {
        throw std::runtime_error(path + ": array 'ids' row " + std::to_string(i) +
                                 " has bytes after its zero padding");
      }
    }
    if (length == 0) {
      throw std::runtime_error(path + ": array 'ids' row " + std::to_string(i) + " is empty");
    }
    out.emplace_back(row, length);
  }
  return out;
}

}  // namespace

// ---- DatasetInfo ----------------------------------------------------------------------------

bool DatasetInfo::global_normalization() const {
  return normalization.kind == NormalizationKind::DatasetGlobal ||
         normalization.kind == NormalizationKind::Identity;
}

void DatasetInfo::validate(const std::string& context) const {
  auto fail = [&](const std::string& message) {
    throw std::invalid_argument(context + ": " + message);
  };
  if (categories.empty()) fail("categories is empty");
  for (size_t i = 0; i < categories.size(); ++i) {
    if (categories[i].empty()) fail("categories[" + std::to_string(i) + "] is empty");
  }
  if (points < 1) fail("points must be >= 1, got " + std::to_string(points));
  if (scans < 0) fail("scans must be >= 0, got " + std::to_string(scans));
  if (scans > 0 && scan_points < 1) {
    fail("scan_points must be >= 1 when scans > 0, got " + std::to_string(scan_points));
  }
  if (scans == 0 && scan_points != 0) {
    fail("scan_points must be 0 when scans is 0, got " + std::to_string(scan_points));
  }
  if (shard_size < 1) fail("shard_size must be >= 1, got " + std::to_string(shard_size));
  if (global_normalization()) normalization.validate(context + ": normalization");
  for (const auto& [name, split] : splits) {
    if (!valid_split_name(name)) fail("split name '" + name + "' is not [a-z0-9_]+");
    const std::string field = "splits." + name;
    if (split.count < 0) fail(field + ".count must be >= 0, got " + std::to_string(split.count));
    const int64_t expected = (split.count + shard_size - 1) / shard_size;
    if (static_cast<int64_t>(split.shards.size()) != expected) {
      fail(field + ".shards lists " + std::to_string(split.shards.size()) + " shards, but " +
           std::to_string(split.count) + " shapes at shard_size " + std::to_string(shard_size) +
           " need " + std::to_string(expected));
    }
    for (const auto& shard : split.shards) {
      if (!valid_shard_name(shard)) fail(field + ".shards has a bad file name '" + shard + "'");
    }
  }
}

nlohmann::json DatasetInfo::to_json() const {
  nlohmann::json splits_json = nlohmann::json::object();
  for (const auto& [name, split] : splits) {
    splits_json[name] = {{"count", split.count}, {"shards", split.shards}};
  }
  const nlohmann::json norm = global_normalization()
                                  ? normalization.to_json()
                                  : nlohmann::json{{"kind", shapes::to_string(normalization.kind)}};
  return {{"format", kFormat},          {"version", kVersion},      {"categories", categories},
          {"points", points},           {"normals", normals},       {"scans", scans},
          {"scan_points", scan_points}, {"shard_size", shard_size}, {"normalization", norm},
          {"splits", splits_json},      {"source", source}};
}

DatasetInfo DatasetInfo::from_json(const nlohmann::json& json, const std::string& context) {
  if (!json.is_object()) throw std::runtime_error(context + ": expected a JSON object");
  const std::string format = json_string(require_field(json, "format", context), "format", context);
  if (format != kFormat) {
    throw std::runtime_error(context + ": field 'format' is \"" + format + "\", expected \"" +
                             kFormat + "\"");
  }
  const int64_t version = json_int(json, "version", context);
  if (version != kVersion) {
    throw std::runtime_error(context + ": field 'version' is " + std::to_string(version) +
                             "; this build reads version " + std::to_string(kVersion));
  }
  DatasetInfo info;
  for (const auto& name : json_array(json, "categories", context)) {
    info.categories.push_back(json_string(name, "categories", context));
  }
  info.points = json_int(json, "points", context);
  const auto& normals = require_field(json, "normals", context);
  if (!normals.is_boolean()) {
    throw std::runtime_error(context + ": field 'normals' must be true or false, got " +
                             normals.dump());
  }
  info.normals = normals.get<bool>();
  info.scans = json_int(json, "scans", context);
  info.scan_points = json_int(json, "scan_points", context);
  info.shard_size = json_int(json, "shard_size", context);

  const std::string norm_context = context + ": field 'normalization'";
  const auto& norm = require_field(json, "normalization", context);
  const auto& kind = require_field(norm, "kind", norm_context);
  try {
    info.normalization.kind =
        shapes::parse_normalization_kind(json_string(kind, "normalization.kind", context));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(norm_context + ": " + e.what());
  }
  if (info.global_normalization()) {
    try {
      info.normalization = Normalization::from_json(norm, norm_context);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
  }

  const auto& splits = require_field(json, "splits", context);
  if (!splits.is_object()) {
    throw std::runtime_error(context + ": field 'splits' must be an object, got " + splits.dump());
  }
  for (const auto& [name, split_json] : splits.items()) {
    const std::string split_context = context + ": field 'splits." + name + "'";
    SplitInfo split;
    split.count = json_int(split_json, "count", split_context);
    for (const auto& shard : json_array(split_json, "shards", split_context)) {
      split.shards.push_back(json_string(shard, "splits." + name + ".shards", context));
    }
    info.splits[name] = std::move(split);
  }
  info.source = require_field(json, "source", context);
  try {
    info.validate(context);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  return info;
}

std::string dataset_info_path(const std::string& dir) {
  return (fs::path(dir) / "dataset.json").string();
}

DatasetInfo read_dataset_info(const std::string& dir) {
  const std::string path = dataset_info_path(dir);
  DatasetInfo info = DatasetInfo::from_json(read_json(path), path);
  for (const auto& [name, split] : info.splits) {
    for (const auto& shard : split.shards) {
      const fs::path shard_path = fs::path(dir) / shard;
      std::error_code ec;
      if (!fs::is_regular_file(shard_path, ec)) {
        throw std::runtime_error(path + ": field 'splits." + name + ".shards' lists '" + shard +
                                 "', which is missing (" + shard_path.string() + ")");
      }
    }
  }
  return info;
}

// ---- read_shard -----------------------------------------------------------------------------

std::vector<ShapeRecord> read_shard(const std::string& path, const DatasetInfo& info) {
  const auto arrays = read_npz(path);
  std::vector<std::string> expected = {"points", "labels", "ids", "norm_center", "norm_scale"};
  if (info.normals) expected.push_back("normals");
  if (info.scans > 0) {
    for (const char* name : {"partial", "cam_to_world", "intrinsics"}) expected.push_back(name);
  }
  for (const auto& [name, tensor] : arrays) {
    if (std::find(expected.begin(), expected.end(), name) == expected.end()) {
      throw std::runtime_error(path + ": unexpected array '" + name + "' for this dataset");
    }
  }
  const int64_t n = info.points, k = info.scans, m = info.scan_points;
  const auto& points = shard_array(arrays, "points", torch::kFloat32, {-1, n, 3}, path);
  const int64_t s = points.size(0);
  if (s == 0) throw std::runtime_error(path + ": array 'points' holds no shapes");
  const auto& labels = shard_array(arrays, "labels", torch::kInt64, {s}, path);
  const auto& ids = shard_array(arrays, "ids", torch::kUInt8, {s, -1}, path);
  const auto& centers = shard_array(arrays, "norm_center", torch::kFloat64, {s, 3}, path);
  const auto& scales = shard_array(arrays, "norm_scale", torch::kFloat64, {s}, path);
  torch::Tensor normals, partial, cam_to_world, intrinsics;
  if (info.normals) normals = shard_array(arrays, "normals", torch::kFloat32, {s, n, 3}, path);
  if (k > 0) {
    partial = shard_array(arrays, "partial", torch::kFloat32, {s, k, m, 3}, path);
    cam_to_world = shard_array(arrays, "cam_to_world", torch::kFloat64, {s, k, 4, 4}, path);
    intrinsics = shard_array(arrays, "intrinsics", torch::kFloat64, {s, k, 6}, path);
  }
  if (ids.size(1) == 0) throw std::runtime_error(path + ": array 'ids' has width 0");
  const auto names = decode_ids(ids, path);

  const auto label_data = labels.contiguous();
  const auto center_data = centers.contiguous();
  const auto scale_data = scales.contiguous();
  const auto* label_ptr = label_data.data_ptr<int64_t>();
  const auto* center_ptr = center_data.data_ptr<double>();
  const auto* scale_ptr = scale_data.data_ptr<double>();
  const auto num_categories = static_cast<int64_t>(info.categories.size());

  std::vector<ShapeRecord> records(static_cast<size_t>(s));
  for (int64_t i = 0; i < s; ++i) {
    ShapeRecord& r = records[static_cast<size_t>(i)];
    r.id = names[static_cast<size_t>(i)];
    r.label = label_ptr[i];
    if (r.label < 0 || r.label >= num_categories) {
      throw std::runtime_error(path + ": array 'labels' shape " + std::to_string(i) +
                               " has label " + std::to_string(r.label) + ", outside [0, " +
                               std::to_string(num_categories) + ")");
    }
    r.normalization.kind = info.normalization.kind;
    r.normalization.center = {center_ptr[3 * i], center_ptr[3 * i + 1], center_ptr[3 * i + 2]};
    r.normalization.scale = scale_ptr[i];
    if (!(r.normalization.scale > 0)) {
      throw std::runtime_error(path + ": array 'norm_scale' shape " + std::to_string(i) +
                               " is not > 0 (" + std::to_string(r.normalization.scale) + ")");
    }
    if (info.global_normalization() && !same_normalization(r.normalization, info.normalization)) {
      throw std::runtime_error(path + ": arrays 'norm_center'/'norm_scale' shape " +
                               std::to_string(i) + " differ from the dataset's " +
                               shapes::to_string(info.normalization.kind) + " normalization");
    }
    r.points = points[i].clone();
    if (normals.defined()) r.normals = normals[i].clone();
    if (k > 0) {
      r.partial = partial[i].clone();
      r.cam_to_world = cam_to_world[i].clone();
      r.intrinsics = intrinsics[i].clone();
    }
  }
  return records;
}

// ---- DatasetWriter --------------------------------------------------------------------------

struct DatasetWriter::Pending {
  std::vector<ShapeRecord> records;
  size_t next_shard = 0;
};

DatasetWriter::DatasetWriter(std::string dir, DatasetInfo info, int64_t shard_size, bool overwrite)
    : dir_(std::move(dir)), info_(std::move(info)) {
  const std::string context = "DatasetWriter(" + dir_ + ")";
  if (!info_.splits.empty()) {
    throw std::invalid_argument(context + ": info.splits must be empty (the writer fills it)");
  }
  info_.shard_size = shard_size;
  info_.validate(context);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_ + ": cannot create the dataset folder: " + ec.message());
  const std::string json_path = dataset_info_path(dir_);
  if (!fs::exists(json_path, ec)) return;
  if (!overwrite) {
    throw std::runtime_error(json_path +
                             ": a dataset already exists here (set overwrite to replace it)");
  }
  // Remove dataset.json first: should the rest fail or the run be interrupted, the folder no
  // longer claims to hold a finished dataset.
  std::vector<std::string> old_shards;
  try {
    for (const auto& [name, split] :
         DatasetInfo::from_json(read_json(json_path), json_path).splits) {
      old_shards.insert(old_shards.end(), split.shards.begin(), split.shards.end());
    }
  } catch (const std::runtime_error&) {
    // An unreadable old dataset.json lists nothing we can safely remove.
  }
  if (!fs::remove(json_path, ec) && ec) {
    throw std::runtime_error(json_path + ": cannot remove the old dataset: " + ec.message());
  }
  for (const auto& shard : old_shards) fs::remove(fs::path(dir_) / shard, ec);
}

DatasetWriter::~DatasetWriter() = default;

void DatasetWriter::add(const std::string& split, const ShapeRecord& record) {
  if (finished_) throw std::logic_error("DatasetWriter(" + dir_ + "): add() after finish()");
  if (!valid_split_name(split)) {
    throw std::invalid_argument("DatasetWriter: split name '" + split + "' is not [a-z0-9_]+");
  }
  if (record.id.empty()) {
    throw std::invalid_argument("DatasetWriter: a record of split " + split + " has an empty id");
  }
  const std::string context = "DatasetWriter: record '" + record.id + "' (split " + split + ")";
  if (record.id.find('\0') != std::string::npos) {
    throw std::invalid_argument(context + ": id contains a zero byte");
  }
  if (ids_.count(record.id) != 0) throw std::invalid_argument(context + ": id is already used");
  const auto num_categories = static_cast<int64_t>(info_.categories.size());
  if (record.label < 0 || record.label >= num_categories) {
    throw std::invalid_argument(context + ": label " + std::to_string(record.label) +
                                " is outside [0, " + std::to_string(num_categories) + ")");
  }
  const int64_t n = info_.points, k = info_.scans, m = info_.scan_points;
  ShapeRecord r;
  r.id = record.id;
  r.label = record.label;
  r.points = checked_copy(record.points, {n, 3}, torch::kFloat32, context, "points");
  if (info_.normals) {
    r.normals = checked_copy(record.normals, {n, 3}, torch::kFloat32, context, "normals");
  } else {
    check_absent(record.normals, context, "normals", "the dataset stores no normals");
  }
  if (k > 0) {
    r.partial = checked_copy(record.partial, {k, m, 3}, torch::kFloat32, context, "partial");
    r.cam_to_world =
        checked_copy(record.cam_to_world, {k, 4, 4}, torch::kFloat64, context, "cam_to_world");
    r.intrinsics = checked_copy(record.intrinsics, {k, 6}, torch::kFloat64, context, "intrinsics");
    if (!(r.intrinsics.slice(1, 0, 4) > 0).all().item<bool>()) {
      throw std::invalid_argument(context + ": intrinsics width, height, fx and fy must be > 0");
    }
  } else {
    const std::string why = "the dataset has scans 0";
    check_absent(record.partial, context, "partial", why);
    check_absent(record.cam_to_world, context, "cam_to_world", why);
    check_absent(record.intrinsics, context, "intrinsics", why);
  }
  const auto& norm = record.normalization;
  if (norm.kind != info_.normalization.kind) {
    throw std::invalid_argument(context + ": normalization kind " + shapes::to_string(norm.kind) +
                                " differs from the dataset's " +
                                shapes::to_string(info_.normalization.kind));
  }
  norm.validate(context + ": normalization");
  if (info_.global_normalization() && !same_normalization(norm, info_.normalization)) {
    throw std::invalid_argument(context + ": normalization differs from the dataset's " +
                                shapes::to_string(norm.kind) + " centre and scale");
  }
  r.normalization = norm;

  auto& pending = pending_[split];
  if (!pending) pending = std::make_unique<Pending>();
  pending->records.push_back(std::move(r));
  ids_.insert(record.id);
  if (static_cast<int64_t>(pending->records.size()) == info_.shard_size)
    write_shard(split, *pending);
}

void DatasetWriter::write_shard(const std::string& split, Pending& pending) {
  const auto& records = pending.records;
  const auto s = static_cast<int64_t>(records.size());
  std::vector<torch::Tensor> points, normals, partial, cam_to_world, intrinsics;
  auto labels = torch::empty({s}, torch::kInt64);
  auto centers = torch::empty({s, 3}, torch::kFloat64);
  auto scales = torch::empty({s}, torch::kFloat64);
  size_t width = 1;
  for (const auto& r : records) width = std::max(width, r.id.size());
  auto ids = torch::zeros({s, static_cast<int64_t>(width)}, torch::kUInt8);
  auto label_at = labels.accessor<int64_t, 1>();
  auto center_at = centers.accessor<double, 2>();
  auto scale_at = scales.accessor<double, 1>();
  for (int64_t i = 0; i < s; ++i) {
    const auto& r = records[static_cast<size_t>(i)];
    points.push_back(r.points);
    if (r.normals.defined()) normals.push_back(r.normals);
    if (r.partial.defined()) {
      partial.push_back(r.partial);
      cam_to_world.push_back(r.cam_to_world);
      intrinsics.push_back(r.intrinsics);
    }
    label_at[i] = r.label;
    for (int d = 0; d < 3; ++d) center_at[i][d] = r.normalization.center[d];
    scale_at[i] = r.normalization.scale;
    std::memcpy(ids.data_ptr<uint8_t>() + i * static_cast<int64_t>(width), r.id.data(),
                r.id.size());
  }
  std::map<std::string, torch::Tensor> arrays = {{"points", torch::stack(points)},
                                                 {"labels", labels},
                                                 {"ids", ids},
                                                 {"norm_center", centers},
                                                 {"norm_scale", scales}};
  if (!normals.empty()) arrays["normals"] = torch::stack(normals);
  if (!partial.empty()) {
    arrays["partial"] = torch::stack(partial);
    arrays["cam_to_world"] = torch::stack(cam_to_world);
    arrays["intrinsics"] = torch::stack(intrinsics);
  }
  const std::string name = shard_name(split, pending.next_shard);
  write_npz((fs::path(dir_) / name).string(), arrays, /*compress=*/false);
  auto& split_info = info_.splits[split];
  split_info.shards.push_back(name);
  split_info.count += s;
  ++pending.next_shard;
  pending.records.clear();
}

DatasetInfo DatasetWriter::finish() {
  if (finished_) throw std::logic_error("DatasetWriter(" + dir_ + "): finish() called twice");
  for (auto& [split, pending] : pending_) {
    if (!pending->records.empty()) write_shard(split, *pending);
  }
  for (const char* split : kStandardSplits) info_.splits[split];
  info_.validate("DatasetWriter(" + dir_ + ")");
  write_json(dataset_info_path(dir_), info_.to_json());
  finished_ = true;
  return info_;
}

}  // namespace shapediff::io
