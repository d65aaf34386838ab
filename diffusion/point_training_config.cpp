#include "diffusion/point_training_config.h"

#include <cmath>
#include <stdexcept>

#include "diffusion/number_text.h"
#include "diffusion/schedule_json.h"
#include "io/json_fields.h"

namespace shapediff::diffusion {

namespace {

template <typename Enum>
Enum parse_choice(io::JsonFields& f, const std::string& key, Enum fallback,
                  const std::vector<std::pair<std::string, Enum>>& choices) {
  if (!f.has(key)) return fallback;
  const auto name = f.require<std::string>(key);
  std::string names;
  for (const auto& [n, v] : choices) {
    if (n == name) return v;
    names += (names.empty() ? "" : ", ") + n;
  }
  f.fail(key, "must be one of " + names + ", got \"" + name + "\"");
}

const std::vector<std::pair<std::string, OptimizerKind>> kOptimizers = {
    {"adam", OptimizerKind::Adam}, {"adamw", OptimizerKind::AdamW}};
const std::vector<std::pair<std::string, TrainingPrecision>> kPrecisions = {
    {"fp32", TrainingPrecision::Float32}, {"bf16", TrainingPrecision::BFloat16}};
const std::vector<std::pair<std::string, DataNormalization>> kNormalizations = {
    {"none", DataNormalization::None}, {"dataset_global", DataNormalization::DatasetGlobal}};
const std::vector<std::pair<std::string, LrDecay>> kDecays = {
    {"constant", LrDecay::Constant}, {"cosine", LrDecay::Cosine}, {"exponential", LrDecay::Exponential}};

template <typename Enum>
std::string choice_name(Enum v, const std::vector<std::pair<std::string, Enum>>& choices) {
  for (const auto& [n, e] : choices) {
    if (e == v) return n;
  }
  return "?";
}

}  // namespace

std::string to_string(OptimizerKind kind) { return choice_name(kind, kOptimizers); }
std::string to_string(TrainingPrecision precision) { return choice_name(precision, kPrecisions); }
std::string to_string(DataNormalization normalization) { return choice_name(normalization, kNormalizations); }

LrSchedule PointTrainingConfig::lr_schedule() const {
  LrSchedule s;
  s.decay = training.lr_schedule;
  s.lr = training.lr;
  s.warmup_steps = training.warmup_steps;
  s.total_steps = training.steps;
  s.min_lr = training.min_lr;
  s.gamma = training.lr_gamma;
  return s;
}

void PointTrainingConfig::validate(const std::string& context) const {
  auto fail = [&](const std::string& field, const std::string& rule, const std::string& value) {
    throw std::invalid_argument(context + ": " + field + " must be " + rule + ", got " + value);
  };
  auto positive = [&](const std::string& field, int64_t v) {
    if (v < 1) fail(field, ">= 1", std::to_string(v));
  };
  auto in_range = [&](const std::string& field, double v, double lo, double hi, const std::string& rule) {
    if (!(v >= lo && v <= hi)) fail(field, rule, number_text(v));
  };
  const auto& t = training;
  positive("training.steps", t.steps);
  positive("training.batch_size", t.batch_size);
  positive("training.grad_accumulation", t.grad_accumulation);
  if (!(t.lr > 0) || !std::isfinite(t.lr)) fail("training.lr", "a finite number > 0", number_text(t.lr));
  in_range("training.betas[0]", t.beta1, 0, 0.999999, "in [0, 1)");
  in_range("training.betas[1]", t.beta2, 0, 0.999999, "in [0, 1)");
  if (!(t.eps > 0)) fail("training.eps", "> 0", number_text(t.eps));
  if (!(t.weight_decay >= 0) || !std::isfinite(t.weight_decay)) {
    fail("training.weight_decay", ">= 0", number_text(t.weight_decay));
  }
  if (t.warmup_steps < 0) fail("training.warmup_steps", ">= 0", std::to_string(t.warmup_steps));
  in_range("training.min_lr", t.min_lr, 0, t.lr, "in [0, lr]");
  if (!(t.lr_gamma > 0 && t.lr_gamma <= 1)) fail("training.lr_gamma", "in (0, 1]", number_text(t.lr_gamma));
  if (!(t.grad_clip >= 0) || !std::isfinite(t.grad_clip)) {
    fail("training.grad_clip", ">= 0 (0 = no clipping)", number_text(t.grad_clip));
  }
  if (!(t.ema_decay >= 0 && t.ema_decay < 1)) fail("training.ema_decay", "in [0, 1)", number_text(t.ema_decay));
  if (t.ema_start < 0) fail("training.ema_start", ">= 0", std::to_string(t.ema_start));
  if (!(t.cfg_dropout >= 0 && t.cfg_dropout < 1)) {
    fail("training.cfg_dropout", "in [0, 1)", number_text(t.cfg_dropout));
  }
  if (!(t.min_snr_gamma >= 0) || !std::isfinite(t.min_snr_gamma)) {
    fail("training.min_snr_gamma", ">= 0 (0 = off)", number_text(t.min_snr_gamma));
  }
  positive("training.checkpoint_every", t.checkpoint_every);
  positive("training.keep_checkpoints", t.keep_checkpoints);
  positive("training.log_every", t.log_every);
  if (t.device != "cpu" && t.device != "cuda" && t.device.rfind("cuda:", 0) != 0) {
    fail("training.device", "cpu, cuda or cuda:N", "\"" + t.device + "\"");
  }
  positive("data.points", data.points);
  if (model.known_points < 0 || (model.task == PointTask::Completion &&
                                 model.known_points_for(data.points) >= data.points)) {
    fail("model.known_points", "in [1, data.points - 1] (0 = data.points / 4)", std::to_string(model.known_points));
  }
  if (model.task == PointTask::Generation && model.known_points != 0) {
    fail("model.known_points", "0 for task generation", std::to_string(model.known_points));
  }
  if (model.representation != Representation::Points && model.task != PointTask::Generation &&
      !(model.representation == Representation::Images && model.task == PointTask::SuperResolution)) {
    fail("model.task", "generation for " + to_string(model.representation) + " models" +
         (model.representation == Representation::Images ? " (or super_resolution)" : ""),
         "\"" + to_string(model.task) + "\"");
  }
  if (model.representation == Representation::Points && model.task == PointTask::SuperResolution) {
    fail("model.task", "generation or completion for points models", "\"super_resolution\"");
  }
  if (data.split.empty()) fail("data.split", "a split name", "\"\"");
  if (data.workers < 0 || data.workers > 64) fail("data.workers", "in [0, 64]", std::to_string(data.workers));
  positive("data.shuffle_buffer", data.shuffle_buffer);
  try {
    schedule.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(context + ": schedule: " + e.what());
  }
  PointModelConfig m;
  m.representation = model.representation;
  m.voxels = model.voxels;
  m.images = model.images;
  m.sparse_voxels = model.sparse_voxels;
  m.task = model.task;
  if (model.representation != Representation::Points) {
    try {
      m.validate("model");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(context + ": " + e.what());
    }
  }
  m.preset = model.preset;
  m.overrides = model.overrides;
  try {
    m.network().validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(context + ": model: " + e.what());
  }
}

nlohmann::json PointTrainingConfig::to_json() const {
  nlohmann::json m = {{"preset", networks::to_string(model.preset)}, {"conditional", model.conditional}};
  if (model.representation == Representation::Voxels) {
    m["representation"] = to_string(model.representation);
    m["preset"] = networks::to_string(model.voxels.unet);
    m["grid"] = model.voxels.grid;
    m["truncation"] = model.voxels.truncation;
  }
  if (model.representation == Representation::SparseVoxels) {
    m.update(sparse_voxel_settings_to_json(model.sparse_voxels));
    m.erase("unet");
    m["representation"] = to_string(model.representation);
    m["preset"] = sparse::to_string(model.sparse_voxels.unet);
  }
  if (model.representation == Representation::Images) {
    m["representation"] = to_string(model.representation);
    m["preset"] = networks::to_string(model.images.unet);
    m["size"] = model.images.size;
    m["channels"] = model.images.channels;
    if (model.task == PointTask::SuperResolution) {
      m["task"] = to_string(model.task);
      m["sr_factor"] = model.images.sr_factor;
    }
  }
  if (model.task == PointTask::Completion) {
    m["task"] = to_string(model.task);
    m["known_points"] = model.known_points;
  }
  const auto& o = model.overrides;
  if (o.embed_dim) m["embed_dim"] = *o.embed_dim;
  if (o.attention) m["attention"] = *o.attention;
  if (o.squeeze_excitation) m["squeeze_excitation"] = *o.squeeze_excitation;
  if (o.dropout) m["dropout"] = *o.dropout;
  if (o.head_channels) m["head_channels"] = *o.head_channels;
  const auto& t = training;
  nlohmann::json tr = {{"steps", t.steps},
                       {"batch_size", t.batch_size},
                       {"grad_accumulation", t.grad_accumulation},
                       {"optimizer", to_string(t.optimizer)},
                       {"lr", t.lr},
                       {"betas", {t.beta1, t.beta2}},
                       {"eps", t.eps},
                       {"weight_decay", t.weight_decay},
                       {"lr_schedule", choice_name(t.lr_schedule, kDecays)},
                       {"warmup_steps", t.warmup_steps},
                       {"min_lr", t.min_lr},
                       {"lr_gamma", t.lr_gamma},
                       {"grad_clip", t.grad_clip},
                       {"ema_decay", t.ema_decay},
                       {"ema_start", t.ema_start},
                       {"cfg_dropout", t.cfg_dropout},
                       {"min_snr_gamma", t.min_snr_gamma},
                       {"checkpoint_every", t.checkpoint_every},
                       {"keep_checkpoints", t.keep_checkpoints},
                       {"log_every", t.log_every},
                       {"seed", t.seed},
                       {"precision", to_string(t.precision)},
                       {"device", t.device}};
  nlohmann::json d = {{"points", data.points},
                      {"split", data.split},
                      {"normalization", to_string(data.normalization)},
                      {"workers", data.workers},
                      {"shuffle_buffer", data.shuffle_buffer}};
  return {{"model", m}, {"schedule", schedule_to_json(schedule)}, {"training", tr}, {"data", d}};
}

PointTrainingConfig PointTrainingConfig::from_json(const nlohmann::json& json, const std::string& context) {
  PointTrainingConfig c;
  io::JsonFields root(json, context);

  auto m = root.object("model");
  try {
    c.model.representation = parse_representation(m.get<std::string>("representation", "points"));
  } catch (const std::invalid_argument& e) {
    m.reject("representation", e.what());
  }
  try {
    if (c.model.representation == Representation::Voxels) {
      c.model.voxels.unet = networks::parse_unet_preset(m.require<std::string>("preset"));
    } else if (c.model.representation == Representation::Images) {
      c.model.images.unet = networks::parse_unet_preset(m.require<std::string>("preset"));
    } else if (c.model.representation == Representation::SparseVoxels) {
      c.model.sparse_voxels.unet = sparse::parse_sparse_unet_preset(m.require<std::string>("preset"));
    } else {
      c.model.preset = networks::parse_pvcnn_preset(m.require<std::string>("preset"));
    }
  } catch (const std::invalid_argument& e) {
    m.reject("preset", e.what());
  }
  if (c.model.representation == Representation::Voxels) {
    c.model.voxels.grid = m.get<int64_t>("grid", c.model.voxels.grid);
    c.model.voxels.truncation = m.get<double>("truncation", c.model.voxels.truncation);
  }
  if (c.model.representation == Representation::SparseVoxels) read_sparse_voxel_fields(m, c.model.sparse_voxels);
  if (c.model.representation == Representation::Images) {
    c.model.images.size = m.get<int64_t>("size", c.model.images.size);
    c.model.images.channels = m.get<int64_t>("channels", c.model.images.channels);
    c.model.images.sr_factor = m.get<int64_t>("sr_factor", c.model.images.sr_factor);
  }
  c.model.conditional = m.get<bool>("conditional", c.model.conditional);
  try {
    c.model.task = parse_point_task(m.get<std::string>("task", "generation"));
  } catch (const std::invalid_argument& e) {
    m.reject("task", e.what());
  }
  c.model.known_points = m.get<int64_t>("known_points", 0);
  auto& o = c.model.overrides;
  if (m.has("embed_dim")) o.embed_dim = m.require<int64_t>("embed_dim");
  if (m.has("attention")) o.attention = m.require<bool>("attention");
  if (m.has("squeeze_excitation")) o.squeeze_excitation = m.require<bool>("squeeze_excitation");
  if (m.has("dropout")) o.dropout = m.require<double>("dropout");
  if (m.has("head_channels")) o.head_channels = m.require<int64_t>("head_channels");
  m.finish();

  auto s = root.object("schedule", /*optional=*/true);
  c.schedule = schedule_from_json(s);

  auto t = root.object("training", /*optional=*/true);
  auto& tr = c.training;
  tr.steps = t.get<int64_t>("steps", tr.steps);
  tr.batch_size = t.get<int64_t>("batch_size", tr.batch_size);
  tr.grad_accumulation = t.get<int64_t>("grad_accumulation", tr.grad_accumulation);
  tr.optimizer = parse_choice(t, "optimizer", tr.optimizer, kOptimizers);
  tr.lr = t.get<double>("lr", tr.lr);
  if (t.has("betas")) {
    const auto betas = t.require<std::vector<double>>("betas");
    t.check("betas", betas.size() == 2, "two numbers [beta1, beta2]");
    tr.beta1 = betas[0];
    tr.beta2 = betas[1];
  }
  tr.eps = t.get<double>("eps", tr.eps);
  tr.weight_decay = t.get<double>("weight_decay", tr.weight_decay);
  tr.lr_schedule = parse_choice(t, "lr_schedule", tr.lr_schedule, kDecays);
  tr.warmup_steps = t.get<int64_t>("warmup_steps", tr.warmup_steps);
  tr.min_lr = t.get<double>("min_lr", tr.min_lr);
  tr.lr_gamma = t.get<double>("lr_gamma", tr.lr_gamma);
  tr.grad_clip = t.get<double>("grad_clip", tr.grad_clip);
  tr.ema_decay = t.get<double>("ema_decay", tr.ema_decay);
  tr.ema_start = t.get<int64_t>("ema_start", tr.ema_start);
  tr.cfg_dropout = t.get<double>("cfg_dropout", tr.cfg_dropout);
  tr.min_snr_gamma = t.get<double>("min_snr_gamma", tr.min_snr_gamma);
  tr.checkpoint_every = t.get<int64_t>("checkpoint_every", tr.checkpoint_every);
  tr.keep_checkpoints = t.get<int64_t>("keep_checkpoints", tr.keep_checkpoints);
  tr.log_every = t.get<int64_t>("log_every", tr.log_every);
  tr.seed = t.get<uint64_t>("seed", tr.seed);
  tr.precision = parse_choice(t, "precision", tr.precision, kPrecisions);
  tr.device = t.get<std::string>("device", tr.device);
  t.finish();

  auto d = root.object("data", /*optional=*/true);
  // Image runs read pixels, not points: data.points is optional for them.
  c.data.points = c.model.representation == Representation::Images ? d.get<int64_t>("points", c.data.points)
                                                                    : d.require<int64_t>("points");
  c.data.split = d.get<std::string>("split", c.data.split);
  c.data.normalization = parse_choice(d, "normalization", c.data.normalization, kNormalizations);
  c.data.workers = d.get<int64_t>("workers", c.data.workers);
  c.data.shuffle_buffer = d.get<int64_t>("shuffle_buffer", c.data.shuffle_buffer);
  d.finish();

  root.finish();
  c.validate(context);
  return c;
}

}  // namespace shapediff::diffusion
