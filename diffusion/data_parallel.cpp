#include "diffusion/data_parallel.h"

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/torch.h>

// The Gloo process group is compiled into LibTorch, but its header needs this switch and the
// Gloo headers (Debian: libgloo-dev). A LibTorch without them builds a DataParallel that
// refuses to start, saying why.
#if __has_include(<gloo/config.h>)
#define SHAPEDIFF_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#else
#define SHAPEDIFF_HAVE_GLOO 0
#endif

namespace shapediff::diffusion {
namespace {

int64_t env_integer(const char* name, int64_t fallback, bool* present = nullptr) {
  const char* raw = std::getenv(name);
  if (present) *present = raw != nullptr && *raw != '\0';
  if (raw == nullptr || *raw == '\0') return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(raw, &end, 10);
  if (end == raw || *end != '\0') {
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + raw +
                                "' is not an integer");
  }
  return v;
}

[[maybe_unused]] bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv env;
  bool has_world = false, has_rank = false, has_port = false;
  env.world_size = env_integer("WORLD_SIZE", 1, &has_world);
  env.rank = env_integer("RANK", 0, &has_rank);
  env.local_rank = env_integer("LOCAL_RANK", env.rank);
  env.master_port = env_integer("MASTER_PORT", 29500, &has_port);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') env.master_addr = addr;
  if (env.world_size < 1) {
    throw std::invalid_argument("WORLD_SIZE=" + std::to_string(env.world_size) + " must be at least 1");
  }
  if (has_rank && !has_world && env.rank > 0) {
    throw std::invalid_argument("RANK=" + std::to_string(env.rank) + " is set but WORLD_SIZE is not");
  }
  if (env.rank < 0 || env.rank >= env.world_size) {
    throw std::invalid_argument("RANK=" + std::to_string(env.rank) + " is outside 0.." +
                                std::to_string(env.world_size - 1) + " (WORLD_SIZE=" +
                                std::to_string(env.world_size) + ")");
  }
  if (env.world_size > 1 && !has_port) {
    throw std::invalid_argument("WORLD_SIZE=" + std::to_string(env.world_size) +
                                " needs MASTER_PORT (and MASTER_ADDR unless all ranks are on this machine)");
  }
  if (env.master_port < 1 || env.master_port > 65535) {
    throw std::invalid_argument("MASTER_PORT=" + std::to_string(env.master_port) + " is outside 1..65535");
  }
  if (env.local_rank < 0) {
    throw std::invalid_argument("LOCAL_RANK=" + std::to_string(env.local_rank) + " is negative");
  }
  return env;
}

bool data_parallel_available() { return SHAPEDIFF_HAVE_GLOO != 0; }

#if SHAPEDIFF_HAVE_GLOO

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallel::DataParallel(const DistributedEnv& env, const DataParallelOptions& options)
    : env_(env), options_(options), impl_(std::make_unique<Impl>()) {
  if (env.world_size < 1 || env.rank < 0 || env.rank >= env.world_size) {
    throw std::invalid_argument("data parallel: rank " + std::to_string(env.rank) + " of world size " +
                                std::to_string(env.world_size));
  }
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    so.waitWorkers = true;
    so.timeout = options.timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto go = c10d::ProcessGroupGloo::Options::create(options.timeout);
    if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface != nullptr && *iface != '\0') {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else if (is_loopback(env.master_addr)) {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    go->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl_->store, static_cast<int>(env.rank), static_cast<int>(env.world_size), go);
  } catch (const c10::Error& e) {
    throw CollectiveError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                             ": could not join the group at " + where + " within " +
                             std::to_string(options.timeout.count() / 1000) + " s (" +
                             std::string(e.what_without_backtrace()).substr(0, 300) + ")");
  }
}

DataParallel::~DataParallel() = default;

namespace {

template <typename F>
void collective(int64_t rank, const char* op, F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    throw CollectiveError("rank " + std::to_string(rank) + ": " + op +
                          " failed; another worker probably stopped (" +
                          std::string(e.what_without_backtrace()).substr(0, 300) + ")");
  } catch (const std::runtime_error& e) {
    throw CollectiveError("rank " + std::to_string(rank) + ": " + op +
                          " failed; another worker probably stopped (" + std::string(e.what()).substr(0, 300) +
                          ")");
  }
}

