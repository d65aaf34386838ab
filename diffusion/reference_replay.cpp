#include "diffusion/reference_replay.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/repaint.h"
#include "diffusion/score_sde_ve.h"
#include "io/json_file.h"

namespace shapediff::diffusion {
namespace {

using nlohmann::json;

[[noreturn]] void schema_error(const std::string& context, const std::string& what) {
  throw std::runtime_error(context + ": " + what);
}

const json& field(const json& object, const std::string& name, const std::string& context) {
  if (!object.is_object()) schema_error(context, "expected an object");
  auto it = object.find(name);
  if (it == object.end()) schema_error(context, "missing field '" + name + "'");
  return *it;
}

double number(const json& object, const std::string& name, const std::string& context) {
  const json& v = field(object, name, context);
  if (!v.is_number()) schema_error(context, "field '" + name + "' must be a number");
  return v.get<double>();
}

std::vector<double> numbers(const json& object, const std::string& name,
                            const std::string& context) {
  const json& v = field(object, name, context);
  if (!v.is_array()) schema_error(context, "field '" + name + "' must be an array of numbers");
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_number()) schema_error(context, "field '" + name + "' holds a non-number");
    out.push_back(e.get<double>());
  }
  return out;
}

struct Constants {
  double a, b, c, p, q, r, s, u;
};

Constants read_constants(const json& doc) {
  const json& k = field(doc, "constants", "reference");
  const std::string ctx = "reference.constants";
  return {number(k, "a", ctx), number(k, "b", ctx), number(k, "c", ctx), number(k, "p", ctx),
          number(k, "q", ctx), number(k, "r", ctx), number(k, "s", ctx), number(k, "u", ctx)};
}

std::vector<int64_t> read_shape(const json& doc) {
  const auto dims = numbers(doc, "shape", "reference");
  if (dims.empty()) schema_error("reference", "field 'shape' is empty");
  std::vector<int64_t> shape;
  for (double d : dims) {
    if (d < 1 || d != std::floor(d)) schema_error("reference", "field 'shape' has a bad size");
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

// Tracks the largest scaled deviation and the first failed check of one case.
class Checker {
 public:
  Checker(ReplayResult& result, double tolerance) : r_(result), tol_(tolerance) {}

  void values(const std::string& what, const torch::Tensor& got, const std::vector<double>& ref) {
    const auto flat = got.detach().to(torch::kCPU, torch::kFloat64).reshape({-1}).contiguous();
    if (flat.numel() != static_cast<int64_t>(ref.size())) {
      fail(what + ": " + std::to_string(flat.numel()) + " values, reference has " +
           std::to_string(ref.size()));
      return;
    }
    const double* g = flat.data_ptr<double>();
    for (size_t i = 0; i < ref.size(); ++i) {
      const double err = std::abs(g[i] - ref[i]) / std::max(1.0, std::abs(ref[i]));
      if (!(err <= tol_)) {
        std::ostringstream os;
        os << what << "[" << i << "] = " << g[i] << ", reference " << ref[i];
        fail(os.str());
      }
      if (std::isnan(err)) {
        r_.max_error = std::numeric_limits<double>::infinity();
      } else {
        r_.max_error = std::max(r_.max_error, err);
      }
    }
  }

  void count(const std::string& what, int64_t got, int64_t ref) {
    if (got != ref) {
      fail(what + " = " + std::to_string(got) + ", reference " + std::to_string(ref));
    }
  }

  void fail(const std::string& why) {
    if (r_.failure.empty()) r_.failure = why;
  }

 private:
  ReplayResult& r_;
  double tol_;
};

bool get_bool(const json& v, const std::string& key, const std::string& ctx) {
  if (!v.is_boolean()) throw std::invalid_argument(ctx + ": config field '" + key + "' must be a boolean");
  return v.get<bool>();
}
double get_num(const json& v, const std::string& key, const std::string& ctx) {
  if (!v.is_number()) throw std::invalid_argument(ctx + ": config field '" + key + "' must be a number");
  return v.get<double>();
}
std::string get_str(const json& v, const std::string& key, const std::string& ctx) {
  if (!v.is_string()) throw std::invalid_argument(ctx + ": config field '" + key + "' must be a string");
  return v.get<std::string>();
}

void require_value(const json& v, const std::string& key, const std::string& accepted,
                   const std::string& ctx) {
  const std::string got = v.is_string() ? v.get<std::string>() : v.dump();
  if (got != accepted) {
    throw std::invalid_argument(ctx + ": config field '" + key + "' = " + got +
                                " is not supported (accepted: " + accepted + ")");
  }
}

// How the initial sample and the noise formulas are evaluated. A float32 replay uses the
// generator's own arithmetic: a float32 index tensor on the CPU, every scalar product and sum
// rounded to float32 in Python's left-to-right order (p*i + q; r*i + s*k + u) and torch's
// float32 sin kernel. Most cases match within 1e-4 either way, but the score-SDE case is
// chaotic: with sigma_max 50 one predictor step multiplies a difference by up to g^2 * b * c
// (about 170), so a single last-bit difference in the initial sample or in one noise draw
// changes its final values by O(1); only this bit-for-bit evaluation reproduces them. A float64
// replay evaluates the formulas in float64 (it checks the samplers in double precision and is
// not expected to reproduce that chaotic case).
enum class FormulaPrecision { Float64, Float32 };

torch::Tensor formula_index(int64_t n, FormulaPrecision precision) {
  return torch::arange(n, precision == FormulaPrecision::Float32 ? torch::kFloat32
                                                                 : torch::kFloat64);
}

torch::Tensor initial_values(const Constants& k, const std::vector<int64_t>& shape, double scale,
                             const ReplayOptions& opt,
                             FormulaPrecision precision = FormulaPrecision::Float64) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  const auto i = formula_index(n, precision);
  return (torch::sin(i * k.p + k.q) * scale)
      .reshape(shape)
      .to(opt.device, opt.dtype);
}

}  // namespace

