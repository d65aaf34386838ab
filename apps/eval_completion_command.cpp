// `shapediff eval-completion`: completion accuracy on a dataset split's virtual scans. For each
// shape (the first --per-category of each category), one single-view scan is completed by every
// method asked for and compared with the complete shape: Chamfer distance (PointFlow/PVD's sum of
// the two directed mean squared distances), EMD (approximate auction, Euclidean) and F-score at
// --threshold, in the dataset's stored frame (unit sphere). Baselines: the scan alone, and
// nearest-neighbour retrieval of the training shape closest to the scan by one-sided Chamfer
// distance (scan -> shape). A method named M+retrieval (conditional+retrieval,
// sdedit+retrieval) is M refining the retrieved shape: its free points start from that shape
// noised to --strength. --voxel-model scores the voxel pipeline (sparse-voxel or voxel models,
// VoxelPipeline below) on the same scans: its grids are meshed and sampled like a point cloud.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/command_support.h"
#include "apps/progress.h"
#include "diffusion/point_completion.h"
#include "diffusion/point_model.h"
#include "diffusion/sparse_voxel_completion.h"
#include "io/json_file.h"
#include "io/point_cloud_io.h"
#include "io/shape_dataset.h"
#include "shapes/chamfer.h"
#include "shapes/emd.h"

namespace shapediff::apps {
namespace {

struct EvalCompletionArgs {
  std::string data;
  std::string split = "test";
  std::string train_split = "train";
  std::string train_data;  // where retrieval searches; default: data
  int64_t per_category = 5;
  std::string model;             // generation model: training-free strategies
  std::string completion_model;  // completion model: conditional
  std::string voxel_model;       // voxel pipeline: a sparse-voxel model (with coarse_model) or a voxel model
  std::string coarse_model;      // the sparse-voxel model's stage 1
  std::string strategies;        // comma list; empty = every one the given models run
  std::string sampler = "ddpm";
  int64_t steps = 100;
  int64_t jump_length = 10;   // RePaint, as `complete`
  int64_t jump_n_sample = 3;
  double strength = 0.7;  // SDEdit, and the +retrieval methods' start level
  double guidance = 1.0;  // classifier-free guidance, with --category-known
  int64_t view = 0;
  double threshold = 0.01;
  // Every method is told the test shape's category: retrieval searches that category's training
  // shapes only, class-conditional models get its label (as PVD's per-category models know it).
  bool category_known = false;
  // Completions drawn per scan; with more than one the scored one is their medoid (least mean
  // Chamfer distance to the others), chosen without the ground truth.
  int64_t samples = 1;
  uint64_t seed = 0;
  int64_t threads = 2;
  std::string device = "cpu";  // where the models run; scoring is on the CPU
  std::string json;
  std::string save;  // folder: every scored result as <save>/<method>/<shape id>.ply, and the truth and scan
};

std::vector<io::ShapeRecord> read_split(const std::string& dir, const io::DatasetInfo& info, const std::string& split) {
  const auto it = info.splits.find(split);
  if (it == info.splits.end() || it->second.count == 0) {
    throw std::invalid_argument(dir + ": split '" + split + "' is missing or empty");
  }
  std::vector<io::ShapeRecord> out;
  for (const auto& shard : it->second.shards) {
    auto records = io::read_shard(dir + "/" + shard, info);
    for (auto& r : records) out.push_back(std::move(r));
  }
  return out;
}

// A method name without its "+retrieval" suffix.
std::string base_method(const std::string& name) {
  const std::string suffix = "+retrieval";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

// CD's two directed terms are kept apart: accuracy (result -> truth: how far the result's points
// are from the surface) and completeness (truth -> result: how far the surface is from the
// result's points). Their sum is the CD.
struct Scores {
  double cd = 0, acc = 0, comp = 0, emd = 0, f = 0;
  int64_t n = 0;
  void add(double c, double ac, double co, double e, double fs) {
    cd += c;
    acc += ac;
    comp += co;
    emd += e;
    f += fs;
    ++n;
  }
};

// A shape id as a file name: characters other than letters, digits, '-', '_' and '.' become '_'.
std::string file_stem(const std::string& id) {
  std::string out = id;
  for (auto& ch : out) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
  }
  return out.empty() || out[0] == '.' ? "_" + out : out;
}

// --voxel-model: the voxel pipeline of `shapediff complete` on the same scans. A sparse-voxel
// model with its stage-1 voxel model (--coarse-model) gives two rows from one run: sparse-voxels
// (the fine grid) and voxels (the stage-1 grid it refined); a voxel model alone gives voxels.
// The grids span [-1, 1]^3 of the dataset's stored frame, where the scans and shapes are, so
// the scan goes in and the surface points come out without a change of frame.
struct VoxelPipeline {
  std::optional<diffusion::PointModel> fine;  // the sparse-voxel model, when given
  diffusion::PointModel dense;                // its stage 1, or the voxel model alone
  std::map<std::string, int64_t> no_surface;  // per row: scored completions without a surface

