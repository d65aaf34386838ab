#include "diffusion/point_training.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "diffusion/data_parallel.h"
#include "diffusion/ema.h"
#include "diffusion/noise_schedule.h"
#include "diffusion/number_text.h"
#include "diffusion/point_model.h"
#include "diffusion/sparse_voxel_training.h"
#include "diffusion/super_resolution.h"
#include "diffusion/training_loss.h"
#include "diffusion/training_run.h"
#include "io/atomic_file.h"
#include "io/image_folder.h"
#include "io/json_file.h"
#include "io/line_plot.h"
#include "io/module_archive.h"
#include "io/png.h"
#include "io/shape_dataset.h"
#include "io/shape_loader.h"
#include "shapes/grid_spec.h"
#include "shapes/normalization.h"
#include "shapes/oriented_points_sdf.h"

namespace shapediff::diffusion {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Independent random streams derived from training.seed.
enum class Stream : uint64_t { Init = 1, Dropout, Noise, Timesteps, Labels, Loader, Scans };
uint64_t stream_seed(uint64_t seed, Stream s) {
  return splitmix64(seed ^ splitmix64(static_cast<uint64_t>(s)));
}

// A completion training pair per shape (PVD's scheme): K known points drawn from one of the
// shape's virtual scans (a random view; without repeats when the scan has K points or more) and
// N - K target points drawn from the complete shape. Returns ([B,K,3], [B,N-K,3]) in the
// stored frame.
std::pair<torch::Tensor, torch::Tensor> completion_pair(const io::ShapeBatch& batch, int64_t k,
                                                        at::Generator& gen) {
  const int64_t b = batch.size(), n = batch.points.size(1);
  const int64_t views = batch.partial.size(1), m = batch.partial.size(2);
  std::vector<torch::Tensor> known, targets;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t view = torch::randint(views, {1}, gen, torch::kLong).item<int64_t>();
    const auto scan = batch.partial[i][view];
    const auto pick = m >= k ? torch::randperm(m, gen, torch::kLong).slice(0, 0, k)
                             : torch::randint(m, {k}, gen, torch::kLong);
    known.push_back(scan.index_select(0, pick));
    targets.push_back(batch.points[i].index_select(0, torch::randperm(n, gen, torch::kLong).slice(0, 0, n - k)));
  }
  return {torch::stack(known), torch::stack(targets)};
}

// bfloat16 autocast for the forward pass on CUDA. LibTorch 2.4 replaced the per-device
// functions (set_enabled, set_autocast_gpu_dtype) by ones taking the device type.
class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(bool enable) : enabled_(enable) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    previous_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaBf16Autocast() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, previous_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
    at::autocast::set_enabled(previous_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

torch::Tensor generator_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(at::Generator gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.to(torch::kCPU));
}

// Where the data stream stands: `batch` batches of epoch `epoch` consumed.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
};

// The batches of the training split, epoch after epoch. One ShapeLoader per epoch (seeded by
// the loader stream and the epoch), so a saved position is restored by skipping at most one
// epoch's batches. Each epoch's short last batch is dropped when the split holds at least one
// full batch, so that every step sees batch_size shapes.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual io::ShapeBatch next() = 0;
  virtual LoaderPosition position() const = 0;
};

class EpochBatches : public BatchStream {
 public:
  // shard_count > 1: the loader decodes only rank shard_rank's rows of each batch.
  EpochBatches(std::shared_ptr<const io::ShardSource> source, const PointTrainingConfig& config,
               uint64_t seed, LoaderPosition start, int64_t shard_rank = 0, int64_t shard_count = 1)
      : source_(std::move(source)), config_(config), seed_(seed), position_(start),
        skip_(start.batch), shard_rank_(shard_rank), shard_count_(shard_count) {}

  io::ShapeBatch next() override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!loader_) open();
      if (auto batch = loader_->next()) {
        ++position_.batch;
        return std::move(*batch);
      }
      loader_.reset();
      ++position_.epoch;
      position_.batch = 0;
    }
    throw std::runtime_error("the training split yields no batches");
  }
  LoaderPosition position() const override { return position_; }

 private:
  void open() {
    io::LoaderOptions o;
    o.batch_size = config_.training.batch_size;
    o.seed = splitmix64(seed_ + static_cast<uint64_t>(position_.epoch));
    o.workers = config_.data.workers;
    o.shuffle_buffer = config_.data.shuffle_buffer;
    o.drop_last = source_->count() >= config_.training.batch_size;
    o.epochs = 1;
    o.shard_rank = shard_rank_;
    o.shard_count = shard_count_;
    loader_ = std::make_unique<io::ShapeLoader>(source_, o);
    for (; skip_ > 0; --skip_) {
      if (!loader_->next()) throw std::runtime_error("loader position beyond the end of an epoch");
    }
  }

  std::shared_ptr<const io::ShardSource> source_;
  const PointTrainingConfig& config_;
  uint64_t seed_;
  LoaderPosition position_;
  int64_t skip_;
  int64_t shard_rank_;
  int64_t shard_count_;
  std::unique_ptr<io::ShapeLoader> loader_;
};

