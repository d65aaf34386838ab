#include "diffusion/point_model.h"

#include <filesystem>
#include <mutex>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "diffusion/number_text.h"
#include "diffusion/schedule_json.h"
#include "diffusion/training_run.h"
#include "io/json_fields.h"
#include "io/module_archive.h"

namespace shapediff::diffusion {

namespace {

constexpr int64_t kConfigVersion = 1;

// Builds the network without touching torch's default generator: loading a model must not
// change what a seeded run draws afterwards.
template <typename Net, typename Config>
Net build_network_preserving_rng(const Config& config) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  Net net(config);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return net;
}

}  // namespace

PointTask parse_point_task(const std::string& name) {
  if (name == "generation") return PointTask::Generation;
  if (name == "completion") return PointTask::Completion;
  if (name == "super_resolution") return PointTask::SuperResolution;
  throw std::invalid_argument("unknown task '" + name + "' (choose from: generation, completion, super_resolution)");
}

std::string to_string(PointTask task) {
  switch (task) {
    case PointTask::Completion: return "completion";
    case PointTask::SuperResolution: return "super_resolution";
    default: return "generation";
  }
}

Representation parse_representation(const std::string& name) {
  if (name == "points") return Representation::Points;
  if (name == "voxels") return Representation::Voxels;
  if (name == "images") return Representation::Images;
  if (name == "sparse_voxels") return Representation::SparseVoxels;
  throw std::invalid_argument("unknown representation '" + name +
                              "' (choose from: points, voxels, images, sparse_voxels)");
}

std::string to_string(Representation representation) {
  switch (representation) {
    case Representation::Voxels: return "voxels";
    case Representation::Images: return "images";
    case Representation::SparseVoxels: return "sparse_voxels";
    default: return "points";
  }
}

networks::UNetOptions PointModelConfig::grid_network() const {
  if (representation == Representation::Images) {
    // Super-resolution: the conditioning image rides along as extra input channels.
    const int64_t in = task == PointTask::SuperResolution ? 2 * images.channels : images.channels;
    return networks::unet_preset(images.unet, 2, num_classes).in_channels(in).out_channels(images.channels);
  }
  return networks::unet_preset(voxels.unet, 3, num_classes);
}

networks::PVCNNConfig PointModelConfig::network() const {
  auto c = networks::pvcnn_preset(preset, num_classes);
  if (overrides.embed_dim) c.embed_dim = *overrides.embed_dim;
  if (overrides.attention) c.attention = *overrides.attention;
  if (overrides.squeeze_excitation) c.squeeze_excitation = *overrides.squeeze_excitation;
  if (overrides.dropout) c.dropout = *overrides.dropout;
  if (overrides.head_channels) c.head_channels = *overrides.head_channels;
  return c;
}

void PointModelConfig::validate(const std::string& context) const {
  auto fail = [&](const std::string& msg) { throw std::invalid_argument(context + ": " + msg); };
  if (points < 1) fail("points must be >= 1, got " + std::to_string(points));
  if (task == PointTask::Completion && (known_points < 1 || known_points >= points)) {
    fail("known_points must be in [1, points - 1] for a completion model, got " +
         std::to_string(known_points) + " of " + std::to_string(points));
  }
  if (task == PointTask::Generation && known_points != 0) {
    fail("known_points is " + std::to_string(known_points) + " but the task is generation");
  }
  if (num_classes < 0) fail("model.num_classes must be >= 0, got " + std::to_string(num_classes));
  if (num_classes > 0 && static_cast<int64_t>(classes.size()) != num_classes) {
    fail("classes has " + std::to_string(classes.size()) + " names but model.num_classes is " +
         std::to_string(num_classes));
  }
  try {
    schedule.validate();
  } catch (const std::invalid_argument& e) {
    fail(std::string("schedule: ") + e.what());
  }
  try {
    network().validate();
  } catch (const std::invalid_argument& e) {
    fail(std::string("model: ") + e.what());
  }
  normalization.validate(context + ": normalization.model");
  if (representation == Representation::Images) {
    if (task == PointTask::Completion) fail("image models are generation or super_resolution models (task completion)");
    if (task == PointTask::SuperResolution &&
        (images.sr_factor < 2 || images.size % images.sr_factor != 0)) {
      fail("images.sr_factor must be >= 2 and divide images.size " + std::to_string(images.size) + ", got " +
           std::to_string(images.sr_factor));
    }
    if (task != PointTask::SuperResolution && images.sr_factor != 0) {
      fail("images.sr_factor is " + std::to_string(images.sr_factor) + " but the task is " + to_string(task));
    }
    const int64_t multiple = int64_t{1} << (grid_network().channel_mult().size() - 1);
    if (images.size < 8 || images.size % multiple != 0) {
      fail("images.size must be >= 8 and divisible by " + std::to_string(multiple) + ", got " +
           std::to_string(images.size));
    }
    if (images.channels != 1 && images.channels != 3) {
      fail("images.channels must be 1 or 3, got " + std::to_string(images.channels));
    }
  }
  if (representation == Representation::Points && task == PointTask::SuperResolution) {
    fail("task super_resolution is for image models");
  }
  if (representation == Representation::SparseVoxels) {
    if (task != PointTask::Generation) {
      fail("sparse-voxel models are generation models (task " + to_string(task) + ")");
    }
    sparse_voxels.validate(context);
  }
  if (representation == Representation::Voxels) {
    if (task != PointTask::Generation) fail("voxel models are generation models (task " + to_string(task) + ")");
    const auto g = grid_network();
    const int64_t multiple = int64_t{1} << (g.channel_mult().size() - 1);
    if (voxels.grid < 8 || voxels.grid % multiple != 0) {
      fail("voxels.grid must be >= 8 and divisible by " + std::to_string(multiple) + " (the U-Net's " +
           std::to_string(g.channel_mult().size()) + " levels), got " + std::to_string(voxels.grid));
    }
    if (!(voxels.truncation > 0 && voxels.truncation <= voxels.grid)) {
      fail("voxels.truncation must be in (0, grid], got " + number_text(voxels.truncation));
    }
  }
}

