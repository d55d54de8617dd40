// Extra entry points of the CUDA backend that backend.h does not carry: reporting, and a fault
// injection for tests.
// makeCudaBackend itself is declared in backend.h.
#pragma once
#include <string>

namespace routecore {

#ifdef ROUTECORE_WITH_CUDA
/// One line about the device the CUDA backend would use, e.g.
/// "NVIDIA H100 80GB HBM3, compute capability 9.0, 79.1 GiB (device 0 of 1)".
/// When no device can be used it returns the reason instead, phrased as in makeCudaBackend's
/// `why` ("no usable CUDA device: ..."). Never throws.
std::string cudaDeviceSummary();

/// Tests only: makes the current device fail the way a real fault does (a kernel that traps, so
/// the context is left in the sticky error state). Every CUDA executor and searcher in the process
/// then fails, and routers fall back to the CPU backend. Returns the error the trap produced
/// ("" if it produced none). Never call this outside a test: the device stays unusable until the
/// process exits.
std::string cudaInjectFaultForTesting();
#endif

}  // namespace routecore