// Image runs: the folder's images in a seeded order per epoch (the loader stream and the epoch),
// handed out as ShapeBatch with `points` holding the images [B, C, H, W] and `ids` the files.
// The same position rules as EpochBatches.
class ImageBatches : public BatchStream {
 public:
  ImageBatches(const io::ImageFolder& data, int64_t batch_size, uint64_t seed, LoaderPosition start)
      : data_(data), batch_size_(batch_size), seed_(seed), position_(start) {
    // A checkpoint taken at the end of an epoch holds batch == batches_per_epoch().
    if (position_.batch > batches_per_epoch()) {
      throw std::runtime_error("loader position beyond the end of an epoch");
    }
  }

  io::ShapeBatch next() override {
    if (position_.batch >= batches_per_epoch()) {
      ++position_.epoch;
      position_.batch = 0;
    }
    auto gen = at::detail::createCPUGenerator(splitmix64(seed_ + static_cast<uint64_t>(position_.epoch)));
    const int64_t n = data_.images.size(0);
    const auto order = torch::randperm(n, gen, torch::kLong);
    const int64_t start = position_.batch * batch_size_;
    const auto rows = order.slice(0, start, std::min(n, start + batch_size_));
    io::ShapeBatch b;
    b.points = data_.images.index_select(0, rows);
    b.labels = data_.labels.index_select(0, rows);
    for (int64_t i = 0; i < rows.size(0); ++i) b.ids.push_back(data_.files[static_cast<size_t>(rows[i].item<int64_t>())]);
    b.epoch = position_.epoch;
    ++position_.batch;
    return b;
  }
  LoaderPosition position() const override { return position_; }

 private:
  // A short last batch is dropped when the folder holds at least one full batch.
  int64_t batches_per_epoch() const {
    const int64_t n = data_.images.size(0);
    return n >= batch_size_ ? n / batch_size_ : 1;
  }
  const io::ImageFolder& data_;
  int64_t batch_size_;
  uint64_t seed_;
  LoaderPosition position_;
};

struct LogPoint {
  int64_t step;
  double loss;
};

// The first leaf where two JSON documents differ, as "path a vs b".
std::optional<std::string> json_difference(const nlohmann::json& a, const nlohmann::json& b,
                                           const std::string& path) {
  if (a.is_object() && b.is_object()) {
    for (const auto& item : a.items()) {
      const auto sub = path.empty() ? item.key() : path + "." + item.key();
      if (!b.contains(item.key())) return sub + " " + item.value().dump() + " vs (unset)";
      if (auto d = json_difference(item.value(), b.at(item.key()), sub)) return d;
    }
    for (const auto& item : b.items()) {
      if (!a.contains(item.key())) {
        return (path.empty() ? item.key() : path + "." + item.key()) + " (unset) vs " + item.value().dump();
      }
    }
    return std::nullopt;
  }
  if (a != b) return path + " " + a.dump() + " vs " + b.dump();
  return std::nullopt;
}

class PointTrainer {
 public:
  explicit PointTrainer(const PointTrainingOptions& options)
      : options_(options), parallel_(options.parallel) {}

  PointTrainingResult run() {
    if (options_.data_dir.empty()) throw std::invalid_argument("no dataset folder given");
    if (options_.run_dir.empty()) throw std::invalid_argument("no run folder given");
    if (main_rank()) remove_unfinished_writes();
    const auto latest = latest_checkpoint(options_.run_dir);
    // Every rank has looked at the folder before rank 0 writes to it.
    if (parallel_) parallel_->barrier();
    if (options_.resume && !options_.init_from.empty()) {
      throw std::invalid_argument("init_from applies to new runs; a resumed run continues its own weights");
    }
    if (options_.resume) {
      if (!latest) {
        throw std::invalid_argument(options_.run_dir + ": nothing to resume (no checkpoints in " +
                                    checkpoint_dir(options_.run_dir) + ")");
      }
      resume_from(latest->path);
    } else {
      if (latest) {
        throw std::invalid_argument(options_.run_dir + ": already holds a run (" + latest->path +
                                    "); pass --resume to continue it or choose another folder");
      }
      start_fresh();
    }
    return train();
  }

 private:
  // ---- set-up ----------------------------------------------------------------------------

  bool main_rank() const { return !parallel_ || parallel_->is_main(); }
  int64_t world_size() const { return parallel_ ? parallel_->world_size() : 1; }

  void apply_overrides(PointTrainingConfig& config) const {
    if (options_.steps) config.training.steps = *options_.steps;
    if (options_.device) config.training.device = *options_.device;
    config.validate("training options");
    if (config.training.batch_size < world_size()) {
      throw std::invalid_argument("training.batch_size " + std::to_string(config.training.batch_size) +
                                  " is smaller than the " + std::to_string(world_size()) +
                                  " data-parallel ranks: each rank needs at least one shape per batch");
    }
  }

  void open_device() {
    try {
      device_ = torch::Device(config_.training.device);
    } catch (const c10::Error&) {
      throw std::invalid_argument("training.device '" + config_.training.device + "' is not a device");
    }
    if (device_.is_cuda() && !torch::cuda::is_available()) {
      throw std::invalid_argument("training.device " + config_.training.device +
                                  ": this build or machine has no CUDA device");
    }
    autocast_ = device_.is_cuda() && config_.training.precision == TrainingPrecision::BFloat16;
  }

  bool image_run() const { return config_.model.representation == Representation::Images; }
  int64_t shape_count() const { return image_run() ? image_data_.images.size(0) : source_->count(); }

