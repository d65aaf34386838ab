#include "io/pc15k.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "io/npy.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using shapes::NormalizationKind;
using test::throws_naming;

constexpr int64_t kFilePoints = 200;  // PC15k files hold 15000; any P >= N is accepted

// A fake PC15k tree: airplane and chair, 3 shapes of [200,3] float32 per split, each category
// with its own offset and spread so per-category statistics differ.
class Pc15kTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path("PC15k");
    torch::manual_seed(9);
    int64_t k = 0;
    for (const auto& [synset, offset] : {std::pair<std::string, float>{"02691156", 0.0f},
                                         std::pair<std::string, float>{"03001627", 3.0f}}) {
      for (const char* split : {"train", "val", "test"}) {
        const fs::path dir = fs::path(root_) / synset / split;
        fs::create_directories(dir);
        for (int i = 0; i < 3; ++i) {
          const auto points = torch::randn({kFilePoints, 3}) * (1.0f + offset) + offset;
          const std::string model = "m" + std::to_string(k++);
          write_npy((dir / (model + ".npy")).string(), points);
          files_[synset + "/" + split].push_back(points);
        }
      }
    }
  }

  // All points of a category's train split, [3 * 200, 3] float64.
  torch::Tensor train_points(const std::string& synset) {
    return torch::cat(files_.at(synset + "/train")).to(torch::kFloat64);
  }

  std::string file(const std::string& synset, const std::string& split, int model) {
    return (fs::path(root_) / synset / split / ("m" + std::to_string(model) + ".npy")).string();
  }

  test::TempDir tmp_;
  std::string root_;
  std::map<std::string, std::vector<torch::Tensor>> files_;
};

void expect_statistics(const shapes::Normalization& n, const torch::Tensor& points) {
  EXPECT_EQ(n.kind, NormalizationKind::DatasetGlobal);
  const auto mean = points.mean(0);
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(n.center[d], mean[d].item<double>(), 1e-9);
  EXPECT_NEAR(n.scale, points.reshape(-1).std(/*unbiased=*/false).item<double>(), 1e-9);
}

TEST(Pc15kSynsetsTest, KnowsTheShapeNetSynsets) {
  const auto& synsets = shapenet_synsets();
  EXPECT_EQ(synsets.size(), 55u);
  std::set<std::string> ids, names;
  for (const auto& [id, name] : synsets) {
    EXPECT_EQ(id.size(), 8u);
    ids.insert(id);
    names.insert(name);
  }
  EXPECT_EQ(ids.size(), 55u);
  EXPECT_EQ(names.size(), 55u);
  const std::vector<std::pair<std::string, std::string>> required = {
      {"airplane", "02691156"}, {"chair", "03001627"},  {"car", "02958343"},
      {"table", "04379243"},    {"lamp", "03636649"},   {"sofa", "04256520"},
      {"bench", "02828884"},    {"bottle", "02876657"}, {"mug", "03797390"},
      {"rifle", "04090263"},    {"vessel", "04530566"}};
  for (const auto& [name, id] : required) {
    EXPECT_EQ(shapenet_synset_id(name), id);
    EXPECT_EQ(shapenet_synset_id(id), id);
    EXPECT_EQ(shapenet_synset_name(id), name);
  }
  EXPECT_TRUE(throws_naming<std::invalid_argument>([] { shapenet_synset_id("aeroplane"); },
                                                   "aeroplane", "airplane"));
}

TEST_F(Pc15kTest, DatasetGlobalStatisticsPerCategoryFromTheTrainSplit) {
  Pc15kOptions o;
  o.points = 64;
  const Pc15kSource source(root_, "test", {"airplane", "03001627"}, o);
  EXPECT_EQ(source.count(), 6);
  EXPECT_EQ(source.category_names(), (std::vector<std::string>{"airplane", "chair"}));
  EXPECT_EQ(source.synset_ids(), (std::vector<std::string>{"02691156", "03001627"}));
  ASSERT_EQ(source.statistics().size(), 2u);
  expect_statistics(source.statistics()[0], train_points("02691156"));
  expect_statistics(source.statistics()[1], train_points("03001627"));

  o.per_category_statistics = false;
  const Pc15kSource pooled(root_, "train", {"airplane", "chair"}, o);
  ASSERT_EQ(pooled.statistics().size(), 1u);
  expect_statistics(pooled.statistics()[0],
                    torch::cat({train_points("02691156"), train_points("03001627")}));
}