// Flattens `tensors` (all of one device and dtype) into CPU buffers of at most `bytes`, runs
// `reduce` on each (which may start asynchronous work and return its waiter), then writes the
// results back scaled by `scale`.
template <typename Start>
void bucketed(const std::vector<torch::Tensor>& tensors, int64_t bytes, double scale, Start&& start) {
  std::map<std::tuple<int, int, int>, std::vector<torch::Tensor>> groups;
  for (const auto& t : tensors) {
    groups[{static_cast<int>(t.device().type()), t.device().index(), static_cast<int>(t.scalar_type())}]
        .push_back(t);
  }
  for (auto& [key, members] : groups) {
    std::vector<std::vector<torch::Tensor>> buckets(1);
    int64_t filled = 0;
    for (const auto& t : members) {
      const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
      if (filled > 0 && filled + b > bytes) {
        buckets.emplace_back();
        filled = 0;
      }
      buckets.back().push_back(t);
      filled += b;
    }
    std::vector<std::pair<torch::Tensor, std::function<void()>>> pending;
    for (const auto& bucket : buckets) {
      std::vector<torch::Tensor> flat;
      for (const auto& t : bucket) flat.push_back(t.detach().reshape({-1}));
      auto buffer = torch::cat(flat).to(torch::kCPU).contiguous();
      pending.emplace_back(buffer, start(buffer));
    }
    for (size_t i = 0; i < buckets.size(); ++i) {
      pending[i].second();
      auto reduced = pending[i].first;
      if (scale != 1.0) reduced.mul_(scale);
      int64_t offset = 0;
      torch::NoGradGuard no_grad;
      for (auto& t : buckets[i]) {
        const int64_t n = t.numel();
        t.copy_(reduced.slice(0, offset, offset + n).view(t.sizes()));
        offset += n;
      }
    }
  }
}

}  // namespace

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (env_.world_size == 1 || tensors.empty()) return;
  collective(env_.rank, "broadcast", [&] {
    bucketed(tensors, options_.bucket_bytes, 1.0, [&](torch::Tensor& buffer) {
      std::vector<at::Tensor> v{buffer};
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      auto work = impl_->group->broadcast(v, o);
      return std::function<void()>([work] { work->wait(); });
    });
  });
}

void DataParallel::average_gradients(const std::vector<torch::Tensor>& parameters) {
  if (env_.world_size == 1) return;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  collective(env_.rank, "gradient all-reduce", [&] {
    bucketed(grads, options_.bucket_bytes, 1.0 / static_cast<double>(env_.world_size),
             [&](torch::Tensor& buffer) {
               std::vector<at::Tensor> v{buffer};
               auto work = impl_->group->allreduce(v);
               return std::function<void()>([work] { work->wait(); });
             });
  });
}

double DataParallel::average(double value) {
  if (env_.world_size == 1) return value;
  auto t = torch::tensor({value}, torch::kFloat64);
  collective(env_.rank, "all-reduce", [&] {
    std::vector<at::Tensor> v{t};
    impl_->group->allreduce(v)->wait();
  });
  return t.item<double>() / static_cast<double>(env_.world_size);
}

void DataParallel::barrier() {
  if (env_.world_size == 1) return;
  collective(env_.rank, "barrier", [&] { impl_->group->barrier()->wait(); });
}

#else  // no Gloo headers

struct DataParallel::Impl {};

DataParallel::DataParallel(const DistributedEnv& env, const DataParallelOptions& options)
    : env_(env), options_(options) {
  throw std::runtime_error(
      "data-parallel training needs c10d's Gloo, and this build found no Gloo headers "
      "(install libgloo-dev and rebuild)");
}
DataParallel::~DataParallel() = default;
void DataParallel::broadcast(const std::vector<torch::Tensor>&) {}
void DataParallel::average_gradients(const std::vector<torch::Tensor>&) {}
double DataParallel::average(double value) { return value; }
void DataParallel::barrier() {}

#endif

}  // namespace shapediff::diffusion
