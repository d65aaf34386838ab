#include "io/shape_loader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "io/npz.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using test::throws_naming;

// Chunks of the given sizes; item g (counted over all chunks) has id "item-<g>" and points
// filled with g, except points[0][0], which records the draw seed the loader passed.
class FakeSource : public ChunkSource {
 public:
  explicit FakeSource(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {
    int64_t offset = 0;
    for (const int64_t s : sizes_) {
      offsets_.push_back(offset);
      offset += s;
    }
    items_ = offset;
  }
  int64_t size() const override { return static_cast<int64_t>(sizes_.size()); }
  std::vector<ShapeRecord> chunk(int64_t index, uint64_t seed) const override {
    ++calls;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (index == fail_at)
      throw std::runtime_error("fake chunk " + std::to_string(index) + ": broken");
    std::vector<ShapeRecord> out;
    for (int64_t i = 0; i < sizes_[static_cast<size_t>(index)]; ++i) {
      const int64_t g = offsets_[static_cast<size_t>(index)] + i;
      ShapeRecord r;
      r.id = "item-" + std::to_string(g);
      r.label = g % 5;
      r.points = torch::full({4, 3}, static_cast<float>(g));
      r.points[0][0] = static_cast<float>(seed % 100000);
      r.normalization.center = {static_cast<double>(g), 0, 0};
      out.push_back(std::move(r));
    }
    return out;
  }
  int64_t items() const { return items_; }

  int64_t fail_at = -1;
  std::chrono::milliseconds delay{0};
  mutable std::atomic<int> calls{0};

 private:
  std::vector<int64_t> sizes_, offsets_;
  int64_t items_ = 0;
};

std::vector<ShapeBatch> collect(ShapeLoader& loader) {
  std::vector<ShapeBatch> out;
  while (auto batch = loader.next()) out.push_back(std::move(*batch));
  return out;
}

std::vector<std::string> all_ids(const std::vector<ShapeBatch>& batches) {
  std::vector<std::string> ids;
  for (const auto& b : batches) ids.insert(ids.end(), b.ids.begin(), b.ids.end());
  return ids;
}

void expect_same_run(const std::vector<ShapeBatch>& a, const std::vector<ShapeBatch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    EXPECT_EQ(a[i].ids, b[i].ids);
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_TRUE(torch::equal(a[i].points, b[i].points));
    EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels));
    EXPECT_TRUE(torch::equal(a[i].norm_center, b[i].norm_center));
  }
}

const std::vector<int64_t> kSizes = {5, 3, 7, 1, 4, 6};  // 26 items in 6 chunks

LoaderOptions options(int64_t workers, uint64_t seed = 11) {
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = seed;
  o.workers = workers;
  o.shuffle_buffer = 6;
  o.epochs = 3;
  return o;
}

TEST(ShapeLoaderTest, SameSeedGivesTheSameBatchesForAnyWorkerCount) {
  auto source = std::make_shared<FakeSource>(kSizes);
  ShapeLoader reference_loader(source, options(1));
  const auto reference = collect(reference_loader);
  ASSERT_EQ(reference.size(), 18u);  // 26 items: 5 full batches and 1 short one per epoch
  for (const int64_t workers : {0, 3, 8}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    ShapeLoader loader(source, options(workers));
    expect_same_run(collect(loader), reference);
  }
}

TEST(ShapeLoaderTest, EveryItemExactlyOncePerEpoch) {
  auto source = std::make_shared<FakeSource>(kSizes);
  ShapeLoader loader(source, options(2));
  std::map<int64_t, std::vector<std::string>> per_epoch;
  for (const auto& batch : collect(loader)) {
    EXPECT_EQ(batch.size(), static_cast<int64_t>(batch.ids.size()));
    auto& ids = per_epoch[batch.epoch];
    ids.insert(ids.end(), batch.ids.begin(), batch.ids.end());
  }
  ASSERT_EQ(per_epoch.size(), 3u);
  std::set<std::string> expected;
  for (int64_t g = 0; g < source->items(); ++g) expected.insert("item-" + std::to_string(g));
  for (const auto& [epoch, ids] : per_epoch) {
    SCOPED_TRACE("epoch " + std::to_string(epoch));
    EXPECT_EQ(ids.size(), expected.size());
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
  }
  EXPECT_NE(per_epoch[0], per_epoch[1]);
  EXPECT_NE(per_epoch[1], per_epoch[2]);
}

