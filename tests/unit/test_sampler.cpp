// The sampler on hand-made logits: greedy, each filter's cut-off, the repetition penalty's
// arithmetic, the chain order, and the RNG (reproducible, and drawing the right distribution).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/model/sampler.h"

namespace tern {
namespace {

using model::Sampler;
using model::SamplerOptions;

// Only the filter under test on: no top-k, top-p, min-p or penalty; temperature 1.
SamplerOptions plain(uint64_t seed = 1) {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  o.seed = seed;
  return o;
}

SamplerOptions greedy() {
  SamplerOptions o = plain();
  o.temperature = 0.0f;
  return o;
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

// The set of tokens many draws produce.
std::set<int32_t> drawn(Sampler& s, const std::vector<float>& logits, int n = 2000) {
  std::set<int32_t> out;
  for (int i = 0; i < n; ++i) out.insert(s.sample(logits.data()));
  return out;
}

TEST(Sampler, GreedyIsTheArgmaxWithTheLowestIdOnTies) {
  const std::vector<float> l = {1.0f, 3.0f, -2.0f, 3.0f, 2.5f};
  EXPECT_EQ(Sampler::argmax(l.data(), l.size()), 1);
  Sampler s(l.size(), greedy());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(l.data()), 1);
  EXPECT_EQ(s.last_candidates(), 1u);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> with_nan = {nan, -1.0f, nan, 0.5f, 0.5f};
  EXPECT_EQ(Sampler::argmax(with_nan.data(), with_nan.size()), 3);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> all_minus_inf = {-inf, -inf, -inf};
  EXPECT_EQ(Sampler::argmax(all_minus_inf.data(), 3), 0);
}

TEST(Sampler, TopK1IsGreedy) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> l(1000);
  for (uint64_t seed : {1u, 2u, 99u}) {
    SamplerOptions o;  // the defaults (temp 0.8, top-p 0.95, min-p 0.05) with top-k 1
    o.top_k = 1;
    o.seed = seed;
    Sampler s(l.size(), o);
    for (int row = 0; row < 50; ++row) {
      for (float& x : l) x = nd(rng);
      if (row % 5 == 0) l[17] = l[400] = 100.0f;  // a tie: the lower id wins
      EXPECT_EQ(s.sample(l.data()), Sampler::argmax(l.data(), l.size()));
      EXPECT_EQ(s.last_candidates(), 1u);
    }
  }
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<float> l = log_probs({0.15, 0.5, 0.05, 0.3});  // sorted: 1, 3, 0, 2
  struct Case {
    float p;
    std::set<int32_t> kept;
  } cases[] = {{0.49f, {1}}, {0.79f, {1, 3}}, {0.81f, {0, 1, 3}}, {0.94f, {0, 1, 3}}, {0.96f, {0, 1, 2, 3}}};
  for (const auto& c : cases) {
    SamplerOptions o = plain();
    o.top_p = c.p;
    Sampler s(l.size(), o);
    EXPECT_EQ(drawn(s, l), c.kept) << "top-p " << c.p;
    EXPECT_EQ(s.last_candidates(), c.kept.size()) << "top-p " << c.p;
  }
}

TEST(Sampler, MinPKeepsTokensAtLeastPTimesTheLikeliest) {
  const std::vector<float> l = log_probs({0.15, 0.5, 0.05, 0.3});
  struct Case {
    float p;
    std::set<int32_t> kept;
  } cases[] = {{0.05f, {0, 1, 2, 3}}, {0.2f, {0, 1, 3}}, {0.31f, {1, 3}}, {0.61f, {1}}};
  for (const auto& c : cases) {
    for (int32_t top_k : {0, 4}) {  // unsorted and sorted candidates take different paths
      SamplerOptions o = plain();
      o.min_p = c.p;
      o.top_k = top_k;
      Sampler s(l.size(), o);
      EXPECT_EQ(drawn(s, l), c.kept) << "min-p " << c.p << " top-k " << top_k;
    }
  }
}

TEST(Sampler, TopKKeepsTheKLargest) {
  const std::vector<float> l = {0.1f, 2.0f, 1.0f, 3.0f, 1.0f, -1.0f};
  SamplerOptions o = plain();
  o.top_k = 3;  // 3, 1, then the lower id of the two 1.0s
  Sampler s(l.size(), o);
  EXPECT_EQ(drawn(s, l), (std::set<int32_t>{1, 2, 3}));
}

// Positive logits are divided by the penalty, negative (and zero) ones multiplied, once per
// distinct token among the last repeat_last_n accepted ones. Greedy choices show the result.
TEST(Sampler, RepetitionPenaltyFollowsLlamaCpp) {
  auto pick = [](std::vector<float> l, std::vector<int32_t> history, float penalty, int32_t last_n = 64) {
    SamplerOptions o = greedy();
    o.repeat_penalty = penalty;
    o.repeat_last_n = last_n;
    Sampler s(l.size(), o);
    for (int32_t t : history) s.accept(t);
    return s.sample(l.data());
  };
  // Positive: 3 / 1.4 = 2.14 stays above 2; 3 / 1.6 = 1.875 falls below.
  EXPECT_EQ(pick({3.0f, 2.0f}, {0}, 1.4f), 0);
  EXPECT_EQ(pick({3.0f, 2.0f}, {0}, 1.6f), 1);
  // Negative: -1 * 1.4 = -1.4 stays above -1.5; -1 * 2 = -2 falls below.
  EXPECT_EQ(pick({-1.0f, -1.5f}, {0}, 1.4f), 0);
  EXPECT_EQ(pick({-1.0f, -1.5f}, {0}, 2.0f), 1);
  // Zero is multiplied (stays 0), so it still beats a negative logit.
  EXPECT_EQ(pick({0.0f, -0.1f}, {0}, 5.0f), 0);
  // Once per distinct token: three occurrences still give 3 / 1.4, not 3 / 1.4^3.
  EXPECT_EQ(pick({3.0f, 2.0f}, {0, 0, 0}, 1.4f), 0);
  // Only the last repeat_last_n tokens count.
  EXPECT_EQ(pick({3.0f, 2.0f, 1.9f}, {0, 1, 1}, 1.6f, 2), 0);  // the 0 fell out of the window
  EXPECT_EQ(pick({3.0f, 2.0f, 1.9f}, {1, 1, 0}, 1.6f, 2), 2);  // 3 / 1.6 and 2 / 1.6 < 1.9
  // repeat_last_n 0 and penalty 1 are off.
  EXPECT_EQ(pick({3.0f, 2.0f}, {0}, 1.6f, 0), 0);
  EXPECT_EQ(pick({3.0f, 2.0f}, {0}, 1.0f), 0);

  // sample() accepts its own token: greedy alternates once the penalty bites.
  SamplerOptions o = greedy();
  o.repeat_penalty = 2.0f;
  o.repeat_last_n = 1;
  Sampler s(2, o);
  const std::vector<float> l = {3.0f, 2.0f};
  EXPECT_EQ(s.sample(l.data()), 0);
  EXPECT_EQ(s.sample(l.data()), 1);  // 0 penalised: 1.5 < 2
  EXPECT_EQ(s.sample(l.data()), 0);  // now 1 is the last token: 3 > 1
  s.reset();                         // forgets the history
  EXPECT_EQ(s.sample(l.data()), 0);
}

TEST(Sampler, TheSameSeedGivesTheSameDraws) {
  std::vector<float> l(500);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (float& x : l) x = nd(rng);
  SamplerOptions o = plain(42);
  o.top_k = 50;
  o.repeat_penalty = 1.1f;
  Sampler a(l.size(), o), b(l.size(), o);
  std::vector<int32_t> da, db;
  for (int i = 0; i < 1000; ++i) {
    da.push_back(a.sample(l.data()));
    db.push_back(b.sample(l.data()));
  }
  EXPECT_EQ(da, db);
  a.reset();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.sample(l.data()), da[static_cast<size_t>(i)]) << i;

