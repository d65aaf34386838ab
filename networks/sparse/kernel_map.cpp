#include "networks/sparse/kernel_map.h"

#include <ATen/Parallel.h>
#include <c10/util/StringUtil.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "networks/sparse/coordinate_key.h"
#include "networks/sparse/sparse_backend.h"
#include "shapediff/config.h"

namespace shapediff::sparse {
namespace {

template <typename... Args>
void require(bool ok, const char* op, const Args&... message) {
  if (!ok) throw std::invalid_argument(c10::str(op, ": ", message...));
}

void check_geometry(const ConvGeometry& g, const char* op) {
  require(g.kernel_size >= 1, op, "kernel_size must be >= 1, got ", g.kernel_size);
  require(g.stride >= 1, op, "stride must be >= 1, got ", g.stride);
  require(g.dilation >= 1, op, "dilation must be >= 1, got ", g.dilation);
}

// Smallest power of two >= 2 * n (at least 2), so probing always meets an empty slot.
int64_t hash_capacity(int64_t n) {
  int64_t capacity = 2;
  while (capacity < 2 * n) capacity *= 2;
  return capacity;
}

// Packs int64 [N,4] cells into keys with torch ops (any device); the cells must be in range.
torch::Tensor pack_rows(const torch::Tensor& cells) {
  return cells.select(1, 0) * (int64_t{1} << 48) + cells.select(1, 1) * (int64_t{1} << 32) +
         cells.select(1, 2) * (int64_t{1} << 16) + cells.select(1, 3);
}

// The distinct keys of int64 [N], sorted (row-major cell order) and unpacked to int32 [U,4].
torch::Tensor unique_cells(const torch::Tensor& keys) {
  const auto sorted = std::get<0>(keys.sort());
  const auto unique = std::get<0>(torch::unique_consecutive(sorted));
  const auto field = [&](int shift) {
    return torch::div(unique, int64_t{1} << shift, "floor").remainder(detail::kMaxCoordinate);
  };
  return torch::stack({torch::div(unique, int64_t{1} << 48, "floor"), field(32), field(16),
                       unique.remainder(detail::kMaxCoordinate)},
                      1)
      .to(torch::kInt32);
}

torch::Tensor cpu_lookup(const torch::Tensor& keys, const torch::Tensor& values,
                         const torch::Tensor& queries) {
  const int64_t m = queries.size(0);
  auto out = torch::empty({m}, queries.options().dtype(torch::kLong));
  const int32_t* q = queries.data_ptr<int32_t>();
  const int64_t* k = keys.data_ptr<int64_t>();
  const int64_t* v = values.data_ptr<int64_t>();
  int64_t* o = out.data_ptr<int64_t>();
  const auto mask = static_cast<uint64_t>(keys.size(0) - 1);
  at::parallel_for(0, m, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int32_t* c = q + 4 * i;
      o[i] = detail::probe(k, v, mask, detail::pack_key(c[0], c[1], c[2], c[3]));
    }
  });
  return out;
}