nlohmann::json PointModelConfig::to_json() const {
  nlohmann::json model = {{"preset", networks::to_string(preset)}, {"num_classes", num_classes}};
  if (overrides.embed_dim) model["embed_dim"] = *overrides.embed_dim;
  if (overrides.attention) model["attention"] = *overrides.attention;
  if (overrides.squeeze_excitation) model["squeeze_excitation"] = *overrides.squeeze_excitation;
  if (overrides.dropout) model["dropout"] = *overrides.dropout;
  if (overrides.head_channels) model["head_channels"] = *overrides.head_channels;
  nlohmann::json out = {{"version", kConfigVersion},
          {"model", model},
          {"schedule", schedule_to_json(schedule)},
          {"points", points},
          {"classes", classes},
          {"normalization",
           {{"dataset", shapes::to_string(dataset_normalization)}, {"model", normalization.to_json()}}}};
  // Generation models keep the file layout they had before completion models existed.
  if (task == PointTask::Completion) {
    out["task"] = to_string(task);
    out["known_points"] = known_points;
  }
  if (task == PointTask::SuperResolution) out["task"] = to_string(task);
  if (representation == Representation::Voxels) {
    out["voxels"] = {{"grid", voxels.grid}, {"truncation", voxels.truncation},
                     {"unet", networks::to_string(voxels.unet)}};
  }
  if (representation == Representation::SparseVoxels) out["sparse_voxels"] = sparse_voxel_settings_to_json(sparse_voxels);
  if (representation == Representation::Images) {
    out["images"] = {{"size", images.size}, {"channels", images.channels},
                     {"unet", networks::to_string(images.unet)}};
    if (task == PointTask::SuperResolution) out["images"]["sr_factor"] = images.sr_factor;
  }
  return out;
}