TEST_F(Pc15kTest, RecordsAreNormalizedSubsetsOfTheFiles) {
  Pc15kOptions o;
  o.points = 50;
  o.chunk_size = 4;
  const Pc15kSource source(root_, "val", {"chair", "airplane"}, o);
  EXPECT_EQ(source.size(), 2);
  auto records = source.chunk(0, 7);
  const auto rest = source.chunk(1, 7);
  records.insert(records.end(), rest.begin(), rest.end());
  ASSERT_EQ(records.size(), 6u);
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    SCOPED_TRACE(r.id);
    const bool chair = i < 3;
    const std::string synset = chair ? "03001627" : "02691156";
    EXPECT_EQ(r.label, chair ? 0 : 1);
    EXPECT_EQ(r.id.substr(0, 9), synset + "/");
    EXPECT_EQ(r.points.sizes(), (std::vector<int64_t>{50, 3}));
    EXPECT_EQ(r.points.scalar_type(), torch::kFloat32);
    EXPECT_EQ(r.normalization.center, source.statistics()[chair ? 0 : 1].center);
    // Each point is a distinct point of the file, normalized.
    const auto original = files_.at(synset + "/val")[i % 3];
    const auto back = r.normalization.invert(r.points.to(torch::kFloat64));
    const auto nearest = torch::cdist(back, original.to(torch::kFloat64)).min(1);
    EXPECT_LT(std::get<0>(nearest).max().item<double>(), 1e-4);
    EXPECT_EQ(std::get<0>(torch::_unique(std::get<1>(nearest))).numel(), 50);
  }
  EXPECT_EQ(records[3].id, "02691156/m" + std::to_string(3));  // val files of airplane: m3..m5
}

TEST_F(Pc15kTest, SubsetsAreSeededPerDraw) {
  Pc15kOptions o;
  o.points = 32;
  o.normalization = NormalizationKind::Identity;
  const Pc15kSource source(root_, "train", {"airplane"}, o);
  EXPECT_TRUE(source.statistics().empty());
  const auto a = source.chunk(0, 1), b = source.chunk(0, 1), c = source.chunk(0, 2);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].points, b[i].points));
    EXPECT_FALSE(torch::equal(a[i].points, c[i].points));
  }
  EXPECT_FALSE(torch::equal(a[0].points, files_.at("02691156/train")[0].narrow(0, 0, 32)));

  // Through the loader: the same seed repeats the run, each epoch draws other points.
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.epochs = 2;
  lo.seed = 3;
  auto shared =
      std::make_shared<Pc15kSource>(root_, "train", std::vector<std::string>{"airplane"}, o);
  ShapeLoader first(shared, lo), second(shared, lo);
  const auto e0 = first.next(), e1 = first.next();
  ASSERT_TRUE(e0 && e1);
  EXPECT_TRUE(torch::equal(e0->points, second.next()->points));
  EXPECT_EQ(e1->epoch, 1);
  EXPECT_FALSE(first.next().has_value());
  const auto order0 = e0->ids, order1 = e1->ids;
  for (size_t i = 0; i < order0.size(); ++i) {
    const auto j = std::find(order1.begin(), order1.end(), order0[i]) - order1.begin();
    EXPECT_FALSE(torch::equal(e0->points[static_cast<int64_t>(i)], e1->points[j])) << order0[i];
  }
}

TEST_F(Pc15kTest, PerShapeUnitSphere) {
  Pc15kOptions o;
  o.points = kFilePoints;
  o.normalization = NormalizationKind::UnitSphere;
  const Pc15kSource source(root_, "train", {"chair"}, o);
  for (const auto& r : source.chunk(0, 0)) {
    EXPECT_EQ(r.normalization.kind, NormalizationKind::UnitSphere);
    // All P points drawn: the cloud touches the unit sphere.
    EXPECT_NEAR(r.points.norm(2, 1).max().item<float>(), 1.0f, 1e-5f);
  }
  o.statistics = {shapes::Normalization{}};
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "train", {"chair"}, o); }, "statistics"));
}

