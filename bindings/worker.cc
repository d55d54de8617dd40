#include "worker.h"

#include <algorithm>
#include <string>

#include "errors.h"

namespace routecore_bindings {

Napi::Value OwnedOutputJob::result(Napi::Env env) {
  auto out = kept(0).As<Napi::Float32Array>();  // `out`, kept alive by the submitter as the first keepAlive()
  if (out.ElementLength() < scores_.size() || (!scores_.empty() && out.Data() == nullptr))
    throw makeError(env, "ERR_ROUTECORE_INVALID_ARGUMENT",
                    "out was detached or resized while the call was in flight; its " + std::to_string(scores_.size()) +
                        " scores were dropped");
  std::copy(scores_.begin(), scores_.end(), out.Data());
  return env.Undefined();
}

void Job::deliver(Napi::Env env) {
  if (env == nullptr) {
    // Environment teardown: the references die with it, and deleting them now would touch it.
    for (auto& r : refs_) r.SuppressDestruct();
    return;
  }
  // A Worker thread being terminated still delivers here with a live env that can no longer run
  // JS: settling the promise then throws Napi::Error, and an exception leaving callJs is
  // std::terminate for the whole process (found by scripts/sanitize-stress.mjs terminating a
  // Worker with jobs in flight). No one is left to observe that promise, so it is dropped.
  try {
    Napi::HandleScope scope(env);
    if (error) {
      deferred_.Reject(makeError(env, error).Value());
    } else {
      try {
        deferred_.Resolve(result(env));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (...) {
        deferred_.Reject(makeError(env, std::current_exception()).Value());
      }
    }
  } catch (...) {
  }
}

Worker::Worker(Napi::Env env) : env_(env) {
  tsfn_ = Tsfn::New(env, "routecore-worker", 0, 1, this);
  tsfn_.Unref(env);
  thread_ = std::thread([this] { loop(); });
  // Cleanup hooks run in reverse order of registration, so this one runs before the thread-safe
  // function's own hook and before any handle is closed.
  if (napi_add_env_cleanup_hook(env, &Worker::onEnvCleanup, this) == napi_ok) hookRegistered_ = true;
}

void Worker::onEnvCleanup(void* arg) {
  auto* self = static_cast<Worker*>(arg);
  self->hookRegistered_ = false;  // Node removes a hook once it has run
  self->stopThread();
  if (!self->tsfnReleased_) {
    self->tsfnReleased_ = true;
    // Abort: messages still queued reach callJs with a null env, which frees them.
    self->tsfn_.Abort();
  }
}

void Worker::stopThread() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& job : queue_) job->deliver(nullptr);  // never started: release without touching JS
  queue_.clear();
}

Worker::~Worker() {
  if (hookRegistered_) napi_remove_env_cleanup_hook(env_, &Worker::onEnvCleanup, this);
  stopThread();
}

void Worker::submit(Napi::Env env, std::unique_ptr<Job> job) {
  if (pending_++ == 0) tsfn_.Ref(env);
  {
    std::lock_guard<std::mutex> lock(m_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Worker::post(std::unique_ptr<Message> message) {
  if (tsfn_.BlockingCall(message.get()) == napi_ok) {
    message.release();
  } else {
    message->deliver(nullptr);  // the environment is closing
  }
}

void Worker::loop() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // queued jobs are dropped with the environment
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job->execute();
    } catch (...) {
      job->error = std::current_exception();
    }
    post(std::move(job));
  }
}

void Worker::callJs(Napi::Env env, Napi::Function, Worker* self, Message* message) {
  std::unique_ptr<Message> owned(message);
  const bool isJob = dynamic_cast<Job*>(message) != nullptr;
  // Nothing may leave this function: node-addon-api would rethrow it into a JS environment that,
  // in a Worker being terminated, cannot take it, and that is std::terminate.
  try {
    owned->deliver(env);
  } catch (...) {
  }
  if (env != nullptr && isJob && self && --self->pending_ == 0) {
    try {
      self->tsfn_.Unref(env);
    } catch (...) {
    }
  }
}

}  // namespace routecore_bindings
