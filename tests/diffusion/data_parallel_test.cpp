#include "diffusion/data_parallel.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/diffusion/data_parallel_support.h"

namespace shapediff::diffusion {
namespace {

// Sets the launcher variables for one test and restores them afterwards.
class Environment {
 public:
  explicit Environment(const std::map<std::string, std::optional<std::string>>& values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  ~Environment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

const std::optional<std::string> kUnset = std::nullopt;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(DistributedEnv, NothingSetIsOneProcess) {
  Environment env({{"RANK", kUnset}, {"WORLD_SIZE", kUnset}, {"LOCAL_RANK", kUnset},
                   {"MASTER_ADDR", kUnset}, {"MASTER_PORT", kUnset}});
  const auto e = DistributedEnv::from_environment();
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
}

TEST(DistributedEnv, ReadsTheLauncherVariables) {
  Environment env({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                   {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29411"}});
  const auto e = DistributedEnv::from_environment();
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29411);
}

TEST(DistributedEnv, BadValuesNameTheVariable) {
  {
    Environment env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
    EXPECT_NE(error_of([] { DistributedEnv::from_environment(); }).find("RANK=2"), std::string::npos);
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "two"}, {"MASTER_PORT", "29500"}});
    EXPECT_NE(error_of([] { DistributedEnv::from_environment(); }).find("WORLD_SIZE='two'"),
              std::string::npos);
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", kUnset}});
    EXPECT_NE(error_of([] { DistributedEnv::from_environment(); }).find("MASTER_PORT"), std::string::npos);
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}});
    EXPECT_NE(error_of([] { DistributedEnv::from_environment(); }).find("MASTER_PORT=70000"),
              std::string::npos);
  }
  {
    Environment env({{"RANK", "1"}, {"WORLD_SIZE", kUnset}, {"MASTER_PORT", kUnset}});
    EXPECT_NE(error_of([] { DistributedEnv::from_environment(); }).find("WORLD_SIZE is not"),
              std::string::npos);
  }
}

TEST(DataParallel, CollectivesMatchAPlainReference) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  const int64_t port = testing::free_port();
  constexpr int kRanks = 3;
  std::vector<std::vector<torch::Tensor>> params(kRanks), grads(kRanks);
  std::vector<double> means(kRanks);
  std::vector<std::string> errors(kRanks);
  // Small buckets so that the parameters spread over several, and two dtypes.
  DataParallelOptions options;
  options.bucket_bytes = 64;
  options.timeout = std::chrono::seconds(30);
  auto body = [&](int rank) {
    DistributedEnv env;
    env.rank = rank;
    env.world_size = kRanks;
    env.master_port = port;
    DataParallel dp(env, options);
    // A generator of the rank's own: the ranks are threads here, and torch::manual_seed would
    // reseed the one global generator under the others' draws.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(100 + rank);
    params[rank] = {torch::randn({5, 3}, gen), torch::randn({7}, gen), torch::randn({2, 2}, gen, torch::kFloat64)};
    for (auto& p : params[rank]) {
      p.set_requires_grad(true);
      p.mutable_grad() = torch::randn_like(p) * static_cast<double>(rank + 1);
      grads[rank].push_back(p.grad().clone());
    }
    dp.broadcast(params[rank]);
    dp.average_gradients(params[rank]);
    means[rank] = dp.average(static_cast<double>(rank) * 2.0);
    dp.barrier();
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) ASSERT_EQ(errors[r], "") << "rank " << r;

  auto gen0 = at::make_generator<at::CPUGeneratorImpl>(100);
  const std::vector<torch::Tensor> rank0 = {torch::randn({5, 3}, gen0), torch::randn({7}, gen0),
                                            torch::randn({2, 2}, gen0, torch::kFloat64)};
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_DOUBLE_EQ(means[r], 2.0);  // (0 + 2 + 4) / 3
    for (size_t i = 0; i < rank0.size(); ++i) {
      EXPECT_TRUE(torch::equal(params[r][i].detach(), rank0[i])) << "rank " << r << " tensor " << i;
      const auto expected = (grads[0][i] + grads[1][i] + grads[2][i]) / 3.0;
      EXPECT_TRUE(torch::allclose(params[r][i].grad(), expected, 1e-6, 1e-7)) << "rank " << r << " grad " << i;
    }
  }
}