ReplayConfig translate_case_config(const json& test_case) {
  const std::string name = test_case.value("name", std::string("?"));
  const std::string ctx = "case " + name;
  const std::string scheduler = get_str(field(test_case, "scheduler", ctx), "scheduler", ctx);
  ReplayConfig rc{parse_sampler_kind(scheduler), {}, {}};
  const json& config = field(test_case, "config", ctx);
  if (!config.is_object()) schema_error(ctx, "field 'config' must be an object");
  for (const auto& [key, v] : config.items()) {
    if (key == "num_train_timesteps") {
      rc.schedule.num_train_timesteps = static_cast<int64_t>(get_num(v, key, ctx));
    } else if (key == "beta_start") {
      rc.schedule.beta_start = get_num(v, key, ctx);
    } else if (key == "beta_end") {
      rc.schedule.beta_end = get_num(v, key, ctx);
    } else if (key == "beta_schedule") {
      rc.schedule.beta_schedule = parse_beta_schedule(get_str(v, key, ctx));
    } else if (key == "trained_betas") {
      if (v.is_null()) continue;
      if (!v.is_array()) throw std::invalid_argument(ctx + ": trained_betas must be an array");
      rc.schedule.trained_betas.clear();
      for (const auto& b : v) rc.schedule.trained_betas.push_back(get_num(b, key, ctx));
      rc.schedule.beta_schedule = BetaSchedule::Custom;
    } else if (key == "prediction_type") {
      rc.schedule.prediction = parse_prediction(get_str(v, key, ctx));
    } else if (key == "rescale_betas_zero_snr") {
      rc.schedule.zero_terminal_snr = get_bool(v, key, ctx);
    } else if (key == "timestep_spacing") {
      rc.options.spacing = parse_spacing(get_str(v, key, ctx));
    } else if (key == "steps_offset") {
      rc.options.steps_offset = static_cast<int64_t>(get_num(v, key, ctx));
    } else if (key == "clip_sample") {
      rc.options.clip_sample = get_bool(v, key, ctx);
    } else if (key == "clip_sample_range") {
      rc.options.clip_sample_range = get_num(v, key, ctx);
    } else if (key == "variance_type") {
      rc.options.variance_type = parse_variance_type(get_str(v, key, ctx));
    } else if (key == "set_alpha_to_one") {
      rc.options.set_alpha_to_one = get_bool(v, key, ctx);
    } else if (key == "solver_order") {
      rc.options.solver_order = static_cast<int64_t>(get_num(v, key, ctx));
    } else if (key == "algorithm_type") {
      rc.options.algorithm = parse_dpm_algorithm(get_str(v, key, ctx));
    } else if (key == "lower_order_final") {
      rc.options.lower_order_final = get_bool(v, key, ctx);
    } else if (key == "use_karras_sigmas") {
      rc.options.use_karras_sigmas = get_bool(v, key, ctx);
    } else if (key == "eta") {
      rc.options.eta = get_num(v, key, ctx);
    } else if (key == "sigma_min") {
      rc.options.sigma_min = get_num(v, key, ctx);
    } else if (key == "sigma_max") {
      rc.options.sigma_max = get_num(v, key, ctx);
    } else if (key == "snr") {
      rc.options.snr = get_num(v, key, ctx);
    } else if (key == "sampling_eps") {
      rc.options.sampling_eps = get_num(v, key, ctx);
    } else if (key == "solver_type") {
      require_value(v, key, rc.kind == SamplerKind::UniPC ? "bh2" : "midpoint", ctx);
    } else if (key == "predict_x0") {
      require_value(v, key, "true", ctx);
    } else if (key == "thresholding") {
      require_value(v, key, "false", ctx);
    } else {
      throw std::invalid_argument(ctx + ": config field '" + key + "' is not supported");
    }
  }
  if (test_case.contains("step_kwargs")) {
    const json& kw = test_case["step_kwargs"];
    if (!kw.is_object()) schema_error(ctx, "field 'step_kwargs' must be an object");
    for (const auto& [key, v] : kw.items()) {
      if (key == "eta") {
        rc.options.eta = get_num(v, key, ctx);
      } else if (key == "jump_length") {
        rc.options.jump_length = static_cast<int64_t>(get_num(v, key, ctx));
      } else if (key == "jump_n_sample") {
        rc.options.jump_n_sample = static_cast<int64_t>(get_num(v, key, ctx));
      } else if (key == "correct_steps") {
        rc.options.correct_steps = static_cast<int64_t>(get_num(v, key, ctx));
      } else {
        throw std::invalid_argument(ctx + ": step_kwargs field '" + key + "' is not supported");
      }
    }
  }
  return rc;
}

