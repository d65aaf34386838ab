#include "diffusion/data_parallel.h"

#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/torch.h>

// The Gloo process group is compiled into LibTorch, but its header needs this switch and the
// Gloo headers (Debian: libgloo-dev). NCCL comes from diffusion/data_parallel_nccl.cpp when
// CMake found it (SHAPEDIFF_WITH_NCCL). A LibTorch with neither builds a DataParallel that
// refuses to start, saying why.
#if __has_include(<gloo/config.h>)
#define SHAPEDIFF_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define SHAPEDIFF_HAVE_GLOO 0
#endif
#if defined(SHAPEDIFF_WITH_NCCL)
#define SHAPEDIFF_HAVE_NCCL 1
#else
#define SHAPEDIFF_HAVE_NCCL 0
#endif
#if SHAPEDIFF_HAVE_GLOO || SHAPEDIFF_HAVE_NCCL
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "diffusion/data_parallel_group.h"
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
bool nccl_available() { return SHAPEDIFF_HAVE_NCCL != 0; }

#if SHAPEDIFF_HAVE_GLOO || SHAPEDIFF_HAVE_NCCL

namespace {

#if SHAPEDIFF_HAVE_GLOO
class GlooGroup : public detail::CollectiveGroup {
 public:
  GlooGroup(const c10::intrusive_ptr<c10d::Store>& store, const DistributedEnv& env,
            std::chrono::milliseconds timeout) {
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface != nullptr && *iface != '\0') {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else if (is_loopback(env.master_addr)) {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    go->threads = 2;
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(env.rank),
                                                         static_cast<int>(env.world_size), go);
  }
  const char* name() const override { return "gloo"; }
  torch::Device device() const override { return torch::kCPU; }
  std::function<void()> start_sum(torch::Tensor tensor) override {
    std::vector<at::Tensor> v{std::move(tensor)};
    auto work = group_->allreduce(v);
    return [work] { work->wait(); };
  }
  std::function<void()> start_broadcast(torch::Tensor tensor, int root) override {
    std::vector<at::Tensor> v{std::move(tensor)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    auto work = group_->broadcast(v, o);
    return [work] { work->wait(); };
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};
#endif

template <typename F>
void collective(int64_t rank, const char* op, F&& f) {
  try {
    f();
  } catch (const CollectiveError&) {
    throw;
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

// Flattens `tensors` (all of one device and dtype) into buffers of at most `bytes` on the
// group's device, starts `start` on each, then writes the results back scaled by `scale`.
template <typename Start>
void bucketed(const std::vector<torch::Tensor>& tensors, int64_t bytes, double scale, const torch::Device& on,
              Start&& start) {
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
      auto buffer = torch::cat(flat).to(on).contiguous();
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

// The overlapped gradient average: buckets of parameters in reverse order, filled by hooks that
// run in the backward pass before each gradient is accumulated into .grad(). A hook writes what
// .grad() is about to become (the old .grad() plus the incoming gradient: the same float
// addition autograd does), and the bucket's all-reduce starts once all of its parameters are
// in. Buckets start strictly in order on every rank, since collectives pair up by order.
struct GradientSync {
  struct Slot {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;
    bool filled = false;
  };
  struct Bucket {
    std::vector<size_t> slots;
    torch::Tensor buffer;  // on the parameters' device
    torch::Tensor staged;  // what the group reduces (buffer itself, or its copy on the group's device)
    size_t pending = 0;
    std::function<void()> wait;
  };

  std::mutex mutex;
  detail::CollectiveGroup* group = nullptr;  // owned by DataParallel::Impl, which outlives the hooks
  bool armed = false;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  size_t next_launch = 0;
  size_t started_in_backward = 0;  // of the last finish
  std::exception_ptr error;  // from a hook: rethrown by finish

  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& b = buckets[next_launch++];
      b.staged = b.buffer.device() == group->device() ? b.buffer : b.buffer.to(group->device());
      b.wait = group->start_sum(b.staged);
    }
  }

  void on_gradient(size_t index, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || error || !grad.defined()) return;
    try {
      auto& s = slots[index];
      if (s.filled) throw std::logic_error("a second backward pass after begin_last_backward()");
      torch::NoGradGuard no_grad;
      const auto existing = s.param.grad();
      const auto total = existing.defined() ? existing + grad : grad;
      auto& b = buckets[s.bucket];
      b.buffer.slice(0, s.offset, s.offset + s.param.numel()).copy_(total.reshape({-1}));
      s.filled = true;
      if (--b.pending == 0) launch_ready();
    } catch (...) {
      error = std::current_exception();
    }
  }
};

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<detail::CollectiveGroup> group;
  std::vector<torch::Tensor> watched;
  std::shared_ptr<GradientSync> sync;
  std::vector<std::pair<torch::Tensor, unsigned>> hooks;
};

DataParallel::DataParallel(const DistributedEnv& env, const DataParallelOptions& options)
    : env_(env), options_(options), impl_(std::make_unique<Impl>()) {
  if (env.world_size < 1 || env.rank < 0 || env.rank >= env.world_size) {
    throw std::invalid_argument("data parallel: rank " + std::to_string(env.rank) + " of world size " +
                                std::to_string(env.world_size));
  }
  const bool nccl = SHAPEDIFF_HAVE_NCCL && options.device.is_cuda();
  if (!nccl && !SHAPEDIFF_HAVE_GLOO) {
    throw std::runtime_error(
        std::string("data-parallel training on ") + (options.device.is_cuda() ? "CUDA" : "CPU") +
        " needs c10d's " + (options.device.is_cuda() ? "NCCL or Gloo" : "Gloo") +
        ", and this build has " + (SHAPEDIFF_HAVE_NCCL ? "only NCCL (CUDA devices)" : "neither") +
        " (Gloo: install libgloo-dev and rebuild; NCCL: see docs/distributed.md)");
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
#if SHAPEDIFF_HAVE_NCCL
    if (nccl) {
      const auto index = options.device.has_index() ? options.device.index()
                                                    : static_cast<c10::DeviceIndex>(env.local_rank);
      impl_->group = detail::make_nccl_group(impl_->store, static_cast<int>(env.rank),
                                             static_cast<int>(env.world_size), options.timeout,
                                             torch::Device(torch::kCUDA, index));
    }
#endif
#if SHAPEDIFF_HAVE_GLOO
    if (!impl_->group) impl_->group = std::make_unique<GlooGroup>(impl_->store, env, options.timeout);
#endif
  } catch (const c10::Error& e) {
    throw CollectiveError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                             ": could not join the group at " + where + " within " +
                             std::to_string(options.timeout.count() / 1000) + " s (" +
                             std::string(e.what_without_backtrace()).substr(0, 300) + ")");
  }
}

DataParallel::~DataParallel() {
  // The hooks hold the sync state, not this object; removing them leaves the parameters as they were.
  for (auto& [param, handle] : impl_->hooks) param.remove_hook(handle);
}

const char* DataParallel::backend() const { return impl_->group->name(); }

int64_t DataParallel::gradient_buckets() const {
  return impl_->sync ? static_cast<int64_t>(impl_->sync->buckets.size()) : 0;
}

int64_t DataParallel::buckets_started_in_backward() const {
  return impl_->sync ? static_cast<int64_t>(impl_->sync->started_in_backward) : 0;
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  collective(env_.rank, "broadcast", [&] {
    bucketed(tensors, options_.bucket_bytes, 1.0, impl_->group->device(),
             [&](torch::Tensor& buffer) { return impl_->group->start_broadcast(buffer, 0); });
  });
}

void DataParallel::average_gradients(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  collective(env_.rank, "gradient all-reduce", [&] {
    bucketed(grads, options_.bucket_bytes, 1.0 / static_cast<double>(env_.world_size), impl_->group->device(),
             [&](torch::Tensor& buffer) { return impl_->group->start_sum(buffer); });
  });
}

void DataParallel::watch_gradients(const std::vector<torch::Tensor>& parameters) {
  // A second call replaces the first.
  for (auto& [param, handle] : impl_->hooks) param.remove_hook(handle);
  impl_->hooks.clear();
  impl_->sync.reset();
  impl_->watched = parameters;
  if (!options_.overlap) return;
  auto sync = std::make_shared<GradientSync>();
  sync->group = impl_->group.get();
  // Reverse order: the backward pass reaches the last layers first. Buckets are cut as in
  // average_gradients, by device and dtype and at most bucket_bytes (first_bucket_bytes for
  // the first of each).
  std::map<std::tuple<int, int, int>, size_t> open;  // (device, dtype) -> its bucket being filled
  std::map<std::tuple<int, int, int>, size_t> first_of;  // (device, dtype) -> its first bucket
  std::vector<int64_t> bytes;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const auto& p = *it;
    if (!p.requires_grad()) continue;
    const std::tuple<int, int, int> key{static_cast<int>(p.device().type()), p.device().index(),
                                        static_cast<int>(p.scalar_type())};
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    auto found = open.find(key);
    const int64_t cap = found == open.end() || found->second == first_of[key] ? options_.first_bucket_bytes
                                                                              : options_.bucket_bytes;
    if (found == open.end() || (bytes[found->second] > 0 && bytes[found->second] + b > cap)) {
      sync->buckets.emplace_back();
      bytes.push_back(0);
      if (found == open.end()) first_of[key] = sync->buckets.size() - 1;
      open[key] = sync->buckets.size() - 1;
      found = open.find(key);
    }
    const size_t k = found->second;
    GradientSync::Slot slot;
    slot.param = p;
    slot.bucket = k;
    slot.offset = bytes[k] / static_cast<int64_t>(p.element_size());
    sync->buckets[k].slots.push_back(sync->slots.size());
    sync->slots.push_back(slot);
    bytes[k] += b;
  }
  for (size_t k = 0; k < sync->buckets.size(); ++k) {
    const auto& first = sync->slots[sync->buckets[k].slots.front()].param;
    sync->buckets[k].buffer =
        torch::zeros({bytes[k] / static_cast<int64_t>(first.element_size())}, first.options().requires_grad(false));
  }
  for (size_t i = 0; i < sync->slots.size(); ++i) {
    auto param = sync->slots[i].param;
    const unsigned handle = param.register_hook([sync, i](const torch::Tensor& grad) { sync->on_gradient(i, grad); });
    impl_->hooks.emplace_back(param, handle);
  }
  impl_->sync = std::move(sync);
}

