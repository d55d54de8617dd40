// Tests of the knn and mf predictors and pairwise training: the CPU nearest-neighbour search
// against a brute-force double-precision reference, each predictor routing two topics (each
// solvable by one model only) to their model, artifact round trips, and Bradley–Terry fits
// recovering a known ranking.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "check.h"
#include "error.h"
#include "knn.h"
#include "rng.h"
#include "router_model.h"
#include "thread_pool.h"
#include "topics.h"

using namespace routecore;

namespace {

KnnTable randomTable(uint32_t rows, uint32_t dim, uint64_t seed) {
  SplitMix64 rng(seed);
  KnnTable t;
  t.rows = rows;
  t.dim = dim;
  t.data.resize(static_cast<size_t>(rows) * dim);
  for (auto& v : t.data) v = rng.normal();
  normalizeRows(t.data.data(), rows, dim);
  return t;
}

const std::string kProbe =
    "solve for x in the equation 3x = 9"
    "which emperor ruled rome during the war";
const uint32_t kProbeOffsets[] = {0, 34, static_cast<uint32_t>(kProbe.size())};

std::unique_ptr<RouterModel> roundTrip(const RouterModel& m, bool half) {
  std::vector<uint8_t> bytes = writeArtifact(m.toArtifact(half));
  return RouterModel::fromArtifact(readArtifact(bytes.data(), bytes.size(), "t.router"), makeCpuBackend(1),
                                   ThreadPool::shared(1));
}

void checkRoutesTopicsAndRoundTrips(TrainInput& in) {
  auto model = trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr);
  float out[4];
  model->score(kProbe.data(), kProbeOffsets, 2, out);
  CHECK(out[0] > out[1] + 0.3);  // arithmetic -> model 0
  CHECK(out[3] > out[2] + 0.3);  // history -> model 1
  auto again = roundTrip(*model, false);
  float out2[4];
  again->score(kProbe.data(), kProbeOffsets, 2, out2);
  for (int i = 0; i < 4; ++i) CHECK(out2[i] == out[i]);
  CHECK(again->predictor() == in.predictor);
  CHECK(again->metadata() == model->metadata());
}

}  // namespace

TEST(cpu_knn_matches_brute_force) {
  auto cpu = makeCpuBackend(1);
  for (uint32_t dim : {3u, 16u, 37u, 256u}) {
    for (uint32_t n : {1u, 5u, 300u, 2000u}) {
      KnnTable t = randomTable(n, dim, dim * 1000 + n);
      auto s = cpu->prepareKnn(std::make_shared<const routecore::KnnTable>(t));
      CHECK(s->size() == n && s->dim() == dim);
      KnnTable q = randomTable(7, dim, 99);
      for (uint32_t k : {1u, 4u, 256u}) {
        if (k > n) k = n;
        std::vector<uint32_t> idx(7 * k);
        std::vector<float> sim(7 * k);
        s->search(q.data.data(), 7, k, idx.data(), sim.data());
        for (uint32_t r = 0; r < 7; ++r) {
          std::vector<std::pair<double, uint32_t>> all;
          for (uint32_t i = 0; i < n; ++i) {
            double d = 0;
            for (uint32_t j = 0; j < dim; ++j) d += double(q.data[r * dim + j]) * t.data[size_t(i) * dim + j];
            all.emplace_back(-d, i);
          }
          std::sort(all.begin(), all.end());
          for (uint32_t i = 0; i < k; ++i) {
            CHECK_NEAR(sim[r * k + i], -all[i].first, 1e-5);
            // Indices agree unless the reference itself has a near-tie there.
            const bool nearTie = (i > 0 && all[i].first - all[i - 1].first < 1e-5) ||
                                 (i + 1 < n && all[i + 1].first - all[i].first < 1e-5);
            if (!nearTie) CHECK(idx[r * k + i] == all[i].second);
          }
        }
      }
    }
  }
}

