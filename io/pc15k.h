// PointFlow's ShapeNetCore.v2.PC15k point clouds as a ChunkSource, so ShapeLoader streams them
// like a shapediff dataset. Layout: ROOT/<synset id>/<split>/<model>.npy, each float32 [P,3]
// (P = 15000 in the released data; any P >= the requested N is accepted, which is what the
// tests' small fake trees rely on); splits train, val and test.
//
// Each draw takes a random subset of N of the P points (without replacement, seeded by the
// loader's per-epoch chunk seed and the shape), so every epoch sees other points. Normalization,
// recorded in each ShapeRecord:
//  - DatasetGlobal (default, PointFlow's): per category, the per-axis mean and the pooled
//    standard deviation of every point of that category's train split (all P points of every
//    file, shapes::DatasetStatistics); val and test use the train statistics. Computing them
//    reads each train file once; nothing is cached on disk. PointFlow pools the statistics over
//    all the categories it loads; per_category_statistics = false does that.
//  - UnitSphere / UnitBox: per shape, fitted to all P points of the file.
//  - Identity: the points as stored.
// Shapes are ordered by category (in the order given; label = position) and then by file name;
// ids are "<synset id>/<model>". Chunks hold `chunk_size` consecutive shapes.
//
//   Pc15kOptions o;  o.points = 2048;
//   auto train = std::make_shared<Pc15kSource>("data/ShapeNetCore.v2.PC15k", "train",
//                                             std::vector<std::string>{"airplane"}, o);
//   o.statistics = train->statistics();          // reuse instead of reading train again
//   Pc15kSource test("data/ShapeNetCore.v2.PC15k", "test", {"airplane"}, o);
//   ShapeLoader loader(train, {});
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/shape_loader.h"
#include "shapes/normalization.h"

namespace shapediff::io {

// The 55 ShapeNetCore.v2 synsets as (synset id, name), with the names PointFlow uses.
const std::vector<std::pair<std::string, std::string>>& shapenet_synsets();

// A synset id from a name ("chair") or an id ("03001627"); std::invalid_argument listing the
// accepted names for anything else.
std::string shapenet_synset_id(const std::string& name_or_id);
// The name of a known synset id, or the id itself.
std::string shapenet_synset_name(const std::string& synset_id);

struct Pc15kOptions {
  int64_t points = 2048;  // N drawn per shape and draw, >= 1
  shapes::NormalizationKind normalization = shapes::NormalizationKind::DatasetGlobal;
  bool per_category_statistics = true;
  // DatasetGlobal only: precomputed statistics (one per category, or one when pooled); empty:
  // computed from the train split on construction.
  std::vector<shapes::Normalization> statistics;
  int64_t chunk_size = 64;  // shapes per chunk, >= 1
};

// DatasetGlobal statistics of the train split of `synset_ids`: one per category, or one pooled
// over all of them. Reads each train file once; errors as for Pc15kSource.
std::vector<shapes::Normalization> pc15k_statistics(const std::string& root,
                                                    const std::vector<std::string>& synset_ids,
                                                    bool per_category);

class Pc15kSource : public ChunkSource {
 public:
  // `categories`: names or synset ids, label = position. Lists the files (and, for
  // DatasetGlobal without given statistics, reads the train split). Throws
  // std::invalid_argument for bad options or an unknown category or split, std::runtime_error
  // naming the path for a missing root, synset or split folder, a split without .npy files,
  // and a .npy that is not float32 [P,3] with P >= N and finite values.
  Pc15kSource(std::string root, std::string split, const std::vector<std::string>& categories,
              Pc15kOptions options = {});

  int64_t size() const override;  // chunks
  std::vector<ShapeRecord> chunk(int64_t index, uint64_t seed) const override;

  int64_t count() const { return static_cast<int64_t>(files_.size()); }  // shapes
  const std::vector<std::string>& synset_ids() const { return synsets_; }
  const std::vector<std::string>& category_names() const { return names_; }
  // DatasetGlobal: the statistics in use (one per category, or one pooled); empty otherwise.
  const std::vector<shapes::Normalization>& statistics() const { return options_.statistics; }
  const Pc15kOptions& options() const { return options_; }

 private:
  struct File {
    std::string path;
    std::string id;
    int64_t label;
  };
  ShapeRecord load(size_t shape, uint64_t seed) const;

  std::string root_;
  std::string split_;
  Pc15kOptions options_;
  std::vector<std::string> synsets_;
  std::vector<std::string> names_;
  std::vector<File> files_;
};

}  // namespace shapediff::io