PointModelConfig PointModelConfig::from_json(const nlohmann::json& json, const std::string& context) {
  PointModelConfig c;
  io::JsonFields root(json, context);
  const auto version = root.get<int64_t>("version", kConfigVersion);
  root.check("version", version == kConfigVersion, std::to_string(kConfigVersion));

  auto model = root.object("model");
  try {
    c.preset = networks::parse_pvcnn_preset(model.require<std::string>("preset"));
  } catch (const std::invalid_argument& e) {
    model.reject("preset", e.what());
  }
  c.num_classes = model.get<int64_t>("num_classes", 0);
  if (model.has("embed_dim")) c.overrides.embed_dim = model.require<int64_t>("embed_dim");
  if (model.has("attention")) c.overrides.attention = model.require<bool>("attention");
  if (model.has("squeeze_excitation")) {
    c.overrides.squeeze_excitation = model.require<bool>("squeeze_excitation");
  }
  if (model.has("dropout")) c.overrides.dropout = model.require<double>("dropout");
  if (model.has("head_channels")) c.overrides.head_channels = model.require<int64_t>("head_channels");
  model.finish();

  auto schedule = root.object("schedule", /*optional=*/true);
  c.schedule = schedule_from_json(schedule);
  c.points = root.require<int64_t>("points");
  try {
    c.task = parse_point_task(root.get<std::string>("task", "generation"));
  } catch (const std::invalid_argument& e) {
    root.reject("task", e.what());
  }
  c.known_points = root.get<int64_t>("known_points", 0);
  c.classes = root.get<std::vector<std::string>>("classes", {});

  auto norm = root.object("normalization", /*optional=*/true);
  try {
    c.dataset_normalization =
        shapes::parse_normalization_kind(norm.get<std::string>("dataset", "unit_sphere"));
  } catch (const std::invalid_argument& e) {
    norm.reject("dataset", e.what());
  }
  if (norm.has("model")) {
    c.normalization = shapes::Normalization::from_json(norm.require<nlohmann::json>("model"),
                                                       context + ": normalization.model");
  }
  norm.finish();
  if (root.has("voxels")) {
    c.representation = Representation::Voxels;
    auto vox = root.object("voxels");
    c.voxels.grid = vox.require<int64_t>("grid");
    c.voxels.truncation = vox.require<double>("truncation");
    try {
      c.voxels.unet = networks::parse_unet_preset(vox.require<std::string>("unet"));
    } catch (const std::invalid_argument& e) {
      vox.reject("unet", e.what());
    }
    vox.finish();
  }
  if (root.has("sparse_voxels")) {
    c.representation = Representation::SparseVoxels;
    auto sv = root.object("sparse_voxels");
    read_sparse_voxel_fields(sv, c.sparse_voxels);
    try {
      c.sparse_voxels.unet = sparse::parse_sparse_unet_preset(sv.require<std::string>("unet"));
    } catch (const std::invalid_argument& e) {
      sv.reject("unet", e.what());
    }
    sv.finish();
  }
  if (root.has("images")) {
    c.representation = Representation::Images;
    auto img = root.object("images");
    c.images.size = img.require<int64_t>("size");
    c.images.channels = img.require<int64_t>("channels");
    try {
      c.images.unet = networks::parse_unet_preset(img.require<std::string>("unet"));
    } catch (const std::invalid_argument& e) {
      img.reject("unet", e.what());
    }
    c.images.sr_factor = img.get<int64_t>("sr_factor", 0);
    img.finish();
  }
  root.finish();
  c.validate(context);
  return c;
}

std::optional<std::string> config_difference(const PointModelConfig& a, const PointModelConfig& b) {
  if (a.representation != b.representation) {
    return "representation " + to_string(a.representation) + " vs " + to_string(b.representation);
  }
  if (a.representation == Representation::Images) {
    if (a.images.size != b.images.size) {
      return "images.size " + std::to_string(a.images.size) + " vs " + std::to_string(b.images.size);
    }
    if (a.images.channels != b.images.channels) {
      return "images.channels " + std::to_string(a.images.channels) + " vs " + std::to_string(b.images.channels);
    }
    if (a.images.unet != b.images.unet) {
      return "images.unet " + networks::to_string(a.images.unet) + " vs " + networks::to_string(b.images.unet);
    }
    if (a.images.sr_factor != b.images.sr_factor) {
      return "images.sr_factor " + std::to_string(a.images.sr_factor) + " vs " + std::to_string(b.images.sr_factor);
    }
  }
  if (a.representation == Representation::SparseVoxels) {
    if (auto d = sparse_voxel_difference(a.sparse_voxels, b.sparse_voxels)) return d;
  }
  if (a.representation == Representation::Voxels) {
    if (a.voxels.grid != b.voxels.grid) {
      return "voxels.grid " + std::to_string(a.voxels.grid) + " vs " + std::to_string(b.voxels.grid);
    }
    if (a.voxels.truncation != b.voxels.truncation) {
      return "voxels.truncation " + number_text(a.voxels.truncation) + " vs " + number_text(b.voxels.truncation);
    }
    if (a.voxels.unet != b.voxels.unet) {
      return "voxels.unet " + networks::to_string(a.voxels.unet) + " vs " + networks::to_string(b.voxels.unet);
    }
  }
  if (a.preset != b.preset) {
    return "preset " + networks::to_string(a.preset) + " vs " + networks::to_string(b.preset);
  }
  if (a.num_classes != b.num_classes) {
    return "num_classes " + std::to_string(a.num_classes) + " vs " + std::to_string(b.num_classes);
  }
  const auto na = a.network(), nb = b.network();
  if (na.embed_dim != nb.embed_dim) {
    return "model.embed_dim " + std::to_string(na.embed_dim) + " vs " + std::to_string(nb.embed_dim);
  }
  if (na.attention != nb.attention) {
    return std::string("model.attention ") + (na.attention ? "true" : "false") + " vs " +
           (nb.attention ? "true" : "false");
  }
  if (na.squeeze_excitation != nb.squeeze_excitation) {
    return std::string("model.squeeze_excitation ") + (na.squeeze_excitation ? "true" : "false") +
           " vs " + (nb.squeeze_excitation ? "true" : "false");
  }
  if (na.dropout != nb.dropout) return "model.dropout " + number_text(na.dropout) + " vs " + number_text(nb.dropout);
  if (na.head_channels != nb.head_channels) {
    return "model.head_channels " + std::to_string(na.head_channels) + " vs " +
           std::to_string(nb.head_channels);
  }
  const auto sa = schedule_to_json(a.schedule), sb = schedule_to_json(b.schedule);
  for (const auto& item : sa.items()) {
    if (!sb.contains(item.key()) || sb.at(item.key()) != item.value()) {
      return "schedule." + item.key() + " " + item.value().dump() + " vs " +
             (sb.contains(item.key()) ? sb.at(item.key()).dump() : std::string("(unset)"));
    }
  }
  if (a.points != b.points) return "points " + std::to_string(a.points) + " vs " + std::to_string(b.points);
  if (a.task != b.task) return "task " + to_string(a.task) + " vs " + to_string(b.task);
  if (a.known_points != b.known_points) {
    return "known_points " + std::to_string(a.known_points) + " vs " + std::to_string(b.known_points);
  }
  if (a.classes != b.classes) {
    return "classes " + nlohmann::json(a.classes).dump() + " vs " + nlohmann::json(b.classes).dump();
  }
  return std::nullopt;
}

