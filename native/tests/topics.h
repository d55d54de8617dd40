// The two-topic fixture of the native tests: prompts of two topics, each solvable by one model
// only (model 0 answers arithmetic, model 1 history), so a working router must split them.
#pragma once
#include <string>

#include "router_model.h"

inline void makeTopicData(routecore::TrainInput& in, int perTopic) {
  const char* math[] = {"compute the sum of", "what is the product of", "solve for x in the equation",
                        "divide the number", "how many apples remain after subtracting"};
  const char* hist[] = {"which emperor ruled rome during", "in what year did the treaty of",
                        "who led the revolution in", "describe the causes of the war of",
                        "which dynasty built the wall in"};
  for (int i = 0; i < perTopic; ++i) {
    in.prompts.push_back(std::string(math[i % 5]) + " " + std::to_string(i * 7 % 97) + " and " +
                         std::to_string(i % 13));
    in.labels.insert(in.labels.end(), {1.f, 0.f});
    in.prompts.push_back(std::string(hist[i % 5]) + " period " + std::to_string(i % 11));
    in.labels.insert(in.labels.end(), {0.f, 1.f});
  }
  in.models = 2;
  in.encoder.log2Buckets = 12;
}