std::vector<ReplayResult> replay_reference(const json& doc, const ReplayOptions& opt) {
  if (!doc.is_object()) schema_error("reference", "top level must be an object");
  const Constants k = read_constants(doc);
  const auto shape = read_shape(doc);
  const json& cases = field(doc, "cases", "reference");
  if (!cases.is_array()) schema_error("reference", "field 'cases' must be an array");

  std::vector<ReplayResult> results;
  auto wanted = [&](const std::string& name) {
    return opt.filter.empty() || name.find(opt.filter) != std::string::npos;
  };

  // Schedule tables.
  if (doc.contains("schedules")) {
    const json& schedules = doc["schedules"];
    if (!schedules.is_object()) schema_error("reference", "field 'schedules' must be an object");
    for (const auto& [label, entry] : schedules.items()) {
      const std::string name = "schedule_" + label;
      if (!wanted(name)) continue;
      json as_case = {{"name", name}, {"scheduler", "ddpm"},
                      {"config", field(entry, "config", "reference.schedules." + label)}};
      const auto rc = translate_case_config(as_case);
      ReplayResult r;
      r.name = name;
      Checker check(r, opt.tolerance);
      const NoiseSchedule schedule(rc.schedule);
      check.values("alphas_cumprod", schedule.alphas_cumprod(),
                   numbers(entry, "alphas_cumprod", "reference.schedules." + label));
      r.passed = r.failure.empty();
      results.push_back(r);
    }
  }

  // Forward process.
  if (doc.contains("add_noise") && wanted("add_noise")) {
    const json& entry = doc["add_noise"];
    const std::string ctx = "reference.add_noise";
    json as_case = {{"name", "add_noise"}, {"scheduler", "ddpm"},
                    {"config", field(entry, "config", ctx)}};
    const auto rc = translate_case_config(as_case);
    const NoiseSchedule schedule(rc.schedule);
    std::vector<int64_t> ts;
    for (double t : numbers(entry, "timesteps", ctx)) ts.push_back(static_cast<int64_t>(t));
    if (static_cast<int64_t>(ts.size()) != shape[0]) {
      schema_error(ctx, "needs one timestep per batch entry (" + std::to_string(shape[0]) + ")");
    }
    int64_t n = 1;
    for (auto d : shape) n *= d;
    const auto i = torch::arange(n, torch::kFloat64);
    const auto x0 = torch::sin(k.p * i + k.q).reshape(shape).to(opt.device, opt.dtype);
    const auto eps = torch::cos(k.r * i + k.u).reshape(shape).to(opt.device, opt.dtype);
    const auto t = torch::tensor(ts, torch::kLong);
    ReplayResult r;
    r.name = "add_noise";
    Checker check(r, opt.tolerance);
    check.values("add_noise", schedule.add_noise(x0, eps, t), numbers(entry, "result", ctx));
    check.values("velocity", schedule.velocity(x0, eps, t), numbers(entry, "velocity", ctx));
    r.passed = r.failure.empty();
    results.push_back(r);
  }

  for (const json& c : cases) {
    const std::string name = get_str(field(c, "name", "reference.cases"), "name", "reference.cases");
    if (!wanted(name)) continue;
    const std::string ctx = "case " + name;
    const auto rc = translate_case_config(c);
    const double steps = number(c, "num_inference_steps", ctx);
    ReplayResult r;
    r.name = name;
    Checker check(r, opt.tolerance);

    auto sampler = make_sampler(rc.kind, rc.schedule, rc.options);
    sampler->set_timesteps(static_cast<int64_t>(steps));
    check.values("timesteps", sampler->timesteps(), numbers(c, "timesteps", ctx));
    if (c.contains("sigmas")) check.values("sigmas", sampler->sigmas(), numbers(c, "sigmas", ctx));
    if (c.contains("init_noise_sigma")) {
      const double ref = number(c, "init_noise_sigma", ctx);
      check.values("init_noise_sigma", torch::tensor({sampler->init_noise_sigma()}), {ref});
    }

    const auto precision = opt.dtype == torch::kFloat32 ? FormulaPrecision::Float32
                                                        : FormulaPrecision::Float64;
    FormulaNoise noise([&](int64_t call, const torch::Tensor& index) {
      // FormulaNoise hands a float64 index; its integers are exact in float32 too.
      const auto i = index.to(precision == FormulaPrecision::Float32 ? torch::kFloat32
                                                                     : torch::kFloat64);
      return torch::sin(i * k.r + k.s * static_cast<double>(call) + k.u);
    });
    const double T = static_cast<double>(rc.schedule.num_train_timesteps);
    auto x = initial_values(k, shape, sampler->init_noise_sigma(), opt, precision);
    int64_t model_calls = 0;
    auto toy = [&](const torch::Tensor& in, double t) {
      ++model_calls;
      return k.a * in + k.b * torch::sin(k.c * in + t / T);
    };
    const auto& timesteps = sampler->timesteps();
    const int64_t S = timesteps.size(0);

    if (rc.kind == SamplerKind::ScoreSdeVe) {
      auto& sde = dynamic_cast<ScoreSdeVeSampler&>(*sampler);
      // Evaluated in the generator's order and precision (see FormulaPrecision): (-a)*x divided
      // by 1 + sigma^2 taken as a double and rounded once to x's dtype, plus b*sin(c*x + sigma).
      auto score = [&](const torch::Tensor& in, double sigma) {
        ++model_calls;
        return -k.a * in / (1.0 + sigma * sigma) + k.b * torch::sin(k.c * in + sigma);
      };
      torch::Tensor mean;
      for (int64_t i = 0; i < S; ++i) {
        const double sigma = sde.sigmas()[i].item<double>();
        for (int64_t j = 0; j < rc.options.correct_steps; ++j) {
          x = sde.step_correct(score(x, sigma), x, noise);
        }
        auto out = sde.step_pred(score(x, sigma), timesteps[i], x, noise);
        x = out.prev_sample;
        mean = out.prev_sample_mean;
      }
      check.values("final", mean, numbers(c, "final", ctx));
      r.final_sample = mean.to(torch::kCPU, torch::kFloat64);
    } else if (rc.kind == SamplerKind::RePaint) {
      auto& repaint = dynamic_cast<RePaintSampler&>(*sampler);
      // The known image is the initial formula at half scale; the mask keeps index 1 < 2.
      const auto known = initial_values(k, shape, 0.5, opt, precision);
      auto mask = torch::zeros(shape, torch::TensorOptions().dtype(opt.dtype).device(opt.device));
      if (shape.size() >= 2) mask.narrow(1, 0, std::min<int64_t>(2, shape[1])).fill_(1.0);
      repaint.set_known(known, mask);
      double t_last = timesteps[0].item<double>() + 1.0;
      for (int64_t i = 0; i < S; ++i) {
        const double t = timesteps[i].item<double>();
        if (t < t_last) {
          x = repaint.step(toy(x, t), timesteps[i], x, noise).prev_sample;
        } else {
          x = repaint.undo_step(x, torch::tensor(t_last, torch::kFloat64), noise);
        }
        t_last = t;
      }
      check.values("final", x, numbers(c, "final", ctx));
      r.final_sample = x.to(torch::kCPU, torch::kFloat64);
    } else {
      for (int64_t i = 0; i < S; ++i) {
        const auto t = timesteps[i];
        const auto in = sampler->scale_model_input(x, t);
        x = sampler->step(toy(in, t.item<double>()), t, x, noise).prev_sample;
        if (i == 0 && c.contains("after_first_step")) {
          check.values("after_first_step", x, numbers(c, "after_first_step", ctx));
        }
      }
      check.values("final", x, numbers(c, "final", ctx));
      r.final_sample = x.to(torch::kCPU, torch::kFloat64);
    }
    if (c.contains("noise_calls")) {
      check.count("noise_calls", noise.calls(), static_cast<int64_t>(number(c, "noise_calls", ctx)));
    }
    if (c.contains("model_calls")) {
      check.count("model_calls", model_calls, static_cast<int64_t>(number(c, "model_calls", ctx)));
    }
    r.passed = r.failure.empty();
    if (!r.passed && opt.check_rounding && r.final_sample.defined() &&
        r.failure.rfind("final", 0) == 0) {
      ReplayOptions other = opt;
      other.check_rounding = false;
      other.dtype = opt.dtype == torch::kFloat64 ? torch::kFloat32 : torch::kFloat64;
      other.filter = name;
      for (const auto& o : replay_reference(doc, other)) {
        if (o.name != name || !o.final_sample.defined()) continue;
        const auto scale = torch::clamp_min(o.final_sample.abs(), 1.0);
        r.rounding_spread = ((r.final_sample - o.final_sample).abs() / scale).max().item<double>();
        r.rounding_sensitive = r.rounding_spread > opt.tolerance;
      }
    }
    results.push_back(r);
  }
  return results;
}

std::vector<ReplayResult> replay_reference_file(const std::string& path,
                                                const ReplayOptions& options) {
  const json doc = io::read_json(path);
  try {
    return replay_reference(doc, options);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace shapediff::diffusion
