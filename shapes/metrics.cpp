#include "shapes/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "shapes/normalization.h"

namespace shapediff::shapes {
namespace {

torch::Tensor as_matrix(const torch::Tensor& m, const std::string& name) {
  if (!m.defined() || m.dim() != 2 || !at::isFloatingType(m.scalar_type())) {
    throw std::invalid_argument(name + ": expected a floating-point matrix, got " +
                                (m.defined() ? c10::str(m.sizes()) : std::string("undefined")));
  }
  if (!torch::isfinite(m).all().item<bool>()) {
    throw std::invalid_argument(name + ": contains NaN or Inf");
  }
  return m.to(torch::kCPU, torch::kFloat64).contiguous();
}

// Entropy in bits of a histogram already normalized to sum 1; 0 log 0 = 0.
double entropy_bits(const std::vector<double>& p) {
  double h = 0;
  for (double v : p) {
    if (v > 0) h -= v * std::log2(v);
  }
  return h;
}

// The cells of a JSD grid: which are kept, and their compact index.
struct GridCells {
  int64_t res;
  double h, spacing;
  std::vector<int64_t> compact;  // res^3 entries, -1 for dropped cells
  int64_t kept = 0;

  explicit GridCells(const JsdGrid& g) : res(g.resolution), h(g.half_extent) {
    spacing = 2 * h / static_cast<double>(res - 1);
    compact.assign(static_cast<size_t>(res * res * res), -1);
    for (int64_t i = 0; i < res; ++i) {
      for (int64_t j = 0; j < res; ++j) {
        for (int64_t k = 0; k < res; ++k) {
          const double x = center(i), y = center(j), z = center(k);
          if (!g.in_sphere || std::sqrt(x * x + y * y + z * z) <= h) {
            compact[static_cast<size_t>((i * res + j) * res + k)] = kept++;
          }
        }
      }
    }
  }
  double center(int64_t i) const { return -h + static_cast<double>(i) * spacing; }

  // The nearest kept cell to p. The nearest grid cell overall is per-axis rounding (clamped);
  // when it was dropped, rings of growing Chebyshev radius r around it are searched: every
  // cell of ring r + 1 is at least (r + 0.5) * spacing away, which ends the search.
  int64_t nearest(const float* p) const {
    int64_t idx[3];
    for (int k = 0; k < 3; ++k) {
      const double u = std::round((static_cast<double>(p[k]) + h) / spacing);
      idx[k] = static_cast<int64_t>(std::clamp(u, 0.0, static_cast<double>(res - 1)));
    }
    const int64_t direct = compact[static_cast<size_t>((idx[0] * res + idx[1]) * res + idx[2])];
    if (direct >= 0) return direct;
    double best = std::numeric_limits<double>::infinity();
    int64_t found = -1;
    for (int64_t r = 1; r <= res; ++r) {
      for (int64_t i = std::max<int64_t>(0, idx[0] - r); i <= std::min(res - 1, idx[0] + r); ++i) {
        for (int64_t j = std::max<int64_t>(0, idx[1] - r); j <= std::min(res - 1, idx[1] + r); ++j) {
          for (int64_t k = std::max<int64_t>(0, idx[2] - r); k <= std::min(res - 1, idx[2] + r); ++k) {
            const int64_t ring = std::max({std::abs(i - idx[0]), std::abs(j - idx[1]), std::abs(k - idx[2])});
            if (ring != r) continue;
            const int64_t c = compact[static_cast<size_t>((i * res + j) * res + k)];
            if (c < 0) continue;
            const double dx = p[0] - center(i), dy = p[1] - center(j), dz = p[2] - center(k);
            const double d = dx * dx + dy * dy + dz * dz;
            if (d < best || (d == best && c < found)) {
              best = d;
              found = c;
            }
          }
        }
      }
      const double bound = (static_cast<double>(r) + 0.5) * spacing;
      if (found >= 0 && best <= bound * bound) break;
    }
    return found;
  }
};

// Wraps a stage's progress so that three matrices report one running count.
PairProgress stage_progress(const EvalOptions& o, const std::string& stage, int64_t offset,
                            int64_t total) {
  if (!o.progress) return {};
  return [&o, stage, offset, total](int64_t done, int64_t) { o.progress(stage, offset + done, total); };
}

}  // namespace

MmdCoverage mmd_and_coverage(const torch::Tensor& gen_ref) {
  const auto d = as_matrix(gen_ref, "mmd_and_coverage: distances");
  const int64_t g = d.size(0), r = d.size(1);
  if (g < 1 || r < 1) throw std::invalid_argument("mmd_and_coverage: empty distance matrix");
  const auto a = d.accessor<double, 2>();
  MmdCoverage out;
  for (int64_t j = 0; j < r; ++j) {
    double m = a[0][j];
    for (int64_t i = 1; i < g; ++i) m = std::min(m, a[i][j]);
    out.mmd += m;
  }
  out.mmd /= static_cast<double>(r);
  std::set<int64_t> covered;
  for (int64_t i = 0; i < g; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < r; ++j) {
      if (a[i][j] < a[i][best]) best = j;
    }
    covered.insert(best);
  }
  out.coverage = static_cast<double>(covered.size()) / static_cast<double>(r);
  return out;
}

