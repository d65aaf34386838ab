// A trained point-cloud diffusion model as one bundle: the PVCNN denoiser, the noise schedule it
// was trained with, the number of points it generates, the class names of its labels and the
// normalization that maps dataset shapes into the frame the network works in.
//
//   PointModel m = load_point_model("models/points-procedural-small.pt");  // or a run folder
//   NoiseSchedule schedule = m.schedule();
//   int64_t chair = m.class_label("chair");                 // std::invalid_argument if unknown
//   auto x = torch::randn({16, m.config.points, 3});         // model frame
//   auto eps = m.net->forward(x, t, labels);                 // [16,N,3]; labels [16] int64,
//                                                            // m.null_label() = unconditional
//   auto shapes = m.to_dataset_frame(x0);                    // the dataset's stored frame
//
// Frames: dataset shapes are stored normalized (config.dataset_normalization, e.g. unit_sphere:
// each shape centred and scaled into the unit ball). Training maps them further by
// config.normalization (model = (stored - center) / scale): "dataset_global" is PVD's protocol
// (per-axis mean, pooled standard deviation over the training split), identity keeps the stored
// frame. Sampling produces the model frame; to_dataset_frame() maps it back.
//
// Files (LibTorch serialize archives, see io/module_archive.h):
//   model file  "format": "shapediff-point-model", "config": JSON (below), "weights": the
//               denoiser's parameters (float32; the EMA weights of the run it came from).
//   checkpoint  "format": "shapediff-point-checkpoint", "config", "ema", "weights", optimizer,
//               RNG and loader state (diffusion/point_training.h).
//   run folder  RUN/checkpoints/step-NNNNNNNN.pt: the latest checkpoint's EMA weights are used.
// Config JSON:
//   {"version": 1,
//    "model": {"preset": "small", "num_classes": 6,                 // 0 = unconditional
//              "embed_dim": 64, "attention": true, ...},            // optional preset overrides
//    "schedule": {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
//                 "beta_schedule": "linear", "prediction_type": "epsilon", ...},
//    "points": 2048,
//    "task": "generation",                        // or "completion", "super_resolution" (below)
//    "known_points": 0,                                             // completion: K > 0
//    "classes": ["airplane", "chair", ...],                         // dataset categories by label
//    "normalization": {"dataset": "unit_sphere",
//                      "model": {"kind": "dataset_global", "center": [x, y, z], "scale": s}},
//    "voxels": {"grid": 32, "truncation": 3, "unet": "small"},       // voxel models only
//    "sparse_voxels": {"grid": 64, "coarse_grid": 32, ...}}          // sparse-voxel models only
//
// Voxel models (representation voxels, issue 8): the same bundle, with a 3D U-Net
// (networks/unet.h) denoising truncated signed-distance grids [B,1,G,G,G] instead of PVCNN
// denoising points. The grid spans [-1, 1]^3 of the dataset's stored frame (G cells a side, the
// outer cell centres on the cube's faces); values are the signed distance to the shape's surface
// (negative inside) divided by truncation * voxel size and clamped to [-1, 1]
// (shapes/oriented_points_sdf.h computes it from the dataset's oriented points).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "diffusion/noise_schedule.h"
#include "diffusion/schedule_config.h"
#include "diffusion/sparse_voxel_settings.h"
#include "networks/pvcnn.h"
#include "networks/sparse/sparse_unet.h"
#include "networks/unet.h"
#include "shapes/normalization.h"