// A two-layer net's parameters (deterministic, the same on every rank) after an unused one,
// which therefore lands in the last bucket.
std::vector<torch::Tensor> small_net_parameters() {
  std::vector<torch::Tensor> p = {torch::ones({5}), torch::sin(torch::arange(32, torch::kFloat32)).reshape({8, 4}),
                                  torch::cos(torch::arange(8, torch::kFloat32)) * 0.1,
                                  torch::sin(torch::arange(24, torch::kFloat32) * 0.7).reshape({3, 8}),
                                  torch::zeros({3})};
  for (auto& t : p) t.set_requires_grad(true);
  return p;
}

// One backward pass of micro-batch `micro` of rank `rank` (the unused parameter gets no gradient).
void small_net_backward(const std::vector<torch::Tensor>& p, int rank, int micro) {
  const auto x = torch::cos(torch::arange(24, torch::kFloat32) * (0.3 + 0.1 * rank + 0.05 * micro)).reshape({6, 4});
  const auto h = torch::tanh(torch::matmul(x, p[1].t()) + p[2]);
  const auto y = torch::matmul(h, p[3].t()) + p[4];
  (y * y).mean().backward();
}

// The overlapped average (buckets started from autograd hooks) leaves the gradients the
// average after the backward pass leaves, which is the mean of the ranks' plain gradients;
// gradient accumulation over two micro-batches, a second step and an unused parameter included.
TEST(DataParallel, OverlappedAverageEqualsTheAverageAfterBackward) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  constexpr int kRanks = 3;
  const int64_t port_overlap = testing::free_port();
  const int64_t port_after = testing::free_port();
  std::vector<std::vector<torch::Tensor>> overlap(kRanks), after(kRanks), plain(kRanks);
  std::vector<std::string> backends(kRanks), errors(kRanks);
  std::vector<int64_t> buckets(kRanks), early(kRanks);
  auto body = [&](int rank) {
    DistributedEnv env;
    env.rank = rank;
    env.world_size = kRanks;
    DataParallelOptions options;
    options.bucket_bytes = 64;  // several buckets, one parameter split from its neighbours
    options.first_bucket_bytes = 64;
    options.timeout = std::chrono::seconds(30);
    env.master_port = port_overlap;
    DataParallel dp_overlap(env, options);
    options.overlap = false;
    env.master_port = port_after;
    DataParallel dp_after(env, options);
    backends[rank] = dp_overlap.backend();
    overlap[rank] = small_net_parameters();
    after[rank] = small_net_parameters();
    plain[rank] = small_net_parameters();
    dp_overlap.watch_gradients(overlap[rank]);
    dp_after.watch_gradients(after[rank]);
    for (int step = 0; step < 2; ++step) {
      for (auto* p : {&overlap[rank], &after[rank]}) {
        for (auto& t : *p) {
          if (t.grad().defined()) t.mutable_grad().zero_();
        }
      }
      for (int micro = 0; micro < 2; ++micro) {
        if (micro == 1) {
          dp_overlap.begin_last_backward();
          dp_after.begin_last_backward();
        }
        small_net_backward(overlap[rank], rank, 2 * step + micro);
        small_net_backward(after[rank], rank, 2 * step + micro);
        if (step == 1) small_net_backward(plain[rank], rank, 2 * step + micro);
      }
      dp_overlap.finish_gradients();
      dp_after.finish_gradients();
    }
    buckets[rank] = dp_overlap.gradient_buckets();
    early[rank] = dp_overlap.buckets_started_in_backward();
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) ASSERT_EQ(errors[r], "") << "rank " << r;

  EXPECT_EQ(backends[0], "gloo");
  for (int r = 0; r < kRanks; ++r) {
    // 64-byte buckets, in reverse order: [b2 (12 bytes)], [W2 (96)], [b1 (32)], [W1 (128)],
    // [unused (20)]; all but the unused one's started during the backward pass.
    EXPECT_EQ(buckets[r], 5) << "rank " << r;
    EXPECT_EQ(early[r], 4) << "rank " << r;
  }
  for (size_t i = 1; i < plain[0].size(); ++i) {
    const auto mean = (plain[0][i].grad() + plain[1][i].grad() + plain[2][i].grad()) / 3.0;
    ASSERT_GT(mean.abs().max().item<double>(), 1e-3) << "parameter " << i;
    for (int r = 0; r < kRanks; ++r) {
      EXPECT_TRUE(torch::allclose(overlap[r][i].grad(), mean, 1e-5, 1e-7)) << "rank " << r << " parameter " << i;
      EXPECT_TRUE(torch::allclose(overlap[r][i].grad(), after[r][i].grad(), 1e-6, 1e-8))
          << "rank " << r << " parameter " << i;
    }
  }
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_FALSE(overlap[r].front().grad().defined()) << "rank " << r;
    EXPECT_FALSE(after[r].front().grad().defined()) << "rank " << r;
  }
}