TEST(cpu_knn_ties_go_to_the_lower_index_and_batching_does_not_matter) {
  KnnTable t = randomTable(50, 16, 5);
  // References 10, 20 and 30 are the same vector.
  std::copy(t.data.begin() + 10 * 16, t.data.begin() + 11 * 16, t.data.begin() + 20 * 16);
  std::copy(t.data.begin() + 10 * 16, t.data.begin() + 11 * 16, t.data.begin() + 30 * 16);
  auto s = makeCpuBackend(1)->prepareKnn(std::make_shared<const routecore::KnnTable>(t));
  std::vector<float> q(t.data.begin() + 10 * 16, t.data.begin() + 11 * 16);
  uint32_t idx[3];
  float sim[3];
  s->search(q.data(), 1, 3, idx, sim);
  CHECK(idx[0] == 10 && idx[1] == 20 && idx[2] == 30);
  CHECK(sim[0] == sim[1] && sim[1] == sim[2]);
  // The same query alone and as row 5 of a batch of 6 gets the same neighbours and similarities.
  KnnTable batch = randomTable(6, 16, 8);
  std::copy(q.begin(), q.end(), batch.data.begin() + 5 * 16);
  std::vector<uint32_t> bi(6 * 3);
  std::vector<float> bs(6 * 3);
  s->search(batch.data.data(), 6, 3, bi.data(), bs.data());
  for (int i = 0; i < 3; ++i) CHECK(bi[15 + i] == idx[i] && bs[15 + i] == sim[i]);
  CHECK_THROWS(s->search(q.data(), 1, 0, idx, sim), ErrorCode::InvalidArgument, "= [1, 50], got 0");
  CHECK_THROWS(s->search(q.data(), 1, 51, idx, sim), ErrorCode::InvalidArgument, "got 51");
}

TEST(knn_weighted_mean_and_fallback) {
  const float scores[] = {1.f, NAN, 0.f, NAN, 0.5f, NAN};  // 3 references x 2 models
  const float fallback[] = {0.25f, 0.75f};
  uint32_t idx[] = {0, 1, 2};
  float sim[] = {0.9f, 0.3f, -0.2f};
  float out[2];
  knnWeightedMean(idx, sim, 3, scores, 3, 2, fallback, out);
  const double w0 = 0.9 + 1e-6, w1 = 0.3 + 1e-6, w2 = 1e-6;
  CHECK_NEAR(out[0], (w0 * 1 + w1 * 0 + w2 * 0.5) / (w0 + w1 + w2), 1e-6);
  CHECK_NEAR(out[1], 0.75, 0);  // no neighbour scored model 1
}

TEST(knn_bradley_terry_recovers_a_known_ranking) {
  // Three models with strengths 1, 0, -1: battles drawn from the Bradley–Terry model.
  const double strength[] = {1.0, 0.0, -1.0};
  SplitMix64 rng(3);
  std::vector<float> pairs;
  for (int i = 0; i < 3000; ++i) {
    uint32_t a = rng.below(3), b = (a + 1 + rng.below(2)) % 3;
    double p = 1 / (1 + std::exp(-(strength[a] - strength[b])));
    pairs.insert(pairs.end(), {float(a), float(b), rng.uniform() < p ? 1.f : 0.f});
  }
  std::vector<uint32_t> idx(3000);
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<float> sim(3000, 1.f);
  float out[3];
  knnBradleyTerry(idx.data(), sim.data(), 3000, pairs.data(), 3000, 3, out);
  CHECK(out[0] > out[1] && out[1] > out[2]);
  auto logit = [](double q) { return std::log(q / (1 - q)); };
  CHECK_NEAR(logit(out[0]) - logit(out[1]), 1.0, 0.15);
  CHECK_NEAR(logit(out[1]) - logit(out[2]), 1.0, 0.15);
  // No battles: every model at 0.5 (the prior).
  knnBradleyTerry(idx.data(), sim.data(), 0, pairs.data(), 3000, 3, out);
  for (float v : out) CHECK_NEAR(v, 0.5, 1e-9);
}

