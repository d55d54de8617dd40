// The addon's own worker thread. Heavy work (batch scoring, training) runs here rather than on
// libuv's 4-thread pool, which fs, dns and crypto share. Results come back to the JS thread
// through one thread-safe function; it is ref'd only while work is pending, so an idle addon
// never keeps the process alive.
//
// Teardown: an environment cleanup hook (registered after the thread-safe function, so it runs
// before Node closes that function) stops the thread and releases the function. The destructor
// never touches the thread-safe function: on Node 24 the addon's instance data is finalized from
// inside the function's own close callback, with the function's mutex held, so releasing it there
// deadlocked every process that had loaded the addon at exit.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace routecore_bindings {

/// Something to run on the JS thread, posted from the worker thread.
struct Message {
  virtual ~Message() = default;
  /// env is null when the environment is shutting down: release without touching JS.
  virtual void deliver(Napi::Env env) = 0;
};

/// A unit of work: execute() on the worker thread, then settle the promise on the JS thread.
class Job : public Message {
 public:
  explicit Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  /// Keeps a JS value (input buffer, owning object) alive until the job settles.
  void keepAlive(const Napi::Value& v) { refs_.push_back(Napi::Persistent(v.As<Napi::Object>())); }

  virtual void execute() = 0;                     // worker thread; may throw
  virtual Napi::Value result(Napi::Env env) = 0;  // JS thread, after a successful execute()
  void deliver(Napi::Env env) final;

  std::exception_ptr error;

 protected:
  /// The i-th value passed to keepAlive(), for result() (JS thread only).
  Napi::Object kept(size_t i) const { return refs_.at(i).Value(); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> refs_;
};

// Async jobs own copies of their inputs and write their scores into a buffer of their own: the
// caller's typed arrays may be mutated, transferred (detached) or collected while the job runs,
// and reading them from the worker thread would then change decisions or read freed memory.
// result() copies the scores into the caller's `out` on the JS thread, after checking that it is
// still attached and large enough.
class OwnedOutputJob : public Job {
 public:
  OwnedOutputJob(Napi::Env env, size_t outputs) : Job(env), scores_(outputs) {}
  /// Copies the scores into `out`, which the submitter must have passed first to keepAlive().
  Napi::Value result(Napi::Env env) override;

 protected:
  std::vector<float> scores_;
};

class Worker {
 public:
  explicit Worker(Napi::Env env);
  /// Stops the thread if the cleanup hook has not; never calls into the thread-safe function.
  ~Worker();

  /// JS thread only. Takes ownership of the job.
  void submit(Napi::Env env, std::unique_ptr<Job> job);
  /// Any thread: queue a message for the JS thread (e.g. training progress).
  void post(std::unique_ptr<Message> message);
  /// True once the environment is shutting down; long jobs poll it to stop early.
  bool stopping() const { return stopping_.load(); }

 private:
  static void callJs(Napi::Env env, Napi::Function, Worker* self, Message* message);
  static void onEnvCleanup(void* self);
  void loop();
  /// Stops and joins the thread, then drops the jobs it never started. Idempotent.
  void stopThread();

  using Tsfn = Napi::TypedThreadSafeFunction<Worker, Message, &Worker::callJs>;
  Tsfn tsfn_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::atomic<bool> stopping_{false};
  size_t pending_ = 0;  // jobs submitted and not yet delivered; JS thread only
  napi_env env_;
  bool hookRegistered_ = false;  // JS thread only
  bool tsfnReleased_ = false;    // JS thread only
};

}  // namespace routecore_bindings