  std::unique_ptr<BatchStream> make_batches(LoaderPosition position) const {
    const auto seed = stream_seed(config_.training.seed, Stream::Loader);
    if (image_run()) return std::make_unique<ImageBatches>(image_data_, config_.training.batch_size, seed, position);
    // Data parallel on dense points or voxels: each rank's loader decodes only its rows (the
    // other tasks and representations take their rows of the whole batch themselves).
    const bool shard = world_size() > 1 && model_config_.task != PointTask::Completion &&
                       (model_config_.representation == Representation::Points ||
                        model_config_.representation == Representation::Voxels);
    if (shard) return std::make_unique<EpochBatches>(source_, config_, seed, position, parallel_->rank(), world_size());
    return std::make_unique<EpochBatches>(source_, config_, seed, position);
  }

  // Every batch holds min(split size, batch_size) shapes (a short last batch is dropped when
  // the split holds a full one), and every data-parallel rank needs at least one of them.
  void check_rows_per_rank() const {
    const int64_t rows = std::min(shape_count(), config_.training.batch_size);
    if (rows < world_size()) {
      throw std::invalid_argument(options_.data_dir + ": batches of " + std::to_string(rows) +
                                  " shapes cannot feed " + std::to_string(world_size()) +
                                  " data-parallel ranks (each needs at least one shape per batch)");
    }
  }

  void open_data() {
    if (image_run()) {
      io::ImageFolderOptions o;
      o.channels = config_.model.images.channels;
      o.height = o.width = config_.model.images.size;
      image_data_ = io::read_image_folder(options_.data_dir, o);
      return;
    }
    source_ = std::make_shared<io::ShardSource>(options_.data_dir, config_.data.split);
    const auto& info = source_->info();
    if (info.points != config_.data.points) {
      throw std::invalid_argument(options_.data_dir + ": the dataset has " + std::to_string(info.points) +
                                  " points per shape but the config's data.points is " +
                                  std::to_string(config_.data.points));
    }
    if (source_->count() == 0) {
      throw std::invalid_argument(options_.data_dir + ": split '" + config_.data.split + "' is empty");
    }
  }

  // PVD's normalization: per-axis mean and pooled standard deviation of every training point.
  shapes::Normalization measure_normalization() const {
    if (config_.data.normalization == DataNormalization::None) return {};
    if (config_.model.representation != Representation::Points) return {};  // the grid is the frame
    shapes::DatasetStatistics stats;
    const auto& info = source_->info();
    for (const auto& shard : info.splits.at(config_.data.split).shards) {
      for (const auto& record : io::read_shard((fs::path(options_.data_dir) / shard).string(), info)) {
        stats.add(record.points);
      }
    }
    return stats.normalization();
  }

  void build_model_config() {
    if (image_run()) {
      const auto& cats = image_data_.categories;
      model_config_.num_classes = config_.model.conditional ? static_cast<int64_t>(cats.size()) : 0;
      model_config_.classes = config_.model.conditional ? cats : std::vector<std::string>{};
      model_config_.schedule = config_.schedule;
      model_config_.points = config_.data.points;
      model_config_.representation = Representation::Images;
      model_config_.images = config_.model.images;
      model_config_.task = config_.model.task;
      return;
    }
    const auto& info = source_->info();
    model_config_.preset = config_.model.preset;
    model_config_.num_classes = config_.model.conditional ? static_cast<int64_t>(info.categories.size()) : 0;
    model_config_.overrides = config_.model.overrides;
    model_config_.schedule = config_.schedule;
    model_config_.points = config_.data.points;
    model_config_.task = config_.model.task;
    if (config_.model.task == PointTask::Completion) {
      model_config_.known_points = config_.model.known_points_for(config_.data.points);
      if (info.scans == 0) {
        throw std::invalid_argument(options_.data_dir + ": task completion trains on the dataset's virtual "
                                    "scans, and this dataset has none (make it with --scans 1 or more)");
      }
    }
    model_config_.classes = info.categories;
    model_config_.dataset_normalization = info.normalization.kind;
    model_config_.representation = config_.model.representation;
    model_config_.voxels = config_.model.voxels;
    model_config_.sparse_voxels = config_.model.sparse_voxels;
    if (config_.model.representation == Representation::Voxels ||
        config_.model.representation == Representation::SparseVoxels) {
      if (!info.normals) {
        throw std::invalid_argument(options_.data_dir + ": voxel models train on signed distances from the "
                                    "dataset's oriented points, and this dataset has no normals");
      }
      if (info.normalization.kind != shapes::NormalizationKind::UnitSphere &&
          info.normalization.kind != shapes::NormalizationKind::UnitBox) {
        throw std::invalid_argument(options_.data_dir + ": voxel grids span [-1, 1]^3, so the dataset must be "
                                    "stored unit_sphere or unit_box normalized, not " +
                                    shapes::to_string(info.normalization.kind));
      }
    }
  }