  o.seed = 43;
  Sampler c(l.size(), o);
  std::vector<int32_t> dc;
  for (int i = 0; i < 1000; ++i) dc.push_back(c.sample(l.data()));
  EXPECT_NE(da, dc);
  size_t same = 0;
  for (size_t i = 0; i < da.size(); ++i) same += da[i] == dc[i];
  EXPECT_LT(same, 200u) << "two seeds should give mostly different draws";
}

// Frequencies of 20000 draws against softmax(logits / T): the sampling standard deviation
// is at most 0.0035, so 0.015 is over 4 sigma (and the seed is fixed: no flakiness).
TEST(Sampler, TemperatureScalesTheDistribution) {
  const std::vector<float> l = {0.0f, 1.0f, 2.0f, -1.0f};
  for (float temp : {0.5f, 1.0f, 2.0f}) {
    SamplerOptions o = plain(7);
    o.temperature = temp;
    Sampler s(l.size(), o);
    std::vector<double> count(l.size(), 0.0);
    const int n = 20000;
    for (int i = 0; i < n; ++i) count[static_cast<size_t>(s.sample(l.data()))] += 1;
    double z = 0;
    for (float x : l) z += std::exp(x / temp);
    for (size_t i = 0; i < l.size(); ++i)
      EXPECT_NEAR(count[i] / n, std::exp(l[i] / temp) / z, 0.015) << "token " << i << " temp " << temp;
  }
}

// llama.cpp's order: top-p and min-p see temperature-1 probabilities, the temperature comes last.
TEST(Sampler, TemperatureComesAfterTheFilters) {
  const std::vector<float> l = log_probs({0.15, 0.5, 0.05, 0.3});
  SamplerOptions o = plain();
  o.top_p = 0.79f;
  o.temperature = 100.0f;  // flat if it came first: top-p would then keep 3 or 4 tokens
  Sampler s(l.size(), o);
  EXPECT_EQ(drawn(s, l), (std::set<int32_t>{1, 3}));

  o = plain();
  o.min_p = 0.61f;
  o.temperature = 100.0f;
  Sampler m(l.size(), o);
  EXPECT_EQ(drawn(m, l), (std::set<int32_t>{1}));
}

TEST(Sampler, RejectsBadOptions) {
  auto bad = [](auto change) {
    SamplerOptions o;
    change(o);
    EXPECT_THROW(Sampler::validate(o), Error);
    EXPECT_THROW(Sampler(10, o), Error);
  };
  bad([](SamplerOptions& o) { o.temperature = -0.1f; });
  bad([](SamplerOptions& o) { o.temperature = std::numeric_limits<float>::infinity(); });
  bad([](SamplerOptions& o) { o.top_p = 1.5f; });
  bad([](SamplerOptions& o) { o.min_p = -0.1f; });
  bad([](SamplerOptions& o) { o.repeat_penalty = 0.0f; });
  bad([](SamplerOptions& o) { o.repeat_last_n = -1; });
  EXPECT_THROW(Sampler(0, SamplerOptions{}), Error);
  try {
    SamplerOptions o;
    o.top_p = 1.5f;
    Sampler::validate(o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top-p 1.5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tern
