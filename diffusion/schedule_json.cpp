#include "diffusion/schedule_json.h"

#include <stdexcept>

namespace shapediff::diffusion {

nlohmann::json schedule_to_json(const ScheduleConfig& c) {
  nlohmann::json j = {{"num_train_timesteps", c.num_train_timesteps},
                      {"beta_start", c.beta_start},
                      {"beta_end", c.beta_end},
                      {"beta_schedule", to_string(c.beta_schedule)},
                      {"prediction_type", to_string(c.prediction)},
                      {"zero_terminal_snr", c.zero_terminal_snr}};
  if (c.beta_schedule == BetaSchedule::Custom) j["trained_betas"] = c.trained_betas;
  return j;
}

ScheduleConfig schedule_from_json(io::JsonFields& f) {
  ScheduleConfig c;
  c.num_train_timesteps = f.get<int64_t>("num_train_timesteps", c.num_train_timesteps);
  c.beta_start = f.get<double>("beta_start", c.beta_start);
  c.beta_end = f.get<double>("beta_end", c.beta_end);
  try {
    if (f.has("beta_schedule")) c.beta_schedule = parse_beta_schedule(f.require<std::string>("beta_schedule"));
  } catch (const std::invalid_argument& e) {
    f.reject("beta_schedule", e.what());
  }
  try {
    if (f.has("prediction_type")) c.prediction = parse_prediction(f.require<std::string>("prediction_type"));
  } catch (const std::invalid_argument& e) {
    f.reject("prediction_type", e.what());
  }
  c.zero_terminal_snr = f.get<bool>("zero_terminal_snr", c.zero_terminal_snr);
  c.trained_betas = f.get<std::vector<double>>("trained_betas", c.trained_betas);
  f.finish();
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    f.reject("", e.what());
  }
  return c;
}

}  // namespace shapediff::diffusion
