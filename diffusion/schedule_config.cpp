#include "diffusion/schedule_config.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shapediff::diffusion {
namespace {

template <typename Enum, size_t N>
Enum parse_enum(const std::string& name, const char* what,
                const std::pair<const char*, Enum> (&table)[N]) {
  for (const auto& [key, value] : table) {
    if (name == key) return value;
  }
  std::string accepted;
  for (const auto& entry : table) {
    if (!accepted.empty()) accepted += ", ";
    accepted += entry.first;
  }
  throw std::invalid_argument("unknown " + std::string(what) + " '" + name +
                              "' (accepted: " + accepted + ")");
}

template <typename Enum, size_t N>
std::string enum_name(Enum value, const std::pair<const char*, Enum> (&table)[N]) {
  for (const auto& [key, v] : table) {
    if (v == value) return key;
  }
  return "?";
}

const std::pair<const char*, BetaSchedule> kBetaSchedules[] = {
    {"linear", BetaSchedule::Linear},
    {"scaled_linear", BetaSchedule::ScaledLinear},
    {"squaredcos_cap_v2", BetaSchedule::Cosine},
    {"cosine", BetaSchedule::Cosine},
    {"sigmoid", BetaSchedule::Sigmoid},
    {"custom", BetaSchedule::Custom},
};
const std::pair<const char*, Prediction> kPredictions[] = {
    {"epsilon", Prediction::Epsilon},
    {"sample", Prediction::Sample},
    {"v_prediction", Prediction::Velocity},
    {"v", Prediction::Velocity},
};
const std::pair<const char*, Spacing> kSpacings[] = {
    {"leading", Spacing::Leading},
    {"trailing", Spacing::Trailing},
    {"linspace", Spacing::Linspace},
};

}  // namespace

void ScheduleConfig::validate() const {
  auto fail = [](const std::string& msg) { throw std::invalid_argument(msg); };
  if (num_train_timesteps < 2) {
    fail("num_train_timesteps must be at least 2, got " + std::to_string(num_train_timesteps));
  }
  if (beta_schedule == BetaSchedule::Custom) {
    if (static_cast<int64_t>(trained_betas.size()) != num_train_timesteps) {
      fail("trained_betas has " + std::to_string(trained_betas.size()) +
           " values but num_train_timesteps is " + std::to_string(num_train_timesteps));
    }
    for (size_t i = 0; i < trained_betas.size(); ++i) {
      const double b = trained_betas[i];
      if (!(b > 0.0 && b < 1.0)) {
        std::ostringstream os;
        os << "trained_betas[" << i << "] = " << b << " is outside (0, 1)";
        fail(os.str());
      }
    }
    return;
  }
  if (beta_schedule == BetaSchedule::Cosine) return;  // beta_start/end unused
  if (!(beta_start > 0.0 && beta_start < 1.0) || !std::isfinite(beta_start)) {
    fail("beta_start must be in (0, 1), got " + std::to_string(beta_start));
  }
  if (!(beta_end > 0.0 && beta_end < 1.0) || !std::isfinite(beta_end)) {
    fail("beta_end must be in (0, 1), got " + std::to_string(beta_end));
  }
  if (beta_end < beta_start) {
    std::ostringstream os;
    os << "beta_end (" << beta_end << ") must not be below beta_start (" << beta_start << ")";
    fail(os.str());
  }
}

BetaSchedule parse_beta_schedule(const std::string& name) {
  return parse_enum(name, "beta schedule", kBetaSchedules);
}
Prediction parse_prediction(const std::string& name) {
  return parse_enum(name, "prediction type", kPredictions);
}
Spacing parse_spacing(const std::string& name) {
  return parse_enum(name, "timestep spacing", kSpacings);
}
std::string to_string(BetaSchedule s) { return enum_name(s, kBetaSchedules); }
std::string to_string(Prediction p) { return enum_name(p, kPredictions); }
std::string to_string(Spacing s) { return enum_name(s, kSpacings); }

std::vector<double> read_betas_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open betas file");
  std::vector<double> betas;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (char& c : line) {
      if (c == ',' || c == ';' || c == '\t') c = ' ';
    }
    std::istringstream fields(line);
    std::string token;
    while (fields >> token) {
      size_t used = 0;
      double value = 0.0;
      try {
        value = std::stod(token, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != token.size() || !std::isfinite(value)) {
        throw std::runtime_error(path + ":" + std::to_string(line_no) + ": bad beta value '" +
                                 token + "'");
      }
      betas.push_back(value);
    }
  }
  if (betas.empty()) throw std::runtime_error(path + ": no beta values in file");
  return betas;
}

}  // namespace shapediff::diffusion
