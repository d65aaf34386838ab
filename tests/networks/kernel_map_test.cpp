// The coordinate hash against std::map, and every kernel map and coordinate set against a
// brute-force search over all (input, output, offset) triples, on random sparse inputs with
// several batches. The *_CUDA tests compare the CUDA results with the CPU ones.
#include "networks/sparse/kernel_map.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "shapediff/config.h"
#include "tests/networks/networks_test_support.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;
using Cell = std::array<int64_t, 4>;

class KernelMapTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(2024); }
};

class KernelMapCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!SHAPEDIFF_WITH_CUDA) GTEST_SKIP() << "built without CUDA";
    torch::manual_seed(2025);
  }
};

using shapediff::test::expect_error;
using shapediff::test::random_sparse_coords;


std::vector<Cell> cells_of(const Tensor& coords) {
  const auto c = coords.cpu().contiguous();
  const int32_t* p = c.data_ptr<int32_t>();
  std::vector<Cell> cells(c.size(0));
  for (int64_t i = 0; i < c.size(0); ++i) {
    cells[i] = {p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]};
  }
  return cells;
}

std::vector<int64_t> to_vector(const Tensor& t) {
  const auto c = t.cpu().contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

struct Pairs {
  std::vector<int64_t> in, out, starts{0};
};

// The kernel offsets of conv3d, written out independently of kernel_offsets().
std::vector<std::array<int64_t, 3>> offsets_of(const ConvGeometry& g) {
  const int64_t ks = g.kernel_size, p = g.kernel_size % 2 == 1 ? g.dilation * (ks - 1) / 2 : 0;
  std::vector<std::array<int64_t, 3>> offsets;
  for (int64_t kx = 0; kx < ks; ++kx) {
    for (int64_t ky = 0; ky < ks; ++ky) {
      for (int64_t kz = 0; kz < ks; ++kz) {
        offsets.push_back({kx * g.dilation - p, ky * g.dilation - p, kz * g.dilation - p});
      }
    }
  }
  return offsets;
}

bool reads(const Cell& out, const Cell& in, const std::array<int64_t, 3>& offset, int64_t stride) {
  return in[0] == out[0] && in[1] == out[1] * stride + offset[0] &&
         in[2] == out[2] * stride + offset[1] && in[3] == out[3] * stride + offset[2];
}

// Every (input, output, offset) tried; per offset, pairs in output-row order.
Pairs brute_force_map(const Tensor& in_coords, const Tensor& out_coords, const ConvGeometry& g) {
  const auto in = cells_of(in_coords), out = cells_of(out_coords);
  Pairs pairs;
  for (const auto& offset : offsets_of(g)) {
    for (size_t o = 0; o < out.size(); ++o) {
      for (size_t i = 0; i < in.size(); ++i) {
        if (reads(out[o], in[i], offset, g.stride)) {
          pairs.in.push_back(static_cast<int64_t>(i));
          pairs.out.push_back(static_cast<int64_t>(o));
        }
      }
    }
    pairs.starts.push_back(static_cast<int64_t>(pairs.in.size()));
  }
  return pairs;
}

void expect_map(const KernelMap& map, const Pairs& expected, int64_t input_size,
                int64_t output_size) {
  EXPECT_EQ(map.in_rows.scalar_type(), torch::kLong);
  EXPECT_EQ(map.out_rows.scalar_type(), torch::kLong);
  EXPECT_TRUE(map.offset_starts.is_cpu());
  EXPECT_EQ(map.kernel_volume(), static_cast<int64_t>(expected.starts.size()) - 1);
  EXPECT_EQ(map.pairs(), static_cast<int64_t>(expected.in.size()));
  EXPECT_EQ(to_vector(map.in_rows), expected.in);
  EXPECT_EQ(to_vector(map.out_rows), expected.out);
  EXPECT_EQ(to_vector(map.offset_starts), expected.starts);
  EXPECT_EQ(map.input_size, input_size);
  EXPECT_EQ(map.output_size, output_size);
}

void expect_same_map(const KernelMap& a, const KernelMap& b) {
  EXPECT_EQ(to_vector(a.in_rows), to_vector(b.in_rows));
  EXPECT_EQ(to_vector(a.out_rows), to_vector(b.out_rows));
  EXPECT_EQ(to_vector(a.offset_starts), to_vector(b.offset_starts));
  EXPECT_EQ(a.input_size, b.input_size);
  EXPECT_EQ(a.output_size, b.output_size);
}

// Unique cells, sorted row-major, as an int32 [N,4] tensor.
Tensor tensor_of(const std::set<Cell>& cells) {
  std::vector<int32_t> flat;
  for (const auto& c : cells) flat.insert(flat.end(), {int32_t(c[0]), int32_t(c[1]),
                                                         int32_t(c[2]), int32_t(c[3])});
  return torch::tensor(flat, torch::kInt32).reshape({-1, 4});
}

TEST_F(KernelMapTest, KernelOffsetsFollowConv3dWeightOrder) {
  const auto offsets = kernel_offsets({3, 1, 2});
  ASSERT_EQ(offsets.sizes(), (std::vector<int64_t>{27, 3}));
  EXPECT_EQ(offsets.scalar_type(), torch::kInt32);
  const auto expected = offsets_of({3, 1, 2});
  for (int64_t k = 0; k < 27; ++k) {
    for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(offsets[k][d].item<int64_t>(), expected[k][d]);
  }
  EXPECT_EQ(offsets[0][0].item<int32_t>(), -2);
  EXPECT_EQ(offsets[1][2].item<int32_t>(), 0);  // k = 1 steps z
  // Even kernels have no padding.
  EXPECT_EQ(kernel_offsets({2, 2, 1}).min().item<int32_t>(), 0);
  EXPECT_EQ(kernel_offsets({2, 2, 1}).max().item<int32_t>(), 1);
}

TEST_F(KernelMapTest, HashLookupMatchesStdMap) {
  const auto coords = random_sparse_coords(3, 20, 0.2);
  std::map<Cell, int64_t> reference;
  const auto cells = cells_of(coords);
  for (size_t i = 0; i < cells.size(); ++i) reference[cells[i]] = static_cast<int64_t>(i);

  const CoordinateHash hash(coords);
  EXPECT_EQ(hash.size(), coords.size(0));
  // Queries around the grid: present, absent, negative and out-of-range cells.
  auto queries = torch::randint(-2, 23, {5000, 4}, torch::kInt32);
  queries.select(1, 0).random_(-1, 4);
  queries[0] = torch::tensor({0, 65536, 0, 0}, torch::kInt32);
  queries[1] = torch::tensor({40000, 1, 1, 1}, torch::kInt32);
  const auto rows = to_vector(hash.lookup(queries));
  const auto query_cells = cells_of(queries);
  int64_t found = 0;
  for (size_t i = 0; i < query_cells.size(); ++i) {
    const auto it = reference.find(query_cells[i]);
    EXPECT_EQ(rows[i], it == reference.end() ? -1 : it->second) << "query " << i;
    found += it != reference.end();
  }
  EXPECT_GT(found, 200);
  EXPECT_EQ(to_vector(hash.lookup(coords)), to_vector(torch::arange(coords.size(0))));
}

TEST_F(KernelMapTest, HashNamesTheFirstDuplicateRow) {
  const auto coords =
      torch::tensor({0, 1, 2, 3, 1, 1, 2, 3, 0, 4, 4, 4, 0, 1, 2, 3, 1, 1, 2, 3}, torch::kInt32)
          .reshape({5, 4});
  expect_error([&] { CoordinateHash hash(coords); }, "row 3 (0, 1, 2, 3) repeats row 0");
}

TEST_F(KernelMapTest, RejectsBadCoordinates) {
  const auto good = random_sparse_coords(1, 4, 0.5);
  expect_error([&] { CoordinateHash hash(good.to(torch::kLong)); }, "must be int32");
  expect_error([&] { CoordinateHash hash(good.slice(1, 1)); }, "[N, 4]");
  expect_error([&] { CoordinateHash hash{torch::Tensor()}; }, "undefined");
  auto negative = good.clone();
  negative[2][3] = -1;
  expect_error([&] { conv_map(negative, good, {3, 1, 1}); }, "in_coords row 2");
  expect_error([&] { conv_map(good, negative, {3, 1, 1}); }, "negative");
  auto large = good.clone();
  large[1][1] = 70000;
  expect_error([&] { submanifold_map(large, 3, 1); }, "row 1 (0, 70000");
  expect_error([&] { submanifold_map(good, 0, 1); }, "kernel_size must be >= 1, got 0");
  expect_error([&] { conv_map(good, good, {3, 0, 1}); }, "stride");
  expect_error([&] { submanifold_map(good, 3, 0); }, "dilation");
  expect_error([&] { downsample_coords(good, 0); }, "factor");
  const CoordinateHash hash(good);
  expect_error([&] { hash.lookup(good.to(torch::kLong)); }, "int32");
  expect_error([&] { hash.lookup(good.to(torch::kMeta)); }, "meta");
}

TEST_F(KernelMapTest, SubmanifoldMapsMatchBruteForce) {
  const auto coords = random_sparse_coords(3, 9, 0.18);
  ASSERT_GT(coords.size(0), 250);
  for (const int64_t ks : {1, 2, 3, 5}) {
    for (const int64_t dilation : {1, 2}) {
      SCOPED_TRACE("kernel " + std::to_string(ks) + " dilation " + std::to_string(dilation));
      const ConvGeometry g{ks, 1, dilation};
      const auto map = submanifold_map(coords, ks, dilation);
      expect_map(map, brute_force_map(coords, coords, g), coords.size(0), coords.size(0));
      // Odd kernels always meet the cell itself at the centre offset.
      if (ks % 2 == 1) {
        const int64_t centre = g.volume() / 2;
        EXPECT_EQ(map.offset_starts[centre + 1].item<int64_t>() -
                      map.offset_starts[centre].item<int64_t>(),
                  coords.size(0));
      }
    }
  }
}

TEST_F(KernelMapTest, StridedMapsMatchBruteForce) {
  const auto coords = random_sparse_coords(3, 12, 0.12);
  for (const int64_t stride : {2, 3}) {
    const auto coarse = downsample_coords(coords, stride);
    for (const int64_t ks : {2, 3}) {
      for (const int64_t dilation : {1, 2}) {
        SCOPED_TRACE("stride " + std::to_string(stride) + " kernel " + std::to_string(ks) +
                     " dilation " + std::to_string(dilation));
        const ConvGeometry g{ks, stride, dilation};
        const auto map = conv_map(coords, coarse, g);
        EXPECT_GT(map.pairs(), 0);
        expect_map(map, brute_force_map(coords, coarse, g), coords.size(0), coarse.size(0));
      }
    }
  }
}

TEST_F(KernelMapTest, DownsampleCoordsMatchBruteForce) {
  const auto coords = random_sparse_coords(4, 11, 0.1);
  for (const int64_t factor : {1, 2, 3, 4}) {
    std::set<Cell> expected;
    for (const auto& c : cells_of(coords)) {
      expected.insert({c[0], c[1] / factor, c[2] / factor, c[3] / factor});
    }
    const auto coarse = downsample_coords(coords, factor);
    EXPECT_EQ(coarse.scalar_type(), torch::kInt32);
    EXPECT_TRUE(torch::equal(coarse, tensor_of(expected))) << "factor " << factor;
  }
}

TEST_F(KernelMapTest, GenerativeCoordsAndTransposedMapsMatchBruteForce) {
  const auto fine = random_sparse_coords(3, 12, 0.05);
  const auto coarse = downsample_coords(fine, 2);
  for (const ConvGeometry g : {ConvGeometry{2, 2, 1}, ConvGeometry{3, 2, 1}, ConvGeometry{3, 1, 2},
                               ConvGeometry{2, 3, 1}}) {
    SCOPED_TRACE("kernel " + std::to_string(g.kernel_size) + " stride " +
                 std::to_string(g.stride) + " dilation " + std::to_string(g.dilation));
    std::set<Cell> expected;
    const auto coarse_cells = cells_of(coarse);
    for (const auto& c : coarse_cells) {
      for (const auto& o : offsets_of(g)) {
        const Cell cell{c[0], c[1] * g.stride + o[0], c[2] * g.stride + o[1],
                        c[3] * g.stride + o[2]};
        if (cell[1] >= 0 && cell[2] >= 0 && cell[3] >= 0) expected.insert(cell);
      }
    }
    const auto generated = generative_coords(coarse, g);
    ASSERT_TRUE(torch::equal(generated, tensor_of(expected)));

    // The transposed convolution coarse -> generated: coarse row c writes generated row f
    // through offset k when f = c * stride - p + k * dilation; per offset in coarse-row order.
    const auto fine_cells = cells_of(generated);
    Pairs pairs;
    for (const auto& o : offsets_of(g)) {
      for (size_t c = 0; c < coarse_cells.size(); ++c) {
        for (size_t f = 0; f < fine_cells.size(); ++f) {
          if (reads(coarse_cells[c], fine_cells[f], o, g.stride)) {
            pairs.in.push_back(static_cast<int64_t>(c));
            pairs.out.push_back(static_cast<int64_t>(f));
          }
        }
      }
      pairs.starts.push_back(static_cast<int64_t>(pairs.in.size()));
    }
    // Every generated cell is written by at least one coarse cell.
    EXPECT_EQ(static_cast<int64_t>(std::set<int64_t>(pairs.out.begin(), pairs.out.end()).size()),
              generated.size(0));
    const auto map = conv_map(generated, coarse, g).transposed();
    expect_map(map, pairs, coarse.size(0), generated.size(0));
  }
}

TEST_F(KernelMapTest, EmptyCoordinatesGiveEmptyMaps) {
  const auto none = torch::zeros({0, 4}, torch::kInt32);
  const auto some = random_sparse_coords(1, 4, 0.5);
  const auto map = conv_map(some, none, {3, 2, 1});
  EXPECT_EQ(map.pairs(), 0);
  EXPECT_EQ(map.kernel_volume(), 27);
  EXPECT_EQ(map.output_size, 0);
  EXPECT_EQ(conv_map(none, some, {3, 1, 1}).pairs(), 0);
  EXPECT_EQ(downsample_coords(none, 2).size(0), 0);
  EXPECT_EQ(generative_coords(none, {2, 2, 1}).size(0), 0);
  EXPECT_EQ(CoordinateHash(none).lookup(some).eq(-1).all().item<bool>(), true);
}

TEST_F(KernelMapTest, ManagerCachesMapsPerCoordinateTensor) {
  const auto coords = random_sparse_coords(2, 8, 0.2);
  CoordinateManager manager;
  const auto& a = manager.conv_map(coords, coords, {3, 1, 1});
  const auto& b = manager.conv_map(coords, coords, {3, 1, 1});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(manager.maps_built(), 1);
  expect_same_map(a, submanifold_map(coords, 3, 1));

  manager.conv_map(coords, coords, {3, 1, 2});
  EXPECT_EQ(manager.maps_built(), 2);
  // Equal values in a new tensor are a new coordinate set: its map is built anew.
  const auto copy = coords.clone();
  const auto& c = manager.conv_map(copy, copy, {3, 1, 1});
  EXPECT_NE(&c, &a);
  EXPECT_EQ(manager.maps_built(), 3);
  expect_same_map(c, a);

  const auto& coarse = manager.downsample_coords(coords, 2);
  EXPECT_EQ(&coarse, &manager.downsample_coords(coords, 2));
  EXPECT_TRUE(torch::equal(coarse, downsample_coords(coords, 2)));
  const auto& down = manager.conv_map(coords, coarse, {2, 2, 1});
  EXPECT_EQ(&down, &manager.conv_map(coords, coarse, {2, 2, 1}));
  EXPECT_EQ(manager.maps_built(), 4);
  const auto& generated = manager.generative_coords(coarse, {2, 2, 1});
  EXPECT_EQ(&generated, &manager.generative_coords(coarse, {2, 2, 1}));
  EXPECT_NE(&generated, &coarse);
  EXPECT_TRUE(torch::equal(generated, generative_coords(coarse, {2, 2, 1})));
  EXPECT_EQ(manager.maps_built(), 4);
}

// The CUDA maps and coordinate sets must equal the CPU ones exactly (same pair order).
TEST_F(KernelMapCuda, HashLookupMatchesCpu_CUDA) {
  const auto coords = random_sparse_coords(3, 20, 0.2);
  auto queries = torch::randint(-2, 23, {20000, 4}, torch::kInt32);
  queries.select(1, 0).random_(-1, 4);
  const CoordinateHash cpu(coords);
  const CoordinateHash gpu(coords.cuda());
  const auto rows = gpu.lookup(queries.cuda());
  EXPECT_TRUE(rows.is_cuda());
  EXPECT_EQ(to_vector(rows), to_vector(cpu.lookup(queries)));
  EXPECT_EQ(to_vector(gpu.lookup(coords.cuda())), to_vector(torch::arange(coords.size(0))));
}

TEST_F(KernelMapCuda, DuplicateMessageMatchesCpu_CUDA) {
  auto coords = random_sparse_coords(2, 10, 0.3);
  coords[100] = coords[7];
  coords[50] = coords[20];
  expect_error([&] { CoordinateHash hash(coords.cuda()); }, "row 50 ");
  expect_error([&] { CoordinateHash hash(coords.cuda()); }, "repeats row 20");
  auto negative = coords.clone();
  negative[3][2] = -5;
  expect_error([&] { CoordinateHash hash(negative.cuda()); }, "row 3 ");
}

TEST_F(KernelMapCuda, MapsMatchCpu_CUDA) {
  const auto coords = random_sparse_coords(3, 16, 0.15);
  const auto gpu = coords.cuda();
  for (const int64_t ks : {1, 2, 3, 5}) {
    for (const int64_t dilation : {1, 2}) {
      SCOPED_TRACE("submanifold kernel " + std::to_string(ks) + " dilation " +
                   std::to_string(dilation));
      const auto map = submanifold_map(gpu, ks, dilation);
      EXPECT_TRUE(map.in_rows.is_cuda());
      EXPECT_TRUE(map.offset_starts.is_cpu());
      expect_same_map(map, submanifold_map(coords, ks, dilation));
    }
  }
  for (const int64_t stride : {2, 3}) {
    const auto coarse = downsample_coords(coords, stride);
    const auto coarse_gpu = downsample_coords(gpu, stride);
    ASSERT_TRUE(coarse_gpu.is_cuda());
    ASSERT_TRUE(torch::equal(coarse_gpu.cpu(), coarse));
    for (const int64_t ks : {2, 3}) {
      SCOPED_TRACE("stride " + std::to_string(stride) + " kernel " + std::to_string(ks));
      const ConvGeometry g{ks, stride, 1};
      expect_same_map(conv_map(gpu, coarse_gpu, g), conv_map(coords, coarse, g));
      const auto generated = generative_coords(coarse, g);
      const auto generated_gpu = generative_coords(coarse_gpu, g);
      ASSERT_TRUE(torch::equal(generated_gpu.cpu(), generated));
      expect_same_map(conv_map(generated_gpu, coarse_gpu, g).transposed(),
                      conv_map(generated, coarse, g).transposed());
    }
  }
}

// A sphere shell of ~140k cells in a 256^3 grid with 125 offsets (17M probes): the size the
// benchmarks run at, where index overflow or a short grid would show.
TEST_F(KernelMapCuda, LargeShellMatchesCpu_CUDA) {
  const auto axis = torch::arange(256, torch::kFloat) - 127.5;
  const auto r = (axis.view({-1, 1, 1}).square() + axis.view({1, -1, 1}).square() +
                  axis.view({1, 1, -1}).square())
                     .sqrt();
  const auto cells = (r - 100.0).abs().lt(0.6).nonzero().to(torch::kInt32);
  const auto coords =
      torch::cat({torch::zeros({cells.size(0), 1}, torch::kInt32), cells}, 1).contiguous();
  ASSERT_GT(coords.size(0), 100000);
  expect_same_map(submanifold_map(coords.cuda(), 5, 1), submanifold_map(coords, 5, 1));
}

}  // namespace
}  // namespace shapediff::sparse