// With `mirror` (out_coords are the hashed cells themselves, stride 1, odd kernel) offset k and
// offset volume - 1 - k are opposite vectors: o reads i through k exactly when i reads o through
// the mirror. So only the first half of the offsets is probed, the centre maps every cell to
// itself and the second half is scattered from the first.
torch::Tensor cpu_kernel_table(const torch::Tensor& keys, const torch::Tensor& values,
                               const torch::Tensor& out_coords, const ConvGeometry& g,
                               bool mirror) {
  const int64_t m = out_coords.size(0), volume = g.volume(), ks = g.kernel_size;
  const int64_t probed = mirror ? volume / 2 : volume;
  auto table = torch::empty({volume, m}, out_coords.options().dtype(torch::kLong));
  const int32_t* oc = out_coords.data_ptr<int32_t>();
  const int64_t* k = keys.data_ptr<int64_t>();
  const int64_t* v = values.data_ptr<int64_t>();
  int64_t* t = table.data_ptr<int64_t>();
  const auto mask = static_cast<uint64_t>(keys.size(0) - 1);
  const int64_t pad = g.padding();
  at::parallel_for(0, m, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int32_t* c = oc + 4 * i;
      const int64_t bx = c[1] * g.stride - pad, by = c[2] * g.stride - pad,
                    bz = c[3] * g.stride - pad;
      int64_t offset = 0;
      for (int64_t kx = 0; kx < ks; ++kx) {
        for (int64_t ky = 0; ky < ks; ++ky) {
          for (int64_t kz = 0; kz < ks && offset < probed; ++kz, ++offset) {
            const int64_t key = detail::pack_key(c[0], bx + kx * g.dilation,
                                                 by + ky * g.dilation, bz + kz * g.dilation);
            t[offset * m + i] = detail::probe(k, v, mask, key);
          }
        }
      }
    }
  });
  if (!mirror) return table;
  const int64_t centre = volume / 2;
  table[centre].copy_(torch::arange(m, table.options()));
  table.slice(0, centre + 1).fill_(-1);
  at::parallel_for(0, centre, 1, [&](int64_t begin, int64_t end) {
    for (int64_t offset = begin; offset < end; ++offset) {
      const int64_t* from = t + offset * m;
      int64_t* to = t + (volume - 1 - offset) * m;
      for (int64_t o = 0; o < m; ++o) {
        if (from[o] >= 0) to[from[o]] = o;
      }
    }
  });
  return table;
}

// The CPU compaction of a [K, M] table: a count and a fill pass per offset, in parallel over
// the offsets (torch's nonzero + masked_select take several times longer here).
KernelMap cpu_compact(const torch::Tensor& table, int64_t input_size) {
  const int64_t volume = table.size(0), m = table.size(1);
  const int64_t* t = table.data_ptr<int64_t>();
  KernelMap map;
  map.offset_starts = torch::zeros({volume + 1}, torch::kLong);
  int64_t* starts = map.offset_starts.data_ptr<int64_t>();
  at::parallel_for(0, volume, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      int64_t count = 0;
      for (int64_t o = 0; o < m; ++o) count += t[k * m + o] >= 0;
      starts[k + 1] = count;
    }
  });
  for (int64_t k = 0; k < volume; ++k) starts[k + 1] += starts[k];
  map.in_rows = torch::empty({starts[volume]}, torch::kLong);
  map.out_rows = torch::empty({starts[volume]}, torch::kLong);
  int64_t* in = map.in_rows.data_ptr<int64_t>();
  int64_t* out = map.out_rows.data_ptr<int64_t>();
  at::parallel_for(0, volume, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      int64_t next = starts[k];
      for (int64_t o = 0; o < m; ++o) {
        const int64_t row = t[k * m + o];
        if (row < 0) continue;
        in[next] = row;
        out[next] = o;
        ++next;
      }
    }
  });
  map.input_size = input_size;
  map.output_size = m;
  return map;
}

// The int64 [K, M] table with its columns sorted by the set of offsets each one has (a bit per
// offset, the first 63 offsets only: the order only speeds the kernels up), as int32. A stable
// sort keeps columns with equal sets in row order, which keeps their gathers close in memory.
KernelTable sorted_table(const torch::Tensor& table) {
  const int64_t volume = table.size(0);
  auto bits = torch::zeros({volume, 1}, torch::kLong);
  auto bit = bits.accessor<int64_t, 2>();
  for (int64_t k = 0; k < std::min<int64_t>(volume, 63); ++k) bit[k][0] = int64_t{1} << k;
  const auto sets = (table.ge(0).to(torch::kLong) * bits.to(table.device())).sum(0);
  const auto order = std::get<1>(sets.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  return {table.index_select(1, order).to(torch::kInt32), order.to(torch::kInt32)};
}

// The tables of both sides of `map`, built from its [K, M] table and the offset of each pair.
void add_tables(KernelMap& map, const torch::Tensor& table, const torch::Tensor& pair_offsets) {
  const int64_t volume = table.size(0), n = map.input_size;
  map.out_table = sorted_table(table);
  // No input row repeats within one offset, so every pair has its own entry.
  auto in_table = torch::full({volume * n}, int64_t{-1}, table.options());
  in_table.index_put_({pair_offsets * n + map.in_rows}, map.out_rows);
  map.in_table = sorted_table(in_table.view({volume, n}));
}

// Pairs of a [K, M] table grouped by offset and, within one, ordered by output row; on CUDA also
// the tables of both sides for the fused convolution.
KernelMap compact(const torch::Tensor& table, int64_t input_size) {
  if (table.is_cpu()) return cpu_compact(table, input_size);
  const auto found = table.ge(0);
  const auto where = found.nonzero();  // [P, 2] (offset, output row), row-major
  KernelMap map;
  map.in_rows = table.masked_select(found);
  map.out_rows = where.select(1, 1).contiguous();
  map.offset_starts = torch::zeros({table.size(0) + 1}, torch::kLong);
  map.offset_starts.slice(0, 1).copy_(found.sum(1).cumsum(0).cpu());
  map.input_size = input_size;
  map.output_size = table.size(1);
  add_tables(map, table, where.select(1, 0));
  return map;
}

}  // namespace

