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
    torch::manual_seed(100 + rank);
    params[rank] = {torch::randn({5, 3}), torch::randn({7}), torch::randn({2, 2}, torch::kFloat64)};
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

  torch::manual_seed(100);
  const std::vector<torch::Tensor> rank0 = {torch::randn({5, 3}), torch::randn({7}),
                                            torch::randn({2, 2}, torch::kFloat64)};
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_DOUBLE_EQ(means[r], 2.0);  // (0 + 2 + 4) / 3
    for (size_t i = 0; i < rank0.size(); ++i) {
      EXPECT_TRUE(torch::equal(params[r][i].detach(), rank0[i])) << "rank " << r << " tensor " << i;
      const auto expected = (grads[0][i] + grads[1][i] + grads[2][i]) / 3.0;
      EXPECT_TRUE(torch::allclose(params[r][i].grad(), expected, 1e-6, 1e-7)) << "rank " << r << " grad " << i;
    }
  }
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
