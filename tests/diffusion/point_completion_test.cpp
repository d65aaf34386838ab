#include "diffusion/point_completion.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "shapes/chamfer.h"

namespace shapediff::diffusion {
namespace {

PointModel tiny_model(PointTask task, int64_t known, int64_t classes = 0) {
  PointModelConfig c;
  c.preset = networks::PVCNNPreset::Tiny;
  c.points = 96;
  c.task = task;
  c.known_points = known;
  c.num_classes = classes;
  for (int64_t i = 0; i < classes; ++i) c.classes.push_back("c" + std::to_string(i));
  torch::manual_seed(4);
  return make_point_model(c);
}

torch::Tensor partial_cloud(int64_t m) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(9);
  return torch::rand({m, 3}, g) * 2 - 1;
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected an error mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PointCompletion, ResampleKeepsPartialPointsOnly) {
  const auto p = partial_cloud(50);
  for (int64_t k : {10, 50, 80}) {
    const auto r = resample_partial(p, k, 1);
    ASSERT_EQ(r.sizes(), (std::vector<int64_t>{k, 3}));
    // Every resampled point is one of the partial points.
    const auto d = (r.unsqueeze(1) - p.unsqueeze(0)).abs().sum(-1).amin(1);
    EXPECT_EQ(d.max().item<float>(), 0.0f) << "k = " << k;
  }
  // Fewer partial points than asked: all of them come first.
  EXPECT_TRUE(torch::equal(resample_partial(p, 80, 1).slice(0, 0, 50), p));
  // Farthest-point sampling spreads: 10 of 50 cover the cloud better than the first 10.
  const auto fps = resample_partial(p, 10, 1);
  const double spread = torch::cdist(p, fps).amin(1).max().item<double>();
  const double first = torch::cdist(p, p.slice(0, 0, 10)).amin(1).max().item<double>();
  EXPECT_LT(spread, first);
  expect_error([] { resample_partial(torch::zeros({0, 3}), 5, 0); }, "M >= 1");
  expect_error([] { resample_partial(torch::full({4, 3}, NAN), 5, 0); }, "NaN");
}

TEST(PointCompletion, TrainingFreeStrategiesKeepTheKnownPoints) {
  auto model = tiny_model(PointTask::Generation, 0);
  const auto p = partial_cloud(40);
  for (auto m : {PointCompletionMethod::Replacement, PointCompletionMethod::RePaint,
                 PointCompletionMethod::SDEdit}) {
    PointCompletionOptions o;
    o.method = m;
    o.sampler = SamplerKind::DDIM;
    o.sampler_options.jump_length = 2;
    o.sampler_options.jump_n_sample = 2;
    o.steps = 4;
    o.samples = 2;
    o.known_points = 24;
    o.record_every = 2;
    const auto r = complete_points(model, p, o);
    ASSERT_EQ(r.points.sizes(), (std::vector<int64_t>{2, 96, 3})) << to_string(m);
    EXPECT_TRUE(torch::equal(r.points.slice(1, 0, 24), r.known.unsqueeze(0).expand({2, 24, 3})))
        << to_string(m);
    EXPECT_TRUE(torch::isfinite(r.points).all().item<bool>());
    // The two completions differ (own noise), the free points are not copies of the known.
    EXPECT_FALSE(torch::equal(r.points[0], r.points[1])) << to_string(m);
    ASSERT_TRUE(r.trajectory.defined());
    EXPECT_EQ(r.trajectory.size(1), 2);
    EXPECT_EQ(r.trajectory.size(2), 96);
    EXPECT_TRUE(torch::equal(r.trajectory[-1], r.points)) << to_string(m);
  }
}

TEST(PointCompletion, SameSeedSameCompletion) {
  auto model = tiny_model(PointTask::Generation, 0);
  PointCompletionOptions o;
  o.steps = 3;
  o.seed = 5;
  const auto a = complete_points(model, partial_cloud(30), o);
  const auto b = complete_points(model, partial_cloud(30), o);
  EXPECT_TRUE(torch::equal(a.points, b.points));
  o.seed = 6;
  EXPECT_FALSE(torch::equal(a.points, complete_points(model, partial_cloud(30), o).points));
}

TEST(PointCompletion, ConditionalModelDenoisesOnlyTheFreePoints) {
  auto model = tiny_model(PointTask::Completion, 32);
  PointCompletionOptions o;
  o.method = PointCompletionMethod::Conditional;
  o.steps = 3;
  o.samples = 3;
  o.record_every = 1;
  const auto r = complete_points(model, partial_cloud(100), o);
  ASSERT_EQ(r.points.sizes(), (std::vector<int64_t>{3, 96, 3}));
  ASSERT_EQ(r.known.size(0), 32);
  EXPECT_TRUE(torch::equal(r.points.slice(1, 0, 32), r.known.unsqueeze(0).expand({3, 32, 3})));
  // Every recorded frame shows the known points clean.
  EXPECT_TRUE(torch::equal(r.trajectory.slice(2, 0, 32),
                           r.known.view({1, 1, 32, 3}).expand({r.trajectory.size(0), 3, 32, 3})));
  o.known_points = 20;
  expect_error([&] { complete_points(model, partial_cloud(100), o); }, "trained with 32");
}

// With a start shape and a low strength both the conditional model and SDEdit end near the
// start's points (resampled to the free rows); without it they do not. The known rows stay exact.
TEST(PointCompletion, AStartShapeIsRefinedNotReplaced) {
  auto cond = tiny_model(PointTask::Completion, 32);
  auto gen = tiny_model(PointTask::Generation, 0);
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto init = torch::rand({150, 3}, g) * 1.6 - 0.8;
  for (auto* model : {&cond, &gen}) {
    const bool conditional = model == &cond;
    PointCompletionOptions o;
    o.method = conditional ? PointCompletionMethod::Conditional : PointCompletionMethod::SDEdit;
    o.known_points = conditional ? 0 : 32;
    o.steps = 50;
    o.strength = 0.04;  // the last two of 50 steps: noise std ~0.04
    o.samples = 2;
    o.init = init;
    const auto r = complete_points(*model, partial_cloud(60), o);
    ASSERT_EQ(r.points.sizes(), (std::vector<int64_t>{2, 96, 3}));
    EXPECT_TRUE(torch::equal(r.points.slice(1, 0, 32), r.known.unsqueeze(0).expand({2, 32, 3})));
    const auto start = resample_partial(init, 64, o.seed);
    const double moved = (r.points.slice(1, 32) - start.unsqueeze(0)).norm(2, -1).mean().item<double>();
    EXPECT_LT(moved, 0.15) << to_string(o.method);
    o.init = torch::Tensor();
    o.strength = 1.0;
    const auto plain = complete_points(*model, partial_cloud(60), o);
    const double apart = (plain.points.slice(1, 32) - start.unsqueeze(0)).norm(2, -1).mean().item<double>();
    EXPECT_GT(apart, 0.3) << to_string(o.method);
  }
  PointCompletionOptions o;
  o.steps = 4;
  o.init = init;
  o.method = PointCompletionMethod::Replacement;
  expect_error([&] { complete_points(gen, partial_cloud(40), o); }, "conditional or sdedit, not replacement");
  o.method = PointCompletionMethod::SDEdit;
  o.init = torch::zeros({5, 2});
  expect_error([&] { complete_points(gen, partial_cloud(40), o); }, "init must be [P,3]");
  o.init = torch::full({5, 3}, NAN);
  expect_error([&] { complete_points(gen, partial_cloud(40), o); }, "init has NaN");
  o.init = init;
  o.strength = 0.0;
  expect_error([&] { complete_points(gen, partial_cloud(40), o); }, "strength = 0");
}

TEST(PointCompletion, RefusesTheWrongModelOrSettings) {
  auto gen = tiny_model(PointTask::Generation, 0);
  auto cond = tiny_model(PointTask::Completion, 32);
  const auto p = partial_cloud(40);
  PointCompletionOptions o;
  o.steps = 2;
  o.method = PointCompletionMethod::Conditional;
  expect_error([&] { complete_points(gen, p, o); }, "needs a completion model");
  o.method = PointCompletionMethod::Replacement;
  expect_error([&] { complete_points(cond, p, o); }, "needs a generation model");
  o.known_points = 96;
  expect_error([&] { complete_points(gen, p, o); }, "known points = 96");
  o.known_points = 0;
  o.samples = 0;
  expect_error([&] { complete_points(gen, p, o); }, "samples = 0");
  o.samples = 1;
  o.label = 0;
  expect_error([&] { complete_points(gen, p, o); }, "unconditional");
  o.label.reset();
  o.method = PointCompletionMethod::RePaint;
  o.sampler = SamplerKind::Euler;
  expect_error([&] { complete_points(gen, p, o); }, "repaint");
  o.sampler = SamplerKind::DDPM;
  o.steps = 5000;
  expect_error([&] { complete_points(gen, p, o); }, "steps = 5000");
  expect_error([] { parse_point_completion_method("magic"); }, "conditional, replacement");
}

TEST(PointCompletion, TotalMutualDifferenceIsTheSumOfMeanPairDistances) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(2);
  const auto c = torch::rand({3, 50, 3}, g);
  double expected = 0;
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      if (i == j) continue;
      // Plain reference: both directed means of squared nearest distances, summed.
      const auto d = (c[i].unsqueeze(1) - c[j].unsqueeze(0)).pow(2).sum(-1);
      expected += (d.amin(1).mean() + d.amin(0).mean()).item<double>() / 2.0;
    }
  }
  EXPECT_NEAR(total_mutual_difference(c), expected, 1e-5);
  EXPECT_EQ(total_mutual_difference(c.slice(0, 0, 1)), 0.0);
}

TEST(PointCompletion, MedoidIsTheCompletionNearestToTheOthers) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  // Five clouds around three centres: the medoid must be the one whose summed plain Chamfer
  // distance to the other four is least.
  const auto centres = torch::tensor({0.0, 0.0, 0.1, 1.0, 0.05}).reshape({5, 1, 1});
  const auto c = torch::rand({5, 40, 3}, g) * 0.2 + centres;
  std::vector<double> sums(5, 0.0);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      const auto d = (c[i].unsqueeze(1) - c[j].unsqueeze(0)).pow(2).sum(-1);
      sums[static_cast<size_t>(i)] += (d.amin(1).mean() + d.amin(0).mean()).item<double>();
    }
  }
  const auto best = std::min_element(sums.begin(), sums.end()) - sums.begin();
  EXPECT_EQ(medoid_completion(c), best);
  EXPECT_NE(medoid_completion(c), 3);  // never the outlier
  EXPECT_EQ(medoid_completion(c.slice(0, 3, 4)), 0);
  expect_error([] { medoid_completion(torch::zeros({0, 4, 3})); }, "medoid_completion");
}

}  // namespace
}  // namespace shapediff::diffusion