namespace detail {

void check_coords(const torch::Tensor& coords, const char* op, const char* name) {
  require(coords.defined(), op, name, " is undefined");
  require(coords.is_cpu() || coords.is_cuda(), op, name, " must be a CPU or CUDA tensor, got ",
          coords.device());
  require(!coords.is_cuda() || SHAPEDIFF_WITH_CUDA, op, name,
          " is a CUDA tensor but shapediff was built without CUDA");
  require(coords.scalar_type() == torch::kInt32, op, name, " must be int32, got ",
          coords.scalar_type());
  require(coords.dim() == 2 && coords.size(1) == 4, op, name,
          " must be [N, 4] (batch, x, y, z), got ", coords.sizes());
  if (coords.size(0) == 0) return;
  const auto limits = torch::tensor({kMaxBatch, kMaxCoordinate, kMaxCoordinate, kMaxCoordinate},
                                    coords.options().dtype(torch::kLong));
  const auto bad_rows = (coords.lt(0) | coords.ge(limits)).any(1);
  if (!bad_rows.any().item<bool>()) return;
  const int64_t row = bad_rows.nonzero()[0][0].item<int64_t>();
  const auto cell = coords[row].cpu();
  const int32_t* c = cell.data_ptr<int32_t>();
  const bool negative = c[0] < 0 || c[1] < 0 || c[2] < 0 || c[3] < 0;
  require(false, op, name, " row ", row, " (", c[0], ", ", c[1], ", ", c[2], ", ", c[3], ") ",
          negative ? "has a negative coordinate"
                   : "is out of range (batch must be < 32768, x, y, z < 65536)");
}

void build_hash(const torch::Tensor& coords, const char* op, torch::Tensor& keys,
                torch::Tensor& values) {
  const int64_t n = coords.size(0), capacity = hash_capacity(n);
  const auto options = coords.options().dtype(torch::kLong);
  keys = torch::full({capacity}, kEmptyKey, options);
  values = torch::full({capacity}, int64_t{-1}, options);
#if SHAPEDIFF_WITH_CUDA
  if (coords.is_cuda()) {
    if (cuda::hash_insert(coords, keys, values) == 0) return;
    // Which duplicate the GPU met first depends on scheduling; the sequential CPU insert names
    // the same row on every run and device.
    torch::Tensor cpu_keys, cpu_values;
    build_hash(coords.cpu(), op, cpu_keys, cpu_values);
    throw std::logic_error(c10::str(op, ": the CUDA hash found a duplicate the CPU did not"));
  }
#endif
  // Sequential so the first repeated row is the one reported; lookups are the parallel part.
  const int32_t* c = coords.data_ptr<int32_t>();
  int64_t* k = keys.data_ptr<int64_t>();
  int64_t* v = values.data_ptr<int64_t>();
  const auto mask = static_cast<uint64_t>(capacity - 1);
  for (int64_t row = 0; row < n; ++row) {
    const int32_t* cell = c + 4 * row;
    const int64_t key = pack_key(cell[0], cell[1], cell[2], cell[3]);
    for (uint64_t slot = hash_slot(key, mask);; slot = (slot + 1) & mask) {
      if (k[slot] == kEmptyKey) {
        k[slot] = key;
        v[slot] = row;
        break;
      }
      require(k[slot] != key, op, "duplicate coordinates: row ", row, " (", cell[0], ", ",
              cell[1], ", ", cell[2], ", ", cell[3], ") repeats row ", v[slot]);
    }
  }
}

}  // namespace detail