double one_nn_accuracy(const torch::Tensor& gen_gen, const torch::Tensor& gen_ref,
                       const torch::Tensor& ref_ref) {
  const auto gg = as_matrix(gen_gen, "one_nn_accuracy: gen_gen");
  const auto gr = as_matrix(gen_ref, "one_nn_accuracy: gen_ref");
  const auto rr = as_matrix(ref_ref, "one_nn_accuracy: ref_ref");
  const int64_t g = gr.size(0), r = gr.size(1);
  if (gg.size(0) != g || gg.size(1) != g || rr.size(0) != r || rr.size(1) != r) {
    throw std::invalid_argument("one_nn_accuracy: sizes disagree: gen_gen " + c10::str(gg.sizes()) +
                                ", gen_ref " + c10::str(gr.sizes()) + ", ref_ref " +
                                c10::str(rr.sizes()));
  }
  if (g + r < 2) throw std::invalid_argument("one_nn_accuracy: needs at least two shapes");
  // PointFlow's layout: index s < r is reference shape s, index r + i is generated shape i.
  const auto a_gg = gg.accessor<double, 2>(), a_gr = gr.accessor<double, 2>(),
             a_rr = rr.accessor<double, 2>();
  auto dist = [&](int64_t s, int64_t t) {
    const bool s_ref = s < r, t_ref = t < r;
    if (s_ref && t_ref) return a_rr[s][t];
    if (!s_ref && !t_ref) return a_gg[s - r][t - r];
    return s_ref ? a_gr[t - r][s] : a_gr[s - r][t];
  };
  int64_t correct = 0;
  for (int64_t s = 0; s < g + r; ++s) {
    int64_t nearest = -1;
    double best = std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < g + r; ++t) {
      if (t == s) continue;
      const double d = dist(s, t);
      if (nearest < 0 || d < best) {
        best = d;
        nearest = t;
      }
    }
    if ((nearest < r) == (s < r)) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(g + r);
}

torch::Tensor occupancy_counts(const torch::Tensor& clouds, const JsdGrid& grid) {
  check_cloud_set(clouds, "occupancy_counts");
  if (grid.resolution < 2 || grid.resolution > 1024) {
    throw std::invalid_argument("occupancy_counts: resolution must be in [2, 1024], got " +
                                std::to_string(grid.resolution));
  }
  if (!(grid.half_extent > 0) || !std::isfinite(grid.half_extent)) {
    throw std::invalid_argument("occupancy_counts: half_extent must be > 0, got " +
                                std::to_string(grid.half_extent));
  }
  const GridCells cells(grid);
  const auto pts = clouds.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t k = pts.size(0), n = pts.size(1);
  const float* p = pts.data_ptr<float>();
  // One histogram per part; integer counts, so the merge order does not matter.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), k));
  std::vector<std::vector<int64_t>> partial(static_cast<size_t>(parts),
                                            std::vector<int64_t>(static_cast<size_t>(cells.kept), 0));
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      auto& hist = partial[static_cast<size_t>(part)];
      for (int64_t c = k * part / parts; c < k * (part + 1) / parts; ++c) {
        for (int64_t i = 0; i < n; ++i) ++hist[static_cast<size_t>(cells.nearest(p + 3 * (c * n + i)))];
      }
    }
  });
  auto out = torch::zeros({cells.kept}, torch::kFloat64);
  auto* o = out.data_ptr<double>();
  for (const auto& hist : partial) {
    for (int64_t c = 0; c < cells.kept; ++c) o[c] += static_cast<double>(hist[static_cast<size_t>(c)]);
  }
  return out;
}

