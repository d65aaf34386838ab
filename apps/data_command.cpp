// `shapediff data`: make datasets from the procedural families or a folder of meshes, take
// virtual scans of one mesh, and describe a dataset folder.
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/progress.h"
#include "io/json_file.h"
#include "io/mesh_io.h"
#include "io/point_cloud_io.h"
#include "io/shape_dataset.h"
#include "shapes/dataset_sample.h"
#include "shapes/procedural.h"
#include "shapes/virtual_scan.h"

namespace shapediff::apps {
namespace {

namespace fs = std::filesystem;

struct SampleArgs {
  int64_t points = 2048;
  int64_t scans = 2;
  int64_t scan_points = 1024;
  int64_t scan_size = 128;
  double noise = 0.0;
  double dropout = 0.0;
  std::string normalization = "unit_sphere";
  double val = 0.1;
  double test = 0.1;
  uint64_t seed = 0;
  int64_t threads = 2;
  int64_t shard_size = 256;
  std::string out;
  bool overwrite = false;
  std::string shard;  // "I/N": make only every N-th shape, starting at shape I
  int64_t shard_index = 0, shard_count = 1;

  shapes::DatasetSampleOptions sample_options() const {
    shapes::DatasetSampleOptions o;
    o.points = points;
    o.scans = scans;
    o.scan_points = scans > 0 ? scan_points : 0;
    o.scan_width = o.scan_height = scan_size;
    o.scan.depth_noise = noise;
    o.scan.dropout = dropout;
    o.normalization = shapes::parse_normalization_kind(normalization);
    o.validate();
    return o;
  }
  void validate() const {
    if (!(val >= 0 && test >= 0 && val + test < 1)) {
      throw std::invalid_argument("--val and --test must be >= 0 with val + test < 1");
    }
    if (threads < 1 || threads > 256) {
      throw std::invalid_argument("--threads must be in [1, 256], got " + std::to_string(threads));
    }
    if (shard_size < 1) throw std::invalid_argument("--shard-size must be >= 1");
    if (!shard.empty()) {
      const auto slash = shard.find('/');
      char* end = nullptr;
      const long long i = slash == std::string::npos ? -1 : std::strtoll(shard.c_str(), &end, 10);
      const long long n = slash == std::string::npos ? -1 : std::strtoll(shard.c_str() + slash + 1, nullptr, 10);
      if (slash == std::string::npos || end != shard.c_str() + slash || n < 1 || i < 0 || i >= n ||
          std::to_string(n) != shard.substr(slash + 1)) {
        throw std::invalid_argument("--shard '" + shard + "' must be I/N with 0 <= I < N (e.g. 0/4)");
      }
    }
    if (fs::exists(out) && !overwrite) {
      throw std::invalid_argument(out + ": already exists (use --overwrite to replace it)");
    }
  }
};

void add_sample_options(CLI::App* cmd, SampleArgs& a) {
  cmd->add_option("--out", a.out, "Output dataset folder")->required();
  cmd->add_option("--points", a.points, "Surface points per shape")->capture_default_str();
  cmd->add_option("--scans", a.scans, "Virtual scans (partial views) per shape")->capture_default_str();
  cmd->add_option("--scan-points", a.scan_points, "Points per scan (resampled)")->capture_default_str();
  cmd->add_option("--scan-size", a.scan_size, "Depth image width = height")->capture_default_str();
  cmd->add_option("--noise", a.noise, "Depth noise std (normalized units)")->capture_default_str();
  cmd->add_option("--dropout", a.dropout, "Fraction of scan returns dropped")->capture_default_str();
  cmd->add_option("--normalization", a.normalization, "unit_sphere, unit_box or identity")
      ->capture_default_str();
  cmd->add_option("--val", a.val, "Fraction of shapes for validation")->capture_default_str();
  cmd->add_option("--test", a.test, "Fraction of shapes for testing")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed for sampling and scans")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Worker threads")->capture_default_str();
  cmd->add_option("--shard-size", a.shard_size, "Shapes per shard")->capture_default_str();
  cmd->add_flag("--overwrite", a.overwrite, "Replace an existing output folder");
  cmd->add_option("--shard", a.shard,
                  "I/N: make only shapes I, I+N, I+2N, ... (one of N parallel parts; "
                  "`data merge` joins the parts into the dataset a single run makes)");
}

// One shape to make: where its mesh comes from, its label, id and split.
struct Job {
  std::function<shapes::TriangleMesh()> mesh;
  int64_t label;
  std::string id;
  std::string split;
  uint64_t seed;
};

std::string split_for(int64_t i, int64_t n, double val, double test) {
  const auto n_test = static_cast<int64_t>(std::llround(static_cast<double>(n) * test));
  const auto n_val = static_cast<int64_t>(std::llround(static_cast<double>(n) * val));
  if (i >= n - n_test) return "test";
  if (i >= n - n_test - n_val) return "val";
  return "train";
}

// Runs the jobs on worker threads and writes the records in job order (deterministic), into a
// temporary folder renamed into place at the end: a failed run leaves no dataset behind.
// Jobs whose mesh cannot be read are skipped with a warning when `skip_bad` is set.
void build_dataset(const SampleArgs& a, const std::vector<std::string>& categories,
                   std::vector<Job> jobs, nlohmann::json source, bool skip_bad) {
  const auto sample_opts = a.sample_options();
  if (jobs.empty()) throw std::invalid_argument("nothing to make: no shapes selected");
  // A part of a sharded run keeps its jobs' global indices, which `data merge` orders by.
  std::vector<int64_t> job_index(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) job_index[j] = static_cast<int64_t>(j);
  if (!a.shard.empty()) {
    const auto slash = a.shard.find('/');
    const int64_t part = std::stoll(a.shard.substr(0, slash)), parts = std::stoll(a.shard.substr(slash + 1));
    std::vector<Job> mine;
    std::vector<int64_t> mine_index;
    for (size_t j = static_cast<size_t>(part); j < jobs.size(); j += static_cast<size_t>(parts)) {
      mine.push_back(std::move(jobs[j]));
      mine_index.push_back(static_cast<int64_t>(j));
    }
    if (mine.empty()) {
      throw std::invalid_argument("--shard " + a.shard + ": this part has no shapes (only " +
                                  std::to_string(jobs.size()) + " in all)");
    }
    jobs = std::move(mine);
    job_index = std::move(mine_index);
    // Each record's place in the whole run, by id (ids are unique within a dataset).
    nlohmann::json order = nlohmann::json::object();
    for (size_t j = 0; j < jobs.size(); ++j) order[jobs[j].id] = job_index[j];
    source["shard"] = {{"index", part}, {"count", parts}, {"order", order}};
  }
  io::DatasetInfo info;
  info.categories = categories;
  info.points = a.points;
  info.normals = true;
  info.scans = a.scans;
  info.scan_points = a.scans > 0 ? a.scan_points : 0;
  info.normalization.kind = sample_opts.normalization;
  info.source = std::move(source);

  const fs::path out(a.out);
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  if (out.has_parent_path() && !fs::exists(out.parent_path())) {
    throw std::invalid_argument(a.out + ": parent folder does not exist");
  }
  // Torch ops run single-threaded inside each worker: shapes are the unit of parallelism.
  at::set_num_threads(1);

  const size_t n = jobs.size();
  std::vector<io::ShapeRecord> records(n);
  std::vector<std::string> errors(n);
  std::vector<char> done(n, 0);
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (size_t i = next++; i < n && !stop; i = next++) {
      io::ShapeRecord r;
      std::string err;
      try {
        const auto mesh = jobs[i].mesh();
        auto s = shapes::make_dataset_sample(mesh, jobs[i].seed, sample_opts);
        r.id = jobs[i].id;
        r.label = jobs[i].label;
        r.points = s.surface.points;
        r.normals = s.surface.normals;
        r.partial = s.partial;
        r.cam_to_world = s.cam_to_world;
        r.intrinsics = s.intrinsics;
        r.normalization = s.normalization;
      } catch (const std::exception& e) {
        err = e.what();
        if (err.empty()) err = "unknown error";
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        records[i] = std::move(r);
        errors[i] = std::move(err);
        done[i] = 1;
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < a.threads; ++t) pool.emplace_back(worker);
  auto join = [&] {
    stop = true;
    for (auto& th : pool) {
      if (th.joinable()) th.join();
    }
  };

  int64_t skipped = 0;
  try {
    io::DatasetWriter writer(tmp.string(), info, a.shard_size);
    Progress progress("data", static_cast<int64_t>(n), "shapes");
    for (size_t i = 0; i < n; ++i) {
      io::ShapeRecord r;
      std::string err;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return done[i] != 0; });
        r = std::move(records[i]);
        err = std::move(errors[i]);
      }
      if (!err.empty()) {
        if (!skip_bad) throw std::invalid_argument(jobs[i].id + ": " + err);
        std::cerr << "\nshapediff: warning: skipping " << jobs[i].id << ": " << err << "\n";
        ++skipped;
      } else {
        writer.add(jobs[i].split, r);
      }
      progress.update(static_cast<int64_t>(i + 1));
    }
    progress.finish();
    if (skipped == static_cast<int64_t>(n)) throw std::invalid_argument("every input was skipped");
    const auto written = writer.finish();
    join();
    if (fs::exists(out)) fs::remove_all(out);
    fs::rename(tmp, out);
    std::cout << "wrote " << a.out << ": ";
    for (const auto& [split, s] : written.splits) std::cout << split << " " << s.count << "  ";
    if (skipped > 0) std::cout << "(skipped " << skipped << ")";
    std::cout << "\n";
  } catch (...) {
    join();
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

struct MakeArgs {
  SampleArgs s;
  std::string families = "chair,table,airplane,car,lamp,mug";
  int64_t per_family = 20;
  int64_t resolution = 64;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int run_make(const MakeArgs& m) {
  m.s.validate();
  if (m.per_family < 1) throw std::invalid_argument("--per-family must be >= 1");
  std::vector<std::string> names = split_list(m.families);
  if (m.families == "all") {
    names.clear();
    for (auto f : shapes::all_shape_families()) names.push_back(shapes::to_string(f));
  }
  if (names.empty()) throw std::invalid_argument("--families is empty");
  std::vector<shapes::ShapeFamily> families;
  for (const auto& name : names) families.push_back(shapes::parse_shape_family(name));
  shapes::ProceduralOptions popts;
  popts.set_resolution(m.resolution);
  if (m.resolution < 8 || m.resolution > 512) {
    throw std::invalid_argument("--resolution must be in [8, 512], got " + std::to_string(m.resolution));
  }

  std::vector<Job> jobs;
  for (int64_t i = 0; i < m.per_family; ++i) {
    for (size_t f = 0; f < families.size(); ++f) {
      const auto family = families[f];
      std::ostringstream id;
      id << names[f] << "/" << std::setw(5) << std::setfill('0') << i;
      jobs.push_back({[family, i, seed = m.s.seed, popts] {
                        return shapes::make_shape(family, i, seed, popts);
                      },
                      static_cast<int64_t>(f), id.str(),
                      split_for(i, m.per_family, m.s.val, m.s.test),
                      m.s.seed * 1000003 + static_cast<uint64_t>(i) * 131 + f});
    }
  }
  nlohmann::json source = {{"generator", "procedural"},
                           {"families", names},
                           {"per_family", m.per_family},
                           {"resolution", m.resolution},
                           {"seed", m.s.seed},
                           {"scan_noise", m.s.noise},
                           {"scan_dropout", m.s.dropout}};
  build_dataset(m.s, names, std::move(jobs), source, /*skip_bad=*/false);
  return 0;
}

struct ImportArgs {
  SampleArgs s;
  std::string meshes;
};

int run_import(const ImportArgs& im) {
  im.s.validate();
  const fs::path root(im.meshes);
  if (!fs::is_directory(root)) throw std::invalid_argument(im.meshes + ": not a folder");
  const std::set<std::string> exts = {".off", ".ply", ".obj", ".stl"};
  std::map<std::string, std::vector<fs::path>> by_category;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (!exts.count(ext)) continue;
    const auto rel = fs::relative(entry.path(), root);
    const std::string category = rel.has_parent_path() ? rel.begin()->string() : "default";
    by_category[category].push_back(entry.path());
  }
  if (by_category.empty()) {
    throw std::invalid_argument(im.meshes + ": no .off/.ply/.obj/.stl meshes found");
  }
  std::vector<std::string> categories;
  std::vector<Job> jobs;
  for (auto& [category, files] : by_category) {
    std::sort(files.begin(), files.end());
    const auto label = static_cast<int64_t>(categories.size());
    categories.push_back(category);
    const auto n = static_cast<int64_t>(files.size());
    for (int64_t i = 0; i < n; ++i) {
      const auto path = files[static_cast<size_t>(i)];
      const std::string id = fs::relative(path, root).string();
      jobs.push_back({[path] { return io::read_mesh(path.string()); }, label, id,
                      split_for(i, n, im.s.val, im.s.test),
                      im.s.seed * 1000003 + static_cast<uint64_t>(jobs.size())});
    }
  }
  nlohmann::json source = {{"generator", "import"}, {"meshes", fs::absolute(root).string()},
                           {"seed", im.s.seed}};
  build_dataset(im.s, categories, std::move(jobs), source, /*skip_bad=*/true);
  return 0;
}

struct ScanArgs {
  std::string mesh;
  std::string out;
  int64_t views = 2;
  int64_t size = 128;
  double fov = 40.0;
  double distance = 3.0;
  double noise = 0.0;
  double dropout = 0.0;
  uint64_t seed = 0;
};

int run_scan(const ScanArgs& a) {
  if (a.views < 1) throw std::invalid_argument("--views must be >= 1");
  if (!(a.distance > 1.0)) throw std::invalid_argument("--distance must exceed 1 (bounding-sphere radii)");
  auto mesh = io::read_mesh(a.mesh);
  // Scan in the unit-sphere frame, then map points and cameras back to the mesh's frame.
  const auto norm = shapes::Normalization::unit_sphere(mesh.vertices);
  shapes::TriangleMesh unit = mesh;
  unit.vertices = norm.apply(mesh.vertices).to(torch::kFloat32);
  const auto cams = shapes::cameras_around(a.views, a.distance, a.seed, a.size, a.size, a.fov);
  shapes::ScanOptions so;
  so.depth_noise = a.noise / norm.scale;
  so.dropout = a.dropout;
  so.seed = a.seed;
  const auto scans = shapes::scan_mesh_views(unit, cams, so);
  std::vector<torch::Tensor> pts, nrm;
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& s : scans) {
    pts.push_back(norm.invert(s.cloud.points).to(torch::kFloat32));
    nrm.push_back(s.cloud.normals);
    auto c2w = s.camera.camera_to_world();
    for (int r = 0; r < 3; ++r) {
      c2w[r][3] = c2w[r][3].item<double>() * norm.scale + norm.center[static_cast<size_t>(r)];
    }
    const auto flat = c2w.contiguous();
    cameras.push_back({{"width", s.camera.width}, {"height", s.camera.height},
                       {"fx", s.camera.fx}, {"fy", s.camera.fy}, {"cx", s.camera.cx},
                       {"cy", s.camera.cy}, {"points", s.cloud.size()},
                       {"cam_to_world", std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + 16)}});
  }
  shapes::PointCloud cloud{torch::cat(pts), torch::cat(nrm), {}};
  io::write_point_cloud(a.out, cloud);
  const std::string sidecar = a.out + ".cameras.json";
  try {
    io::write_json(sidecar, {{"mesh", a.mesh}, {"views", cameras},
                             {"convention", "camera looks along -Z, +Y up; cam_to_world row-major 4x4"}});
  } catch (...) {
    std::error_code ec;
    fs::remove(a.out, ec);
    throw;
  }
  std::cout << "wrote " << a.out << " (" << cloud.size() << " points from " << a.views
            << " views) and " << sidecar << "\n";
  return 0;
}