TEST(ShapeLoaderTest, ShuffleActuallyShuffles) {
  auto source = std::make_shared<FakeSource>(kSizes);
  std::vector<std::string> stored;
  for (int64_t g = 0; g < source->items(); ++g) stored.push_back("item-" + std::to_string(g));

  LoaderOptions o = options(2);
  o.epochs = 1;
  o.shuffle = false;
  ShapeLoader plain(source, o);
  EXPECT_EQ(all_ids(collect(plain)), stored);

  o.shuffle = true;
  ShapeLoader shuffled(source, o);
  const auto a = all_ids(collect(shuffled));
  EXPECT_NE(a, stored);
  o.seed = 12;
  ShapeLoader other_seed(source, o);
  EXPECT_NE(all_ids(collect(other_seed)), a);

  // A buffer of one keeps each chunk's items together: only the chunk order changes.
  o.shuffle_buffer = 1;
  ShapeLoader chunks_only(source, o);
  const auto c = all_ids(collect(chunks_only));
  EXPECT_NE(c, stored);
  const auto order = epoch_chunk_order(6, o.seed, 0, true);
  std::vector<std::string> expected;
  for (const int64_t chunk : order) {
    int64_t first = 0;
    for (int64_t k = 0; k < chunk; ++k) first += kSizes[static_cast<size_t>(k)];
    for (int64_t i = 0; i < kSizes[static_cast<size_t>(chunk)]; ++i) {
      expected.push_back("item-" + std::to_string(first + i));
    }
  }
  EXPECT_EQ(c, expected);
}

TEST(ShapeLoaderTest, ChunkSeedsDifferPerEpochAndFollowTheSeed) {
  auto source = std::make_shared<FakeSource>(std::vector<int64_t>{2});
  LoaderOptions o;
  o.batch_size = 2;
  o.epochs = 2;
  o.seed = 5;
  o.shuffle = false;
  ShapeLoader loader(source, o);
  const auto batches = collect(loader);
  ASSERT_EQ(batches.size(), 2u);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const auto expected = static_cast<float>(chunk_draw_seed(5, epoch, 0) % 100000);
    EXPECT_EQ(batches[static_cast<size_t>(epoch)].points[0][0][0].item<float>(), expected);
  }
  EXPECT_NE(chunk_draw_seed(5, 0, 0), chunk_draw_seed(5, 1, 0));
  EXPECT_NE(chunk_draw_seed(5, 0, 0), chunk_draw_seed(6, 0, 0));
}

TEST(ShapeLoaderTest, DropLastDropsEachEpochsShortBatch) {
  auto source = std::make_shared<FakeSource>(kSizes);
  LoaderOptions o = options(2);
  o.epochs = 2;
  ShapeLoader keep(source, o);
  std::vector<int64_t> sizes;
  for (const auto& b : collect(keep)) sizes.push_back(b.size());
  EXPECT_EQ(sizes, (std::vector<int64_t>{5, 5, 5, 5, 5, 1, 5, 5, 5, 5, 5, 1}));

  o.drop_last = true;
  ShapeLoader drop(source, o);
  const auto batches = collect(drop);
  ASSERT_EQ(batches.size(), 10u);
  for (size_t i = 0; i < batches.size(); ++i) {
    EXPECT_EQ(batches[i].size(), 5);
    EXPECT_EQ(batches[i].epoch, static_cast<int64_t>(i / 5));
  }
}

TEST(ShapeLoaderTest, ResetStartsTheSameRunAgain) {
  auto source = std::make_shared<FakeSource>(kSizes);
  ShapeLoader loader(source, options(3));
  const auto full = collect(loader);
  EXPECT_FALSE(loader.next().has_value());
  loader.reset();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loader.next().has_value());
  loader.reset();
  expect_same_run(collect(loader), full);
}

