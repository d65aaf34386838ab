// `shapediff image-data --out DIR`: the embedded 2D dataset, depth renders of the procedural
// shape families as a PNG folder with one subfolder per family (io/render_folder.h), plus an
// optional contact sheet (one row per family) to look at.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "apps/command.h"
#include "io/image_folder.h"
#include "io/render_folder.h"

namespace shapediff::apps {
namespace {

struct ImageDataArgs {
  std::string out;
  std::string families = "airplane,car,chair,lamp,mug,table";
  int64_t per_family = 20;
  int64_t views = 2;
  int64_t size = 32;
  int64_t resolution = 64;
  uint64_t seed = 0;
  int64_t threads = 2;
  std::string sheet;
  bool overwrite = false;
};

std::vector<shapes::ShapeFamily> parse_families(const std::string& list) {
  if (list == "all") return shapes::all_shape_families();
  std::vector<shapes::ShapeFamily> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (!name.empty()) out.push_back(shapes::parse_shape_family(name));
  }
  if (out.empty()) throw std::invalid_argument("--families is empty");
  return out;
}

int run_image_data(const ImageDataArgs& a) {
  if (a.threads < 1 || a.threads > 256) {
    throw std::invalid_argument("--threads must be in [1, 256], got " + std::to_string(a.threads));
  }
  if (!a.sheet.empty()) {
    namespace fs = std::filesystem;
    const auto folder = fs::weakly_canonical(fs::absolute(a.out)).lexically_normal();
    const auto sheet = fs::weakly_canonical(fs::absolute(a.sheet)).lexically_normal();
    const auto rel = sheet.lexically_relative(folder);
    if (!rel.empty() && *rel.begin() != "..") {
      throw std::invalid_argument("--sheet " + a.sheet + ": must lie outside --out (the folder holds only the renders)");
    }
  }
  shapes::RenderDatasetOptions o;
  o.families = parse_families(a.families);
  o.per_family = a.per_family;
  o.views = a.views;
  o.size = a.size;
  o.resolution = a.resolution;
  o.seed = a.seed;
  at::set_num_threads(static_cast<int>(a.threads));
  const auto start = std::chrono::steady_clock::now();
  const shapes::RenderedImages r = io::write_render_folder(a.out, o, a.overwrite);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << r.images.size(0) << " images " << a.size << "x" << a.size << " (" << o.families.size()
            << " families x " << a.per_family << " shapes x " << a.views << " views) to " << a.out << " in "
            << seconds << " s\n";
  if (!a.sheet.empty()) {
    // One row per family: its first renders, at most 8.
    const int64_t per = a.per_family * a.views, columns = std::min<int64_t>(8, per);
    std::vector<torch::Tensor> rows;
    for (size_t f = 0; f < o.families.size(); ++f) {
      rows.push_back(r.images.slice(0, static_cast<int64_t>(f) * per, static_cast<int64_t>(f) * per + columns));
    }
    io::write_image_png(a.sheet, io::contact_sheet(torch::cat(rows), columns, 2));
    std::cout << "wrote " << a.sheet << "\n";
  }
  return 0;
}

}  // namespace

void add_image_data_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ImageDataArgs>();
  auto* cmd = app.add_subcommand(
      "image-data", "Render the procedural shape families into a PNG folder (depth images, subfolder = family)");
  cmd->add_option("--out", a->out, "Output folder (must not exist or be empty)")->required();
  cmd->add_option("--families", a->families,
                  "Comma-separated families, or 'all' (airplane, bench, bottle, car, chair, guitar, "
                  "lamp, mug, rocket, sofa, table, vase)")
      ->capture_default_str();
  cmd->add_option("--per-family", a->per_family, "Shapes per family")->capture_default_str();
  cmd->add_option("--views", a->views, "Renders per shape")->capture_default_str();
  cmd->add_option("--size", a->size, "Image width = height, pixels")->capture_default_str();
  cmd->add_option("--resolution", a->resolution, "Grid resolution of the shape meshes")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed for shapes and views")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Worker threads")->capture_default_str();
  cmd->add_option("--sheet", a->sheet, "Also write a contact sheet (a row of 8 renders per family) to this PNG");
  cmd->add_flag("--overwrite", a->overwrite, "Replace an existing output folder");
  cmd->callback([a, &action] { action = [a] { return run_image_data(*a); }; });
}

}  // namespace shapediff::apps
