// The config of a point-model training run (configs/points-*.json): four sections, every key
// optional except model.preset and data.points, unknown keys rejected.
//
//   {"model":    {"preset": "small", "conditional": true,          // + PVCNN overrides:
//                 "task": "generation",      // or "completion": PVD's conditional completion,
//                 "known_points": 512,       // completion: known points of data.points (N / 4)
//                 "embed_dim": 64, "attention": true, "squeeze_excitation": true,
//                 "dropout": 0.1, "head_channels": 128},
//    "schedule": {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
//                 "beta_schedule": "linear", "prediction_type": "epsilon"},
//    "training": {"steps": 100000, "batch_size": 16, "grad_accumulation": 1,
//                 "optimizer": "adamw", "lr": 2e-4, "betas": [0.9, 0.999], "eps": 1e-8,
//                 "weight_decay": 0.0, "lr_schedule": "cosine", "warmup_steps": 1000,
//                 "min_lr": 0.0, "lr_gamma": 1.0, "grad_clip": 1.0,
//                 "ema_decay": 0.9999, "ema_start": 1000, "cfg_dropout": 0.1,
//                 "min_snr_gamma": 0.0, "checkpoint_every": 1000, "keep_checkpoints": 3,
//                 "log_every": 10, "seed": 0, "precision": "bf16", "device": "cpu"},
//    "data":     {"points": 2048, "split": "train", "normalization": "dataset_global",
//                 "workers": 1, "shuffle_buffer": 1024}}
//
// training.steps counts optimizer steps; each takes grad_accumulation batches of batch_size.
// training.seed derives independent streams for the initial weights, dropout (torch's default
// generator), diffusion noise, timesteps, CFG label dropout and the data order.
// training.precision "bf16" runs the forward pass under bfloat16 autocast on CUDA; the CPU always
// trains in float32. data.normalization: "dataset_global" (PVD: per-axis mean and pooled standard
// deviation of the training split) or "none" (the dataset's stored frame as it is).
//
//   auto config = PointTrainingConfig::from_json(io::read_json(path), path);
//   config.training.steps = 20;
//   nlohmann::json j = config.to_json();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion/ema.h"
#include "diffusion/lr_schedule.h"
#include "diffusion/point_model.h"
#include "diffusion/schedule_config.h"
#include "networks/pvcnn.h"

namespace shapediff::diffusion {

enum class OptimizerKind { Adam, AdamW };
enum class TrainingPrecision { Float32, BFloat16 };
enum class DataNormalization { None, DatasetGlobal };

struct PointTrainingConfig {
  struct Model {
    networks::PVCNNPreset preset = networks::PVCNNPreset::Small;
    bool conditional = true;  // labels = the dataset's categories
    PointTask task = PointTask::Generation;
    // Completion: the known points fed clean (from the dataset's virtual scans); 0 = points / 4.
    int64_t known_points = 0;
    PVCNNOverrides overrides;
    // voxels: the U-Net denoises truncated signed-distance grids (JSON "representation":
    // "voxels", "preset": a U-Net preset tiny/small/base, "grid", "truncation").
    // images: the 2D U-Net on a folder of PNGs ("representation": "images", "preset": a U-Net
    // preset, "size", "channels"); data.points is unused then. Images with "task":
    // "super_resolution" and "sr_factor": F train SR3 (diffusion/super_resolution.h).
    // sparse_voxels: the SparseUNet refines a voxel model's coarse grid on a fine surface band
    // ("representation": "sparse_voxels", "preset": a SparseUNet preset, "grid",
    // "coarse_grid", "truncation", "coarse_truncation", "band", "dilation", "coarse_noise";
    // diffusion/sparse_voxel_settings.h).
    Representation representation = Representation::Points;
    VoxelSettings voxels;
    ImageSettings images;
    SparseVoxelSettings sparse_voxels;
    // The known points a completion run uses (known_points, or points / 4 when 0).
    int64_t known_points_for(int64_t points) const { return known_points > 0 ? known_points : points / 4; }
  } model;

  ScheduleConfig schedule;

  struct Training {
    int64_t steps = 100000;
    int64_t batch_size = 16;
    int64_t grad_accumulation = 1;
    OptimizerKind optimizer = OptimizerKind::AdamW;
    double lr = 2e-4;
    double beta1 = 0.9, beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    LrDecay lr_schedule = LrDecay::Cosine;
    int64_t warmup_steps = 0;
    double min_lr = 0.0;
    double lr_gamma = 1.0;
    double grad_clip = 1.0;  // max gradient norm; 0 disables clipping
    double ema_decay = 0.9999;
    int64_t ema_start = 0;
    double cfg_dropout = 0.1;  // probability of the null label (conditional models)
    double min_snr_gamma = 0.0;
    int64_t checkpoint_every = 1000;
    int64_t keep_checkpoints = 3;
    int64_t log_every = 10;
    uint64_t seed = 0;
    TrainingPrecision precision = TrainingPrecision::BFloat16;
    std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  } training;

  struct Data {
    int64_t points = 2048;
    std::string split = "train";
    DataNormalization normalization = DataNormalization::DatasetGlobal;
    int64_t workers = 1;  // loader threads
    int64_t shuffle_buffer = 1024;
  } data;

  LrSchedule lr_schedule() const;
  EmaOptions ema() const { return {training.ema_decay, training.ema_start}; }

  // Throws std::invalid_argument "<context>: <section>.<field> must be ..., got ...".
  void validate(const std::string& context) const;
  nlohmann::json to_json() const;
  static PointTrainingConfig from_json(const nlohmann::json& json, const std::string& context);
};

std::string to_string(OptimizerKind kind);
std::string to_string(TrainingPrecision precision);
std::string to_string(DataNormalization normalization);

}  // namespace shapediff::diffusion
