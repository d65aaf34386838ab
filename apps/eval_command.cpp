// `shapediff eval --generated A --reference B`: generation metrics (MMD, COV, 1-NNA from CD and
// EMD, JSD; optionally paired CD/EMD/F-score) between two sets of point clouds, printed as a
// table with the normalization protocol beside each number and optionally written as JSON.
// A set is an NPZ (array "points" [K,N,3]), an NPY ([K,N,3] or [N,3]), one cloud file, a folder
// of cloud files (.ply .xyz .pcd .off .obj .npy, sorted by name), or a shapediff dataset folder
// with a split: DIR:SPLIT (DIR alone means its test split).
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/progress.h"
#include "io/json_file.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/point_cloud_io.h"
#include "io/shape_dataset.h"
#include "io/shape_loader.h"
#include "shapes/metrics.h"

namespace shapediff::apps {
namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string generated, reference;
  std::string metrics = "cd,emd,jsd";
  std::string normalize = "none";
  std::string emd = "exact";
  std::string emd_ground = "euclidean";
  std::string category;
  double fscore_threshold = 0.01;
  int64_t jsd_resolution = 28;
  double jsd_extent = 0;
  int64_t threads = 0;
  std::string json;
};

// A loaded set of clouds and where it came from.
struct CloudSet {
  torch::Tensor points;  // [K,N,3] float32
  nlohmann::json source;  // {"path": ..., "split": ..., "category": ...}
  bool dataset = false;
};

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e;
}

bool is_cloud_file(const fs::path& p) {
  static const std::set<std::string> kExt = {".ply", ".xyz", ".pcd", ".off", ".obj", ".npy"};
  return kExt.count(lower_ext(p)) > 0;
}

// [K,N,3] from an array read from `what`; [N,3] is one cloud.
torch::Tensor as_cloud_set(torch::Tensor t, const std::string& what) {
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || t.size(2) != 3 || !at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(what + ": expected floating-point clouds [K,N,3] or [N,3], got " +
                                std::string(c10::toString(t.scalar_type())) + " " +
                                c10::str(t.sizes()));
  }
  if (t.size(0) == 0 || t.size(1) == 0) throw std::invalid_argument(what + ": empty set of clouds");
  return t.to(torch::kFloat32).contiguous();
}

torch::Tensor read_one_cloud(const fs::path& p) {
  if (lower_ext(p) == ".npy") {
    auto t = io::read_npy(p.string());
    if (t.dim() != 2) {
      throw std::invalid_argument(p.string() + ": expected one cloud [N,3] in a folder of clouds, got " +
                                  c10::str(t.sizes()));
    }
    return as_cloud_set(t, p.string())[0];
  }
  auto pc = io::read_point_cloud(p.string());
  if (pc.empty()) throw std::invalid_argument(p.string() + ": no points");
  return pc.points.to(torch::kFloat32);
}

CloudSet read_folder(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && is_cloud_file(e.path())) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    throw std::invalid_argument(dir.string() +
                                ": no point-cloud files (.ply .xyz .pcd .off .obj .npy) and no dataset.json");
  }
  std::vector<torch::Tensor> clouds;
  for (const auto& f : files) {
    clouds.push_back(read_one_cloud(f));
    if (clouds.back().size(0) != clouds.front().size(0)) {
      throw std::invalid_argument("mismatched point counts in " + dir.string() + ": " +
                                  files.front().filename().string() + " has " +
                                  std::to_string(clouds.front().size(0)) + " points, " +
                                  f.filename().string() + " has " +
                                  std::to_string(clouds.back().size(0)));
    }
  }
  return {torch::stack(clouds), {{"path", dir.string()}, {"files", files.size()}}, false};
}

CloudSet read_dataset(const std::string& dir, const std::string& split, const std::string& category) {
  io::ShardSource source(dir, split);
  const auto& cats = source.info().categories;
  int64_t label = -1;
  if (!category.empty()) {
    const auto it = std::find(cats.begin(), cats.end(), category);
    if (it == cats.end()) {
      std::string names;
      for (const auto& c : cats) names += (names.empty() ? "" : ", ") + c;
      throw std::invalid_argument(dir + ": unknown category '" + category + "' (choose from: " + names + ")");
    }
    label = it - cats.begin();
  }
  std::vector<torch::Tensor> clouds;
  for (int64_t c = 0; c < source.size(); ++c) {
    for (const auto& rec : source.chunk(c, 0)) {
      if (label < 0 || rec.label == label) clouds.push_back(rec.points);
    }
  }
  if (clouds.empty()) {
    throw std::invalid_argument(dir + ":" + split + ": no shapes" +
                                (category.empty() ? std::string() : " of category '" + category + "'"));
  }
  nlohmann::json src = {{"path", dir}, {"split", split}};
  if (!category.empty()) src["category"] = category;
  return {torch::stack(clouds), src, true};
}