int64_t PointModel::class_label(const std::string& name) const {
  if (config.num_classes == 0) {
    throw std::invalid_argument("unknown class '" + name + "': the model is unconditional");
  }
  std::string names;
  for (size_t i = 0; i < config.classes.size(); ++i) {
    if (config.classes[i] == name) return static_cast<int64_t>(i);
    names += (i ? ", " : "") + config.classes[i];
  }
  throw std::invalid_argument("unknown class '" + name + "' (choose from: " + names + ")");
}

torch::Tensor PointModel::to_model_frame(const torch::Tensor& points) const {
  return config.normalization.apply(points);
}

torch::Tensor PointModel::to_dataset_frame(const torch::Tensor& points) const {
  return config.normalization.invert(points);
}

PointModel make_point_model(const PointModelConfig& config) {
  config.validate();
  PointModel m;
  m.config = config;
  if (config.representation == Representation::SparseVoxels) {
    m.sparse_net = sparse::SparseUNet(sparse_voxel_network(config.sparse_voxels, config.num_classes));
  } else if (config.representation != Representation::Points) {
    m.grid_net = networks::UNet(config.grid_network());
  } else {
    m.net = networks::PVCNN(config.network());
  }
  return m;
}

torch::nn::Module& PointModel::module() {
  if (sparse_net) return *sparse_net;
  if (grid_net) return *grid_net;
  return *net;
}

const torch::nn::Module& PointModel::module() const {
  if (sparse_net) return *sparse_net;
  if (grid_net) return *grid_net;
  return *net;
}

PointModel load_point_model(const std::string& path, torch::Device device) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) {
    const auto latest = latest_checkpoint(path);
    if (!latest) {
      throw std::invalid_argument(path + ": a folder without checkpoints (expected " +
                                  checkpoint_dir(path) + "/step-NNNNNNNN.pt)");
    }
    file = latest->path;
  }
  auto archive = io::read_archive_file(file);
  c10::IValue format_value;
  if (!archive.try_read("format", format_value) || !format_value.isString()) {
    throw std::invalid_argument(file + ": not a shapediff model file (no 'format' entry)");
  }
  const std::string format = format_value.toStringRef();
  std::string weights_key;
  if (format == kPointModelFormat) {
    weights_key = "weights";
  } else if (format == kPointCheckpointFormat) {
    weights_key = "ema";
  } else {
    throw std::invalid_argument(file + ": a '" + format + "' file, not a point model");
  }
  nlohmann::json config_json;
  try {
    config_json = nlohmann::json::parse(io::read_archive_string(archive, "config", file));
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(file + ": damaged config (" + e.what() + ")");
  }
  PointModel model;
  model.config = PointModelConfig::from_json(config_json, file);
  if (model.config.representation == Representation::SparseVoxels) {
    model.sparse_net = build_network_preserving_rng<sparse::SparseUNet>(
        sparse_voxel_network(model.config.sparse_voxels, model.config.num_classes));
  } else if (model.config.representation != Representation::Points) {
    model.grid_net = build_network_preserving_rng<networks::UNet>(model.config.grid_network());
  } else {
    model.net = build_network_preserving_rng<networks::PVCNN>(model.config.network());
  }
  io::read_module_state(archive, weights_key, model.module(), file);
  model.module().to(device);
  model.module().eval();
  return model;
}

void save_point_model(const PointModel& model, const std::string& path) {
  model.config.validate(path);
  torch::serialize::OutputArchive archive;
  io::write_archive_string(archive, "format", kPointModelFormat);
  io::write_archive_string(archive, "config", model.config.to_json().dump());
  io::write_module_state(archive, "weights", model.module());
  io::write_archive_file(path, archive);
}

}  // namespace shapediff::diffusion