// NCCL with one rank on this GPU: the process group really runs (a TCPStore on loopback), and
// the sum of one rank is its input.
TEST(DataParallel, NcclWorldOfOneReducesABucket_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!nccl_available()) GTEST_SKIP() << "built without NCCL (see cmake/ShapediffNccl.cmake)";
  DistributedEnv env;
  env.master_port = testing::free_port();
  DataParallelOptions options;
  options.device = torch::Device(torch::kCUDA, 0);
  options.timeout = std::chrono::seconds(60);
  options.bucket_bytes = 256;
  DataParallel dp(env, options);
  EXPECT_EQ(std::string(dp.backend()), "nccl");
  auto a = torch::randn({40, 3}, torch::kCUDA).requires_grad_(true);
  auto b = torch::randn({7}, torch::kCUDA).requires_grad_(true);
  dp.watch_gradients({a, b});
  dp.begin_last_backward();
  ((a * a).sum() + (b * 3.0).sum()).backward();
  dp.finish_gradients();
  EXPECT_TRUE(torch::allclose(a.grad(), 2.0 * a.detach(), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(b.grad(), torch::full({7}, 3.0, torch::kCUDA)));
  auto w = torch::zeros({1000}, torch::kCUDA).requires_grad_(true);
  w.mutable_grad() = torch::randn({1000}, torch::kCUDA);
  const auto before = w.grad().clone();
  dp.average_gradients({w});  // one bucket of 4000 bytes: a tensor is never split
  EXPECT_TRUE(torch::equal(w.grad(), before));
  dp.broadcast({w});
  EXPECT_TRUE(torch::equal(w.detach(), torch::zeros({1000}, torch::kCUDA)));
  EXPECT_DOUBLE_EQ(dp.average(2.5), 2.5);
  dp.barrier();
}

TEST(DataParallel, AMissingRankTimesOutWithAMessage) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  DistributedEnv env;
  env.rank = 0;
  env.world_size = 2;
  env.master_port = testing::free_port();
  DataParallelOptions options;
  options.timeout = std::chrono::seconds(2);
  const auto start = std::chrono::steady_clock::now();
  const auto message = error_of([&] { DataParallel dp(env, options); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find("could not join the group at 127.0.0.1:"), std::string::npos) << message;
  EXPECT_LT(seconds, 30.0);
}

}  // namespace
}  // namespace shapediff::diffusion
