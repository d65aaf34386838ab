#include "io/shape_loader.h"

#include <torch/torch.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <utility>

namespace shapediff::io {
namespace {

// Decoded chunks a worker may keep waiting for the consumer.
constexpr size_t kChunksAhead = 2;
constexpr int64_t kMaxWorkers = 256;

// SplitMix64: a tiny generator whose output is the same on every platform and standard library
// (std::uniform_int_distribution is not), so a seed means the same run everywhere.
uint64_t splitmix_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t state = a ^ (b * 0xD6E8FEB86659FD93ull);
  splitmix_next(state);
  return splitmix_next(state);
}

constexpr uint64_t kOrderStream = 0x6f72646572ull;     // "order"
constexpr uint64_t kBufferStream = 0x627566666572ull;  // "buffer"
constexpr uint64_t kDrawStream = 0x64726177ull;        // "draw"

std::string sizes_of(const torch::Tensor& t) { return c10::str(t.sizes()); }

void check_like(const torch::Tensor& first, const torch::Tensor& t, const ShapeRecord& r,
                const std::string& field) {
  if (first.defined() != t.defined()) {
    throw std::invalid_argument("stack_records: record '" + r.id + "' " +
                                (t.defined() ? "has " : "lacks ") + field +
                                ", unlike the batch's first record");
  }
  if (t.defined() && (t.sizes() != first.sizes() || t.scalar_type() != first.scalar_type())) {
    throw std::invalid_argument("stack_records: record '" + r.id + "' " + field + " is " +
                                sizes_of(t) + ", the batch's first record has " + sizes_of(first));
  }
}

torch::Tensor stack_field(const std::vector<ShapeRecord>& records,
                          torch::Tensor ShapeRecord::*field) {
  if (!(records.front().*field).defined()) return {};
  std::vector<torch::Tensor> parts;
  parts.reserve(records.size());
  for (const auto& r : records) parts.push_back(r.*field);
  return torch::stack(parts);
}

}  // namespace

std::vector<int64_t> epoch_chunk_order(int64_t chunks, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(chunks, 0)));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  uint64_t state = mix(mix(seed, kOrderStream), static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[splitmix_next(state) % i]);
  }
  return order;
}

int64_t ChunkSource::chunk_size(int64_t) const { return -1; }

std::vector<ShapeRecord> ChunkSource::chunk_rows(int64_t index, uint64_t seed,
                                                 const std::vector<bool>& keep) const {
  auto records = chunk(index, seed);
  for (size_t i = 0; i < records.size() && i < keep.size(); ++i) {
    if (!keep[i]) records[i] = ShapeRecord{};
  }
  return records;
}

std::vector<std::vector<bool>> shard_rows_of_epoch(const std::vector<int64_t>& chunk_sizes,
                                                   const LoaderOptions& options, int64_t epoch) {
  std::vector<std::vector<bool>> keep;
  int64_t total = 0;
  for (const int64_t n : chunk_sizes) {
    keep.emplace_back(static_cast<size_t>(n), false);
    total += n;
  }
  // ShapeLoader::next_item on (chunk, row) pairs instead of records: the same buffer, the same
  // generator, the same picks.
  const size_t capacity = options.shuffle ? static_cast<size_t>(options.shuffle_buffer) : 1;
  uint64_t rng = mix(mix(options.seed, kBufferStream), static_cast<uint64_t>(epoch));
  std::vector<std::pair<int64_t, int64_t>> buffer;
  const auto chunks = static_cast<int64_t>(chunk_sizes.size());
  int64_t current = -1, current_size = 0, next_row = 0, position = 0;
  for (int64_t item = 0;; ++item) {
    while (buffer.size() < capacity) {
      if (next_row < current_size) {
        buffer.emplace_back(current, next_row++);
      } else if (position < chunks) {
        current = position;
        current_size = chunk_sizes[static_cast<size_t>(position)];
        next_row = 0;
        ++position;
      } else {
        break;
      }
    }
    if (buffer.empty()) break;
    const size_t pick = options.shuffle ? splitmix_next(rng) % buffer.size() : 0;
    std::swap(buffer[pick], buffer.back());
    const auto [chunk, row] = buffer.back();
    buffer.pop_back();
    const int64_t batch = item / options.batch_size, in_batch = item % options.batch_size;
    const int64_t size = std::min(options.batch_size, total - batch * options.batch_size);
    if (options.drop_last && size < options.batch_size) continue;
    if (in_batch >= size * options.shard_rank / options.shard_count &&
        in_batch < size * (options.shard_rank + 1) / options.shard_count) {
      keep[static_cast<size_t>(chunk)][static_cast<size_t>(row)] = true;
    }
  }
  return keep;
}

