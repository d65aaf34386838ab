#include "io/shape_dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "io/json_file.h"
#include "io/npz.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using shapes::Normalization;
using shapes::NormalizationKind;
using test::throws_naming;

DatasetInfo example_info(int64_t scans, bool normals,
                         NormalizationKind kind = NormalizationKind::UnitSphere) {
  DatasetInfo info;
  info.categories = {"chair", "table", "lamp"};
  info.points = 16;
  info.normals = normals;
  info.scans = scans;
  info.scan_points = scans > 0 ? 5 : 0;
  info.normalization.kind = kind;
  if (kind == NormalizationKind::DatasetGlobal) {
    info.normalization.center = {0.25, -0.5, 1.0 / 3.0};
    info.normalization.scale = 0.7;
  }
  info.source = {{"generator", "test"}, {"seed", 3}};
  return info;
}

ShapeRecord example_record(int64_t i, const DatasetInfo& info) {
  torch::manual_seed(100 + i);
  ShapeRecord r;
  r.id = "shape-" + std::to_string(i);
  r.label = i % static_cast<int64_t>(info.categories.size());
  r.points = torch::randn({info.points, 3});
  if (info.normals) r.normals = torch::randn({info.points, 3});
  if (info.scans > 0) {
    r.partial = torch::randn({info.scans, info.scan_points, 3});
    r.cam_to_world = torch::eye(4, torch::kFloat64).repeat({info.scans, 1, 1});
    r.cam_to_world.select(2, 3).narrow(1, 0, 3).copy_(
        torch::randn({info.scans, 3}, torch::kFloat64));
    r.intrinsics = torch::tensor({128.0, 96.0, 110.0, 111.0, 64.0, 48.5}, torch::kFloat64)
                       .repeat({info.scans, 1});
  }
  if (info.global_normalization()) {
    r.normalization = info.normalization;
  } else {
    r.normalization.kind = info.normalization.kind;
    r.normalization.center = {0.1 * static_cast<double>(i), -1e-17, 3.0};
    r.normalization.scale = 1.0 / (1.0 + static_cast<double>(i));
  }
  return r;
}

void expect_same_record(const ShapeRecord& a, const ShapeRecord& b) {
  SCOPED_TRACE(a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.label, b.label);
  EXPECT_TRUE(torch::equal(a.points, b.points));
  ASSERT_EQ(a.normals.defined(), b.normals.defined());
  if (a.normals.defined()) EXPECT_TRUE(torch::equal(a.normals, b.normals));
  ASSERT_EQ(a.partial.defined(), b.partial.defined());
  if (a.partial.defined()) {
    EXPECT_TRUE(torch::equal(a.partial, b.partial));
    EXPECT_TRUE(torch::equal(a.cam_to_world, b.cam_to_world));
    EXPECT_TRUE(torch::equal(a.intrinsics, b.intrinsics));
  }
  EXPECT_EQ(a.normalization.kind, b.normalization.kind);
  EXPECT_EQ(a.normalization.center, b.normalization.center);
  EXPECT_EQ(a.normalization.scale, b.normalization.scale);
}

std::vector<ShapeRecord> read_split(const std::string& dir, const DatasetInfo& info,
                                    const std::string& split) {
  std::vector<ShapeRecord> out;
  for (const auto& shard : info.splits.at(split).shards) {
    for (auto& r : read_shard((fs::path(dir) / shard).string(), info)) out.push_back(std::move(r));
  }
  return out;
}

// A finished dataset of `train` + `val` records; returns what was written, per split.
std::map<std::string, std::vector<ShapeRecord>> write_example(const std::string& dir,
                                                              const DatasetInfo& info, int train,
                                                              int val, int64_t shard_size) {
  std::map<std::string, std::vector<ShapeRecord>> written;
  DatasetWriter writer(dir, info, shard_size);
  for (int i = 0; i < train + val; ++i) {
    const std::string split = i < train ? "train" : "val";
    written[split].push_back(example_record(i, info));
    writer.add(split, written[split].back());
  }
  writer.finish();
  return written;
}