TEST(knn_routes_each_topic_to_its_model_and_round_trips) {
  TrainInput in;
  makeTopicData(in, 60);
  in.predictor = "knn";
  in.knn.k = 5;
  in.knn.dim = 64;
  checkRoutesTopicsAndRoundTrips(in);
  auto model = trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr);
  CHECK(model->metadata().at("predictor.k") == "5");
  CHECK(model->metadata().at("predictor.objective") == "scores");
  // Stored in F16, the references round to binary16; scores move by little.
  auto half = roundTrip(*model, true);
  float a[4], b[4];
  model->score(kProbe.data(), kProbeOffsets, 2, a);
  half->score(kProbe.data(), kProbeOffsets, 2, b);
  for (int i = 0; i < 4; ++i) CHECK_NEAR(a[i], b[i], 1e-2);
  KnnOptions bad;
  bad.k = 0;
  CHECK_THROWS(bad.validate(), ErrorCode::InvalidArgument, "options.k must be in [1, 256], got 0");
  bad.k = 5;
  bad.dim = 12;
  CHECK_THROWS(bad.validate(), ErrorCode::InvalidArgument, "options.dim must be a multiple of 8");
}

TEST(knn_batch_scores_match_single_scores) {
  // 130 prompts: three 64-row slices of encoding and search on the pool, the last one short.
  TrainInput in;
  makeTopicData(in, 40);
  in.predictor = "knn";
  in.knn.k = 7;
  in.knn.dim = 64;
  auto model = trainRouter(in, makeCpuBackend(2), ThreadPool::shared(2), nullptr, nullptr);
  std::string text;
  std::vector<uint32_t> offsets{0};
  for (int i = 0; i < 130; ++i) {
    text += in.prompts[(i * 7) % in.prompts.size()] + (i % 3 ? " and more" : "");
    offsets.push_back(static_cast<uint32_t>(text.size()));
  }
  std::vector<float> batch(130 * 2);
  model->score(text.data(), offsets.data(), 130, batch.data());
  for (int i = 0; i < 130; ++i) {
    const uint32_t one[] = {0, offsets[i + 1] - offsets[i]};
    float single[2];
    model->score(text.data() + offsets[i], one, 1, single);
    CHECK(single[0] == batch[i * 2] && single[1] == batch[i * 2 + 1]);
  }
}

TEST(knn_on_precomputed_embeddings) {
  // Two well separated blobs in 8 dimensions, each solved by one model.
  TrainInput in;
  SplitMix64 rng(11);
  in.embeddingDim = 8;
  for (int i = 0; i < 100; ++i) {
    const int topic = i % 2;
    for (int j = 0; j < 8; ++j) in.embeddings.push_back((j == topic ? 3.f : 0.f) + 0.3f * rng.normal());
    in.labels.insert(in.labels.end(), {topic == 0 ? 1.f : 0.f, topic == 1 ? 1.f : 0.f});
  }
  in.models = 2;
  in.predictor = "knn";
  in.knn.k = 7;
  auto model = trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr);
  CHECK(std::string(model->encoderKind()) == "precomputed");
  float x[16] = {2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0};
  float out[4];
  model->scoreEmbeddings(x, 2, out);
  CHECK(out[0] > 0.9 && out[1] < 0.1 && out[2] < 0.1 && out[3] > 0.9);
  auto again = roundTrip(*model, false);
  float out2[4];
  again->scoreEmbeddings(x, 2, out2);
  for (int i = 0; i < 4; ++i) CHECK(out2[i] == out[i]);
}

TEST(mf_routes_each_topic_to_its_model_and_round_trips) {
  TrainInput in;
  makeTopicData(in, 150);
  in.predictor = "mf";
  in.options.hidden = 16;
  in.options.learningRate = 0.01f;
  checkRoutesTopicsAndRoundTrips(in);
}