namespace shapediff::diffusion {

// Optional changes to a preset's network; unset fields keep the preset's value.
struct PVCNNOverrides {
  std::optional<int64_t> embed_dim;
  std::optional<bool> attention;
  std::optional<bool> squeeze_excitation;
  std::optional<double> dropout;
  std::optional<int64_t> head_channels;
};

// What the network was trained to do. A completion model (PVD's conditional completion) takes
// x = [K known points, N - K noisy points] ([B,N,3], known first) and its output is read on the
// last N - K rows only; a generation model denoises all N points. A super-resolution model
// (images only, SR3) takes the noisy image with the conditioning image concatenated along
// channels (diffusion/super_resolution.h).
enum class PointTask { Generation, Completion, SuperResolution };
PointTask parse_point_task(const std::string& name);  // generation, completion, super_resolution
std::string to_string(PointTask task);

// What the model generates: point clouds (PVCNN) or truncated signed-distance grids (UNet).
// SparseVoxels: stage 2 of the two-stage voxel pipeline, a SparseUNet refining a voxel model's
// coarse grid on a fine surface band (diffusion/sparse_voxel_settings.h).
enum class Representation { Points, Voxels, Images, SparseVoxels };
// points, voxels, images, sparse_voxels
Representation parse_representation(const std::string& name);
std::string to_string(Representation representation);

// Images (issue 9): a 2D U-Net on [B, C, S, S] images in [-1, 1], trained on a folder of PNGs
// (io/image_folder.h; subfolders are the classes).
struct ImageSettings {
  int64_t size = 32;     // pixels a side; divisible by the U-Net's 2^(levels - 1)
  int64_t channels = 1;  // 1 (gray) or 3 (RGB)
  networks::UNetPreset unet = networks::UNetPreset::Small;
  // Task super_resolution: the low-resolution input is size / sr_factor a side (>= 2, divides
  // size); 0 for the other tasks. Model files: "images": {..., "sr_factor": 4}.
  int64_t sr_factor = 0;
};

struct VoxelSettings {
  int64_t grid = 32;        // cells a side; divisible by the U-Net's 2^(levels - 1)
  double truncation = 3.0;  // in voxels: |signed distance| beyond it is clamped
  networks::UNetPreset unet = networks::UNetPreset::Small;
};

struct PointModelConfig {
  networks::PVCNNPreset preset = networks::PVCNNPreset::Small;
  int64_t num_classes = 0;  // 0: unconditional; labels 0..num_classes-1, null label num_classes
  PVCNNOverrides overrides;
  ScheduleConfig schedule;  // PVD: linear betas 1e-4..0.02 over 1000 steps, epsilon
  int64_t points = 2048;    // points per generated shape (completion: known + generated)
  PointTask task = PointTask::Generation;
  int64_t known_points = 0;  // completion: the K known points of the N (0 < K < N)
  std::vector<std::string> classes;  // the dataset's categories in label order
  shapes::NormalizationKind dataset_normalization = shapes::NormalizationKind::UnitSphere;
  shapes::Normalization normalization;  // stored frame -> model frame
  Representation representation = Representation::Points;
  VoxelSettings voxels;  // representation voxels only
  ImageSettings images;  // representation images only
  SparseVoxelSettings sparse_voxels;  // representation sparse_voxels only

  // The network this config builds (preset + num_classes + overrides).
  networks::PVCNNConfig network() const;
  // The U-Net of a voxel model (3D, 1 channel) or an image model (2D, images.channels).
  networks::UNetOptions grid_network() const;
  // Throws std::invalid_argument "<context>: <field> ..." (classes.size() must equal
  // num_classes when conditional, points >= 1, a valid schedule and network, ...).
  void validate(const std::string& context = "point model config") const;
  nlohmann::json to_json() const;
  // Strict: unknown keys and bad values throw std::invalid_argument naming `context` and field.
  static PointModelConfig from_json(const nlohmann::json& json, const std::string& context);
};

// The first difference between two configs that changes the network or its meaning, as
// "preset small vs tiny", "num_classes 6 vs 2", "points 2048 vs 256", "schedule ... vs ...",
// "model.dropout 0.1 vs 0"; nullopt when they describe the same model.
std::optional<std::string> config_difference(const PointModelConfig& a, const PointModelConfig& b);

struct PointModel {
  PointModelConfig config;
  networks::PVCNN net{nullptr};      // representation points
  networks::UNet grid_net{nullptr};  // representations voxels and images
  sparse::SparseUNet sparse_net{nullptr};  // representation sparse_voxels

  // The denoiser of either representation (for weights, devices, modes).
  torch::nn::Module& module();
  const torch::nn::Module& module() const;

  NoiseSchedule schedule() const { return NoiseSchedule(config.schedule); }
  // The unconditional label for classifier-free guidance (== config.num_classes).
  int64_t null_label() const { return config.num_classes; }
  // The label of a class name; std::invalid_argument listing the classes for an unknown name
  // or when the model is unconditional.
  int64_t class_label(const std::string& name) const;
  // stored (dataset) frame <-> model frame, [..., 3] on any device.
  torch::Tensor to_model_frame(const torch::Tensor& points) const;
  torch::Tensor to_dataset_frame(const torch::Tensor& points) const;
};

// A freshly initialised model (torch's default generator draws the initial weights), in
// training mode on the CPU. Validates the config.
PointModel make_point_model(const PointModelConfig& config);

// Loads a model file, a checkpoint file or a training run folder (its latest checkpoint's EMA
// weights) onto `device`, in eval mode. Throws std::invalid_argument naming the file: missing,
// truncated or garbage file, another kind of file, a config that does not parse, or weights
// that do not fit the config ("model.pt: parameter sa.0.1.conv1.weight has shape
// [64,67,3,3,3], config expects [32,35,3,3,3]").
PointModel load_point_model(const std::string& path, torch::Device device = torch::kCPU);

// Writes a model file (config + the net's weights as float32) atomically.
void save_point_model(const PointModel& model, const std::string& path);

}  // namespace shapediff::diffusion