TEST(ShapeDatasetTest, RoundTripKeepsEveryValue) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  const DatasetInfo info = example_info(/*scans=*/2, /*normals=*/true);
  const auto written = write_example(dir, info, 7, 2, /*shard_size=*/3);

  const DatasetInfo read = read_dataset_info(dir);
  EXPECT_EQ(read.categories, info.categories);
  EXPECT_EQ(read.points, 16);
  EXPECT_TRUE(read.normals);
  EXPECT_EQ(read.scans, 2);
  EXPECT_EQ(read.scan_points, 5);
  EXPECT_EQ(read.shard_size, 3);
  EXPECT_EQ(read.normalization.kind, NormalizationKind::UnitSphere);
  EXPECT_EQ(read.source, info.source);
  ASSERT_EQ(read.splits.size(), 3u);
  EXPECT_EQ(read.splits.at("train").count, 7);
  EXPECT_EQ(read.splits.at("train").shards,
            (std::vector<std::string>{"train-00000.npz", "train-00001.npz", "train-00002.npz"}));
  EXPECT_EQ(read.splits.at("val").count, 2);
  EXPECT_EQ(read.splits.at("test").count, 0);
  EXPECT_TRUE(read.splits.at("test").shards.empty());

  for (const std::string split : {"train", "val"}) {
    const auto back = read_split(dir, read, split);
    const auto& expected = written.at(split);
    ASSERT_EQ(back.size(), expected.size());
    for (size_t i = 0; i < back.size(); ++i) expect_same_record(back[i], expected[i]);
  }
}

TEST(ShapeDatasetTest, ShardsHoldTheDocumentedArrays) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  write_example(dir, example_info(2, true), 3, 0, 4);
  const auto arrays = read_npz((fs::path(dir) / "train-00000.npz").string());
  std::vector<std::string> names;
  for (const auto& [name, t] : arrays) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"cam_to_world", "ids", "intrinsics", "labels", "norm_center",
                                      "norm_scale", "normals", "partial", "points"}));
  EXPECT_EQ(arrays.at("points").sizes(), (std::vector<int64_t>{3, 16, 3}));
  EXPECT_EQ(arrays.at("partial").sizes(), (std::vector<int64_t>{3, 2, 5, 3}));
  EXPECT_EQ(arrays.at("cam_to_world").scalar_type(), torch::kFloat64);
  EXPECT_EQ(arrays.at("ids").scalar_type(), torch::kUInt8);
  EXPECT_EQ(arrays.at("ids").sizes(), (std::vector<int64_t>{3, 7}));  // "shape-0" is 7 bytes
  EXPECT_EQ(arrays.at("labels").scalar_type(), torch::kInt64);
}

TEST(ShapeDatasetTest, RoundTripWithoutScansOrNormalsAndGlobalNormalization) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  const DatasetInfo info = example_info(0, false, NormalizationKind::DatasetGlobal);
  const auto written = write_example(dir, info, 5, 0, 256);
  const DatasetInfo read = read_dataset_info(dir);
  EXPECT_EQ(read.normalization.kind, NormalizationKind::DatasetGlobal);
  EXPECT_EQ(read.normalization.center, info.normalization.center);
  EXPECT_EQ(read.normalization.scale, info.normalization.scale);
  const auto back = read_split(dir, read, "train");
  ASSERT_EQ(back.size(), 5u);
  for (size_t i = 0; i < back.size(); ++i) expect_same_record(back[i], written.at("train")[i]);
  const auto arrays = read_npz((fs::path(dir) / "train-00000.npz").string());
  EXPECT_EQ(arrays.count("normals") + arrays.count("partial") + arrays.count("intrinsics"), 0u);
}