int run_info(const std::string& dir) {
  const auto info = io::read_dataset_info(dir);
  std::cout << dir << ": shapediff dataset\n";
  std::cout << "  points " << info.points << (info.normals ? " with normals" : "") << ", scans "
            << info.scans;
  if (info.scans > 0) std::cout << " x " << info.scan_points << " points";
  std::cout << ", normalization " << shapes::to_string(info.normalization.kind) << "\n";
  std::vector<std::map<std::string, int64_t>> per_category(info.categories.size());
  for (const auto& [split, s] : info.splits) {
    std::cout << "  " << std::left << std::setw(6) << split << std::right << std::setw(7)
              << s.count << " shapes in " << s.shards.size() << " shards\n";
    for (const auto& shard : s.shards) {
      for (const auto& r : io::read_shard((fs::path(dir) / shard).string(), info)) {
        per_category[static_cast<size_t>(r.label)][split] += 1;
      }
    }
  }
  std::cout << "  categories:\n";
  for (size_t c = 0; c < info.categories.size(); ++c) {
    std::cout << "    " << std::left << std::setw(12) << info.categories[c] << std::right;
    for (const auto& [split, n] : per_category[c]) std::cout << "  " << split << " " << n;
    std::cout << "\n";
  }
  if (!info.source.empty()) std::cout << "  source: " << info.source.dump() << "\n";
  return 0;
}