uint64_t chunk_draw_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return mix(mix(mix(seed, kDrawStream), static_cast<uint64_t>(epoch)),
             static_cast<uint64_t>(index));
}

void LoaderOptions::validate() const {
  auto fail = [](const std::string& field, const std::string& rule, int64_t value) {
    throw std::invalid_argument("LoaderOptions: " + field + " must be " + rule + ", got " +
                                std::to_string(value));
  };
  if (batch_size < 1) fail("batch_size", ">= 1", batch_size);
  if (workers < 0 || workers > kMaxWorkers) fail("workers", "in [0, 256]", workers);
  if (shuffle_buffer < 1) fail("shuffle_buffer", ">= 1", shuffle_buffer);
  if (epochs < 1) fail("epochs", ">= 1", epochs);
  if (shard_count < 1) fail("shard_count", ">= 1", shard_count);
  if (shard_rank < 0 || shard_rank >= shard_count) {
    fail("shard_rank", "in [0, shard_count = " + std::to_string(shard_count) + ")", shard_rank);
  }
}

ShapeBatch stack_records(const std::vector<ShapeRecord>& records) {
  if (records.empty()) throw std::invalid_argument("stack_records: no records");
  const auto& first = records.front();
  if (!first.points.defined()) {
    throw std::invalid_argument("stack_records: record '" + first.id + "' has no points");
  }
  std::vector<int64_t> labels;
  std::vector<double> centers, scales;
  ShapeBatch batch;
  for (const auto& r : records) {
    check_like(first.points, r.points, r, "points");
    check_like(first.normals, r.normals, r, "normals");
    check_like(first.partial, r.partial, r, "partial");
    check_like(first.cam_to_world, r.cam_to_world, r, "cam_to_world");
    check_like(first.intrinsics, r.intrinsics, r, "intrinsics");
    labels.push_back(r.label);
    centers.insert(centers.end(), r.normalization.center.begin(), r.normalization.center.end());
    scales.push_back(r.normalization.scale);
    batch.ids.push_back(r.id);
  }
  const auto b = static_cast<int64_t>(records.size());
  batch.points = stack_field(records, &ShapeRecord::points);
  batch.normals = stack_field(records, &ShapeRecord::normals);
  batch.partial = stack_field(records, &ShapeRecord::partial);
  batch.cam_to_world = stack_field(records, &ShapeRecord::cam_to_world);
  batch.intrinsics = stack_field(records, &ShapeRecord::intrinsics);
  batch.labels = torch::tensor(labels, torch::kInt64);
  batch.norm_center = torch::tensor(centers, torch::kFloat64).reshape({b, 3});
  batch.norm_scale = torch::tensor(scales, torch::kFloat64);
  return batch;
}

// ---- Prefetcher -----------------------------------------------------------------------------

