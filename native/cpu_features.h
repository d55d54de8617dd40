// CPU feature probes the compilers do not agree on. GCC's __builtin_cpu_supports knows "f16c";
// clang (14 and others) rejects that string at compile time, so F16C is read from CPUID directly:
// leaf 1, ECX bit 29, together with AVX (bit 28) and the OS saving YMM state (OSXSAVE, XCR0 bits
// 1-2), without which the 256-bit conversions would fault.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

namespace routecore {

inline bool cpuHasAvxAndF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
  if (!(osxsave && avx && f16c)) return false;
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & 6u) == 6u;  // XMM and YMM state enabled by the OS
}

}  // namespace routecore
#endif