struct MergeArgs {
  std::vector<std::string> parts;
  std::string out;
  bool overwrite = false;
};

// Joins the parts of a sharded `data make`/`data import` (every part of one run, each made with
// --shard I/N) into the dataset the unsharded run writes: the same records in the same order.
int run_merge(const MergeArgs& m) {
  if (m.parts.empty()) throw std::invalid_argument("data merge: no parts given");
  if (fs::exists(m.out) && !m.overwrite) {
    throw std::invalid_argument(m.out + ": already exists (use --overwrite to replace it)");
  }
  std::vector<io::DatasetInfo> infos;
  int64_t count = -1;
  std::set<int64_t> seen;
  for (const auto& part : m.parts) {
    auto info = io::read_dataset_info(part);
    const auto& src = info.source;
    if (!src.is_object() || !src.contains("shard") || !src["shard"].is_object() ||
        !src["shard"].contains("index") || !src["shard"].contains("count") || !src["shard"].contains("order")) {
      throw std::invalid_argument(part + "/dataset.json: field 'source.shard' is missing: not made with --shard I/N");
    }
    const int64_t index = src["shard"]["index"].get<int64_t>(), n = src["shard"]["count"].get<int64_t>();
    if (count >= 0 && n != count) {
      throw std::invalid_argument(part + ": part of a " + std::to_string(n) + "-way run, the first part of a " +
                                  std::to_string(count) + "-way one");
    }
    count = n;
    if (!seen.insert(index).second) {
      throw std::invalid_argument(part + ": part " + std::to_string(index) + " is given twice");
    }
    if (!infos.empty()) {
      auto a = info.source, b = infos.front().source;
      a.erase("shard");
      b.erase("shard");
      const auto& f = infos.front();
      if (a != b || info.categories != f.categories || info.points != f.points || info.normals != f.normals ||
          info.scans != f.scans || info.scan_points != f.scan_points || info.shard_size != f.shard_size ||
          info.normalization.kind != f.normalization.kind) {
        throw std::invalid_argument(part + ": made with other options than " + m.parts.front() +
                                    " (compare their dataset.json)");
      }
    }
    infos.push_back(std::move(info));
  }
  if (static_cast<int64_t>(seen.size()) != count) {
    std::string missing;
    for (int64_t i = 0; i < count; ++i) {
      if (!seen.count(i)) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
    }
    throw std::invalid_argument("data merge: parts " + missing + " of " + std::to_string(count) + " are missing");
  }

  // Records per split, keyed by their place in the whole run.
  std::map<std::string, std::map<int64_t, io::ShapeRecord>> by_split;
  for (size_t p = 0; p < infos.size(); ++p) {
    const auto& order = infos[p].source["shard"]["order"];
    for (const auto& [split, split_info] : infos[p].splits) {
      for (const auto& shard : split_info.shards) {
        for (auto& r : io::read_shard((fs::path(m.parts[p]) / shard).string(), infos[p])) {
          if (!order.contains(r.id)) {
            throw std::invalid_argument(m.parts[p] + "/" + shard + ": record '" + r.id +
                                        "' is not in source.shard.order");
          }
          by_split[split][order[r.id].get<int64_t>()] = std::move(r);
        }
      }
    }
  }
  io::DatasetInfo info = infos.front();
  info.splits.clear();
  info.source.erase("shard");
  const fs::path out(m.out);
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  try {
    // Records go in in the order of the whole run, as build_dataset adds them.
    std::vector<std::pair<int64_t, std::pair<std::string, const io::ShapeRecord*>>> all;
    for (const auto& [split, records] : by_split) {
      for (const auto& [index, r] : records) all.push_back({index, {split, &r}});
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    io::DatasetWriter writer(tmp.string(), info, info.shard_size);
    for (const auto& [index, item] : all) writer.add(item.first, *item.second);
    const auto written = writer.finish();
    if (fs::exists(out)) fs::remove_all(out);
    fs::rename(tmp, out);
    std::cout << "wrote " << m.out << " from " << m.parts.size() << " parts: ";
    for (const auto& [split, sp] : written.splits) std::cout << split << " " << sp.count << "  ";
    std::cout << "\n";
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return 0;
}

}  // namespace

void add_data_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("data", "Make, import, scan and inspect shape datasets");
  cmd->require_subcommand(1, 1);

  auto make = std::make_shared<MakeArgs>();
  auto* mk = cmd->add_subcommand("make", "Generate a dataset from the procedural shape families");
  mk->add_option("--families", make->families,
                 "Comma-separated families, or 'all' (airplane, bench, bottle, car, chair, guitar, "
                 "lamp, mug, rocket, sofa, table, vase)")
      ->capture_default_str();
  mk->add_option("--per-family", make->per_family, "Shapes per family")->capture_default_str();
  mk->add_option("--resolution", make->resolution, "Grid resolution of the shape meshes")
      ->capture_default_str();
  add_sample_options(mk, make->s);
  mk->callback([make, &action] { action = [make] { return run_make(*make); }; });

  auto imp = std::make_shared<ImportArgs>();
  auto* im = cmd->add_subcommand(
      "import", "Make a dataset from a folder of OFF/PLY/OBJ/STL meshes (subfolder = category)");
  im->add_option("--meshes", imp->meshes, "Folder of meshes")->required();
  add_sample_options(im, imp->s);
  im->callback([imp, &action] { action = [imp] { return run_import(*imp); }; });

  auto scan = std::make_shared<ScanArgs>();
  auto* sc = cmd->add_subcommand("scan", "Virtual depth scans of one mesh into a point cloud");
  sc->add_option("--mesh", scan->mesh, "Mesh file")->required();
  sc->add_option("--out", scan->out, "Point cloud file (.ply, .xyz, .pcd)")->required();
  sc->add_option("--views", scan->views, "Number of views")->capture_default_str();
  sc->add_option("--size", scan->size, "Depth image width = height")->capture_default_str();
  sc->add_option("--fov", scan->fov, "Vertical field of view, degrees")->capture_default_str();
  sc->add_option("--distance", scan->distance, "Camera distance in bounding-sphere radii")
      ->capture_default_str();
  sc->add_option("--noise", scan->noise, "Depth noise std, mesh units")->capture_default_str();
  sc->add_option("--dropout", scan->dropout, "Fraction of returns dropped")->capture_default_str();
  sc->add_option("--seed", scan->seed)->capture_default_str();
  sc->callback([scan, &action] { action = [scan] { return run_scan(*scan); }; });

  auto merge = std::make_shared<MergeArgs>();
  auto* mg = cmd->add_subcommand(
      "merge", "Join the parts of a sharded data make/import (--shard I/N) into one dataset");
  mg->add_option("parts", merge->parts, "The part folders (every part of one run)")->required();
  mg->add_option("--out", merge->out, "Output dataset folder")->required();
  mg->add_flag("--overwrite", merge->overwrite, "Replace an existing output folder");
  mg->callback([merge, &action] { action = [merge] { return run_merge(*merge); }; });

  auto dir = std::make_shared<std::string>();
  auto* in = cmd->add_subcommand("info", "Describe a dataset folder (and check its shards)");
  in->add_option("dir", *dir, "Dataset folder")->required();
  in->callback([dir, &action] { action = [dir] { return run_info(*dir); }; });
}

}  // namespace shapediff::apps