TEST(ShapeLoaderTest, EarlyDestructionWithBusyWorkersDoesNotHang) {
  const auto start = std::chrono::steady_clock::now();
  {
    auto slow = std::make_shared<FakeSource>(std::vector<int64_t>(40, 2));
    slow->delay = std::chrono::milliseconds(30);
    LoaderOptions o = options(3);
    o.batch_size = 2;
    ShapeLoader loader(slow, o);
    ASSERT_TRUE(loader.next().has_value());
  }  // workers are mid-decode here
  {
    auto fast = std::make_shared<FakeSource>(std::vector<int64_t>(200, 2));
    ShapeLoader loader(fast, options(3));
    ASSERT_TRUE(loader.next().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Every worker now waits on a full queue: at most 2 chunks ahead each, beyond the <= 6
    // chunks the first batch took to fill the shuffle buffer.
    EXPECT_LE(fast->calls.load(), 3 * 2 + 6);
  }
  { ShapeLoader never_started(std::make_shared<FakeSource>(kSizes), options(2)); }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(ShapeLoaderTest, WorkerExceptionSurfacesFromNext) {
  for (const int64_t workers : {0, 1, 3}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    auto source = std::make_shared<FakeSource>(std::vector<int64_t>(8, 2));
    source->fail_at = 5;
    LoaderOptions o = options(workers);
    o.shuffle = false;
    o.batch_size = 2;
    ShapeLoader loader(source, o);
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(loader.next().has_value());
      EXPECT_TRUE(
          throws_naming<std::runtime_error>([&] { loader.next(); }, "fake chunk 5", "broken"));
      EXPECT_TRUE(throws_naming<std::runtime_error>([&] { loader.next(); }, "fake chunk 5"));
      loader.reset();
    }
  }
}

TEST(ShapeLoaderTest, OptionsAreValidated) {
  auto source = std::make_shared<FakeSource>(kSizes);
  auto bad = [&](const std::string& field, auto spoil) {
    LoaderOptions o;
    spoil(o);
    return throws_naming<std::invalid_argument>([&] { ShapeLoader l(source, o); }, field);
  };
  EXPECT_TRUE(bad("batch_size", [](LoaderOptions& o) { o.batch_size = 0; }));
  EXPECT_TRUE(bad("workers", [](LoaderOptions& o) { o.workers = -1; }));
  EXPECT_TRUE(bad("shuffle_buffer", [](LoaderOptions& o) { o.shuffle_buffer = 0; }));
  EXPECT_TRUE(bad("epochs", [](LoaderOptions& o) { o.epochs = 0; }));
  EXPECT_THROW(ShapeLoader(nullptr, {}), std::invalid_argument);
}

// FakeSource that knows its chunk sizes (so it can be sharded) and counts the records a
// sharded loader asks it to decode.
class SizedSource : public FakeSource {
 public:
  using FakeSource::FakeSource;
  int64_t chunk_size(int64_t index) const override { return sizes_of_chunks.at(static_cast<size_t>(index)); }
  std::vector<ShapeRecord> chunk_rows(int64_t index, uint64_t seed, const std::vector<bool>& keep) const override {
    auto records = chunk(index, seed);
    for (size_t i = 0; i < records.size(); ++i) {
      if (keep.at(i)) {
        ++decoded;
      } else {
        records[i] = ShapeRecord{};
      }
    }
    return records;
  }
  std::vector<int64_t> sizes_of_chunks;
  mutable std::atomic<int64_t> decoded{0};
};

// Rank r of N gets exactly rows [B*r/N, B*(r+1)/N) of every batch of the single loader (ids,
// points, labels), the ranks' rows are disjoint and cover each batch, and each rank asked the
// source to decode only its own rows: shuffled or not, with a short last batch kept or dropped.
TEST(ShapeLoaderTest, ShardedLoadersSplitEverySingleProcessBatch) {
  struct Case {
    bool shuffle, drop_last;
    int64_t shards, workers;
  };
  // Batches of 6 from 26 items: each epoch ends with a batch of 2.
  for (const auto& c : {Case{true, false, 2, 2}, Case{true, true, 3, 0}, Case{false, true, 4, 1},
                        Case{true, true, 5, 3}, Case{false, false, 2, 1}}) {
    SCOPED_TRACE("shuffle " + std::to_string(c.shuffle) + " drop_last " + std::to_string(c.drop_last) +
                 " shards " + std::to_string(c.shards));
    auto o = options(c.workers);
    o.batch_size = 6;
    o.shuffle = c.shuffle;
    o.drop_last = c.drop_last;
    auto single_source = std::make_shared<FakeSource>(kSizes);
    ShapeLoader single_loader(single_source, o);
    const auto single = collect(single_loader);
    ASSERT_GT(single.size(), 3u);
    int64_t rows = 0;
    for (const auto& b : single) rows += b.size();

    std::vector<std::vector<ShapeBatch>> parts;
    int64_t decoded = 0;
    for (int64_t r = 0; r < c.shards; ++r) {
      auto source = std::make_shared<SizedSource>(kSizes);
      source->sizes_of_chunks = kSizes;
      auto so = o;
      so.shard_rank = r;
      so.shard_count = c.shards;
      ShapeLoader loader(source, so);
      parts.push_back(collect(loader));
      ASSERT_EQ(parts.back().size(), single.size()) << "rank " << r;
      int64_t own = 0;
      for (const auto& b : parts.back()) own += b.size();
      EXPECT_EQ(source->decoded.load(), own) << "rank " << r;
      decoded += source->decoded.load();
    }
    EXPECT_EQ(decoded, rows);  // every row decoded once, by one rank
    for (size_t i = 0; i < single.size(); ++i) {
      const int64_t b = single[i].size();
      std::set<std::string> seen;
      for (int64_t r = 0; r < c.shards; ++r) {
        const auto& part = parts[static_cast<size_t>(r)][i];
        const int64_t begin = b * r / c.shards, end = b * (r + 1) / c.shards;
        EXPECT_EQ(part.full_size, b);
        EXPECT_EQ(part.epoch, single[i].epoch);
        ASSERT_EQ(part.size(), end - begin) << "batch " << i << " rank " << r;
        EXPECT_EQ(part.ids, std::vector<std::string>(single[i].ids.begin() + begin, single[i].ids.begin() + end));
        EXPECT_TRUE(torch::equal(part.points, single[i].points.slice(0, begin, end)));
        EXPECT_TRUE(torch::equal(part.labels, single[i].labels.slice(0, begin, end)));
        for (const auto& id : part.ids) EXPECT_TRUE(seen.insert(id).second) << id << " on two ranks";
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), b) << "batch " << i;
    }
  }
}