double jensen_shannon_divergence(const torch::Tensor& p_in, const torch::Tensor& q_in) {
  if (!p_in.defined() || !q_in.defined() || p_in.dim() != 1 || q_in.dim() != 1 ||
      p_in.size(0) != q_in.size(0)) {
    throw std::invalid_argument("jensen_shannon_divergence: expected two histograms of equal length");
  }
  const auto p = p_in.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto q = q_in.to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(p).all().item<bool>() || !torch::isfinite(q).all().item<bool>() ||
      (p < 0).any().item<bool>() || (q < 0).any().item<bool>()) {
    throw std::invalid_argument("jensen_shannon_divergence: histograms must be finite and >= 0");
  }
  const double sp = p.sum().item<double>(), sq = q.sum().item<double>();
  if (!(sp > 0) || !(sq > 0)) {
    throw std::invalid_argument("jensen_shannon_divergence: a histogram sums to 0");
  }
  const auto n = static_cast<size_t>(p.size(0));
  const double* pp = p.data_ptr<double>();
  const double* qp = q.data_ptr<double>();
  std::vector<double> pn(n), qn(n), mid(n);
  for (size_t i = 0; i < n; ++i) {
    pn[i] = pp[i] / sp;
    qn[i] = qp[i] / sq;
    mid[i] = (pn[i] + qn[i]) / 2;
  }
  return std::max(0.0, entropy_bits(mid) - (entropy_bits(pn) + entropy_bits(qn)) / 2);
}

double jsd_between_sets(const torch::Tensor& generated, const torch::Tensor& reference,
                        const JsdGrid& grid) {
  return jensen_shannon_divergence(occupancy_counts(generated, grid),
                                   occupancy_counts(reference, grid));
}

std::string to_string(EvalNormalization n) {
  switch (n) {
    case EvalNormalization::None: return "none";
    case EvalNormalization::UnitBox: return "unit_box";
    case EvalNormalization::UnitSphere: return "unit_sphere";
    case EvalNormalization::Reference: return "reference";
  }
  throw std::logic_error("to_string: bad EvalNormalization");
}

EvalNormalization parse_eval_normalization(const std::string& name) {
  for (auto n : {EvalNormalization::None, EvalNormalization::UnitBox, EvalNormalization::UnitSphere,
                 EvalNormalization::Reference}) {
    if (to_string(n) == name) return n;
  }
  throw std::invalid_argument("unknown normalization '" + name +
                              "' (choose from: none, unit_box, unit_sphere, reference)");
}

std::pair<torch::Tensor, torch::Tensor> normalize_sets(const torch::Tensor& generated,
                                                       const torch::Tensor& reference,
                                                       EvalNormalization normalization) {
  check_cloud_set(generated, "generated set");
  check_cloud_set(reference, "reference set");
  const auto gen = generated.to(torch::kFloat32);
  const auto ref = reference.to(torch::kFloat32);
  if (normalization == EvalNormalization::None) return {gen.clone(), ref.clone()};
  if (normalization == EvalNormalization::Reference) {
    DatasetStatistics stats;
    stats.add(ref.cpu());
    const auto t = stats.normalization();
    return {t.apply(gen), t.apply(ref)};
  }
  auto per_shape = [&](const torch::Tensor& set, const std::string& name) {
    std::vector<torch::Tensor> out;
    out.reserve(static_cast<size_t>(set.size(0)));
    for (int64_t k = 0; k < set.size(0); ++k) {
      try {
        const auto t = normalization == EvalNormalization::UnitBox
                           ? Normalization::unit_box(set[k])
                           : Normalization::unit_sphere(set[k]);
        out.push_back(t.apply(set[k]));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(name + " shape " + std::to_string(k) + ": cannot normalize (" +
                                    e.what() + ")");
      }
    }
    return torch::stack(out);
  };
  return {per_shape(gen, "generated set"), per_shape(ref, "reference set")};
}

nlohmann::json EvalResult::to_json() const {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, scores] : {std::make_pair("CD", cd), std::make_pair("EMD", emd)}) {
    if (!scores) continue;
    metrics[std::string("MMD-") + name] = scores->mmd;
    metrics[std::string("COV-") + name] = scores->coverage;
    metrics[std::string("1-NNA-") + name] = scores->nna;
  }
  if (jsd) metrics["JSD"] = *jsd;
  nlohmann::json j = {
      {"normalization", to_string(normalization)},
      {"generated", {{"count", generated}, {"points", generated_points}}},
      {"reference", {{"count", reference}, {"points", reference_points}}},
      {"metrics", metrics},
      {"chamfer", "squared nearest-neighbour distances, sum of the two directed means (PointFlow/PVD)"},
      {"emd", nullptr},
      {"jsd_grid", nullptr},
      {"paired", nullptr}};
  if (emd_options) {
    j["emd"] = {{"method", to_string(emd_options->method)},
                {"ground", to_string(emd_options->ground)},
                {"max_gap", emd_max_gap}};
  }
  if (jsd) {
    j["jsd_grid"] = {{"resolution", jsd_grid.resolution},
                     {"half_extent", jsd_grid.half_extent},
                     {"in_sphere", jsd_grid.in_sphere}};
  }
  if (paired) {
    j["paired"] = {{"CD", paired->cd},
                   {"F-score", paired->fscore},
                   {"precision", paired->precision},
                   {"recall", paired->recall},
                   {"threshold", paired->threshold}};
    if (paired->emd) j["paired"]["EMD"] = *paired->emd;
  }
  return j;
}

