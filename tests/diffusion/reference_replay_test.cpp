// Parity with diffusers: every case of shared/reference/diffusers_schedulers.json replayed
// through shapediff's samplers must match within 1e-4 (relative above 1).
#include "diffusion/reference_replay.h"

#include <gtest/gtest.h>

#include "io/json_file.h"
#include "test_support.h"

namespace shapediff::diffusion {
namespace {

std::vector<std::string> case_names() {
  const auto doc = io::read_json(testing::diffusers_reference());
  std::vector<std::string> names;
  for (const auto& [label, entry] : doc.at("schedules").items()) names.push_back("schedule_" + label);
  names.push_back("add_noise");
  for (const auto& c : doc.at("cases")) names.push_back(c.at("name").get<std::string>());
  return names;
}

const nlohmann::json& reference_doc() {
  static const nlohmann::json doc = io::read_json(testing::diffusers_reference());
  return doc;
}

class DiffusersParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DiffusersParity, MatchesReference) {
  ReplayOptions opt;
  opt.filter = GetParam();
  const auto results = replay_reference(reference_doc(), opt);
  bool found = false;
  for (const auto& r : results) {
    if (r.name != GetParam()) continue;  // the filter is a substring match
    found = true;
    EXPECT_TRUE(r.passed) << r.name << ": " << r.failure;
    EXPECT_LE(r.max_error, 1e-4) << r.name;
  }
  EXPECT_TRUE(found) << "case " << GetParam() << " was not replayed";
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Cases, DiffusersParity, ::testing::ValuesIn(case_names()), test_name);

TEST(ReferenceReplay, FloatSixtyFourAlsoMatches) {
  ReplayOptions opt;
  opt.dtype = torch::kFloat64;
  opt.filter = "ddim_sd_leading_eta1.0_50";
  const auto results = replay_reference(reference_doc(), opt);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].passed) << results[0].failure;
}

TEST(ReferenceReplay, DetectsAWrongReference) {
  // Perturb one final value: the replay must notice.
  auto doc = reference_doc();
  for (auto& c : doc["cases"]) {
    if (c["name"] == "ddim_sd_trailing_eta0.0_50") c["final"][3] = c["final"][3].get<double>() + 1e-3;
  }
  ReplayOptions opt;
  opt.filter = "ddim_sd_trailing_eta0.0_50";
  const auto results = replay_reference(doc, opt);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].passed);
  EXPECT_NE(results[0].failure.find("final[3]"), std::string::npos) << results[0].failure;
  // A well-conditioned case gives the same answer in float64, so a wrong value stays a failure.
  EXPECT_FALSE(results[0].rounding_sensitive);
  EXPECT_LT(results[0].rounding_spread, 1e-4);
}

TEST(ReferenceReplay, FlagsTheRoundingSensitiveScoreSdeCase) {
  // Score-SDE predictor-corrector with this toy score amplifies last-bit differences: the
  // float64 replay ends far from the float32 reference (and AVX-512 or CUDA float32 runs do
  // too), so the replay must say so rather than report a plain mismatch.
  ReplayOptions opt;
  opt.dtype = torch::kFloat64;
  opt.filter = "sde_ve_pc_30_c1";
  const auto results = replay_reference(reference_doc(), opt);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].passed);
  EXPECT_TRUE(results[0].rounding_sensitive) << results[0].failure;
  EXPECT_GT(results[0].rounding_spread, 1e-2);
  // Without the check the same run is a plain failure.
  opt.check_rounding = false;
  const auto plain = replay_reference(reference_doc(), opt);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].rounding_sensitive);
}

TEST(ReferenceReplay, DetectsWrongNoiseCount) {
  auto doc = reference_doc();
  for (auto& c : doc["cases"]) {
    if (c["name"] == "ddpm_linear_epsilon_50") c["noise_calls"] = 50;
  }
  ReplayOptions opt;
  opt.filter = "ddpm_linear_epsilon_50";
  const auto results = replay_reference(doc, opt);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].passed);
  EXPECT_NE(results[0].failure.find("noise_calls"), std::string::npos);
}

TEST(ReferenceReplay, OtherConstantsAndShapesRun) {
  // The schema, not this file: other constants, shape and step counts replay without error
  // (the numbers no longer match, so the cases fail, but every case runs).
  auto doc = reference_doc();
  doc["constants"]["a"] = 0.5;
  doc["shape"] = {3, 2, 2};
  for (auto& c : doc["cases"]) c["num_inference_steps"] = 7;
  ReplayOptions opt;
  opt.filter = "ddim_sd_trailing";
  const auto results = replay_reference(doc, opt);
  EXPECT_EQ(results.size(), 2u);
  for (const auto& r : results) EXPECT_FALSE(r.passed);
}

TEST(ReferenceReplay, MalformedDocumentsAreRejected) {
  auto doc = reference_doc();
  doc.erase("constants");
  EXPECT_THROW(replay_reference(doc), std::runtime_error);

  auto doc2 = reference_doc();
  doc2["cases"][0].erase("config");
  EXPECT_THROW(replay_reference(doc2), std::runtime_error);

  auto doc3 = reference_doc();
  doc3["cases"][0]["config"]["beta_schedule"] = "zigzag";
  EXPECT_THROW(replay_reference(doc3), std::invalid_argument);

  auto doc4 = reference_doc();
  doc4["cases"][0]["config"]["frobnicate"] = true;
  EXPECT_THROW(replay_reference(doc4), std::invalid_argument);

  auto doc5 = reference_doc();
  doc5["shape"] = "big";
  EXPECT_THROW(replay_reference(doc5), std::runtime_error);
}

TEST(ReferenceReplay, MissingFileNamesIt) {
  try {
    replay_reference_file("/nonexistent/ref.json");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ref.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace shapediff::diffusion