TEST(ShapeLoaderTest, ShardingIsValidatedAndNeedsChunkSizes) {
  auto o = options(1);
  o.shard_count = 2;
  o.shard_rank = 2;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { ShapeLoader l(std::make_shared<SizedSource>(kSizes), o); }, "shard_rank"));
  o.shard_rank = 1;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { ShapeLoader l(std::make_shared<FakeSource>(kSizes), o); }, "chunk sizes"));
  // An epoch's last batch of 1 (26 items, batches of 5) cannot feed two ranks.
  auto source = std::make_shared<SizedSource>(kSizes);
  source->sizes_of_chunks = kSizes;
  o.shard_rank = 0;
  ShapeLoader short_last(source, o);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { collect(short_last); }, "no rows for shard 0 of 2"));
  o.shard_count = 0;
  o.shard_rank = 0;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { ShapeLoader l(std::make_shared<FakeSource>(kSizes), o); }, "shard_count"));
}

TEST(ShapeLoaderTest, AnEmptySourceGivesNoBatches) {
  ShapeLoader loader(std::make_shared<FakeSource>(std::vector<int64_t>{}), options(2));
  EXPECT_FALSE(loader.next().has_value());
}

TEST(ShapeLoaderTest, StackRecordsRejectsMismatchedRecords) {
  auto source = FakeSource(std::vector<int64_t>{3});
  auto records = source.chunk(0, 0);
  EXPECT_EQ(stack_records(records).points.sizes(), (std::vector<int64_t>{3, 4, 3}));
  records[2].points = torch::zeros({5, 3});
  EXPECT_TRUE(
      throws_naming<std::invalid_argument>([&] { stack_records(records); }, "item-2", "points"));
  records = source.chunk(0, 0);
  records[1].normals = torch::zeros({4, 3});
  EXPECT_TRUE(
      throws_naming<std::invalid_argument>([&] { stack_records(records); }, "item-1", "normals"));
}

// ---- ShardSource ----------------------------------------------------------------------------

class ShardSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path("ds");
    info_.categories = {"chair", "table"};
    info_.points = 8;
    info_.normals = true;
    info_.scans = 1;
    info_.scan_points = 3;
    info_.normalization.kind = shapes::NormalizationKind::UnitBox;
    DatasetWriter writer(dir_, info_, /*shard_size=*/4);
    torch::manual_seed(2);
    for (int i = 0; i < 10; ++i) {
      ShapeRecord r;
      r.id = "s" + std::to_string(i);
      r.label = i % 2;
      r.points = torch::randn({8, 3});
      r.normals = torch::randn({8, 3});
      r.partial = torch::randn({1, 3, 3});
      r.cam_to_world = torch::eye(4, torch::kFloat64).unsqueeze(0);
      r.intrinsics = torch::tensor({{32.0, 32.0, 30.0, 30.0, 16.0, 16.0}}, torch::kFloat64);
      r.normalization.kind = shapes::NormalizationKind::UnitBox;
      r.normalization.scale = 1.0 + i;
      writer.add("train", r);
      records_[r.id] = r;
    }
    writer.finish();
  }

  test::TempDir tmp_;
  std::string dir_;
  DatasetInfo info_;
  std::map<std::string, ShapeRecord> records_;
};

TEST_F(ShardSourceTest, StreamsEverySplitItemWithAllFields) {
  auto source = std::make_shared<ShardSource>(dir_, "train");
  EXPECT_EQ(source->size(), 3);
  EXPECT_EQ(source->count(), 10);
  LoaderOptions o;
  o.batch_size = 3;
  o.seed = 4;
  ShapeLoader loader(source, o);
  std::set<std::string> seen;
  while (auto batch = loader.next()) {
    const int64_t b = batch->size();
    EXPECT_EQ(batch->points.sizes(), (std::vector<int64_t>{b, 8, 3}));
    EXPECT_EQ(batch->normals.sizes(), (std::vector<int64_t>{b, 8, 3}));
    EXPECT_EQ(batch->partial.sizes(), (std::vector<int64_t>{b, 1, 3, 3}));
    EXPECT_EQ(batch->cam_to_world.sizes(), (std::vector<int64_t>{b, 1, 4, 4}));
    EXPECT_EQ(batch->intrinsics.sizes(), (std::vector<int64_t>{b, 1, 6}));
    EXPECT_EQ(batch->norm_center.sizes(), (std::vector<int64_t>{b, 3}));
    EXPECT_EQ(batch->labels.scalar_type(), torch::kInt64);
    for (int64_t i = 0; i < b; ++i) {
      const auto& id = batch->ids[static_cast<size_t>(i)];
      EXPECT_TRUE(seen.insert(id).second) << id;
      const auto& r = records_.at(id);
      EXPECT_TRUE(torch::equal(batch->points[i], r.points));
      EXPECT_TRUE(torch::equal(batch->normals[i], r.normals));
      EXPECT_TRUE(torch::equal(batch->partial[i], r.partial));
      EXPECT_EQ(batch->labels[i].item<int64_t>(), r.label);
      EXPECT_EQ(batch->norm_scale[i].item<double>(), r.normalization.scale);
    }
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(std::make_shared<ShardSource>(dir_, "val")->size(), 0);
}

TEST_F(ShardSourceTest, UnknownSplitListsTheSplits) {
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { ShardSource s(dir_, "validation"); },
                                                   "validation", "train, val"));
}

TEST_F(ShardSourceTest, ATruncatedShardSurfacesFromNext) {
  const std::string shard = (fs::path(dir_) / "train-00001.npz").string();
  const std::string bytes = test::read_bytes(shard);
  test::write_bytes(shard, bytes.substr(0, bytes.size() / 3));
  LoaderOptions o;
  o.shuffle = false;
  o.batch_size = 4;
  ShapeLoader loader(std::make_shared<ShardSource>(dir_, "train"), o);
  ASSERT_TRUE(loader.next().has_value());
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { loader.next(); }, shard));
}

TEST_F(ShardSourceTest, AShardWithTheWrongCountIsAnError) {
  const std::string shard = (fs::path(dir_) / "train-00000.npz").string();
  auto arrays = read_npz(shard);
  for (auto& [name, t] : arrays) t = t.narrow(0, 0, 3).contiguous();
  write_npz(shard, arrays, false);
  ShardSource source(dir_, "train");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { source.chunk(0, 0); }, shard,
                                                "dataset.json implies 4"));
  EXPECT_THROW(source.chunk(3, 0), std::out_of_range);
}

}  // namespace
}  // namespace shapediff::io