TEST_F(Pc15kTest, GivenStatisticsAreUsedWithoutReadingTrain) {
  Pc15kOptions o;
  o.points = 16;
  const Pc15kSource train(root_, "train", {"airplane"}, o);
  o.statistics = train.statistics();
  fs::remove_all(fs::path(root_) / "02691156" / "train");
  const Pc15kSource test(root_, "test", {"airplane"}, o);
  EXPECT_EQ(test.statistics()[0].center, train.statistics()[0].center);
  EXPECT_EQ(test.chunk(0, 0)[0].normalization.scale, train.statistics()[0].scale);
  o.statistics.push_back(o.statistics[0]);
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "test", {"airplane"}, o); }, "statistics", "expected 1"));
}

TEST_F(Pc15kTest, StreamsThroughShapeLoader) {
  Pc15kOptions o;
  o.points = 20;
  o.chunk_size = 2;
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.workers = 2;
  ShapeLoader loader(std::make_shared<Pc15kSource>(
                         root_, "train", std::vector<std::string>{"airplane", "chair"}, o),
                     lo);
  std::set<std::string> ids;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->points.size(1), 20);
    EXPECT_FALSE(batch->normals.defined());
    EXPECT_FALSE(batch->partial.defined());
    ids.insert(batch->ids.begin(), batch->ids.end());
  }
  EXPECT_EQ(ids.size(), 6u);
}

TEST_F(Pc15kTest, MissingFoldersAreNamed) {
  const std::string missing = tmp_.path("nowhere");
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [&] { Pc15kSource s(missing, "train", {"airplane"}); }, missing, "root"));
  const std::string car = (fs::path(root_) / "02958343").string();
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { Pc15kSource s(root_, "train", {"car"}); },
                                                car, "car"));
  fs::remove_all(fs::path(root_) / "03001627" / "val");
  const std::string val = (fs::path(root_) / "03001627" / "val").string();
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [&] {
        Pc15kSource s(root_, "val", {"airplane", "chair"});
      },
      val, "split"));
  fs::create_directories(val);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { Pc15kSource s(root_, "val", {"chair"}); },
                                                val, "no .npy"));
}

TEST_F(Pc15kTest, BadFilesAreNamed) {
  Pc15kOptions o;
  o.points = 16;
  o.normalization = NormalizationKind::Identity;
  const Pc15kSource source(root_, "test", {"airplane"}, o);
  const std::string path = file("02691156", "test", 6);
  write_npy(path, torch::zeros({kFilePoints, 3}, torch::kFloat64));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, path, "float32"));
  write_npy(path, torch::zeros({kFilePoints, 2}));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, path, "[P,3]"));
  write_npy(path, torch::zeros({10, 3}));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, path, "fewer"));
  auto nan = torch::zeros({kFilePoints, 3});
  nan[17][1] = std::nan("");
  write_npy(path, nan);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, path, "point 17"));
  test::write_bytes(path, "garbage");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, path));

  // The statistics pass reads the train files, so a bad train file fails construction.
  const std::string train = file("02691156", "train", 0);
  write_npy(train, torch::zeros({kFilePoints, 3}, torch::kInt32));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { Pc15kSource s(root_, "test", {"airplane"}); },
                                                train, "float32"));
}

TEST_F(Pc15kTest, BadArgumentsAreNamed) {
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "validation", {"airplane"}); }, "validation"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "train", {"spaceship"}); }, "spaceship"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] {
        Pc15kSource s(root_, "train", {"chair", "03001627"});
      },
      "03001627", "twice"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { Pc15kSource s(root_, "train", {}); },
                                                   "categories"));
  Pc15kOptions o;
  o.points = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "train", {"chair"}, o); }, "points"));
  o.points = 8;
  o.chunk_size = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { Pc15kSource s(root_, "train", {"chair"}, o); }, "chunk_size"));
}

}  // namespace
}  // namespace shapediff::io
