// Streaming batches of shapes from a ChunkSource (the shards of a shapediff dataset, a PC15k
// tree, ...). Per epoch the chunk order is shuffled (seeded by seed and epoch); `workers`
// threads decode chunks ahead: worker w decodes the chunks w, w+W, w+2W, ... of the run's
// chunk sequence (epochs back to back) and keeps at most 2 decoded chunks waiting. The consumer
// takes chunks strictly in sequence order and draws items through a seeded shuffle buffer, so
// the batches depend on the seed and options only, never on thread timing or the number of
// workers. Each epoch ends with its own (possibly short) batch: no batch mixes two epochs.
//
//   auto source = std::make_shared<ShardSource>("data/chairs", "train");
//   LoaderOptions o;  o.batch_size = 32;  o.seed = 7;  o.epochs = 10;
//   ShapeLoader loader(source, o);
//   while (auto batch = loader.next()) train_step(batch->points);   // [B,N,3]
//
// Sharded (data parallel): with shard_count N > 1 the loader of rank r follows the same global
// order and batches as a single loader, but decodes and returns only its rows of each batch:
// rows [B*r/N, B*(r+1)/N) of a batch of B. The rows of the other ranks pass through the shuffle
// buffer as empty placeholders. Which rows of a chunk are r's is known before the chunk is
// decoded, by replaying the shuffle on the chunk sizes alone (ChunkSource::chunk_size).
//
// Shapes: points [B,N,3] float32, normals [B,N,3] (when the records have them), labels [B]
// int64, partial [B,K,M,3] float32, cam_to_world [B,K,4,4] and intrinsics [B,K,6] float64 (when
// the records have scans), norm_center [B,3] and norm_scale [B] float64.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/shape_dataset.h"

namespace shapediff::io {

// A dataset cut into chunks that can be decoded independently (a shard, a group of files).
// chunk() is called concurrently from the loader's worker threads: it must be thread-safe and
// a pure function of its arguments. `seed` is for sources that draw at random (PC15k's point
// subsets): the same (index, seed) gives the same records; the loader passes a different seed
// per epoch.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual int64_t size() const = 0;  // number of chunks
  virtual std::vector<ShapeRecord> chunk(int64_t index, uint64_t seed) const = 0;
  // The number of records chunk(index, ...) returns, or -1 when only decoding tells (the
  // default). A sharded loader needs every chunk's size.
  virtual int64_t chunk_size(int64_t index) const;
  // chunk(index, seed) with the records where `keep` is false left empty (no id, no tensors):
  // sources that can decode records one by one decode only the kept ones. The default decodes
  // the whole chunk and empties the others.
  virtual std::vector<ShapeRecord> chunk_rows(int64_t index, uint64_t seed, const std::vector<bool>& keep) const;
};

struct LoaderOptions {
  int64_t batch_size = 16;  // >= 1
  bool shuffle = true;      // chunk order and shuffle buffer; false: stored order
  uint64_t seed = 0;
  int64_t workers = 2;            // decoding threads; 0 decodes on the caller's thread
  int64_t shuffle_buffer = 1024;  // items mixed across chunks (>= 1; 1: chunk order only)
  bool drop_last = false;         // drop each epoch's short last batch
  int64_t epochs = 1;             // >= 1
  int64_t shard_rank = 0;   // in [0, shard_count): this loader's part of every batch
  int64_t shard_count = 1;  // >= 1; > 1 needs a source with chunk sizes (see above)

  // Throws std::invalid_argument "LoaderOptions: <field> ..." naming the field and value.
  void validate() const;
};

struct ShapeBatch {
  torch::Tensor points;        // [B,N,3]
  torch::Tensor normals;       // [B,N,3] or undefined
  torch::Tensor labels;        // [B] int64
  torch::Tensor partial;       // [B,K,M,3] or undefined
  torch::Tensor cam_to_world;  // [B,K,4,4] or undefined
  torch::Tensor intrinsics;    // [B,K,6] or undefined
  std::vector<std::string> ids;
  torch::Tensor norm_center;  // [B,3] float64
  torch::Tensor norm_scale;   // [B] float64
  int64_t epoch = 0;          // the epoch the batch belongs to, from 0
  int64_t full_size = 0;      // sharded loader: rows of the whole batch this part is from; else 0

  int64_t size() const { return points.defined() ? points.size(0) : 0; }
};

// Stacks records into a batch; throws std::invalid_argument naming the first record whose
// shapes or optional fields differ from the first record's.
ShapeBatch stack_records(const std::vector<ShapeRecord>& records);

class ShapeLoader {
 public:
  ShapeLoader(std::shared_ptr<const ChunkSource> source, LoaderOptions options = {});
  // Stops and joins the workers, also when they are busy or blocked on a full queue.
  ~ShapeLoader();
  ShapeLoader(const ShapeLoader&) = delete;
  ShapeLoader& operator=(const ShapeLoader&) = delete;

  // The next batch, or nullopt once every epoch is done. An exception thrown by the source
  // (a bad shard) is rethrown here with its type and message, and again on later calls until
  // reset().
  std::optional<ShapeBatch> next();
  // Back to the start of epoch 0: the same batches again.
  void reset();

  const LoaderOptions& options() const { return options_; }

 private:
  class Prefetcher;
  std::optional<ShapeRecord> next_item();
  ShapeBatch make_batch(std::vector<ShapeRecord>& items, int64_t epoch) const;
  void start_epoch(int64_t epoch);

  std::shared_ptr<const ChunkSource> source_;
  LoaderOptions options_;
  std::unique_ptr<Prefetcher> prefetcher_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;            // chunks of this epoch taken
  std::vector<ShapeRecord> chunk_;  // the chunk being fed into the buffer
  size_t chunk_next_ = 0;
  std::vector<ShapeRecord> buffer_;
  uint64_t buffer_rng_ = 0;  // state of the epoch's shuffle-buffer generator
  std::exception_ptr failure_;
};

// The chunks of one split of a shapediff dataset: one chunk per shard. Reads and validates
// dataset.json on construction (std::invalid_argument listing the splits for an unknown one);
// a shard whose shape count differs from what dataset.json implies is an error.
class ShardSource : public ChunkSource {
 public:
  ShardSource(const std::string& dir, const std::string& split);
  int64_t size() const override;
  std::vector<ShapeRecord> chunk(int64_t index, uint64_t seed) const override;
  int64_t chunk_size(int64_t index) const override;
  const DatasetInfo& info() const { return info_; }
  int64_t count() const { return count_; }  // shapes in the split

 private:
  std::string dir_;
  DatasetInfo info_;
  std::vector<std::string> paths_;
  int64_t count_ = 0;
};

// The chunk order of one epoch (a permutation of [0, chunks)), and the seed the loader gives a
// chunk source for a chunk of an epoch; exposed so sources and tests can reproduce a run.
std::vector<int64_t> epoch_chunk_order(int64_t chunks, uint64_t seed, int64_t epoch, bool shuffle);
uint64_t chunk_draw_seed(uint64_t seed, int64_t epoch, int64_t index);
// Sharded loading: for each chunk of the epoch, in the epoch's chunk order, which of its records
// end up in rows [B*r/N, B*(r+1)/N) of their batch (r = shard_rank, N = shard_count, B that
// batch's size; a dropped short last batch keeps none). `chunk_sizes` are in the epoch's chunk
// order.
std::vector<std::vector<bool>> shard_rows_of_epoch(const std::vector<int64_t>& chunk_sizes,
                                                   const LoaderOptions& options, int64_t epoch);

}  // namespace shapediff::io