void DataParallel::begin_last_backward() {
  auto& sync = impl_->sync;
  if (!sync) return;
  std::lock_guard<std::mutex> lock(sync->mutex);
  for (auto& s : sync->slots) s.filled = false;
  for (auto& b : sync->buckets) {
    b.pending = b.slots.size();
    b.wait = nullptr;
    b.staged = torch::Tensor();
  }
  sync->next_launch = 0;
  sync->error = nullptr;
  sync->armed = true;
}

void DataParallel::finish_gradients() {
  auto& sync = impl_->sync;
  if (!sync) {
    average_gradients(impl_->watched);
    return;
  }
  std::lock_guard<std::mutex> lock(sync->mutex);
  if (!sync->armed) throw std::logic_error("DataParallel::finish_gradients without begin_last_backward");
  sync->armed = false;
  sync->started_in_backward = sync->next_launch;
  collective(env_.rank, "gradient all-reduce", [&] {
    if (sync->error) std::rethrow_exception(sync->error);
    torch::NoGradGuard no_grad;
    // Buckets the backward pass did not complete (a parameter it never reached): the missing
    // parts are the gradients as they stand, or zeros where there is none.
    for (size_t k = sync->next_launch; k < sync->buckets.size(); ++k) {
      auto& b = sync->buckets[k];
      for (size_t i : b.slots) {
        auto& s = sync->slots[i];
        if (s.filled) continue;
        auto part = b.buffer.slice(0, s.offset, s.offset + s.param.numel());
        if (s.param.grad().defined()) {
          part.copy_(s.param.grad().reshape({-1}));
        } else {
          part.zero_();
        }
        s.filled = true;
      }
      b.pending = 0;
    }
    sync->launch_ready();
    const double scale = 1.0 / static_cast<double>(env_.world_size);
    for (auto& b : sync->buckets) {
      b.wait();
      auto reduced = b.staged.device() == b.buffer.device() ? b.staged : b.staged.to(b.buffer.device());
      reduced.mul_(scale);
      for (size_t i : b.slots) {
        auto& s = sync->slots[i];
        auto grad = s.param.grad();
        if (!grad.defined()) continue;
        grad.copy_(reduced.slice(0, s.offset, s.offset + s.param.numel()).view(grad.sizes()));
      }
    }
  });
}

