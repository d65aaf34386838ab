// `shapediff complete` as a user runs it: tiny generation and completion models trained for two
// steps by `shapediff train`, scans written here as XYZ/OFF files far from the origin and
// millimetres wide.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

const auto run = shapediff::test::run_cli;
const auto bytes = shapediff::test::file_bytes;

using Point = std::array<double, 3>;
constexpr Point kCenter{1000.0, -500.0, 2000.0};
constexpr double kRadius = 0.002;  // 2 mm

std::vector<Point> read_xyz(const fs::path& p) {
  std::ifstream in(p);
  std::vector<Point> out;
  Point q;
  while (in >> q[0] >> q[1] >> q[2]) out.push_back(q);
  return out;
}

class CliComplete : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = shapediff::test::scratch_path("complete");
    fs::create_directories(root_);
    // The generation model needs no scans; the completion model trains on virtual scans.
    auto data = run("data make --families chair,mug --per-family 2 --resolution 24 --points 128 "
                    "--scans 0 --val 0 --test 0 --threads 2 --out " + (root_ / "data").string());
    ASSERT_EQ(data.code, 0) << data.out;
    std::ofstream(root_ / "tiny.json")
        << R"({"model": {"preset": "tiny", "conditional": true},
               "training": {"steps": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 1},
               "data": {"points": 128}})";
    auto train = run("train --config " + (root_ / "tiny.json").string() + " --data " + (root_ / "data").string() +
                     " --out " + (root_ / "generation").string() + " --threads 1");
    ASSERT_EQ(train.code, 0) << train.out;
    auto scanned = run("data make --families chair,mug --per-family 2 --resolution 24 --points 128 "
                       "--scans 1 --val 0 --test 0 --threads 2 --out " + (root_ / "scanned").string());
    ASSERT_EQ(scanned.code, 0) << scanned.out;
    train = run("train --config " + (root_ / "tiny.json").string() + " --data " + (root_ / "scanned").string() +
                " --out " + (root_ / "completion").string() + " --task completion --threads 1");
    ASSERT_EQ(train.code, 0) << train.out;
    // A hemisphere of 400 points (the visible half of a 2 mm ball), plus three far outliers.
    std::ofstream scan(root_ / "scan.xyz");
    scan.precision(12);
    for (int i = 0; i < 400; ++i) {
      const double u = (i + 0.5) / 400.0, phi = i * 2.399963;
      const double z = u, r = std::sqrt(1 - z * z);
      scan << kCenter[0] + kRadius * r * std::cos(phi) << " " << kCenter[1] + kRadius * r * std::sin(phi)
           << " " << kCenter[2] + kRadius * z << "\n";
    }
    for (int i = 0; i < 3; ++i) scan << kCenter[0] + 0.05 * (i + 1) << " " << kCenter[1] << " " << kCenter[2] << "\n";
  }
  static fs::path root_;
};
fs::path CliComplete::root_;

