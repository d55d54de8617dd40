// Extra entry points of the CUDA backend that backend.h does not carry: reporting only.
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
#endif

}  // namespace routecore
