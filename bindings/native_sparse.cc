#include "native_sparse.h"

#include <cmath>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace routecore_bindings {
namespace {

/// CSR rows passed from JS: (start: Uint32Array, index: Uint32Array, value: Float32Array) at
/// info[at..at+2]. The core checks the starts against the entries.
struct CsrArgs {
  const uint32_t* start = nullptr;
  size_t starts = 0;
  const uint32_t* index = nullptr;
  const float* value = nullptr;
  size_t entries = 0;
};

CsrArgs parseCsr(const Napi::CallbackInfo& info, size_t at) {
  Napi::Env env = info.Env();
  if (info.Length() < at + 3 || !info[at].IsTypedArray() || !info[at + 1].IsTypedArray() ||
      !info[at + 2].IsTypedArray() || info[at].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[at + 1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[at + 2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwInvalidArgument(env, "expected (rowStart: Uint32Array, index: Uint32Array, value: Float32Array, ...)");
  CsrArgs c;
  auto start = info[at].As<Napi::Uint32Array>();
  auto index = info[at + 1].As<Napi::Uint32Array>();
  auto value = info[at + 2].As<Napi::Float32Array>();
  if (start.ElementLength() == 0) throwInvalidArgument(env, "rowStart must hold at least one entry");
  if (index.ElementLength() != value.ElementLength())
    throwInvalidArgument(env, "index and value must have the same length");
  c.start = start.Data();
  c.starts = start.ElementLength();
  c.index = index.Data();
  c.value = value.Data();
  c.entries = index.ElementLength();
  return c;
}

size_t countArg(const Napi::CallbackInfo& info, size_t i, size_t starts) {
  if (info.Length() <= i || !info[i].IsNumber()) throwInvalidArgument(info.Env(), "count must be a number");
  const double count = info[i].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count != std::floor(count) || count + 1 > static_cast<double>(starts))
    throwInvalidArgument(info.Env(), "count must be an integer with rowStart.length >= count + 1");
  return static_cast<size_t>(count);
}

class SimilaritiesJob final : public OwnedOutputJob {
 public:
  /// Copies the query's window of the entries (start[0] .. start[count]), its starts rebased onto
  /// it: a caller may pass a few rows' starts into a large batch.
  SimilaritiesJob(Napi::Env env, std::shared_ptr<const routecore::SparseIndex> index, const CsrArgs& q, size_t count)
      : OwnedOutputJob(env, count * index->rows()),
        index_(std::move(index)),
        start_(q.start, q.start + count + 1),
        count_(count) {
    guard(env, [&] {
      routecore::checkRowStarts(start_.data(), count, q.entries, "query");  // before reading the window
      return 0;
    });
    const uint32_t base = start_[0];
    for (uint32_t& s : start_) s -= base;
    entries_.assign(q.index + base, q.index + base + start_[count]);
    values_.assign(q.value + base, q.value + base + start_[count]);
  }
  void execute() override {
    index_->similarities(start_.data(), count_, entries_.data(), values_.data(), entries_.size(), scores_.data());
  }

 private:
  std::shared_ptr<const routecore::SparseIndex> index_;
  std::vector<uint32_t> start_;
  std::vector<uint32_t> entries_;
  std::vector<float> values_;
  size_t count_;
};

}  // namespace

Napi::Function NativeSparseIndex::Init(Napi::Env env, RoutecoreAddon* addon) {
  return DefineClass(env, "NativeSparseIndex",
                     {
                         InstanceMethod("similaritiesSync", &NativeSparseIndex::SimilaritiesSync),
                         InstanceMethod("similarities", &NativeSparseIndex::Similarities),
                         InstanceMethod("dispose", &NativeSparseIndex::Dispose),
                         InstanceAccessor("rows", &NativeSparseIndex::Rows, nullptr),
                     },
                     addon);
}

NativeSparseIndex::NativeSparseIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSparseIndex>(info) {
  Napi::Env env = info.Env();
  addon_ = static_cast<RoutecoreAddon*>(info.Data());
  CsrArgs rows = parseCsr(info, 0);
  if (info.Length() < 4 || !info[3].IsNumber()) throwInvalidArgument(env, "buckets must be a number");
  const double buckets = info[3].As<Napi::Number>().DoubleValue();
  if (!(buckets >= 1) || buckets != std::floor(buckets) || buckets > 4294967295.0)
    throwInvalidArgument(env, "buckets must be a positive integer");
  index_ = guard(env, [&] {
    return std::make_shared<const routecore::SparseIndex>(rows.start, rows.starts - 1, rows.index, rows.value,
                                                          rows.entries, static_cast<size_t>(buckets));
  });
  // The postings are as large as the rows (8 bytes an entry): tell V8, as NativeRouter does its weights.
  externalBytes_ = static_cast<int64_t>(rows.entries * 8 + buckets * 4);
  Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
}

NativeSparseIndex::~NativeSparseIndex() = default;

const std::shared_ptr<const routecore::SparseIndex>& NativeSparseIndex::index(Napi::Env env) const {
  if (!index_) throw makeError(env, "ERR_ROUTECORE_DISPOSED", "this sparse index has been disposed");
  return index_;
}

Napi::Value NativeSparseIndex::SimilaritiesSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& idx = index(env);
  CsrArgs q = parseCsr(info, 0);
  const size_t count = countArg(info, 3, q.starts);
  float* out = parseOut(info, 4, count * idx->rows());
  guard(env, [&] {
    idx->similarities(q.start, count, q.index, q.value, q.entries, out);
    return 0;
  });
  return env.Undefined();
}

Napi::Value NativeSparseIndex::Similarities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& idx = index(env);
  CsrArgs q = parseCsr(info, 0);
  const size_t count = countArg(info, 3, q.starts);
  parseOut(info, 4, count * idx->rows());
  auto job = std::make_unique<SimilaritiesJob>(env, idx, q, count);
  job->keepAlive(info[4]);  // kept(0): OwnedOutputJob::result() writes the similarities here
  job->keepAlive(info.This());
  Napi::Promise promise = job->promise();
  addon_->worker().submit(env, std::move(job));
  return promise;
}

Napi::Value NativeSparseIndex::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(index(info.Env())->rows()));
}

Napi::Value NativeSparseIndex::Dispose(const Napi::CallbackInfo& info) {
  if (index_) {
    index_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -externalBytes_);
    externalBytes_ = 0;
  }
  return info.Env().Undefined();
}

}  // namespace routecore_bindings
