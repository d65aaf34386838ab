#include "io/json_fields.h"

#include <gtest/gtest.h>

#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::throws_naming;

TEST(JsonFields, ReadsTypedFieldsWithDefaults) {
  const auto doc = nlohmann::json::parse(
      R"({"training": {"lr": 0.5, "steps": 20, "name": "x", "on": true, "betas": [0.9, 0.99]}})");
  JsonFields root(doc, "c.json");
  auto t = root.object("training");
  EXPECT_EQ(t.require<double>("lr"), 0.5);
  EXPECT_EQ(t.require<int64_t>("steps"), 20);
  EXPECT_EQ(t.get<std::string>("name", "y"), "x");
  EXPECT_TRUE(t.require<bool>("on"));
  EXPECT_EQ(t.require<std::vector<double>>("betas").size(), 2u);
  EXPECT_EQ(t.get<int64_t>("absent", 7), 7);
  EXPECT_EQ(t.field("lr"), "training.lr");
  EXPECT_NO_THROW(t.finish());
  auto missing = root.object("data", /*optional=*/true);
  EXPECT_FALSE(missing.has("points"));
  EXPECT_NO_THROW(root.finish());
}

TEST(JsonFields, ErrorsNameFileAndField) {
  const auto doc = nlohmann::json::parse(R"({"training": {"lr": "fast", "steps": 2.5, "lr_sched": 1}})");
  JsonFields root(doc, "c.json");
  auto t = root.object("training");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { t.require<double>("lr"); }, "c.json",
                                                   "training.lr must be a number, got \"fast\""));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { t.require<int64_t>("steps"); }, "c.json",
                                                   "training.steps must be an integer"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { t.require<int64_t>("none"); }, "c.json",
                                                   "training.none is missing"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { t.finish(); }, "c.json",
                                                   "unknown key 'training.lr_sched'"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { t.check("steps", false, "> 3"); }, "c.json",
                                                   "training.steps must be > 3, got 2.5"));
  const auto not_object = nlohmann::json::parse("[1]");
  EXPECT_THROW(JsonFields(not_object, "c.json"), std::invalid_argument);
  const auto negative = nlohmann::json::parse(R"({"seed": -1})");
  JsonFields n(negative, "c.json");
  EXPECT_THROW(n.require<uint64_t>("seed"), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::io