EvalResult evaluate_sets(const torch::Tensor& generated, const torch::Tensor& reference,
                         const EvalOptions& options) {
  check_cloud_set(generated, "generated set");
  check_cloud_set(reference, "reference set");
  const int64_t g = generated.size(0), r = reference.size(0);
  if (options.emd && generated.size(1) != reference.size(1)) {
    throw std::invalid_argument("EMD needs equal point counts: generated clouds have " +
                                std::to_string(generated.size(1)) + " points, reference clouds " +
                                std::to_string(reference.size(1)) + " (turn EMD off)");
  }
  if (options.paired && g != r) {
    throw std::invalid_argument("paired evaluation needs as many generated as reference shapes, got " +
                                std::to_string(g) + " and " + std::to_string(r));
  }
  if (!options.cd && !options.emd && !options.jsd && !options.paired) {
    throw std::invalid_argument("nothing to evaluate: every metric is turned off");
  }
  if ((options.cd || options.emd) && g + r < 2) {
    throw std::invalid_argument("MMD, COV and 1-NNA need at least two shapes in all");
  }
  if (options.paired && (!(options.fscore_threshold > 0) || !std::isfinite(options.fscore_threshold))) {
    throw std::invalid_argument("F-score threshold must be a distance > 0, got " +
                                std::to_string(options.fscore_threshold));
  }
  if (options.jsd_half_extent < 0 || !std::isfinite(options.jsd_half_extent)) {
    throw std::invalid_argument("jsd_half_extent must be >= 0 (0: automatic), got " +
                                std::to_string(options.jsd_half_extent));
  }
  const auto [gen, ref] = normalize_sets(generated, reference, options.normalization);

  EvalResult result;
  result.normalization = options.normalization;
  result.generated = g;
  result.reference = r;
  result.generated_points = generated.size(1);
  result.reference_points = reference.size(1);

  const int64_t pairs = g * r + g * (g - 1) / 2 + r * (r - 1) / 2;
  if (options.cd) {
    const auto gr = chamfer_matrix(gen, ref, stage_progress(options, "CD", 0, pairs));
    const auto gg = chamfer_matrix(gen, gen, stage_progress(options, "CD", g * r, pairs));
    const auto rr = chamfer_matrix(ref, ref, stage_progress(options, "CD", g * r + g * (g - 1) / 2, pairs));
    const auto mc = mmd_and_coverage(gr);
    result.cd = SetScores{mc.mmd, mc.coverage, one_nn_accuracy(gg, gr, rr)};
  }
  if (options.emd) {
    const auto& eo = options.emd_options;
    const auto gr = emd_matrix(gen, ref, eo, stage_progress(options, "EMD", 0, pairs));
    const auto gg = emd_matrix(gen, gen, eo, stage_progress(options, "EMD", g * r, pairs));
    const auto rr = emd_matrix(ref, ref, eo, stage_progress(options, "EMD", g * r + g * (g - 1) / 2, pairs));
    const auto mc = mmd_and_coverage(gr.value);
    result.emd = SetScores{mc.mmd, mc.coverage, one_nn_accuracy(gg.value, gr.value, rr.value)};
    result.emd_options = eo;
    result.emd_max_gap = std::max({gr.gap.max().item<double>(), gg.gap.max().item<double>(),
                                   rr.gap.max().item<double>()});
  }
  if (options.jsd) {
    result.jsd_grid.resolution = options.jsd_resolution;
    result.jsd_grid.half_extent = options.jsd_half_extent;
    if (result.jsd_grid.half_extent == 0) {
      result.jsd_grid.half_extent = ref.norm(2, -1).max().item<double>();
      if (!(result.jsd_grid.half_extent > 0)) {
        throw std::invalid_argument("reference set: every point is at the origin; give the JSD grid extent");
      }
    }
    result.jsd = jsd_between_sets(gen, ref, result.jsd_grid);
  }

  if (options.paired) {
    EvalResult::Paired p;
    p.threshold = options.fscore_threshold;
    p.cd = chamfer_distance(gen, ref).mean().item<double>();
    const auto f = fscore(gen, ref, options.fscore_threshold);
    p.fscore = f.fscore.mean().item<double>();
    p.precision = f.precision.mean().item<double>();
    p.recall = f.recall.mean().item<double>();
    if (options.emd) {
      const auto e = earth_movers_distance(gen, ref, options.emd_options);
      p.emd = e.value.mean().item<double>();
      result.emd_options = options.emd_options;
      result.emd_max_gap = std::max(result.emd_max_gap, e.gap.max().item<double>());
    }
    result.paired = p;
  }
  return result;
}

}  // namespace shapediff::shapes
