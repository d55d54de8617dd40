// NativeSparseIndex: the JS face of routecore::SparseIndex, the similarity scatter of the served
// TF-IDF kNN router (src/routing/tfidf-knn.ts), on the calling thread or the addon's worker thread.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

#include "sparse_index.h"

namespace routecore_bindings {

class RoutecoreAddon;

class NativeSparseIndex : public Napi::ObjectWrap<NativeSparseIndex> {
 public:
  static Napi::Function Init(Napi::Env env, RoutecoreAddon* addon);
  /// new NativeSparseIndex(rowStart: Uint32Array, index: Uint32Array, value: Float32Array, buckets: number)
  explicit NativeSparseIndex(const Napi::CallbackInfo& info);
  ~NativeSparseIndex() override;

 private:
  /// similaritiesSync(start: Uint32Array, index: Uint32Array, value: Float32Array, count, out: Float32Array)
  Napi::Value SimilaritiesSync(const Napi::CallbackInfo& info);
  /// similarities(start, index, value, count, out) -> Promise<void>: on copies of the query, on the
  /// addon's worker thread; out is filled when the promise settles.
  Napi::Value Similarities(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  /// Frees the postings (jobs in flight keep them until they finish).
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  const std::shared_ptr<const routecore::SparseIndex>& index(Napi::Env env) const;

  RoutecoreAddon* addon_ = nullptr;
  std::shared_ptr<const routecore::SparseIndex> index_;
  int64_t externalBytes_ = 0;
};

}  // namespace routecore_bindings