CloudSet read_set(const std::string& spec, const std::string& category, const std::string& role) {
  if (spec.empty()) throw std::invalid_argument("--" + role + " is empty");
  std::string path = spec, split;
  // DIR:SPLIT names a dataset split, unless the whole text is itself an existing path.
  const auto colon = spec.rfind(':');
  if (!fs::exists(spec) && colon != std::string::npos && colon > 0) {
    path = spec.substr(0, colon);
    split = spec.substr(colon + 1);
  }
  if (!fs::exists(path)) throw std::invalid_argument("--" + role + " " + path + ": no such file or folder");
  if (fs::is_directory(path)) {
    if (fs::exists(io::dataset_info_path(path))) return read_dataset(path, split.empty() ? "test" : split, category);
    if (!split.empty()) {
      throw std::invalid_argument("--" + role + " " + path + ": ':" + split +
                                  "' names a split, but the folder has no dataset.json");
    }
    return read_folder(path);
  }
  if (!split.empty()) {
    throw std::invalid_argument("--" + role + " " + spec + ": a split needs a dataset folder");
  }
  const std::string ext = lower_ext(path);
  if (ext == ".npz") {
    const auto arrays = io::read_npz(path);
    const auto it = arrays.find("points");
    if (it == arrays.end()) {
      std::string names;
      for (const auto& [name, _] : arrays) names += (names.empty() ? "" : ", ") + name;
      throw std::invalid_argument(path + ": no array 'points' (arrays: " + names + ")");
    }
    return {as_cloud_set(it->second, path + " array 'points'"), {{"path", path}}, false};
  }
  if (ext == ".npy") return {as_cloud_set(io::read_npy(path), path), {{"path", path}}, false};
  if (is_cloud_file(path)) return {read_one_cloud(path).unsqueeze(0), {{"path", path}}, false};
  throw std::invalid_argument("--" + role + " " + path +
                              ": unknown kind (give .npz, .npy, a cloud file, a folder, or DIR:SPLIT)");
}

shapes::EvalOptions eval_options(const EvalArgs& a) {
  shapes::EvalOptions o;
  o.normalization = shapes::parse_eval_normalization(a.normalize);
  o.cd = o.emd = o.jsd = o.paired = false;
  std::stringstream list(a.metrics);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item == "cd") o.cd = true;
    else if (item == "emd") o.emd = true;
    else if (item == "jsd") o.jsd = true;
    else if (item == "paired") o.paired = true;
    else throw std::invalid_argument("--metrics: unknown metric '" + item + "' (choose from: cd, emd, jsd, paired)");
  }
  if (a.emd == "off") {
    o.emd = false;
  } else {
    o.emd_options.method = shapes::parse_emd_method(a.emd);
  }
  o.emd_options.ground = shapes::parse_emd_ground(a.emd_ground);
  o.fscore_threshold = a.fscore_threshold;
  if (!(a.fscore_threshold > 0)) {
    throw std::invalid_argument("--fscore-threshold must be > 0, got " + std::to_string(a.fscore_threshold));
  }
  o.jsd_resolution = a.jsd_resolution;
  if (a.jsd_resolution < 2 || a.jsd_resolution > 1024) {
    throw std::invalid_argument("--jsd-resolution must be in [2, 1024], got " + std::to_string(a.jsd_resolution));
  }
  o.jsd_half_extent = a.jsd_extent;
  return o;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