TEST(ShapeDatasetTest, IdsOfAnyLengthAndUtf8RoundTrip) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  const DatasetInfo info = example_info(0, false);
  const std::vector<std::string> ids = {"a", "02691156/1a04e3eab45ca15dd86060f189eb133",
                                        "chaise-\xC3\xA9t\xC3\xA9-\xE6\xA4\x85\xE5\xAD\x90"};
  {
    DatasetWriter writer(dir, info);
    for (size_t i = 0; i < ids.size(); ++i) {
      ShapeRecord r = example_record(static_cast<int64_t>(i), info);
      r.id = ids[i];
      writer.add("test", r);
    }
    writer.finish();
  }
  const auto back = read_split(dir, read_dataset_info(dir), "test");
  ASSERT_EQ(back.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(back[i].id, ids[i]);
}

TEST(ShapeDatasetTest, InterruptedWriterLeavesNoDatasetJson) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  const DatasetInfo info = example_info(0, false);
  {
    DatasetWriter writer(dir, info, /*shard_size=*/2);
    for (int i = 0; i < 5; ++i) writer.add("train", example_record(i, info));
  }
  EXPECT_TRUE(fs::exists(fs::path(dir) / "train-00001.npz"));
  EXPECT_FALSE(fs::exists(fs::path(dir) / "train-00002.npz"));
  EXPECT_FALSE(fs::exists(dataset_info_path(dir)));
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_dataset_info(dir); },
                                                dataset_info_path(dir), "cannot open"));
}

TEST(ShapeDatasetTest, RefusesToOverwriteAFinishedDatasetUnlessAsked) {
  test::TempDir tmp;
  const std::string dir = tmp.path("ds");
  const DatasetInfo info = example_info(0, false);
  write_example(dir, info, 5, 0, 2);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { DatasetWriter w(dir, info); },
                                                dataset_info_path(dir), "overwrite"));
  EXPECT_TRUE(read_dataset_info(dir).splits.at("train").count == 5);

  {
    DatasetWriter writer(dir, info, 2, /*overwrite=*/true);
    // From here on the folder no longer claims to be a finished dataset.
    EXPECT_FALSE(fs::exists(dataset_info_path(dir)));
    EXPECT_FALSE(fs::exists(fs::path(dir) / "train-00002.npz"));
    writer.add("train", example_record(9, info));
    writer.finish();
  }
  const DatasetInfo read = read_dataset_info(dir);
  EXPECT_EQ(read.splits.at("train").count, 1);
  EXPECT_EQ(read_split(dir, read, "train")[0].id, "shape-9");
}

TEST(ShapeDatasetTest, WriterIsDoneAfterFinish) {
  test::TempDir tmp;
  const DatasetInfo info = example_info(0, false);
  DatasetWriter writer(tmp.path("ds"), info);
  writer.finish();
  EXPECT_THROW(writer.add("train", example_record(0, info)), std::logic_error);
  EXPECT_THROW(writer.finish(), std::logic_error);
}

TEST(ShapeDatasetTest, WriterRejectsABadInfo) {
  test::TempDir tmp;
  DatasetInfo info = example_info(0, false);
  info.points = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { DatasetWriter w(tmp.path("a"), info); },
                                                   "points", ">= 1"));
  info = example_info(2, false);
  info.scan_points = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { DatasetWriter w(tmp.path("b"), info); },
                                                   "scan_points"));
  info = example_info(0, false);
  info.categories.clear();
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { DatasetWriter w(tmp.path("c"), info); },
                                                   "categories"));
  info = example_info(0, false, NormalizationKind::DatasetGlobal);
  info.normalization.scale = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { DatasetWriter w(tmp.path("d"), info); },
                                                   "normalization", "scale"));
  info = example_info(0, false);
  info.splits["train"].count = 1;
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { DatasetWriter w(tmp.path("e"), info); },
                                                   "splits"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { DatasetWriter w(tmp.path("f"), example_info(0, false), 0); }, "shard_size"));
}

