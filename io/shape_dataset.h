// The shapediff dataset format: a folder of NPZ shards plus a dataset.json that is written
// last, so a folder without dataset.json is never a finished dataset.
//
//   DIR/dataset.json
//     {"format": "shapediff-dataset", "version": 1,
//      "categories": ["chair", "table"],          // label = index
//      "points": 2048, "normals": true,           // N points per shape, normals stored or not
//      "scans": 2, "scan_points": 1024,           // K partial scans of M points per shape (K >= 0)
//      "shard_size": 256,                         // shapes per shard (the last one may hold fewer)
//      "normalization": {"kind": "unit_sphere"}   // per-shape kinds: values live in the shards
//                    or {"kind": "dataset_global", "center": [x, y, z], "scale": s},
//      "splits": {"train": {"count": 300, "shards": ["train-00000.npz", "train-00001.npz"]},
//                 "val": {"count": 0, "shards": []}, "test": {...}},
//      "source": {...}}                           // free JSON: generator, seed, options
//   DIR/<split>-NNNNN.npz, S shapes each (np.load reads them):
//     points       float32 [S,N,3]     in the stored (normalized) frame
//     normals      float32 [S,N,3]     only when "normals" is true
//     labels       int64   [S]         index into "categories"
//     ids          uint8   [S,L]       UTF-8 bytes of each id, zero-padded to the longest id L
//                                      of the shard (an id is non-empty and has no zero byte)
//     norm_center  float64 [S,3]       the per-shape normalization: stored = (source - center)
//     norm_scale   float64 [S]           / scale maps the source mesh frame to the stored frame
//     partial      float32 [S,K,M,3]   only when K > 0: each scan resampled to M points
//     cam_to_world float64 [S,K,4,4]   only when K > 0: scan cameras
//     intrinsics   float64 [S,K,6]     only when K > 0: width, height, fx, fy, cx, cy (pixels)
// Every geometric array (points, normals, partial, cam_to_world) is in the stored frame.
// Shards are written uncompressed (np.savez layout): point data gains little from deflate and
// loaders decode faster.
//
//   DatasetInfo info;  info.categories = {"chair"};  info.points = 2048;
//   info.normalization.kind = shapes::NormalizationKind::UnitSphere;
//   DatasetWriter writer("data/chairs", info);
//   for (auto& record : records) writer.add("train", record);
//   writer.finish();                                   // writes dataset.json last
//   DatasetInfo read = read_dataset_info("data/chairs");
//   auto shapes = read_shard("data/chairs/" + read.splits.at("train").shards[0], read);
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "shapes/normalization.h"

namespace shapediff::io {

// One shape of a dataset. Tensors are on the CPU; read_shard gives each record its own memory.
struct ShapeRecord {
  std::string id;
  int64_t label = 0;
  torch::Tensor points;        // [N,3] float32
  torch::Tensor normals;       // [N,3] float32, or undefined when the dataset has none
  torch::Tensor partial;       // [K,M,3] float32, undefined when K = 0
  torch::Tensor cam_to_world;  // [K,4,4] float64, undefined when K = 0
  torch::Tensor intrinsics;  // [K,6] float64 (width, height, fx, fy, cx, cy), undefined when K = 0
  shapes::Normalization normalization;  // source frame -> stored frame
};

struct SplitInfo {
  int64_t count = 0;                // shapes in the split
  std::vector<std::string> shards;  // file names relative to the dataset folder, in order
};

struct DatasetInfo {
  std::vector<std::string> categories;  // label = index; at least one
  int64_t points = 0;                   // N >= 1
  bool normals = false;
  int64_t scans = 0;        // K >= 0
  int64_t scan_points = 0;  // M >= 1 when K > 0, 0 when K = 0
  // kind for every shape; center and scale matter for the global kinds (dataset_global,
  // identity), whose values every record must carry exactly.
  shapes::Normalization normalization;
  int64_t shard_size = 256;                 // filled in by DatasetWriter
  std::map<std::string, SplitInfo> splits;  // filled in by DatasetWriter
  nlohmann::json source = nlohmann::json::object();

  // True for dataset_global and identity (one normalization for every shape).
  bool global_normalization() const;

  // Throws std::invalid_argument "<context>: <field> ..." for a bad field.
  void validate(const std::string& context) const;
  nlohmann::json to_json() const;
  // Strict: every field present and well-typed; std::runtime_error "<context>: field '...' ...".
  static DatasetInfo from_json(const nlohmann::json& json, const std::string& context);
};

// "DIR/dataset.json".
std::string dataset_info_path(const std::string& dir);

// Reads and validates DIR/dataset.json, and checks that every listed shard exists. Throws
// std::runtime_error naming the file and the field (missing file, bad JSON, wrong format or
// version, missing or ill-typed field, inconsistent counts, missing shard).
DatasetInfo read_dataset_info(const std::string& dir);

// The records of one shard, in stored order, checked against `info`: every array present with
// the right dtype and shape, no unexpected array, finite values, labels in range, positive
// scales, global normalizations equal to info's. Throws std::runtime_error "<path>: ...
// array '<name>' ..." for a bad, truncated or mismatched shard.
std::vector<ShapeRecord> read_shard(const std::string& path, const DatasetInfo& info);

// Writes a dataset folder: full shards as they fill up (each atomically), the rest and
// dataset.json (atomically, last) in finish(). Destroyed without finish(), the shards written
// so far stay but no dataset.json exists. Split names are [a-z0-9_]+; train, val and test are
// always listed (possibly empty). Not thread-safe.
class DatasetWriter {
 public:
  // Creates `dir` if needed. Throws std::runtime_error when DIR/dataset.json exists and
  // `overwrite` is false; with `overwrite` the old dataset.json and the shards it lists are
  // removed first. `info.splits` must be empty; `info.shard_size` is replaced by `shard_size`.
  DatasetWriter(std::string dir, DatasetInfo info, int64_t shard_size = 256,
                bool overwrite = false);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Validates the record (std::invalid_argument "DatasetWriter: record '<id>': <field> ...":
  // shapes, dtypes, finite values, label range, normalization kind, duplicate id) and buffers
  // it; writes a shard whenever `shard_size` records of a split are buffered.
  void add(const std::string& split, const ShapeRecord& record);

  // Writes the remaining shards and then dataset.json; returns the final info. add() and
  // finish() throw std::logic_error afterwards.
  DatasetInfo finish();

  const std::string& dir() const { return dir_; }

 private:
  struct Pending;
  void write_shard(const std::string& split, Pending& pending);

  std::string dir_;
  DatasetInfo info_;
  bool finished_ = false;
  std::map<std::string, std::unique_ptr<Pending>> pending_;
  std::set<std::string> ids_;
};

}  // namespace shapediff::io