  std::vector<std::string> rows() const {
    return fine ? std::vector<std::string>{"sparse-voxels", "voxels"} : std::vector<std::string>{"voxels"};
  }
  // The model --category-known takes the label from (check_coarse_model makes both stages share classes).
  const diffusion::PointModel& labelled() const { return fine ? *fine : dense; }
};

std::optional<VoxelPipeline> load_voxel_pipeline(const EvalCompletionArgs& a, const io::DatasetInfo& info) {
  if (a.voxel_model.empty()) {
    if (!a.coarse_model.empty()) {
      throw std::invalid_argument("--coarse-model " + a.coarse_model +
                                  " needs --voxel-model (the sparse-voxel model it is stage 1 of)");
    }
    return std::nullopt;
  }
  const auto device = parse_cli_device(a.device);
  auto model = diffusion::load_point_model(a.voxel_model, device);
  const auto representation = model.config.representation;
  if (representation != diffusion::Representation::Voxels &&
      representation != diffusion::Representation::SparseVoxels) {
    throw std::invalid_argument("--voxel-model " + a.voxel_model + ": a model of " +
                                diffusion::to_string(representation) + ", not voxels or sparse_voxels");
  }
  if (model.config.dataset_normalization != info.normalization.kind) {
    throw std::invalid_argument("--voxel-model " + a.voxel_model + ": trained on shapes stored " +
                                shapes::to_string(model.config.dataset_normalization) + ", " + a.data +
                                " stores them " + shapes::to_string(info.normalization.kind) +
                                " (the grids span [-1, 1]^3 of the stored frame)");
  }
  if (representation == diffusion::Representation::Voxels) {
    if (!a.coarse_model.empty()) {
      throw std::invalid_argument("--coarse-model " + a.coarse_model + " applies to sparse_voxels models; " +
                                  a.voxel_model + " is a model of voxels");
    }
    return VoxelPipeline{std::nullopt, std::move(model), {}};
  }
  if (a.coarse_model.empty()) {
    throw std::invalid_argument("--voxel-model " + a.voxel_model +
                                ": a sparse-voxel model refines a voxel model's grids: give that model with "
                                "--coarse-model");
  }
  auto coarse = diffusion::load_point_model(a.coarse_model, device);
  diffusion::check_coarse_model(model.config, coarse.config, "--coarse-model " + a.coarse_model);
  return VoxelPipeline{std::move(model), std::move(coarse), {}};
}

// One scan [M,3] (stored frame) completed by the pipeline: per row, the scored completion (the
// medoid of --samples) as `n` points on its grid's surface, or the scan resampled to n points
// when that grid has no surface (counted in no_surface); the seconds each row took.
std::map<std::string, std::pair<torch::Tensor, double>> complete_scan_with_voxels(
    VoxelPipeline& v, const torch::Tensor& scan, int64_t n, std::optional<int64_t> label, const EvalCompletionArgs& a) {
  diffusion::SparseVoxelCompletionOptions o;
  o.count = a.samples;
  o.sampler = diffusion::parse_sampler_kind(a.sampler);
  o.steps = a.steps;
  o.label = label;
  if (label) o.guidance = a.guidance;
  o.seed = a.seed;
  o.device = parse_cli_device(a.device);
  const auto t0 = std::chrono::steady_clock::now();
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  const auto normals = diffusion::estimate_scan_normals(scan);
  std::map<std::string, std::pair<torch::Tensor, double>> grids;  // row -> [K,G,G,G], seconds
  if (v.fine) {
    // Stage 1 ends when half of both stages' steps are done.
    std::optional<double> stage1;
    o.on_progress = [&](int64_t done, int64_t total) {
      if (!stage1 && 2 * done >= total) stage1 = since(t0);
    };
    const auto c = diffusion::complete_sparse_voxels(*v.fine, v.dense, scan, normals, o);
    grids["sparse-voxels"] = {c.samples.grids.cpu(), since(t0)};
    grids["voxels"] = {c.samples.coarse.cpu(), stage1.value_or(since(t0))};
  } else {
    grids["voxels"] = {diffusion::complete_voxels(v.dense, scan, normals, o).grids.cpu(), since(t0)};
  }
  std::map<std::string, std::pair<torch::Tensor, double>> out;
  for (auto& [row, entry] : grids) {
    const auto t1 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> points;
    std::vector<bool> empty;
    for (int64_t k = 0; k < entry.first.size(0); ++k) {
      const auto surface = diffusion::grid_surface_points(entry.first[k], n, a.seed);
      empty.push_back(surface.size(0) == 0);
      points.push_back(empty.back() ? diffusion::resample_partial(scan, n, a.seed) : surface);
    }
    const auto stacked = torch::stack(points);
    const int64_t pick = diffusion::medoid_completion(stacked);
    if (empty[static_cast<size_t>(pick)]) ++v.no_surface[row];
    out[row] = {stacked[pick], entry.second + since(t1)};
  }
  return out;
}

int run_eval_completion(const EvalCompletionArgs& a) {
  if (a.threads < 1) throw std::invalid_argument("--threads = " + std::to_string(a.threads) + " (must be >= 1)");
  at::set_num_threads(static_cast<int>(a.threads));
  if (a.samples < 1) throw std::invalid_argument("--samples = " + std::to_string(a.samples) + " (must be >= 1)");
  if (a.per_category < 1) throw std::invalid_argument("--per-category = " + std::to_string(a.per_category) + " (must be >= 1)");
  if (!(a.threshold > 0)) throw std::invalid_argument("--threshold must be > 0");
  if (!(a.strength > 0 && a.strength <= 1)) {
    throw std::invalid_argument("--strength = " + std::to_string(a.strength) + " (must be in (0, 1])");
  }
  // The --save folder is made when the first cloud is written, after every input is checked.
  if (!a.save.empty() && std::filesystem::exists(a.save) && !std::filesystem::is_directory(a.save)) {
    throw std::invalid_argument("--save " + a.save + ": exists and is not a folder");
  }
  const auto info = io::read_dataset_info(a.data);
  if (info.scans == 0) throw std::invalid_argument(a.data + ": the dataset has no virtual scans to complete");
  if (a.view < 0 || a.view >= info.scans) {
    throw std::invalid_argument("--view = " + std::to_string(a.view) + " (the dataset has " +
                                std::to_string(info.scans) + " scans per shape)");
  }

  const auto device = parse_cli_device(a.device);
  std::optional<diffusion::PointModel> gen, cond;
  if (!a.model.empty()) gen = diffusion::load_point_model(a.model, device);
  if (!a.completion_model.empty()) cond = diffusion::load_point_model(a.completion_model, device);
  auto voxels = load_voxel_pipeline(a, info);
  if (a.guidance != 1.0 && !a.category_known) {
    throw std::invalid_argument("--guidance = " + std::to_string(a.guidance) +
                                " needs --category-known (guidance steers towards the scan's class label)");
  }
  std::vector<std::string> methods;
  if (a.strategies.empty()) {
    if (cond) methods.push_back("conditional");
    if (gen) for (const char* m : {"replacement", "repaint", "sdedit"}) methods.push_back(m);
  } else {
    std::stringstream ss(a.strategies);
    std::string m;
    while (std::getline(ss, m, ',')) {
      const auto names = diffusion::point_completion_method_names();
      if (std::find(names.begin(), names.end(), base_method(m)) == names.end()) {
        throw std::invalid_argument("--strategies: unknown strategy '" + m +
                                    "' (choose from conditional, replacement, repaint, sdedit, "
                                    "conditional+retrieval, sdedit+retrieval)");
      }
      const auto kind = diffusion::parse_point_completion_method(base_method(m));
      if (base_method(m) != m && kind != diffusion::PointCompletionMethod::Conditional &&
          kind != diffusion::PointCompletionMethod::SDEdit) {
        throw std::invalid_argument("strategy " + m + ": only conditional and sdedit can refine the retrieved shape");
      }
      if (kind == diffusion::PointCompletionMethod::Conditional ? !cond : !gen) {
        throw std::invalid_argument("strategy " + m + " needs " +
                                    (kind == diffusion::PointCompletionMethod::Conditional ? "--completion-model" : "--model"));
      }
      methods.push_back(m);
    }
  }
  const auto sampler = diffusion::parse_sampler_kind(a.sampler);

  // The test shapes: the first per_category of each category, in stored order.
  std::vector<io::ShapeRecord> test;
  {
    std::map<int64_t, int64_t> taken;
    for (auto& r : read_split(a.data, info, a.split)) {
      if (taken[r.label]++ < a.per_category) test.push_back(std::move(r));
    }
  }
  const std::string train_dir = a.train_data.empty() ? a.data : a.train_data;
  const auto train_info = a.train_data.empty() ? info : io::read_dataset_info(train_dir);
  if (train_info.points != info.points) {
    throw std::invalid_argument(train_dir + ": " + std::to_string(train_info.points) + " points per shape, " +
                                a.data + " has " + std::to_string(info.points));
  }
  if (train_info.normalization.kind != info.normalization.kind) {
    throw std::invalid_argument(train_dir + ": stored in another frame than " + a.data +
                                " (dataset.json normalization.kind)");
  }
  const auto train = read_split(train_dir, train_info, a.train_split);
  std::vector<torch::Tensor> train_points;
  for (const auto& r : train) train_points.push_back(r.points);
  const auto train_stack = torch::stack(train_points).contiguous();  // [T,N,3]
  // Rows of train_stack per category name, for --category-known.
  std::map<std::string, torch::Tensor> train_rows;
  {
    std::map<std::string, std::vector<int64_t>> rows;
    for (size_t i = 0; i < train.size(); ++i) {
      rows[train_info.categories.at(static_cast<size_t>(train[i].label))].push_back(static_cast<int64_t>(i));
    }
    for (auto& [name, r] : rows) train_rows[name] = torch::tensor(r, torch::kLong);
  }
  // The label a class-conditional model gets for a category under --category-known.
  auto model_label = [&](const diffusion::PointModel& model, const std::string& category) -> std::optional<int64_t> {
    if (!a.category_known || model.config.num_classes == 0) return std::nullopt;
    const auto& classes = model.config.classes;
    const auto it = std::find(classes.begin(), classes.end(), category);
    if (it == classes.end()) {
      std::string names;
      for (const auto& c : classes) names += (names.empty() ? "" : ", ") + c;
      throw std::invalid_argument("--category-known: the model has no class '" + category + "' (its classes: " +
                                  names + ")");
    }
    return static_cast<int64_t>(it - classes.begin());
  };
  if (a.category_known) {
    for (const auto& r : test) {
      const auto& category = info.categories.at(static_cast<size_t>(r.label));
      if (!train_rows.count(category)) {
        throw std::invalid_argument("--category-known: " + train_dir + " has no '" + a.train_split +
                                    "' shapes of category '" + category + "'");
      }
      if (gen) model_label(*gen, category);
      if (cond) model_label(*cond, category);
      if (voxels) model_label(voxels->labelled(), category);
    }
  }

  shapes::EmdOptions emd;
  emd.method = shapes::EmdMethod::Approximate;
  std::map<std::string, std::map<std::string, Scores>> table;  // method -> category -> scores
  std::map<std::string, double> seconds;
  nlohmann::json per_shape = nlohmann::json::array();  // one entry per test shape, in order
  auto score = [&](const std::string& method, const std::string& category, const torch::Tensor& result,
                   const torch::Tensor& truth, const std::string& id) {
    auto x = result.unsqueeze(0).to(torch::kFloat32).contiguous(), y = truth.unsqueeze(0).contiguous();
    const double cd = shapes::chamfer_distance(x, y).item<double>();
    const auto nearest = shapes::nearest_squared_distances(x, y);
    const double acc = nearest.a_to_b.to(torch::kFloat64).mean().item<double>();
    const double comp = nearest.b_to_a.to(torch::kFloat64).mean().item<double>();
    const double fs = shapes::fscore(x, y, a.threshold).fscore.item<double>();
    // EMD needs equal counts: the result is resampled to the truth's (repeats where it is smaller).
    auto xe = x.size(1) == y.size(1) ? x : diffusion::resample_partial(x[0], y.size(1), a.seed).unsqueeze(0);
    const double e = shapes::earth_movers_distance(xe.contiguous(), y, emd).value.item<double>();
    table[method][category].add(cd, acc, comp, e, fs);
    table[method]["all"].add(cd, acc, comp, e, fs);
    per_shape.back()["results"][method] = {
        {"cd", cd}, {"accuracy", acc}, {"completeness", comp}, {"emd", e}, {"fscore", fs}};
    if (!a.save.empty()) {
      std::filesystem::create_directories(a.save + "/" + method);
      io::write_point_cloud(a.save + "/" + method + "/" + file_stem(id) + ".ply",
                            shapes::PointCloud{x[0].contiguous(), {}, {}});
    }
  };

  Progress progress("eval-completion", static_cast<int64_t>(test.size() * (methods.size() + (voxels ? 3 : 2))),
                    "runs");
  int64_t done = 0;
  double floor_cd = 0;  // summed over the test shapes
  for (const auto& r : test) {
    const auto& category = info.categories.at(static_cast<size_t>(r.label));
    const auto scan = r.partial[a.view].contiguous();  // [M,3] stored frame
    per_shape.push_back({{"id", r.id}, {"category", category}});
    if (!a.save.empty()) {
      std::filesystem::create_directories(a.save + "/truth");
      io::write_point_cloud(a.save + "/truth/" + file_stem(r.id) + ".ply", shapes::PointCloud{r.points, {}, {}});
    }
    score("input", category, scan, r.points, r.id);
    // Sampling noise: the truth's two halves (even and odd rows of a random surface sample)
    // differ by a CD of about twice what two independent samples of the truth's size would
    // (CD scales with the area per point), so half of it estimates the least CD any method can
    // expect.
    const int64_t n = r.points.size(0);
    const double floor = 0.5 * shapes::chamfer_distance(r.points.slice(0, 0, n, 2).unsqueeze(0).contiguous(),
                                                        r.points.slice(0, 1, n, 2).unsqueeze(0).contiguous())
                                   .item<double>();
    per_shape.back()["cd_floor"] = floor;
    floor_cd += floor;
    progress.update(++done);
    auto t0 = std::chrono::steady_clock::now();
    // Retrieval: the training shape nearest to the scan by one-sided Chamfer distance (among
    // the shapes of the scan's category under --category-known).
    const auto candidates = a.category_known ? train_stack.index_select(0, train_rows.at(category)) : train_stack;
    const auto nearest = shapes::nearest_squared_distances(
        scan.unsqueeze(0).expand({candidates.size(0), scan.size(0), 3}).contiguous(), candidates);
    const int64_t best = nearest.a_to_b.mean(1).argmin().item<int64_t>();
    seconds["retrieval"] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto retrieved = candidates[best];
    score("retrieval", category, retrieved, r.points, r.id);
    progress.update(++done);
    for (const auto& m : methods) {
      const auto kind = diffusion::parse_point_completion_method(base_method(m));
      auto& model = kind == diffusion::PointCompletionMethod::Conditional ? *cond : *gen;
      diffusion::PointCompletionOptions o;
      o.method = kind;
      o.sampler = sampler;
      o.steps = a.steps;
      o.seed = a.seed;
      o.device = device;
      o.label = model_label(model, category);
      if (o.label) o.guidance = a.guidance;
      o.strength = a.strength;
      if (base_method(m) != m) o.init = model.to_model_frame(retrieved);
      o.samples = a.samples;
      o.sampler_options.jump_length = a.jump_length;
      o.sampler_options.jump_n_sample = a.jump_n_sample;
      t0 = std::chrono::steady_clock::now();
      auto c = diffusion::complete_points(model, model.to_model_frame(scan), o);
      c.points = c.points.cpu();
      const int64_t pick = diffusion::medoid_completion(c.points);
      seconds[m] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      score(m, category, model.to_dataset_frame(c.points[pick]), r.points, r.id);
      progress.update(++done);
    }
    if (voxels) {
      const auto label = model_label(voxels->labelled(), category);
      for (const auto& [row, result] : complete_scan_with_voxels(*voxels, scan, r.points.size(0), label, a)) {
        seconds[row] += result.second;
        score(row, category, result.first, r.points, r.id);
      }
      progress.update(++done);
    }
  }
  progress.finish();

  std::vector<std::string> rows = {"input", "retrieval"};
  rows.insert(rows.end(), methods.begin(), methods.end());
  if (voxels) {
    for (const auto& row : voxels->rows()) rows.push_back(row);
  }
  std::vector<std::string> cats = info.categories;
  cats.push_back("all");
  std::ostringstream md;
  md << std::setprecision(4);
  md << "| method | s/shape |";
  for (const auto& c : cats) md << " " << c << " CD | " << c << " EMD | " << c << " F@" << a.threshold << " |";
  md << "\n|---|---:|";
  for (size_t i = 0; i < cats.size(); ++i) md << "---:|---:|---:|";
  md << "\n";
  nlohmann::json json = {{"data", a.data}, {"split", a.split}, {"retrieval_data", train_dir},
                         {"retrieval_split", a.train_split}, {"per_category", a.per_category},
                         {"shapes", test.size()}, {"view", a.view}, {"category_known", a.category_known}, {"samples", a.samples}, {"device", a.device}, {"sampler", a.sampler}, {"steps", a.steps},
                         {"repaint_jump_length", a.jump_length}, {"strength", a.strength}, {"guidance", a.guidance}, {"repaint_jump_n_sample", a.jump_n_sample},
                         {"threshold", a.threshold}, {"frame", "dataset stored frame (" + shapes::to_string(info.normalization.kind) + ")"},
                         {"cd", "sum of the two directed mean squared distances"}, {"emd", "approximate auction, euclidean"}};
  for (const auto& m : rows) {
    const double per_shape = seconds.count(m) ? seconds[m] / static_cast<double>(test.size()) : 0.0;
    md << "| " << m << " | " << per_shape << " |";
    for (const auto& c : cats) {
      const auto it = table[m].find(c);
      if (it == table[m].end() || it->second.n == 0) {
        md << " - | - | - |";
        continue;
      }
      const auto& s = it->second;
      const double n = static_cast<double>(s.n);
      md << " " << s.cd / n << " | " << s.emd / n << " | " << s.f / n << " |";
      json["results"][m][c] = {{"cd", s.cd / n},         {"accuracy", s.acc / n}, {"completeness", s.comp / n},
                               {"emd", s.emd / n},       {"fscore", s.f / n},     {"shapes", s.n}};
    }
    json["seconds_per_shape"][m] = per_shape;
    md << "\n";
  }
  std::cout << md.str();
  std::cout << "CD: sum of both directed mean squared distances; EMD: approximate, euclidean; stored frame ("
            << shapes::to_string(info.normalization.kind) << "); " << test.size() << " shapes, scan view " << a.view
            << (a.category_known ? "; category known to every method" : "")
            << (a.samples > 1 ? "; each method's medoid of " + std::to_string(a.samples) + " completions" : "") << "\n";
  // Where each method's CD comes from, over all shapes.
  std::cout << "CD = accuracy (result -> truth) + completeness (truth -> result), all shapes:";
  for (const auto& m : rows) {
    const auto& s = table[m]["all"];
    if (s.n == 0) continue;
    std::cout << (m == rows.front() ? " " : "; ") << m << " " << s.acc / s.n << " + " << s.comp / s.n;
  }
  std::cout << "\n";
  json["shapes_scored"] = per_shape;
  const double floor_mean = floor_cd / static_cast<double>(test.size());
  std::cout << "CD floor (sampling noise, from each truth cloud's two halves): " << floor_mean << "\n";
  json["cd_floor"] = floor_mean;
  if (voxels) {
    // A grid without a zero crossing has no surface to sample: its scan was scored instead.
    for (const auto& row : voxels->rows()) {
      const int64_t count = voxels->no_surface.count(row) ? voxels->no_surface.at(row) : 0;
      json["no_surface"][row] = count;
      std::cout << row << ": " << count << " of " << test.size()
                << " completions had no surface (scored as the scan itself)\n";
    }
  }
  if (!a.json.empty()) io::write_json(a.json, json);
  return 0;
}

}  // namespace

void add_eval_completion_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<EvalCompletionArgs>();
  auto* cmd = app.add_subcommand("eval-completion",
                                 "Completion accuracy on a dataset's virtual scans (CD, EMD, F-score per category)");
  cmd->add_option("--data", a->data, "Dataset folder with virtual scans")->required();
  cmd->add_option("--split", a->split, "Split to complete")->capture_default_str();
  cmd->add_option("--train-split", a->train_split, "Split retrieval searches")->capture_default_str();
  cmd->add_option("--jump-length", a->jump_length, "RePaint: steps per jump")->capture_default_str();
  cmd->add_option("--jump-n-sample", a->jump_n_sample, "RePaint: resamplings per jump")->capture_default_str();
  cmd->add_option("--train-data", a->train_data,
                  "Dataset retrieval searches (default: --data), e.g. the training set when --data "
                  "holds real meshes no model saw");
  cmd->add_option("--strength", a->strength,
                  "SDEdit and the +retrieval methods: the noise level they start from, as a fraction of the schedule")
      ->capture_default_str();
  cmd->add_option("--guidance", a->guidance, "Classifier-free guidance scale for class-conditional models (needs --category-known)")
      ->capture_default_str();
  cmd->add_option("--per-category", a->per_category, "Shapes per category")->capture_default_str();
  cmd->add_option("--model", a->model, "Generation model: replacement, repaint, sdedit");
  cmd->add_option("--completion-model", a->completion_model, "Completion model: conditional");
  cmd->add_option("--voxel-model", a->voxel_model,
                  "Voxel pipeline, as `complete` runs it: a sparse-voxel model (with --coarse-model; rows "
                  "sparse-voxels and voxels, its stage 1) or a voxel model alone (row voxels); each completed "
                  "grid is meshed with marching cubes (less the crossings between saturated cells, which are "
                  "no surface) and sampled to the shape's point count; a grid without surface scores the scan. "
                  "Runs beside --strategies");
  cmd->add_option("--coarse-model", a->coarse_model, "With a sparse-voxel --voxel-model: its stage-1 voxel model");
  cmd->add_option("--strategies", a->strategies,
                  "Comma list of conditional, replacement, repaint, sdedit, conditional+retrieval, "
                  "sdedit+retrieval (default: the first four the given models run)");
  cmd->add_option("--sampler", a->sampler, "Sampler")->capture_default_str();
  cmd->add_option("--steps", a->steps, "Sampler steps")->capture_default_str();
  cmd->add_option("--view", a->view, "Which of each shape's scans")->capture_default_str();
  cmd->add_option("--threshold", a->threshold, "F-score distance threshold (stored frame units)")->capture_default_str();
  cmd->add_flag("--category-known", a->category_known,
               "Tell every method the test shape's category: retrieval searches that category only, "
               "class-conditional models get its label (default: no method knows it)");
  cmd->add_option("--samples", a->samples,
                  "Completions per scan; with more than one, each method is scored on their medoid (the "
                  "one with the least mean Chamfer distance to the others: no ground truth used)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads")->capture_default_str();
  cmd->add_option("--device", a->device, "Where the models run: cpu or cuda (scores are computed on the CPU)")
      ->capture_default_str();
  cmd->add_option("--json", a->json,
                  "Also write the numbers as JSON, with every shape's own scores (shapes_scored) and CD's two "
                  "directed terms (accuracy: result -> truth, completeness: truth -> result)");
  cmd->add_option("--save", a->save,
                  "Folder for the clouds scored: <method>/<shape id>.ply for every method (input is the "
                  "scan), and truth/<shape id>.ply, in the stored frame");
  cmd->callback([a, &action] { action = [a] { return run_eval_completion(*a); }; });
}

}  // namespace shapediff::apps