torch::Tensor kernel_offsets(const ConvGeometry& geometry) {
  check_geometry(geometry, "kernel_offsets");
  const int64_t ks = geometry.kernel_size, pad = geometry.padding();
  auto offsets = torch::empty({geometry.volume(), 3}, torch::kInt32);
  auto o = offsets.accessor<int32_t, 2>();
  for (int64_t kx = 0; kx < ks; ++kx) {
    for (int64_t ky = 0; ky < ks; ++ky) {
      for (int64_t kz = 0; kz < ks; ++kz) {
        const int64_t k = (kx * ks + ky) * ks + kz;
        o[k][0] = static_cast<int32_t>(kx * geometry.dilation - pad);
        o[k][1] = static_cast<int32_t>(ky * geometry.dilation - pad);
        o[k][2] = static_cast<int32_t>(kz * geometry.dilation - pad);
      }
    }
  }
  return offsets;
}

KernelMap KernelMap::transposed() const {
  KernelMap t;
  t.in_rows = out_rows;
  t.out_rows = in_rows;
  t.offset_starts = offset_starts;
  t.input_size = output_size;
  t.output_size = input_size;
  t.out_table = in_table;
  t.in_table = out_table;
  return t;
}

CoordinateHash::CoordinateHash(const torch::Tensor& coords) {
  detail::check_coords(coords, "CoordinateHash", "coords");
  coords_ = coords.contiguous();
  detail::build_hash(coords_, "CoordinateHash", keys_, values_);
  size_ = coords.size(0);
}

torch::Tensor CoordinateHash::lookup(const torch::Tensor& queries) const {
  const char* op = "CoordinateHash::lookup";
  require(queries.defined(), op, "queries is undefined");
  require(queries.device() == keys_.device(), op, "queries are on ", queries.device(),
          " but the hash is on ", keys_.device());
  require(queries.scalar_type() == torch::kInt32, op, "queries must be int32, got ",
          queries.scalar_type());
  require(queries.dim() == 2 && queries.size(1) == 4, op, "queries must be [M, 4], got ",
          queries.sizes());
  const auto q = queries.contiguous();
#if SHAPEDIFF_WITH_CUDA
  if (q.is_cuda()) return detail::cuda::hash_lookup(keys_, values_, q);
#endif
  return cpu_lookup(keys_, values_, q);
}

torch::Tensor CoordinateHash::kernel_table(const torch::Tensor& out_coords,
                                           const ConvGeometry& geometry) const {
  const char* op = "CoordinateHash::kernel_table";
  check_geometry(geometry, op);
  detail::check_coords(out_coords, op, "out_coords");
  require(out_coords.device() == keys_.device(), op, "out_coords are on ", out_coords.device(),
          " but the hash is on ", keys_.device());
  const auto out = out_coords.contiguous();
#if SHAPEDIFF_WITH_CUDA
  if (out.is_cuda()) return detail::cuda::kernel_table(keys_, values_, out, geometry);
#endif
  const bool mirror = out.is_same(coords_) && geometry.stride == 1 && geometry.kernel_size % 2 == 1;
  return cpu_kernel_table(keys_, values_, out, geometry, mirror);
}

torch::Tensor downsample_coords(const torch::Tensor& coords, int64_t factor) {
  const char* op = "downsample_coords";
  detail::check_coords(coords, op, "coords");
  require(factor >= 1, op, "factor must be >= 1, got ", factor);
  auto cells = coords.to(torch::kLong);
  cells.slice(1, 1).copy_(torch::div(cells.slice(1, 1), factor, "floor"));
  return unique_cells(pack_rows(cells));
}