TEST(ShapeDatasetTest, WriterRejectsBadRecordsNamingIdAndField) {
  test::TempDir tmp;
  const DatasetInfo info = example_info(2, true);
  const DatasetInfo global = example_info(0, false, NormalizationKind::DatasetGlobal);
  struct Case {
    std::string field;
    std::function<void(ShapeRecord&)> spoil;
    bool use_global = false;
  };
  const double nan = std::nan("");
  const std::vector<Case> cases = {
      {"points",
       [](ShapeRecord& r) {
         r.points = torch::zeros({15, 3});
       }},
      {"points",
       [](ShapeRecord& r) {
         r.points = torch::zeros({16, 3}, torch::kInt64);
       }},
      {"points", [&](ShapeRecord& r) { r.points[3][1] = nan; }},
      {"points",
       [](ShapeRecord& r) {
         r.points = r.points.to(torch::kFloat64);
         r.points[0][0] = 1e300;
       }},
      {"points", [](ShapeRecord& r) { r.points = torch::Tensor(); }},
      {"normals", [](ShapeRecord& r) { r.normals = torch::Tensor(); }},
      {"normals",
       [](ShapeRecord& r) {
         r.normals = torch::zeros({16, 2});
       }},
      {"label", [](ShapeRecord& r) { r.label = 3; }},
      {"label", [](ShapeRecord& r) { r.label = -1; }},
      {"partial",
       [](ShapeRecord& r) {
         r.partial = torch::zeros({1, 5, 3});
       }},
      {"partial", [&](ShapeRecord& r) { r.partial[1][4][2] = nan; }},
      {"cam_to_world", [&](ShapeRecord& r) { r.cam_to_world[0][0][0] = nan; }},
      {"cam_to_world", [](ShapeRecord& r) { r.cam_to_world = torch::Tensor(); }},
      {"intrinsics", [](ShapeRecord& r) { r.intrinsics[1][0] = 0; }},
      {"intrinsics",
       [](ShapeRecord& r) {
         r.intrinsics = torch::zeros({2, 4}, torch::kFloat64);
       }},
      {"normalization", [](ShapeRecord& r) { r.normalization.kind = NormalizationKind::UnitBox; }},
      {"normalization", [](ShapeRecord& r) { r.normalization.scale = -1; }},
      {"normalization", [](ShapeRecord& r) { r.normalization.center[2] = 0.5; }, true},
      {"normals",
       [](ShapeRecord& r) {
         r.normals = torch::zeros({16, 3});
       },
       true},
      {"partial",
       [](ShapeRecord& r) {
         r.partial = torch::zeros({2, 5, 3});
       },
       true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + " (" + c.field + ")");
    const DatasetInfo& used = c.use_global ? global : info;
    DatasetWriter writer(tmp.path("ds" + std::to_string(i)), used);
    ShapeRecord r = example_record(4, used);
    r.id = "bad-" + std::to_string(i);
    c.spoil(r);
    EXPECT_TRUE(
        throws_naming<std::invalid_argument>([&] { writer.add("train", r); }, r.id, c.field));
  }

  DatasetWriter writer(tmp.path("dup"), info);
  writer.add("train", example_record(1, info));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { writer.add("val", example_record(1, info)); }, "shape-1", "already used"));
  ShapeRecord unnamed = example_record(2, info);
  unnamed.id.clear();
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { writer.add("train", unnamed); }, "id"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { writer.add("Train/x", example_record(2, info)); }, "Train/x", "split"));
}

// ---- read_dataset_info ----------------------------------------------------------------------

class DatasetInfoErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path("ds");
    write_example(dir_, example_info(1, false), 3, 1, 2);
    path_ = dataset_info_path(dir_);
    good_ = read_json(path_);
  }
  // Writes `doc` as dataset.json and expects a one-line runtime_error naming the file and
  // `fragment`.
  ::testing::AssertionResult fails_with(const nlohmann::json& doc, const std::string& fragment) {
    write_json(path_, doc);
    return throws_naming<std::runtime_error>([&] { read_dataset_info(dir_); }, path_, fragment);
  }

  test::TempDir tmp_;
  std::string dir_, path_;
  nlohmann::json good_;
};