namespace {

// Battles on the two topics: on arithmetic model 0 beats model 1 and model 2 loses to both; on
// history model 1 beats model 0. Ties between 0 and 2 on history. Each prompt carries one battle.
void topicBattles(TrainInput& in, int perTopic) {
  TrainInput topics;
  makeTopicData(topics, perTopic);
  SplitMix64 rng(17);
  for (size_t i = 0; i < topics.prompts.size(); ++i) {
    const bool math = i % 2 == 0;
    uint32_t a, b;
    float y;
    switch (rng.below(3)) {
      case 0:
        a = 0, b = 1, y = math ? 1.f : 0.f;
        break;
      case 1:
        a = 2, b = 0, y = math ? 0.f : 0.5f;
        break;
      default:
        a = 1, b = 2, y = 1.f;
        break;
    }
    in.prompts.push_back(topics.prompts[i]);
    in.pairs.a.push_back(a);
    in.pairs.b.push_back(b);
    in.pairs.y.push_back(y);
  }
  in.models = 3;
  in.encoder = topics.encoder;
}

}  // namespace

TEST(pairwise_mf_and_knn_recover_each_topics_ranking) {
  for (const char* predictor : {"mf", "knn"}) {
    TrainInput in;
    topicBattles(in, 150);
    in.predictor = predictor;
    in.options.hidden = 16;
    in.options.learningRate = 0.01f;
    in.knn.k = 30;
    in.knn.dim = 64;
    auto model = trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr);
    CHECK(model->metadata().at("predictor.objective") == "pairwise");
    CHECK(model->outputs() == 3);
    float out[6];
    model->score(kProbe.data(), kProbeOffsets, 2, out);
    std::printf("  %s pairwise: math %.3f %.3f %.3f, history %.3f %.3f %.3f\n", predictor, out[0], out[1], out[2],
                out[3], out[4], out[5]);
    CHECK(out[0] > out[1] && out[1] > out[2]);  // arithmetic: 0 > 1 > 2
    CHECK(out[4] > out[3] && out[4] > out[5]);  // history: 1 first
    auto again = roundTrip(*model, false);
    float out2[6];
    again->score(kProbe.data(), kProbeOffsets, 2, out2);
    for (int i = 0; i < 6; ++i) CHECK(out2[i] == out[i]);
    CHECK(again->metadata().at("predictor.objective") == "pairwise");
  }
}

TEST(pairwise_training_rejects_bad_battles) {
  TrainInput in;
  topicBattles(in, 10);
  in.pairs.b[3] = in.pairs.a[3];
  for (const char* predictor : {"mf", "knn"}) {
    in.predictor = predictor;
    in.options.hidden = 8;
    CHECK_THROWS(trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr), ErrorCode::BadData,
                 "battle of row 3");
  }
  in.pairs.b[3] = (in.pairs.a[3] + 1) % 3;
  in.predictor = "kmeans";
  CHECK_THROWS(trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr), ErrorCode::InvalidArgument,
               "kmeans predictor trains on per-model scores");
}

TEST(knn_artifact_with_bad_battles_is_refused) {
  TrainInput in;
  topicBattles(in, 10);
  in.predictor = "knn";
  in.knn.k = 3;
  in.knn.dim = 16;
  auto model = trainRouter(in, makeCpuBackend(1), ThreadPool::shared(1), nullptr, nullptr);
  Artifact a = model->toArtifact(false);
  for (auto& t : a.tensors)
    if (t.name == "knn.battles") t.data[1] = t.data[0];
  std::vector<uint8_t> bytes = writeArtifact(a);
  CHECK_THROWS(RouterModel::fromArtifact(readArtifact(bytes.data(), bytes.size(), "t.router"), makeCpuBackend(1),
                                         ThreadPool::shared(1)),
               ErrorCode::BadArtifact, "knn router: battle 0");
}

CHECK_MAIN()