torch::Tensor generative_coords(const torch::Tensor& coords, const ConvGeometry& geometry) {
  const char* op = "generative_coords";
  check_geometry(geometry, op);
  detail::check_coords(coords, op, "coords");
  const auto cells = coords.to(torch::kLong);
  const auto offsets = kernel_offsets(geometry).to(cells.device(), torch::kLong);
  // [N, K, 3] cells o * stride - p + k * dilation, with the batch repeated alongside.
  const auto xyz = (cells.slice(1, 1) * geometry.stride).unsqueeze(1) + offsets.unsqueeze(0);
  const auto batch = cells.slice(1, 0, 1).unsqueeze(1).expand({-1, xyz.size(1), 1});
  const auto all = torch::cat({batch, xyz}, 2).reshape({-1, 4});
  const auto kept = all.index_select(0, all.slice(1, 1).ge(0).all(1).nonzero().squeeze(1));
  if (kept.size(0) > 0) {
    const int64_t top = kept.slice(1, 1).max().item<int64_t>();
    require(top < detail::kMaxCoordinate, op, "a generated coordinate (", top,
            ") is out of range (x, y, z must be < 65536)");
  }
  return unique_cells(pack_rows(kept));
}

KernelMap conv_map(const torch::Tensor& in_coords, const torch::Tensor& out_coords,
                   const ConvGeometry& geometry) {
  const char* op = "conv_map";
  check_geometry(geometry, op);
  detail::check_coords(in_coords, op, "in_coords");
  detail::check_coords(out_coords, op, "out_coords");
  require(in_coords.device() == out_coords.device(), op, "in_coords are on ", in_coords.device(),
          " but out_coords on ", out_coords.device());
  const CoordinateHash hash(in_coords);
  return compact(hash.kernel_table(out_coords, geometry), in_coords.size(0));
}

KernelMap submanifold_map(const torch::Tensor& coords, int64_t kernel_size, int64_t dilation) {
  return conv_map(coords, coords, ConvGeometry{kernel_size, 1, dilation});
}

const KernelMap& CoordinateManager::conv_map(const torch::Tensor& in_coords,
                                             const torch::Tensor& out_coords,
                                             const ConvGeometry& geometry) {
  const Key key{in_coords.unsafeGetTensorImpl(), out_coords.unsafeGetTensorImpl(),
                geometry.kernel_size, geometry.stride, geometry.dilation};
  // Held while building: two layers asking for one map at once must not build it twice.
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = maps_.find(key); it != maps_.end()) return it->second->map;
  auto built = std::make_unique<MapEntry>();
  built->map = sparse::conv_map(in_coords, out_coords, geometry);
  built->in_coords = in_coords;
  built->out_coords = out_coords;
  ++maps_built_;
  return maps_.emplace(key, std::move(built)).first->second->map;
}

const torch::Tensor& CoordinateManager::downsample_coords(const torch::Tensor& coords,
                                                          int64_t factor) {
  // kernel_size 0 (never a valid geometry) tells downsampling apart from generative entries.
  const Key key{coords.unsafeGetTensorImpl(), nullptr, 0, factor, 0};
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = coords_.find(key); it != coords_.end()) return it->second->result;
  auto built = std::make_unique<CoordsEntry>();
  built->result = sparse::downsample_coords(coords, factor);
  built->source = coords;
  return coords_.emplace(key, std::move(built)).first->second->result;
}

const torch::Tensor& CoordinateManager::generative_coords(const torch::Tensor& coords,
                                                          const ConvGeometry& geometry) {
  check_geometry(geometry, "CoordinateManager::generative_coords");
  const Key key{coords.unsafeGetTensorImpl(), nullptr, geometry.kernel_size, geometry.stride,
                geometry.dilation};
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = coords_.find(key); it != coords_.end()) return it->second->result;
  auto built = std::make_unique<CoordsEntry>();
  built->result = sparse::generative_coords(coords, geometry);
  built->source = coords;
  return coords_.emplace(key, std::move(built)).first->second->result;
}

int64_t CoordinateManager::maps_built() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return maps_built_;
}

}  // namespace shapediff::sparse