TEST_F(DatasetInfoErrors, MissingFileAndBadJson) {
  fs::remove(path_);
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_dataset_info(dir_); }, path_, "cannot open"));
  test::write_bytes(path_, "{\"format\": \"shapediff-dataset\", \"version\": ");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_dataset_info(dir_); }, path_, "invalid JSON"));
  test::write_bytes(path_, "[1, 2]");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_dataset_info(dir_); }, path_, "object"));
}

TEST_F(DatasetInfoErrors, WrongFormatOrVersion) {
  auto doc = good_;
  doc["format"] = "pointflow";
  EXPECT_TRUE(fails_with(doc, "format"));
  doc = good_;
  doc["version"] = 2;
  EXPECT_TRUE(fails_with(doc, "version"));
  doc["version"] = "1";
  EXPECT_TRUE(fails_with(doc, "version"));
}

TEST_F(DatasetInfoErrors, EveryMissingFieldIsNamed) {
  for (const char* field : {"format", "version", "categories", "points", "normals", "scans",
                            "scan_points", "shard_size", "normalization", "splits", "source"}) {
    SCOPED_TRACE(field);
    auto doc = good_;
    doc.erase(field);
    EXPECT_TRUE(fails_with(doc, std::string("'") + field + "'"));
  }
  auto doc = good_;
  doc["normalization"].erase("kind");
  EXPECT_TRUE(fails_with(doc, "kind"));
  doc = good_;
  doc["splits"]["train"].erase("count");
  EXPECT_TRUE(fails_with(doc, "count"));
  doc = good_;
  doc["splits"]["val"].erase("shards");
  EXPECT_TRUE(fails_with(doc, "shards"));
}

TEST_F(DatasetInfoErrors, BadValuesAreNamed) {
  auto doc = good_;
  doc["points"] = "many";
  EXPECT_TRUE(fails_with(doc, "points"));
  doc = good_;
  doc["points"] = 0;
  EXPECT_TRUE(fails_with(doc, "points"));
  doc = good_;
  doc["normals"] = 1;
  EXPECT_TRUE(fails_with(doc, "normals"));
  doc = good_;
  doc["categories"] = {"chair", 3};
  EXPECT_TRUE(fails_with(doc, "categories"));
  doc = good_;
  doc["normalization"]["kind"] = "unit_cube";
  EXPECT_TRUE(fails_with(doc, "unit_cube"));
  doc = good_;
  doc["normalization"] = {{"kind", "dataset_global"}, {"center", {0, 0}}, {"scale", 1}};
  EXPECT_TRUE(fails_with(doc, "center"));
  doc = good_;
  doc["splits"]["train"]["count"] = 7;  // would need 4 shards of 2
  EXPECT_TRUE(fails_with(doc, "splits.train"));
  doc = good_;
  doc["splits"]["train"]["shards"][0] = "../escape.npz";
  EXPECT_TRUE(fails_with(doc, "../escape.npz"));
  doc = good_;
  doc["splits"]["Bad Name"] = {{"count", 0}, {"shards", nlohmann::json::array()}};
  EXPECT_TRUE(fails_with(doc, "Bad Name"));
}

TEST_F(DatasetInfoErrors, ListedShardThatIsMissing) {
  fs::remove(fs::path(dir_) / "train-00001.npz");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_dataset_info(dir_); }, path_,
                                                "train-00001.npz"));
}

// ---- read_shard -----------------------------------------------------------------------------

class ShardErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path("ds");
    info_ = example_info(2, true);
    write_example(dir_, info_, 3, 0, 4);
    path_ = (fs::path(dir_) / "train-00000.npz").string();
    good_ = read_npz(path_);
  }
  ::testing::AssertionResult fails_with(const std::map<std::string, torch::Tensor>& arrays,
                                        const std::string& fragment) {
    write_npz(path_, arrays, false);
    return throws_naming<std::runtime_error>([&] { read_shard(path_, info_); }, path_, fragment);
  }

  test::TempDir tmp_;
  std::string dir_, path_;
  DatasetInfo info_;
  std::map<std::string, torch::Tensor> good_;
};