TEST_F(CliComplete, CompletesInTheScansOwnFrameAndIsReproducible) {
  const auto out = root_ / "c1";
  const std::string args = " --samples 2 --sampler ddim --steps 4 --trajectory 2 --seed 3 --threads 1 --input " +
                           (root_ / "scan.xyz").string() + " --model " + (root_ / "generation").string();
  auto r = run("complete" + args + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"input.ply", "completion_00.ply", "completion_01.ply", "completions.npz",
                        "completion.json", "before_after.png", "trajectory.npz"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  const auto meta = nlohmann::json::parse(bytes(out / "completion.json"));
  EXPECT_EQ(meta.at("strategy"), "replacement");
  EXPECT_EQ(meta.at("outliers_dropped").get<int>(), 3);
  EXPECT_EQ(meta.at("known_points").get<int>(), 32);
  EXPECT_GT(meta.at("total_mutual_difference").get<double>(), 0.0);
  const auto center = meta.at("frame").at("center").get<std::vector<double>>();
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(center[a], kCenter[a] + (a == 2 ? kRadius / 2 : 0.0), 1e-4);

  // The completion overlays the scan: its known points are scan points, and the whole cloud is in
  // the scan's coordinates around it (the generated points of a two-step model are wild, so the
  // bound is loose; the model's own frame would put them ~2000 units away).
  ASSERT_EQ(run("convert " + (out / "completion_00.ply").string() + " " + (root_ / "c.xyz").string()).code, 0);
  const auto completion = read_xyz(root_ / "c.xyz");
  const auto scan = read_xyz(root_ / "scan.xyz");
  ASSERT_EQ(completion.size(), 128u);
  for (size_t i = 0; i < 32; ++i) {
    double best = 1e300;
    for (const auto& s : scan) {
      best = std::min(best, std::hypot(completion[i][0] - s[0], completion[i][1] - s[1], completion[i][2] - s[2]));
    }
    EXPECT_LT(best, 2e-4) << "known point " << i;
  }
  for (const auto& p : completion) {
    EXPECT_LT(std::hypot(p[0] - kCenter[0], p[1] - kCenter[1], p[2] - kCenter[2]), 200 * kRadius);
  }

  const auto again = root_ / "c2";
  r = run("complete" + args + " --out " + again.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(bytes(out / "completions.npz"), bytes(again / "completions.npz"));
}

TEST_F(CliComplete, CompletionModelsRunConditionallyAndMeshesAreSampled) {
  // A closed tetrahedron as a scanned mesh.
  std::ofstream(root_ / "tet.off") << "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n";
  const auto out = root_ / "cond";
  auto r = run("complete --steps 3 --threads 1 --mesh-samples 500 --input " + (root_ / "tet.off").string() +
               " --model " + (root_ / "completion").string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto meta = nlohmann::json::parse(bytes(out / "completion.json"));
  EXPECT_EQ(meta.at("strategy"), "conditional");
  EXPECT_TRUE(meta.at("input_was_mesh").get<bool>());
  EXPECT_EQ(meta.at("input_points").get<int>(), 500);
  EXPECT_TRUE(fs::exists(out / "completion_00.ply"));
}

TEST_F(CliComplete, EvalCompletionScoresEveryMethodAndNamesBadInput) {
  const auto scanned = (root_ / "scanned").string();
  const auto json_path = root_ / "eval.json";
  // Completing the training shapes themselves: retrieval finds each shape, so it must beat the
  // scan alone by far.
  auto r = run("eval-completion --data " + scanned + " --split train --per-category 1 --steps 3 --threads 1"
               " --jump-length 2 --jump-n-sample 2 --completion-model " + (root_ / "completion").string() + " --model " +
               (root_ / "generation").string() + " --json " + json_path.string() + " --save " +
               (root_ / "saved").string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* row : {"| input", "| retrieval", "| conditional", "| replacement", "| repaint", "| sdedit"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  }
  const auto j = nlohmann::json::parse(bytes(json_path));
  EXPECT_EQ(j.at("shapes").get<int>(), 2);
  // Every shape's own scores: CD splits into its two directed terms, the table's rows are their
  // means, and --save wrote each scored cloud (retrieval finds the training shape itself here).
  const auto& scored = j.at("shapes_scored");
  ASSERT_EQ(scored.size(), 2u);
  for (const char* m : {"input", "retrieval", "conditional", "replacement", "repaint", "sdedit"}) {
    double cd_sum = 0;
    for (const auto& s : scored) {
      const auto& e = s.at("results").at(m);
      EXPECT_NEAR(e.at("accuracy").get<double>() + e.at("completeness").get<double>(), e.at("cd").get<double>(),
                  1e-6 * (1 + e.at("cd").get<double>())) << m;
      cd_sum += e.at("cd").get<double>();
      const auto id = s.at("id").get<std::string>();
      std::string stem = id;
      std::replace(stem.begin(), stem.end(), '/', '_');
      EXPECT_TRUE(fs::exists(root_ / "saved" / m / (stem + ".ply"))) << m << " " << id;
      EXPECT_TRUE(fs::exists(root_ / "saved" / "truth" / (stem + ".ply"))) << id;
    }
    EXPECT_NEAR(cd_sum / 2, j["results"][m]["all"]["cd"].get<double>(), 1e-9) << m;
  }
  // Retrieval found each training shape itself: its saved cloud is the truth's, byte for byte,
  // and the scan's file holds the scan's points.
  for (const auto& s : scored) {
    auto stem = s.at("id").get<std::string>();
    std::replace(stem.begin(), stem.end(), '/', '_');
    EXPECT_EQ(s["results"]["retrieval"]["cd"].get<double>(), 0.0);
    EXPECT_EQ(bytes(root_ / "saved" / "retrieval" / (stem + ".ply")), bytes(root_ / "saved" / "truth" / (stem + ".ply")));
    EXPECT_NE(bytes(root_ / "saved" / "truth" / (stem + ".ply")).find("element vertex 128\n"), std::string::npos);
    EXPECT_NE(bytes(root_ / "saved" / "input" / (stem + ".ply")), bytes(root_ / "saved" / "truth" / (stem + ".ply")));
  }
  EXPECT_NE(r.out.find("CD = accuracy (result -> truth) + completeness"), std::string::npos) << r.out;
  std::ofstream(root_ / "a_file") << "x";
  auto bad = run("eval-completion --data " + scanned + " --split train --completion-model " +
                 (root_ / "completion").string() + " --save " + (root_ / "a_file").string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--save"), std::string::npos) << bad.out;
  bad = run("eval-completion --data " + scanned + " --split train --completion-model " +
            (root_ / "completion").string() + " --device tpu");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("tpu"), std::string::npos) << bad.out;
  // Bad input leaves no --save folder behind.
  bad = run("eval-completion --data " + (root_ / "data").string() + " --model " + (root_ / "generation").string() +
            " --save " + (root_ / "saved_bad").string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_FALSE(fs::exists(root_ / "saved_bad"));
  const double input_cd = j["results"]["input"]["all"]["cd"].get<double>();
  const double retrieval_cd = j["results"]["retrieval"]["all"]["cd"].get<double>();
  EXPECT_LT(retrieval_cd, 0.01 * input_cd) << r.out;
  // The sampling-noise floor is positive and below the scan's CD (128 points a shape here: a high floor).
  EXPECT_GT(j.at("cd_floor").get<double>(), 0.0);
  EXPECT_LT(j.at("cd_floor").get<double>(), input_cd);
  EXPECT_NE(r.out.find("CD floor"), std::string::npos) << r.out;
  EXPECT_EQ(j["results"]["conditional"]["all"]["shapes"].get<int>(), 2);
  EXPECT_EQ(j.at("repaint_jump_n_sample").get<int>(), 2);

  // Retrieval in another dataset (what a real-mesh evaluation does), and the checks on it.
  r = run("eval-completion --data " + scanned + " --split train --per-category 1 --steps 3 --threads 1"
          " --strategies conditional --completion-model " + (root_ / "completion").string() +
          " --train-data " + (root_ / "data").string());
  EXPECT_EQ(r.code, 0) << r.out;
  auto other = run("data make --families chair --per-family 1 --resolution 24 --points 64 --scans 0 --val 0 "
                   "--test 0 --threads 1 --out " + (root_ / "data64").string());
  ASSERT_EQ(other.code, 0) << other.out;
  r = run("eval-completion --data " + scanned + " --split train --completion-model " +
          (root_ / "completion").string() + " --train-data " + (root_ / "data64").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("64 points per shape"), std::string::npos) << r.out;
  // Every method told the category: retrieval searches that category only, the class-conditional
  // models get its label; a category that retrieval's dataset or a model lacks is named.
  const auto known_json = root_ / "eval_known.json";
  r = run("eval-completion --data " + scanned + " --split train --per-category 1 --steps 3 --threads 1"
          " --category-known --samples 2 --strategies conditional,sdedit --completion-model " +
          (root_ / "completion").string() + " --model " + (root_ / "generation").string() + " --json " +
          known_json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("category known to every method"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("medoid of 2 completions"), std::string::npos) << r.out;
  const auto known = nlohmann::json::parse(bytes(known_json));
  EXPECT_TRUE(known.at("category_known").get<bool>());
  EXPECT_EQ(known.at("samples").get<int>(), 2);
  r = run("eval-completion --data " + scanned + " --split train --samples 0 --completion-model " +
          (root_ / "completion").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--samples = 0"), std::string::npos) << r.out;
  EXPECT_LT(known["results"]["retrieval"]["all"]["cd"].get<double>(), 0.01 * input_cd) << r.out;
  auto chairs = run("data make --families chair --per-family 1 --resolution 24 --points 128 --scans 0 --val 0 "
                    "--test 0 --threads 1 --out " + (root_ / "chairs").string());
  ASSERT_EQ(chairs.code, 0) << chairs.out;
  r = run("eval-completion --data " + scanned + " --split train --steps 3 --category-known --completion-model " +
          (root_ / "completion").string() + " --train-data " + (root_ / "chairs").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no 'train' shapes of category 'mug'"), std::string::npos) << r.out;
  auto tables = run("data make --families table --per-family 1 --resolution 24 --points 128 --scans 1 --val 0 "
                    "--test 0 --threads 1 --out " + (root_ / "tables").string());
  ASSERT_EQ(tables.code, 0) << tables.out;
  r = run("eval-completion --data " + (root_ / "tables").string() + " --split train --steps 3 --category-known "
          "--completion-model " + (root_ / "completion").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("the model has no class 'table'"), std::string::npos) << r.out;

  // Refining the retrieved shape: on training shapes retrieval finds the shape itself, so a
  // start this close stays far nearer the truth than the scan alone.
  const auto refine_json = root_ / "eval_refine.json";
  r = run("eval-completion --data " + scanned + " --split train --per-category 1 --steps 20 --threads 1"
          " --category-known --guidance 1.5 --strength 0.05 --strategies conditional+retrieval,sdedit+retrieval"
          " --completion-model " + (root_ / "completion").string() + " --model " + (root_ / "generation").string() +
          " --json " + refine_json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto refine = nlohmann::json::parse(bytes(refine_json));
  for (const char* m : {"conditional+retrieval", "sdedit+retrieval"}) {
    EXPECT_LT(refine["results"][m]["all"]["cd"].get<double>(), 0.2 * input_cd) << m << "\n" << r.out;
  }
  EXPECT_EQ(refine.at("strength").get<double>(), 0.05);
  EXPECT_EQ(refine.at("guidance").get<double>(), 1.5);
  r = run("eval-completion --data " + scanned + " --split train --strategies replacement+retrieval --model " +
          (root_ / "generation").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("only conditional and sdedit can refine"), std::string::npos) << r.out;
  r = run("eval-completion --data " + scanned + " --split train --strategies foo+retrieval --model " +
          (root_ / "generation").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown strategy 'foo+retrieval'"), std::string::npos) << r.out;
  r = run("eval-completion --data " + scanned + " --split train --strength 0 --completion-model " +
          (root_ / "completion").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--strength = 0"), std::string::npos) << r.out;
  r = run("eval-completion --data " + scanned + " --split train --guidance 2 --completion-model " +
          (root_ / "completion").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("needs --category-known"), std::string::npos) << r.out;

  // A dataset without scans, a scan view it does not have, a strategy without its model.
  r = run("eval-completion --data " + (root_ / "data").string() + " --model " + (root_ / "generation").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no virtual scans"), std::string::npos) << r.out;
  r = run("eval-completion --data " + scanned + " --split train --view 3 --model " + (root_ / "generation").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--view = 3"), std::string::npos) << r.out;
  r = run("eval-completion --data " + scanned + " --split train --strategies conditional --model " +
          (root_ / "generation").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("needs --completion-model"), std::string::npos) << r.out;
}

TEST_F(CliComplete, ViewShowsTheCompletionLiveAndWritesTheSameFiles) {
  if (std::system("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  if (run("view /nonexistent.npz").out.find("without the viewer") != std::string::npos) {
    GTEST_SKIP() << "built without the viewer";
  }
  const std::string args = " --steps 3 --threads 1 --seed 4 --input " + (root_ / "scan.xyz").string() +
                           " --model " + (root_ / "generation").string();
  const auto shot = root_ / "live.png";
  const std::string cmd = "xvfb-run -a -s '-screen 0 1280x1024x24' " + std::string(SHAPEDIFF_CLI) +
                          " complete --view --view-screenshot " + shot.string() + args + " --out " +
                          (root_ / "live").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(bytes(shot).substr(1, 3), "PNG");
  auto r = run("complete" + args + " --out " + (root_ / "plain").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(bytes(root_ / "live" / "completions.npz"), bytes(root_ / "plain" / "completions.npz"));
}

TEST_F(CliComplete, BadInputIsOneLineAndExitCode2) {
  std::ofstream(root_ / "empty.xyz") << "";
  std::ofstream(root_ / "three.xyz") << "0 0 0\n1 0 0\n0 1 0\n";
  {
    std::ofstream same(root_ / "same.xyz");
    for (int i = 0; i < 20; ++i) same << "5 5 5\n";
  }
  const std::string gen = " --model " + (root_ / "generation").string();
  const std::string cond = " --model " + (root_ / "completion").string();
  const std::string scan = " --input " + (root_ / "scan.xyz").string();
  struct Case {
    std::string args, needle;
  };
  const Case cases[] = {
      {gen + " --input " + (root_ / "empty.xyz").string(), "empty.xyz"},
      {gen + " --input " + (root_ / "three.xyz").string(), "3 finite points"},
      {gen + " --input " + (root_ / "same.xyz").string(), "no extent"},
      {gen + " --input " + (root_ / "missing.xyz").string(), "missing.xyz"},
      {gen + scan + " --strategy repaint --sampler euler", "repaint"},
      {gen + scan + " --strategy sdedit --strength 0", "strength"},
      {gen + scan + " --strategy conditional", "needs a completion model"},
      {cond + scan + " --strategy replacement", "needs a generation model"},
      {gen + scan + " --strategy inpaint", "inpaint"},
      {gen + scan + " --samples 0", "--samples"},
      {gen + scan + " --up-axis w", "up axis"},
      {gen + scan + " --known-points 500", "known points = 500"},
  };
  for (const auto& c : cases) {
    const auto out = root_ / "bad";
    auto r = run("complete --steps 2 --threads 1" + c.args + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << c.args << "\n" << r.out;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // A generation command refuses a completion model.
  auto r = run("sample --count 1 --steps 2" + cond + " --out " + (root_ / "bad").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("shapediff complete"), std::string::npos) << r.out;
}

}  // namespace
