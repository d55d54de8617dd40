// A minimal test harness for the native tests (no third-party framework to download).
// Each test file defines TEST(name) blocks; CHECK* record failures and the runner prints a
// "N passed, N failed" line and exits non-zero on any failure. Exit code 77 means "skipped"
// (ctest's SKIP_RETURN_CODE), used when the hardware a test needs is absent.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
inline int& failures() {
  static int n = 0;
  return n;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline int runAll() {
  int passed = 0, failed = 0;
  for (auto& c : registry()) {
    int before = failures();
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::printf("  %s: unexpected exception: %s\n", c.name, e.what());
      ++failures();
    }
    if (failures() == before) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST(name)                                           \
  static void name();                                        \
  static check::Register CHECK_CAT(reg_, name)(#name, name); \
  static void name()

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++check::failures();                                                   \
    }                                                                        \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                            \
  do {                                                                                                   \
    double va_ = (a), vb_ = (b);                                                                         \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                                              \
      std::printf("  %s:%d: %s = %.8g, %s = %.8g, tolerance %g\n", __FILE__, __LINE__, #a, va_, #b, vb_, \
                  (double)(tol));                                                                        \
      ++check::failures();                                                                               \
    }                                                                                                    \
  } while (0)

// Runs `stmt` and checks that it throws routecore::Error with the given code and a message
// containing `fragment`.
#define CHECK_THROWS(stmt, errcode, fragment)                                                     \
  do {                                                                                            \
    bool threw_ = false;                                                                          \
    try {                                                                                         \
      stmt;                                                                                       \
    } catch (const routecore::Error& e_) {                                                        \
      threw_ = true;                                                                              \
      if (e_.code() != (errcode) || std::string(e_.what()).find(fragment) == std::string::npos) { \
        std::printf("  %s:%d: wrong error: %s\n", __FILE__, __LINE__, e_.what());                 \
        ++check::failures();                                                                      \
      }                                                                                           \
    }                                                                                             \
    if (!threw_) {                                                                                \
      std::printf("  %s:%d: %s did not throw\n", __FILE__, __LINE__, #stmt);                      \
      ++check::failures();                                                                        \
    }                                                                                             \
  } while (0)

#define CHECK_MAIN()        \
  int main() {              \
    return check::runAll(); \
  }