// Decodes the run's chunk sequence (epoch after epoch, each in its epoch order) on worker
// threads; take() hands the chunks out strictly in sequence order.
class ShapeLoader::Prefetcher {
 public:
  Prefetcher(std::shared_ptr<const ChunkSource> source, const LoaderOptions& options)
      : source_(std::move(source)),
        options_(options),
        chunks_(source_->size()),
        total_(chunks_ * options.epochs),
        queues_(static_cast<size_t>(options.workers)) {
    for (int64_t w = 0; w < options_.workers && w < total_; ++w) {
      threads_.emplace_back([this, w] { run(w); });
    }
  }

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    space_.notify_all();
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }

  std::vector<ShapeRecord> take() {
    if (taken_ >= total_) throw std::logic_error("ShapeLoader: chunk sequence exhausted");
    if (options_.workers == 0) return decode(taken_++, inline_plan_);
    auto& queue = queues_[static_cast<size_t>(taken_ % options_.workers)];
    Slot slot;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return !queue.empty(); });
      slot = std::move(queue.front());
      queue.pop_front();
      ++taken_;
    }
    space_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    return std::move(slot.records);
  }

 private:
  struct Slot {
    std::vector<ShapeRecord> records;
    std::exception_ptr error;
  };

  // The caller's current epoch: its chunk order and, sharded, the rows kept of each chunk.
  struct EpochPlan {
    int64_t epoch = -1;
    std::vector<int64_t> order;
    std::vector<std::vector<bool>> keep;
  };

  // Chunk `g` of the sequence.
  std::vector<ShapeRecord> decode(int64_t g, EpochPlan& plan) const {
    const int64_t epoch = g / chunks_;
    if (epoch != plan.epoch) {
      plan.order = epoch_chunk_order(chunks_, options_.seed, epoch, options_.shuffle);
      plan.keep.clear();
      if (options_.shard_count > 1) {
        std::vector<int64_t> sizes;
        for (const int64_t index : plan.order) sizes.push_back(source_->chunk_size(index));
        plan.keep = shard_rows_of_epoch(sizes, options_, epoch);
      }
      plan.epoch = epoch;
    }
    const auto position = static_cast<size_t>(g % chunks_);
    const int64_t index = plan.order[position];
    const uint64_t seed = chunk_draw_seed(options_.seed, epoch, index);
    if (options_.shard_count == 1) return source_->chunk(index, seed);
    const auto& keep = plan.keep[position];
    auto records = source_->chunk_rows(index, seed, keep);
    if (records.size() != keep.size()) {
      throw std::runtime_error("ShapeLoader: chunk " + std::to_string(index) + " holds " +
                               std::to_string(records.size()) + " records, its source's chunk_size said " +
                               std::to_string(keep.size()));
    }
    return records;
  }

  void run(int64_t worker) {
    auto& queue = queues_[static_cast<size_t>(worker)];
    EpochPlan plan;
    for (int64_t g = worker; g < total_; g += options_.workers) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [&] { return stop_ || queue.size() < kChunksAhead; });
        if (stop_) return;
      }
      Slot slot;
      try {
        slot.records = decode(g, plan);
      } catch (...) {
        slot.error = std::current_exception();
      }
      const bool failed = slot.error != nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        queue.push_back(std::move(slot));
      }
      ready_.notify_all();
      if (failed) return;
    }
  }

  std::shared_ptr<const ChunkSource> source_;
  LoaderOptions options_;
  int64_t chunks_;
  int64_t total_;
  int64_t taken_ = 0;
  EpochPlan inline_plan_;

  std::mutex mutex_;
  std::condition_variable ready_;  // a queue got a chunk
  std::condition_variable space_;  // a queue lost a chunk, or stop
  std::vector<std::deque<Slot>> queues_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// ---- ShapeLoader ----------------------------------------------------------------------------

ShapeLoader::ShapeLoader(std::shared_ptr<const ChunkSource> source, LoaderOptions options)
    : source_(std::move(source)), options_(options) {
  if (!source_) throw std::invalid_argument("ShapeLoader: source is null");
  options_.validate();
  if (source_->size() < 0) {
    throw std::invalid_argument("ShapeLoader: source size is negative (" +
                                std::to_string(source_->size()) + ")");
  }
  if (options_.shard_count > 1) {
    for (int64_t i = 0; i < source_->size(); ++i) {
      if (source_->chunk_size(i) < 0) {
        throw std::invalid_argument("ShapeLoader: shard_count " + std::to_string(options_.shard_count) +
                                    " needs a source that knows its chunk sizes (chunk " +
                                    std::to_string(i) + " does not say)");
      }
    }
  }
  start_epoch(0);
}

ShapeLoader::~ShapeLoader() = default;

ShapeBatch ShapeLoader::make_batch(std::vector<ShapeRecord>& items, int64_t epoch) const {
  ShapeBatch batch;
  if (options_.shard_count == 1) {
    batch = stack_records(items);
  } else {
    const auto b = static_cast<int64_t>(items.size());
    const int64_t begin = b * options_.shard_rank / options_.shard_count;
    const int64_t end = b * (options_.shard_rank + 1) / options_.shard_count;
    if (begin == end) {
      throw std::runtime_error("ShapeLoader: a batch of " + std::to_string(b) + " shapes has no rows for shard " +
                               std::to_string(options_.shard_rank) + " of " + std::to_string(options_.shard_count));
    }
    std::vector<ShapeRecord> mine(std::make_move_iterator(items.begin() + begin),
                                  std::make_move_iterator(items.begin() + end));
    for (const auto& r : mine) {
      if (!r.points.defined()) throw std::logic_error("ShapeLoader: the shard plan lost step with the stream");
    }
    batch = stack_records(mine);
    batch.full_size = b;
  }
  batch.epoch = epoch;
  return batch;
}

void ShapeLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  chunk_.clear();
  chunk_next_ = 0;
  buffer_.clear();
  buffer_rng_ = mix(mix(options_.seed, kBufferStream), static_cast<uint64_t>(epoch));
}

void ShapeLoader::reset() {
  prefetcher_.reset();
  failure_ = nullptr;
  start_epoch(0);
}

std::optional<ShapeRecord> ShapeLoader::next_item() {
  const size_t capacity = options_.shuffle ? static_cast<size_t>(options_.shuffle_buffer) : 1;
  const int64_t chunks = source_->size();
  while (buffer_.size() < capacity) {
    if (chunk_next_ < chunk_.size()) {
      buffer_.push_back(std::move(chunk_[chunk_next_++]));
    } else if (position_ < chunks) {
      chunk_ = prefetcher_->take();
      chunk_next_ = 0;
      ++position_;
    } else {
      break;
    }
  }
  if (buffer_.empty()) return std::nullopt;
  const size_t pick = options_.shuffle ? splitmix_next(buffer_rng_) % buffer_.size() : 0;
  std::swap(buffer_[pick], buffer_.back());
  ShapeRecord item = std::move(buffer_.back());
  buffer_.pop_back();
  return item;
}

std::optional<ShapeBatch> ShapeLoader::next() {
  if (failure_) std::rethrow_exception(failure_);
  if (!prefetcher_) prefetcher_ = std::make_unique<Prefetcher>(source_, options_);
  std::vector<ShapeRecord> items;
  items.reserve(static_cast<size_t>(options_.batch_size));
  while (epoch_ < options_.epochs) {
    std::optional<ShapeRecord> item;
    try {
      item = next_item();
    } catch (...) {
      failure_ = std::current_exception();
      throw;
    }
    if (item) {
      items.push_back(std::move(*item));
      if (static_cast<int64_t>(items.size()) < options_.batch_size) continue;
      return make_batch(items, epoch_);
    }
    const int64_t finished = epoch_;
    start_epoch(epoch_ + 1);
    if (!items.empty() && !options_.drop_last) return make_batch(items, finished);
    items.clear();
  }
  return std::nullopt;
}

// ---- ShardSource ----------------------------------------------------------------------------

ShardSource::ShardSource(const std::string& dir, const std::string& split)
    : dir_(dir), info_(read_dataset_info(dir)) {
  auto it = info_.splits.find(split);
  if (it == info_.splits.end()) {
    std::string available;
    for (const auto& [name, s] : info_.splits) available += (available.empty() ? "" : ", ") + name;
    throw std::invalid_argument(dataset_info_path(dir) + ": no split '" + split +
                                "' (the dataset has " + available + ")");
  }
  for (const auto& shard : it->second.shards) {
    paths_.push_back((std::filesystem::path(dir) / shard).string());
  }
  count_ = it->second.count;
}

int64_t ShardSource::size() const { return static_cast<int64_t>(paths_.size()); }

int64_t ShardSource::chunk_size(int64_t index) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range("ShardSource(" + dir_ + "): shard index " + std::to_string(index) +
                            " outside [0, " + std::to_string(size()) + ")");
  }
  return index + 1 < size() ? info_.shard_size : count_ - info_.shard_size * index;
}

std::vector<ShapeRecord> ShardSource::chunk(int64_t index, uint64_t) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range("ShardSource(" + dir_ + "): shard index " + std::to_string(index) +
                            " outside [0, " + std::to_string(size()) + ")");
  }
  const auto& path = paths_[static_cast<size_t>(index)];
  auto records = read_shard(path, info_);
  const int64_t expected = chunk_size(index);
  if (static_cast<int64_t>(records.size()) != expected) {
    throw std::runtime_error(path + ": array 'points' holds " + std::to_string(records.size()) +
                             " shapes, dataset.json implies " + std::to_string(expected));
  }
  return records;
}

}  // namespace shapediff::io