  // The grid a voxel model diffuses for one shape of the stored frame ([1,G,G,G], values in
  // [-1, 1]; see point_model.h), cached by shape id.
  torch::Tensor voxel_grid(const std::string& id, const torch::Tensor& points, const torch::Tensor& normals) {
    if (auto it = grid_cache_.find(id); it != grid_cache_.end()) return it->second;
    const auto& v = model_config_.voxels;
    const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, v.grid);
    const double truncation = v.truncation * spec.voxel_size;
    // Far cells take their sign from the grid's connectivity: a nearest sample's normal decides
    // it badly there, and a flipped far cell is noise the model would have to learn.
    const auto sdf = shapes::connected_far_signs(
        shapes::truncated_sdf_from_oriented_points(points, normals, spec, truncation), truncation);
    auto grid = (sdf.values / truncation).to(torch::kFloat32).unsqueeze(0).contiguous();
    grid_cache_.emplace(id, grid);
    return grid;
  }

  // Sparse-voxel runs: one micro-batch (diffusion/sparse_voxel_training.h), its loss
  // backpropagated; returns it divided by grad_accumulation. The batch is variable-size: the
  // band cells of its shapes, concatenated.
  double sparse_voxel_step(const io::ShapeBatch& batch, const NoiseSchedule& schedule, const LossOptions& options) {
    const auto& s = model_config_.sparse_voxels;
    std::vector<torch::Tensor> fine, coarse;
    for (int64_t i = 0; i < batch.size(); ++i) {
      const auto& id = batch.ids[static_cast<size_t>(i)];
      auto it = sparse_cache_.find(id);
      if (it == sparse_cache_.end()) {
        it = sparse_cache_.emplace(id, sparse_voxel_targets(batch.points[i], batch.normals[i], s)).first;
      }
      fine.push_back(it->second.fine);
      coarse.push_back(it->second.coarse);
    }
    auto coarse_grids = torch::stack(coarse);
    if (s.coarse_noise > 0) {
      coarse_grids = (coarse_grids + s.coarse_noise * torch::randn(coarse_grids.sizes(), noise_gen_, torch::kFloat32))
                         .clamp(-1, 1);
    }
    const auto all = sparse_voxel_batch(coarse_grids, torch::stack(fine), s);
    if (all.cells() == 0) {
      throw std::runtime_error("step " + std::to_string(step_ + 1) + ": no shape of the batch has a surface band (" +
                               batch.ids.front() + ", ...)");
    }
    const int64_t b = all.shapes();
    const auto timesteps = random_timesteps(b, schedule.num_train_timesteps(), timestep_gen_);
    const auto noise = torch::randn({all.cells(), 1}, noise_gen_, torch::kFloat32);
    torch::Tensor labels;
    if (model_config_.num_classes > 0) {
      const auto drop = torch::rand({b}, label_gen_) < config_.training.cfg_dropout;
      labels = torch::where(drop, torch::full({b}, model_config_.num_classes, torch::kLong), batch.labels);
    }
    // Data parallel: this rank's shapes, its loss weighted by its share of the cells so that the
    // mean over the ranks is the global batch's mean over cells.
    const int64_t begin = b * (parallel_ ? parallel_->rank() : 0) / world_size();
    const int64_t end = b * ((parallel_ ? parallel_->rank() : 0) + 1) / world_size();
    const auto offsets = torch::cat({torch::zeros({1}, torch::kLong), all.counts.cumsum(0)});
    const int64_t first = offsets[begin].item<int64_t>(), last = offsets[end].item<int64_t>();
    auto mine = select_shapes(all, begin, end);
    mine.coords = mine.coords.to(device_);
    mine.coarse = mine.coarse.to(device_);
    mine.values = mine.values.to(device_);
    const double share = static_cast<double>((last - first) * world_size()) / static_cast<double>(all.cells());
    const auto loss = sparse_voxel_loss(net_.sparse_net, schedule, mine, timesteps.slice(0, begin, end).to(device_),
                                        noise.slice(0, first, last).to(device_),
                                        labels.defined() ? labels.slice(0, begin, end).to(device_) : labels, options) *
                      share;
    const auto accumulation = static_cast<double>(config_.training.grad_accumulation);
    (loss / accumulation).backward();
    return loss.item<double>() / accumulation;
  }

  void build_networks() {
    {
      // The initial weights draw from torch's process-wide generator: trainers running in
      // threads of one process (data-parallel ranks in tests) take turns.
      static std::mutex init_mutex;
      std::lock_guard<std::mutex> lock(init_mutex);
      torch::manual_seed(stream_seed(config_.training.seed, Stream::Init));
      net_ = make_point_model(model_config_);
      ema_ = make_point_model(model_config_);
    }
    net().to(device_);
    ema().to(device_);
    if (parallel_) {
      auto tensors = net().parameters();
      for (const auto& b : net().buffers()) tensors.push_back(b);
      parallel_->broadcast(tensors);
    }
    update_ema(ema(), net(), 0.0);
    net().train();
    ema().eval();
    const auto& t = config_.training;
    if (t.optimizer == OptimizerKind::Adam) {
      optimizer_ = std::make_unique<torch::optim::Adam>(
          net().parameters(), torch::optim::AdamOptions(t.lr)
                                  .betas({t.beta1, t.beta2})
                                  .eps(t.eps)
                                  .weight_decay(t.weight_decay));
    } else {
      optimizer_ = std::make_unique<torch::optim::AdamW>(
          net().parameters(), torch::optim::AdamWOptions(t.lr)
                                  .betas({t.beta1, t.beta2})
                                  .eps(t.eps)
                                  .weight_decay(t.weight_decay));
    }
    noise_gen_ = at::detail::createCPUGenerator(stream_seed(t.seed, Stream::Noise));
    timestep_gen_ = at::detail::createCPUGenerator(stream_seed(t.seed, Stream::Timesteps));
    label_gen_ = at::detail::createCPUGenerator(stream_seed(t.seed, Stream::Labels));
    scan_gen_ = at::detail::createCPUGenerator(stream_seed(t.seed, Stream::Scans));
    torch::manual_seed(stream_seed(t.seed, Stream::Dropout));
  }

  void start_fresh() {
    if (!options_.config) throw std::invalid_argument("a new run needs a config");
    config_ = *options_.config;
    apply_overrides(config_);
    open_device();
    open_data();
    check_rows_per_rank();
    build_model_config();
    model_config_.normalization = measure_normalization();
    model_config_.validate(options_.run_dir);
    if (main_rank()) {
      fs::create_directories(checkpoint_dir(options_.run_dir));
      io::write_json(run_config_path(options_.run_dir), config_.to_json());
      io::write_file_atomically(run_log_path(options_.run_dir), "");
    }
    build_networks();
    if (!options_.init_from.empty()) init_weights_from(options_.init_from);
    batches_ = make_batches(LoaderPosition{});
  }

  void init_weights_from(const std::string& path) {
    const auto model = load_point_model(path);
    if (const auto diff = config_difference(model.config, model_config_)) {
      throw std::invalid_argument(path + ": cannot start this run from it (" + *diff +
                                  "; the first is the model's)");
    }
    torch::NoGradGuard no_grad;
    const auto from = model.module().parameters();
    auto to = net().parameters();
    for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i].to(to[i].device()));
    update_ema(ema(), net(), 0.0);
  }

  void resume_from(const std::string& path) {
    // Tensors load on the CPU first: the config decides the device.
    auto archive = io::read_archive_file(path);
    const auto format = io::read_archive_string(archive, "format", path);
    if (format != kPointCheckpointFormat) {
      throw std::invalid_argument(path + ": a '" + format + "' file, not a training checkpoint");
    }
    const auto parse = [&](const std::string& key) {
      try {
        return nlohmann::json::parse(io::read_archive_string(archive, key, path));
      } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument(path + ": damaged '" + key + "' (" + e.what() + ")");
      }
    };
    const auto saved_model = PointModelConfig::from_json(parse("config"), path);
    config_ = PointTrainingConfig::from_json(parse("run_config"), path);
    const auto state = parse("state");
    if (options_.config) {
      auto given = *options_.config;
      given.training.steps = config_.training.steps;
      given.training.device = config_.training.device;
      PointModelConfig given_model = saved_model;
      given_model.preset = given.model.preset;
      given_model.overrides = given.model.overrides;
      given_model.schedule = given.schedule;
      given_model.points = given.data.points;
      if (!given.model.conditional) given_model.num_classes = 0;
      auto diff = config_difference(saved_model, given_model);
      if (!diff) diff = json_difference(config_.to_json(), given.to_json(), "");
      if (diff) {
        throw std::invalid_argument(path + ": the run's config differs from the given config (" + *diff +
                                    ")");
      }
    }
    apply_overrides(config_);
    open_device();
    open_data();
    check_rows_per_rank();
    build_model_config();
    if (model_config_.classes != saved_model.classes || model_config_.points != saved_model.points) {
      throw std::invalid_argument(options_.data_dir + ": dataset does not match the run (" +
                                  config_difference(saved_model, model_config_).value_or("normalization") +
                                  ")");
    }
    model_config_ = saved_model;
    build_networks();
    io::read_module_state(archive, "weights", net(), path);
    io::read_module_state(archive, "ema", ema(), path);
    try {
      auto opt = io::read_archive_nested(archive, "optimizer", path);
      optimizer_->load(opt);
      // The archive was read onto the CPU; the moments belong next to their parameters.
      for (auto& item : optimizer_->state()) {
        if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(item.second.get())) {
          s->exp_avg(s->exp_avg().to(device_));
          s->exp_avg_sq(s->exp_avg_sq().to(device_));
        } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(item.second.get())) {
          w->exp_avg(w->exp_avg().to(device_));
          w->exp_avg_sq(w->exp_avg_sq().to(device_));
        }
      }
      auto rng = io::read_archive_nested(archive, "rng", path);
      set_generator_state(noise_gen_, io::read_archive_tensor(rng, "noise", path));
      set_generator_state(timestep_gen_, io::read_archive_tensor(rng, "timesteps", path));
      set_generator_state(label_gen_, io::read_archive_tensor(rng, "labels", path));
      torch::Tensor scans_state;
      if (rng.try_read("scans", scans_state)) set_generator_state(scan_gen_, scans_state);
      set_generator_state(at::detail::getDefaultCPUGenerator(), io::read_archive_tensor(rng, "torch_cpu", path));
      torch::Tensor cuda_state;
      if (device_.is_cuda() && rng.try_read("torch_cuda", cuda_state)) {
        set_generator_state(at::globalContext().defaultGenerator(device_), cuda_state);
      }
      step_ = state.at("step").get<int64_t>();
      // Checkpoints of the first runs did not record the split's size.
      const auto shapes = state.value("shapes", shape_count());
      if (shapes != shape_count()) {
        throw std::invalid_argument(options_.data_dir + ": split '" + config_.data.split + "' has " +
                                    std::to_string(shape_count()) + " shapes but the run was trained on " +
                                    std::to_string(shapes));
      }
      elapsed_before_ = state.at("elapsed_seconds").get<double>();
      LoaderPosition position{state.at("epoch").get<int64_t>(), state.at("batch").get<int64_t>()};
      batches_ = make_batches(position);
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument(path + ": damaged training state (" + std::string(e.what()) + ")");
    } catch (const c10::Error& e) {
      throw std::invalid_argument(path + ": damaged optimizer or generator state (" +
                                  std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    if (step_ > config_.training.steps) {
      throw std::invalid_argument(path + ": the run is at step " + std::to_string(step_) +
                                  ", beyond training.steps " + std::to_string(config_.training.steps));
    }
    last_checkpoint_ = path;
    last_checkpoint_step_ = step_;
    restore_log();
  }

  // Keeps the log lines up to the checkpoint's step (a killed run may have logged further) and
  // reloads them for the loss plot.
  void restore_log() {
    const auto path = run_log_path(options_.run_dir);
    std::ifstream in(path);
    std::string line, kept;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
      if (j["step"].get<int64_t>() > step_) continue;
      kept += line + "\n";
      if (j.contains("loss") && j["loss"].is_number()) {
        history_.push_back({j["step"].get<int64_t>(), j["loss"].get<double>()});
      }
    }
    if (main_rank()) io::write_file_atomically(path, kept);
  }

  void remove_unfinished_writes() const {
    std::error_code ec;
    for (const auto& dir : {fs::path(options_.run_dir), fs::path(checkpoint_dir(options_.run_dir))}) {
      if (!fs::is_directory(dir, ec)) continue;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path(), ec);
      }
    }
  }

  // ---- the loop --------------------------------------------------------------------------

  PointTrainingResult train() {
    try {
      return train_steps();
    } catch (const CollectiveError& e) {
      throw CollectiveError(std::string(e.what()) + "; " +
                            (last_checkpoint_.empty()
                                 ? std::string("no checkpoint was written yet")
                                 : "the last checkpoint is " + last_checkpoint_ +
                                       " (continue with --resume, with any number of workers)"));
    }
  }

  PointTrainingResult train_steps() {
    const auto& t = config_.training;
    const auto lr_schedule = config_.lr_schedule();
    const auto ema = config_.ema();
    const NoiseSchedule schedule(model_config_.schedule);
    LossOptions loss_options;
    loss_options.min_snr_gamma = t.min_snr_gamma;
    const auto params = net().parameters();
    if (parallel_) parallel_->watch_gradients(params);
    const double clip = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<double>::infinity();

    if (main_rank()) {
      log_.open(run_log_path(options_.run_dir), std::ios::app);
      if (!log_) throw std::runtime_error(run_log_path(options_.run_dir) + ": cannot open for appending");
    }

    PointTrainingResult result;
    result.start_step = step_;
    if (options_.on_start) options_.on_start(step_, t.steps);
    const int64_t start_step = step_;
    const auto session_start = Clock::now();
    auto window_start = session_start;
    double window_loss = 0;
    double window_comm = 0;  // seconds in gradient all-reduce (data parallel)
    int64_t window_steps = 0;
    double loss = 0;

    while (step_ < t.steps) {
      const double lr = lr_schedule.at(step_);
      for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
      optimizer_->zero_grad();
      loss = 0;
      for (int64_t micro = 0; micro < t.grad_accumulation; ++micro) {
        // Data parallel: the last micro-batch's backward pass starts the gradient all-reduce.
        if (parallel_ && micro + 1 == t.grad_accumulation) parallel_->begin_last_backward();
        const auto batch = batches_->next();
        if (model_config_.representation == Representation::SparseVoxels) {
          loss += sparse_voxel_step(batch, schedule, loss_options);
          continue;
        }
        const bool completion = model_config_.task == PointTask::Completion;
        torch::Tensor known;  // completion: [B,K,3] clean scan points fed with the noisy ones
        auto shape_points = batch.points;
        if (completion) {
          auto [scan, targets] = completion_pair(batch, model_config_.known_points, scan_gen_);
          known = model_config_.normalization.apply(scan).to(device_, torch::kFloat32);
          shape_points = targets;
        }
        torch::Tensor x0;
        if (model_config_.representation == Representation::Images) {
          x0 = batch.points.to(device_, torch::kFloat32);  // images in [-1, 1]
        } else if (model_config_.representation == Representation::Voxels) {
          std::vector<torch::Tensor> grids;
          for (int64_t i = 0; i < batch.size(); ++i) {
            grids.push_back(voxel_grid(batch.ids[static_cast<size_t>(i)], batch.points[i], batch.normals[i]));
          }
          x0 = torch::stack(grids).to(device_);
        } else {
          x0 = model_config_.normalization.apply(shape_points).to(device_, torch::kFloat32);
        }
        // A sharded loader gave this rank's rows only; the draws below are the whole batch's.
        const bool sharded = batch.full_size > 0;
        const int64_t b = sharded ? batch.full_size : x0.size(0);
        auto batch_sizes = x0.sizes().vec();
        batch_sizes[0] = b;
        const auto timesteps = random_timesteps(b, schedule.num_train_timesteps(), timestep_gen_).to(device_);
        const auto noise = torch::randn(batch_sizes, noise_gen_, torch::kFloat32).to(device_);
        // Data parallel: this rank's rows of the global batch, its loss weighted by its share so
        // that the mean over the ranks is the global batch's mean.
        auto rows = [&](const torch::Tensor& v) {
          if (!v.defined() || world_size() == 1) return v;
          return v.slice(0, b * parallel_->rank() / world_size(), b * (parallel_->rank() + 1) / world_size());
        };
        torch::Tensor labels;
        if (model_config_.num_classes > 0) {
          auto drop = torch::rand({b}, label_gen_) < t.cfg_dropout;
          if (sharded) drop = rows(drop);
          labels = torch::where(drop, torch::full({drop.size(0)}, model_config_.num_classes, torch::kLong),
                                batch.labels)
                       .to(device_);
        }
        const auto x0_r = sharded ? x0 : rows(x0), noise_r = rows(noise), timesteps_r = rows(timesteps);
        if (!sharded) labels = rows(labels);
        if (completion) known = rows(known);
        const double share = static_cast<double>(x0_r.size(0) * world_size()) / static_cast<double>(b);
        NoisedBatch noised;
        noised.noise = noise_r;
        noised.timesteps = timesteps_r;
        noised.x_t = schedule.add_noise(x0_r, noise_r, timesteps_r);
        noised.target = prediction_target(schedule, x0_r, noise_r, timesteps_r, schedule.prediction());
        torch::Tensor out;
        {
          CudaBf16Autocast autocast(autocast_);
          if (completion) {
            out = net_.net->forward(torch::cat({known, noised.x_t}, 1), timesteps_r, labels)
                      .slice(1, known.size(1));
          } else if (model_config_.task == PointTask::SuperResolution) {
            // SR3: the clean image's low-resolution version, upsampled, rides along as channels.
            const auto condition = super_resolution_condition(x0_r, model_config_.images.sr_factor);
            out = net_.grid_net->forward(torch::cat({noised.x_t, condition}, 1), timesteps_r, labels);
          } else if (net_.grid_net) {
            out = net_.grid_net->forward(noised.x_t, timesteps_r, labels);
          } else {
            out = net_.net->forward(noised.x_t, timesteps_r, labels);
          }
        }
        const auto micro_loss =
            diffusion_loss(schedule, out.to(torch::kFloat32), noised, {}, loss_options) * share;
        (micro_loss / static_cast<double>(t.grad_accumulation)).backward();
        loss += micro_loss.item<double>() / static_cast<double>(t.grad_accumulation);
      }
      if (parallel_) {
        const auto comm_start = Clock::now();
        parallel_->finish_gradients();  // what remains of the all-reduce: the exposed part
        loss = parallel_->average(loss);
        window_comm += std::chrono::duration<double>(Clock::now() - comm_start).count();
      }
      const double grad_norm = torch::nn::utils::clip_grad_norm_(params, clip);
      if (!std::isfinite(loss) || !std::isfinite(grad_norm)) diverged(loss, grad_norm, lr);
      optimizer_->step();
      ++step_;
      update_ema(this->ema(), net(), ema_decay_at(step_, ema));

      const auto now = Clock::now();
      const double session_seconds = std::chrono::duration<double>(now - session_start).count();
      const double rate = session_seconds > 0 ? static_cast<double>(step_ - start_step) / session_seconds : 0;
      window_loss += loss;
      ++window_steps;
      if (step_ % t.log_every == 0 || step_ == t.steps || step_ == 1) {
        const double window_seconds = std::chrono::duration<double>(now - window_start).count();
        nlohmann::json entry = {{"step", step_},
                                {"loss", window_loss / static_cast<double>(window_steps)},
                                {"lr", lr},
                                {"grad_norm", grad_norm},
                                {"it_per_s", window_seconds > 0 ? static_cast<double>(window_steps) / window_seconds : 0.0},
                                {"time", elapsed_before_ + session_seconds}};
        if (parallel_) {
          // The all-reduce time the step waited for after the backward pass (the exposed part),
          // and the share of the last step's gradient buckets that started during it.
          entry["allreduce_ms"] = 1000.0 * window_comm / static_cast<double>(window_steps);
          if (parallel_->gradient_buckets() > 0) {
            entry["allreduce_overlapped"] = static_cast<double>(parallel_->buckets_started_in_backward()) /
                                            static_cast<double>(parallel_->gradient_buckets());
          }
        }
        write_log(entry);
        history_.push_back({step_, window_loss / static_cast<double>(window_steps)});
        window_start = now;
        window_loss = 0;
        window_comm = 0;
        window_steps = 0;
      }

      bool keep_going = true;
      if (options_.on_step) {
        TrainingProgress p;
        p.step = step_;
        p.start_step = start_step;
        p.total_steps = t.steps;
        p.loss = loss;
        p.lr = lr;
        p.grad_norm = grad_norm;
        p.steps_per_second = rate;
        keep_going = options_.on_step(p);
      }
      if (parallel_) keep_going = parallel_->average(keep_going ? 1.0 : 0.0) == 1.0;
      if (step_ % t.checkpoint_every == 0 || step_ == t.steps || !keep_going) {
        write_checkpoint(elapsed_before_ + session_seconds);
      }
      result.steps_per_second = rate;
      if (!keep_going) break;
    }
    if (last_checkpoint_step_ != step_) {
      write_checkpoint(elapsed_before_ +
                       std::chrono::duration<double>(Clock::now() - session_start).count());
    }

    result.step = step_;
    result.loss = loss;
    result.checkpoint_path = last_checkpoint_;
    result.completed = step_ >= t.steps;
    if (result.completed) {
      result.model_path = run_model_path(options_.run_dir);
      if (main_rank()) {
        PointModel exported = ema_;
        exported.config = model_config_;
        save_point_model(exported, result.model_path);
      }
    }
    // The other ranks return once rank 0's files are complete.
    if (parallel_) parallel_->barrier();
    return result;
  }

  [[noreturn]] void diverged(double loss, double grad_norm, double lr) {
    write_log({{"step", step_ + 1}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm}});
    const std::string what = std::isfinite(loss) ? "gradient norm is " + number_text(grad_norm)
                                                 : "loss is " + number_text(loss);
    throw std::runtime_error(
        "training diverged at step " + std::to_string(step_ + 1) + ": " + what + " (learning rate " +
        number_text(lr) + "); " +
        (last_checkpoint_.empty() ? "no checkpoint was written yet"
                                  : "the last good checkpoint is " + last_checkpoint_));
  }

  void write_log(const nlohmann::json& entry) {
    if (!main_rank()) return;
    log_ << entry.dump() << "\n";
    log_.flush();
  }

  void write_checkpoint(double elapsed_seconds) {
    if (!main_rank()) {
      last_checkpoint_ = checkpoint_path(options_.run_dir, step_);
      last_checkpoint_step_ = step_;
      return;
    }
    torch::serialize::OutputArchive archive;
    io::write_archive_string(archive, "format", kPointCheckpointFormat);
    io::write_archive_string(archive, "config", model_config_.to_json().dump());
    io::write_archive_string(archive, "run_config", config_.to_json().dump());
    const auto position = batches_->position();
    io::write_archive_string(archive, "state",
                             nlohmann::json{{"step", step_},
                                            {"shapes", shape_count()},
                                            {"epoch", position.epoch},
                                            {"batch", position.batch},
                                            {"elapsed_seconds", elapsed_seconds}}
                                 .dump());
    io::write_module_state(archive, "weights", net());
    io::write_module_state(archive, "ema", ema());
    torch::serialize::OutputArchive opt;
    optimizer_->save(opt);
    archive.write("optimizer", opt);
    torch::serialize::OutputArchive rng;
    rng.write("noise", generator_state(noise_gen_));
    rng.write("timesteps", generator_state(timestep_gen_));
    rng.write("labels", generator_state(label_gen_));
    rng.write("scans", generator_state(scan_gen_));
    rng.write("torch_cpu", generator_state(at::detail::getDefaultCPUGenerator()));
    if (device_.is_cuda()) rng.write("torch_cuda", generator_state(at::globalContext().defaultGenerator(device_)));
    archive.write("rng", rng);
    const auto path = checkpoint_path(options_.run_dir, step_);
    io::write_archive_file(path, archive);
    last_checkpoint_ = path;
    last_checkpoint_step_ = step_;

    auto all = list_checkpoints(options_.run_dir);
    const auto keep = static_cast<size_t>(config_.training.keep_checkpoints);
    for (size_t i = 0; i + keep < all.size(); ++i) fs::remove(all[i].path);
    write_loss_plot();
  }

  // The logged losses, and once there are enough of them a smoothed curve on top: an
  // exponential moving average, bias-corrected so that it starts at the first value.
  void write_loss_plot() const {
    io::PlotSeries raw;
    for (const auto& p : history_) {
      raw.x.push_back(static_cast<double>(p.step));
      raw.y.push_back(p.loss);
    }
    std::vector<io::PlotSeries> series;
    if (history_.size() >= 50) {
      io::PlotSeries smooth;
      smooth.thickness = 2;
      raw.color = {170, 200, 235};
      double average = 0, weight = 0;
      for (const auto& p : history_) {
        if (std::isfinite(p.loss)) {
          average = 0.9 * average + 0.1 * p.loss;
          weight = 0.9 * weight + 0.1;
        }
        smooth.x.push_back(static_cast<double>(p.step));
        smooth.y.push_back(weight > 0 ? average / weight : p.loss);
      }
      series = {raw, smooth};
    } else {
      series = {raw};
    }
    io::LinePlotOptions o;
    o.log_y = true;
    io::write_png(run_loss_plot_path(options_.run_dir), io::render_line_plot(series, o));
  }

  const PointTrainingOptions& options_;
  std::shared_ptr<DataParallel> parallel_;
  PointTrainingConfig config_;
  PointModelConfig model_config_;
  torch::Device device_{torch::kCPU};
  bool autocast_ = false;
  std::shared_ptr<io::ShardSource> source_;
  std::unique_ptr<BatchStream> batches_;
  io::ImageFolder image_data_;  // image runs
  // The trained network and its EMA, of either representation (their configs are unused:
  // model_config_ is the run's).
  PointModel net_, ema_;
  torch::nn::Module& net() { return net_.module(); }
  torch::nn::Module& ema() { return ema_.module(); }
  // Voxel runs: each training shape's grid, computed once ([1,G,G,G] float32, CPU).
  std::map<std::string, torch::Tensor> grid_cache_;
  // Sparse-voxel runs: each training shape's fine and coarse grids, computed once (CPU).
  std::map<std::string, SparseVoxelTargets> sparse_cache_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  at::Generator noise_gen_, timestep_gen_, label_gen_, scan_gen_;
  int64_t step_ = 0;
  double elapsed_before_ = 0;
  std::string last_checkpoint_;
  int64_t last_checkpoint_step_ = -1;
  std::vector<LogPoint> history_;
  std::ofstream log_;
};

}  // namespace

PointTrainingResult train_point_model(const PointTrainingOptions& options) {
  return PointTrainer(options).run();
}

}  // namespace shapediff::diffusion