int run_eval(const EvalArgs& a) {
  auto options = eval_options(a);
  if (a.threads < 0 || a.threads > 1024) {
    throw std::invalid_argument("--threads must be in [1, 1024] (0: all cores), got " + std::to_string(a.threads));
  }
  const auto threads = a.threads > 0 ? a.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(threads));
  if (!a.json.empty()) {
    const auto parent = fs::path(a.json).parent_path();
    if (!parent.empty() && !fs::is_directory(parent)) {
      throw std::invalid_argument("--json " + a.json + ": folder " + parent.string() + " does not exist");
    }
  }
  const auto gen = read_set(a.generated, a.category, "generated");
  const auto ref = read_set(a.reference, a.category, "reference");
  if (!a.category.empty() && !gen.dataset && !ref.dataset) {
    throw std::invalid_argument("--category needs a dataset folder (DIR:SPLIT) as --generated or --reference");
  }

  std::unique_ptr<Progress> bar;
  std::string stage;
  options.progress = [&](const std::string& s, int64_t done, int64_t total) {
    if (s != stage) {
      if (bar) bar->finish();
      bar = std::make_unique<Progress>("eval " + s, total, "pairs");
      stage = s;
    }
    bar->update(done);
  };
  const auto r = shapes::evaluate_sets(gen.points, ref.points, options);
  if (bar) bar->finish();

  const std::string norm = shapes::to_string(r.normalization);
  std::cout << "generated: " << r.generated << " clouds of " << r.generated_points << " points ("
            << gen.source["path"].get<std::string>() << ")\n"
            << "reference: " << r.reference << " clouds of " << r.reference_points << " points ("
            << ref.source["path"].get<std::string>()
            << (ref.source.contains("split") ? ":" + ref.source["split"].get<std::string>() : "")
            << (ref.source.contains("category") ? ", category " + ref.source["category"].get<std::string>() : "")
            << ")\n\n";
  std::vector<std::array<std::string, 3>> rows;
  const std::string emd_protocol =
      r.emd_options ? norm + ", EMD " + shapes::to_string(r.emd_options->method) + " " +
                          shapes::to_string(r.emd_options->ground) + " (gap <= " + fmt(r.emd_max_gap) + ")"
                    : "";
  if (r.cd) {
    rows.push_back({"MMD-CD", fmt(r.cd->mmd), norm + ", CD squared (sum of both directions)"});
    rows.push_back({"COV-CD", fmt(r.cd->coverage), norm});
    rows.push_back({"1-NNA-CD", fmt(r.cd->nna), norm});
  }
  if (r.emd) {
    rows.push_back({"MMD-EMD", fmt(r.emd->mmd), emd_protocol});
    rows.push_back({"COV-EMD", fmt(r.emd->coverage), emd_protocol});
    rows.push_back({"1-NNA-EMD", fmt(r.emd->nna), emd_protocol});
  }
  if (r.jsd) {
    rows.push_back({"JSD", fmt(*r.jsd), norm + ", grid " + std::to_string(r.jsd_grid.resolution) +
                                            "^3 in radius " + fmt(r.jsd_grid.half_extent)});
  }
  if (r.paired) {
    rows.push_back({"paired CD", fmt(r.paired->cd), norm});
    if (r.paired->emd) rows.push_back({"paired EMD", fmt(*r.paired->emd), emd_protocol});
    const std::string at = norm + ", threshold " + fmt(r.paired->threshold);
    rows.push_back({"F-score", fmt(r.paired->fscore), at});
    rows.push_back({"precision", fmt(r.paired->precision), at});
    rows.push_back({"recall", fmt(r.paired->recall), at});
  }
  size_t w0 = 6, w1 = 5;
  for (const auto& row : rows) {
    w0 = std::max(w0, row[0].size());
    w1 = std::max(w1, row[1].size());
  }
  auto line = [&](const std::string& c0, const std::string& c1, const std::string& c2) {
    std::cout << c0 << std::string(w0 + 2 - c0.size(), ' ') << c1 << std::string(w1 + 2 - c1.size(), ' ')
              << c2 << "\n";
  };
  line("metric", "value", "protocol");
  for (const auto& row : rows) line(row[0], row[1], row[2]);

  if (!a.json.empty()) {
    auto j = r.to_json();
    j["generated"]["source"] = gen.source;
    j["reference"]["source"] = ref.source;
    j["threads"] = threads;
    io::write_json(a.json, j);
  }
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval", "Generation metrics (MMD, COV, 1-NNA with CD and EMD, JSD) between two sets of clouds");
  cmd->add_option("--generated", args->generated,
                  "Generated clouds: .npz (array 'points'), .npy, cloud file, folder, or DIR:SPLIT")
      ->required();
  cmd->add_option("--reference", args->reference, "Reference clouds, same forms (a dataset: DIR:SPLIT)")
      ->required();
  cmd->add_option("--metrics", args->metrics, "Comma list of cd, emd, jsd, paired")->capture_default_str();
  cmd->add_option("--normalize", args->normalize, "none, unit_box, unit_sphere or reference")
      ->capture_default_str();
  cmd->add_option("--emd", args->emd, "exact, approx or off")->capture_default_str();
  cmd->add_option("--emd-ground", args->emd_ground, "euclidean (PointFlow) or squared (PVD)")
      ->capture_default_str();
  cmd->add_option("--category", args->category, "Only this category of a dataset set");
  cmd->add_option("--fscore-threshold", args->fscore_threshold, "F-score distance (with 'paired')")
      ->capture_default_str();
  cmd->add_option("--jsd-resolution", args->jsd_resolution, "JSD grid cells per axis")->capture_default_str();
  cmd->add_option("--jsd-extent", args->jsd_extent,
                  "JSD grid half-extent (PointFlow: 0.5; 0: the reference set's radius)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the results to this JSON file");
  cmd->callback([&action, args] { action = [args] { return run_eval(*args); }; });
}

}  // namespace shapediff::apps