double DataParallel::average(double value) {
  auto t = torch::tensor({value}, torch::kFloat64).to(impl_->group->device());
  collective(env_.rank, "all-reduce", [&] { impl_->group->start_sum(t)(); });
  return t.item<double>() / static_cast<double>(env_.world_size);
}

void DataParallel::barrier() {
  // A one-number sum, read back: on CUDA the read waits for the device too.
  average(0.0);
}

#else  // neither Gloo nor NCCL

struct DataParallel::Impl {};

DataParallel::DataParallel(const DistributedEnv& env, const DataParallelOptions& options)
    : env_(env), options_(options) {
  throw std::runtime_error(
      "data-parallel training needs c10d's Gloo, and this build found no Gloo headers "
      "(install libgloo-dev and rebuild)");
}
DataParallel::~DataParallel() = default;
const char* DataParallel::backend() const { return "none"; }
int64_t DataParallel::gradient_buckets() const { return 0; }
int64_t DataParallel::buckets_started_in_backward() const { return 0; }
void DataParallel::broadcast(const std::vector<torch::Tensor>&) {}
void DataParallel::average_gradients(const std::vector<torch::Tensor>&) {}
void DataParallel::watch_gradients(const std::vector<torch::Tensor>&) {}
void DataParallel::begin_last_backward() {}
void DataParallel::finish_gradients() {}
double DataParallel::average(double value) { return value; }
void DataParallel::barrier() {}

#endif

}  // namespace shapediff::diffusion
