// The JSON form of a ScheduleConfig in model and training configs, with diffusers' key names:
//   {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
//    "beta_schedule": "linear", "prediction_type": "epsilon", "zero_terminal_snr": false}
// plus "trained_betas": [...] for beta_schedule "custom". Every key is optional on input
// (defaults: ScheduleConfig's, i.e. PVD's linear 1e-4..0.02 over 1000 steps, epsilon).
//
//   io::JsonFields f(doc.at("schedule"), "config.json", "schedule");
//   ScheduleConfig c = schedule_from_json(f);   // validated; errors name "schedule.<field>"
//   nlohmann::json j = schedule_to_json(c);
#pragma once

#include <nlohmann/json.hpp>

#include "diffusion/schedule_config.h"
#include "io/json_fields.h"

namespace shapediff::diffusion {

nlohmann::json schedule_to_json(const ScheduleConfig& config);
// Reads the fields of `fields` and checks for unknown keys; std::invalid_argument naming the
// file and field for a bad value.
ScheduleConfig schedule_from_json(io::JsonFields& fields);

}  // namespace shapediff::diffusion