TEST_F(ShardErrors, TruncatedOrGarbageShard) {
  const std::string bytes = test::read_bytes(path_);
  for (const size_t cut : {size_t{0}, size_t{30}, bytes.size() / 2, bytes.size() - 10}) {
    SCOPED_TRACE(cut);
    test::write_bytes(path_, bytes.substr(0, cut));
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_shard(path_, info_); }, path_));
  }
  test::write_bytes(path_, test::garbage(bytes.size(), 5));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_shard(path_, info_); }, path_));
  fs::remove(path_);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_shard(path_, info_); }, path_));
}

TEST_F(ShardErrors, WrongDtypeOrShapeNamesTheArray) {
  auto a = good_;
  a["points"] = a["points"].to(torch::kFloat64);
  EXPECT_TRUE(fails_with(a, "'points' must be float32"));
  a = good_;
  a["labels"] = a["labels"].to(torch::kInt32);
  EXPECT_TRUE(fails_with(a, "'labels'"));
  a = good_;
  a["normals"] = a["normals"].narrow(1, 0, 10).contiguous();
  EXPECT_TRUE(fails_with(a, "'normals'"));
  a = good_;
  a["partial"] = a["partial"].narrow(0, 0, 2).contiguous();
  EXPECT_TRUE(fails_with(a, "'partial'"));
  a = good_;
  a["cam_to_world"] = a["cam_to_world"].to(torch::kFloat32);
  EXPECT_TRUE(fails_with(a, "'cam_to_world'"));
  a = good_;
  a["intrinsics"] = a["intrinsics"].narrow(2, 0, 4).contiguous();
  EXPECT_TRUE(fails_with(a, "'intrinsics'"));
  a = good_;
  a["norm_center"] = a["norm_center"].to(torch::kFloat32);
  EXPECT_TRUE(fails_with(a, "'norm_center'"));
  a = good_;
  a["norm_scale"] = a["norm_scale"].unsqueeze(1);
  EXPECT_TRUE(fails_with(a, "'norm_scale'"));
  a = good_;
  a["ids"] = a["ids"].to(torch::kInt64);
  EXPECT_TRUE(fails_with(a, "'ids'"));
}

TEST_F(ShardErrors, MissingUnexpectedOrBadValues) {
  auto a = good_;
  a.erase("normals");
  EXPECT_TRUE(fails_with(a, "'normals' is missing"));
  a = good_;
  a["extra"] = torch::zeros({3});
  EXPECT_TRUE(fails_with(a, "'extra'"));
  a = good_;
  a["points"] = a["points"].clone();
  a["points"][2][5][0] = std::nan("");
  EXPECT_TRUE(fails_with(a, "'points' shape 2"));
  a = good_;
  a["labels"] = a["labels"].clone();
  a["labels"][1] = 3;
  EXPECT_TRUE(fails_with(a, "'labels' shape 1"));
  a = good_;
  a["norm_scale"] = a["norm_scale"].clone();
  a["norm_scale"][0] = 0.0;
  EXPECT_TRUE(fails_with(a, "'norm_scale'"));
  a = good_;
  a["ids"] = a["ids"].clone();
  a["ids"][1].zero_();
  EXPECT_TRUE(fails_with(a, "'ids' row 1"));
  a = good_;
  for (auto& [name, t] : a) t = t.narrow(0, 0, 0).contiguous();
  EXPECT_TRUE(fails_with(a, "no shapes"));
}

TEST_F(ShardErrors, GlobalNormalizationMustMatchTheInfo) {
  const DatasetInfo global = example_info(0, false, NormalizationKind::DatasetGlobal);
  const std::string dir = tmp_.path("global");
  write_example(dir, global, 2, 0, 4);
  const std::string path = (fs::path(dir) / "train-00000.npz").string();
  auto arrays = read_npz(path);
  arrays["norm_scale"][1] = 0.5;
  write_npz(path, arrays, false);
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_shard(path, global); }, path, "dataset_global"));
}

}  // namespace
}  // namespace shapediff::io
